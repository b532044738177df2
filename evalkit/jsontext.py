"""Standard JSON only, in every file evalkit writes, so any parser (jq, pandas, JavaScript's
JSON.parse in the report) reads it.

Python's json module goes beyond the standard in two ways a model's output can trigger:
- non-finite numbers: it reads and writes bare `NaN`, `Infinity`, `-Infinity`. evalkit records
  them as the strings "NaN", "Infinity", "-Infinity" (a response body is read that way, and any
  that reach a writer are converted); arguments holding them are scored invalid_arguments.
- lone surrogates (`"\\udc00"`): valid escapes in JSON text, but not Unicode, so they cannot be
  written as UTF-8. evalkit replaces each with U+FFFD (the replacement character), in a response
  body as it is read and in anything written.
And one for JSON lines: U+0085, U+2028 and U+2029 are written as escapes (\\u2028), because Python's
`str.splitlines` (and other readers) break lines at them.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
_NON_FINITE = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}
_LINE_BREAKS = re.compile("[\x85\u2028\u2029]")


def _number_text(x: float) -> str:
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def standard(value: Any) -> Any:
    """The value with non-finite floats as strings and lone surrogates replaced; containers copied
    (tuples become lists), everything else unchanged."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, float):
        return value if math.isfinite(value) else _number_text(value)
    if isinstance(value, dict):
        return {standard(k) if isinstance(k, str) else k: standard(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [standard(v) for v in value]
    return value


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text that is standard and encodable as UTF-8, whatever `value` holds. Fast path: one
    strict dump; only a value that needs it is walked."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str, indent=indent)
        text.encode("utf-8")  # fails on a lone surrogate; far cheaper than searching for one
    except ValueError:  # a non-finite float, or UnicodeEncodeError
        text = ""
    if not text:
        text = json.dumps(standard(value), ensure_ascii=False, allow_nan=False,
                          default=lambda o: standard(str(o)), indent=indent)
    if "\x85" in text or "\u2028" in text or "\u2029" in text:  # only inside strings: escapes mean the same
        text = _LINE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def loads_body(data: bytes | str) -> Any:
    """A response body as standard values: non-finite constants as strings, no lone surrogates.
    Raises ValueError (not JSON) or RecursionError (nested too deep), like json.loads."""
    value = json.loads(data, parse_constant=_NON_FINITE.__getitem__)
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    if b"\\ud" in raw or b"\\uD" in raw or b"\xed" in raw:  # how a surrogate can get in
        value = standard(value)
    return value
