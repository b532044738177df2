"""Reading JSON-lines files (cases, training data, BFCL data) with line numbers for errors."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from .errors import InputError


def read_text(path: Path, what: str, error: type[InputError] = InputError, field: str | None = None) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(str(path), f"{what} not found", field=field) from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(str(path), f"cannot read {what}: {getattr(e, 'strerror', None) or e}", field=field) from None


# Deeper than any real message list or JSON schema, and far below what recursive code (pydantic,
# json.dumps, the scorers) can walk; YAML suites share the bound (evalkit/suite/yamlmap.py).
MAX_DEPTH = 100


class DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return out


def depth_of(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON value (a scalar is 0), without recursion; stops counting past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        if children is None:
            continue
        deepest = max(deepest, d)
        if deepest > limit:
            break
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def loads(text: str) -> Any:
    """json.loads for user files: duplicate keys and nesting past MAX_DEPTH are errors (ValueError
    with the reason), not a silently kept last value or a RecursionError."""
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    except DuplicateKey as e:
        raise ValueError(f"duplicate key '{e.args[0]}' in a JSON object") from None
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    # only text with that many brackets can nest that deep: the exact walk is for those few lines
    if text.count("[") + text.count("{") > MAX_DEPTH and depth_of(value) > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def parse_lines(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) per non-blank line; a line that is not JSON yields the error message."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield lineno, loads(line)
        except ValueError as e:
            yield lineno, JsonLineError(str(e))


class JsonLineError(str):
    """The message for a line that is not JSON (a distinct type so it is never mistaken for data)."""


def read_jsonl(path: Path, what: str, error: type[InputError] = InputError,
               field: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, value) per non-blank line; the first line that is not JSON is an error."""
    for lineno, value in parse_lines(read_text(path, what, error, field)):
        if isinstance(value, JsonLineError):
            raise error(str(path), value, line=lineno)
        yield lineno, value
