"""Argument rules, one small pure function each. Each returns None when fine, else a reason.
The schema rules (JSON Schema plus evalkit's contract) live in evalkit/suite/schema.py."""
from __future__ import annotations

import json
from typing import Any, Mapping

from ..suite.model import AnyOf
from ..suite.schema import normalise_bfcl, same, schema_error, show

__all__ = ["arguments_error", "normalise_bfcl", "parse_arguments", "same", "schema_error", "show", "value_error"]


def _non_standard(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def parse_arguments(raw: str | Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
    """Raw model output -> (arguments, None) or (None, reason). Empty text counts as `{}`."""
    if isinstance(raw, Mapping):
        return dict(raw), None
    if raw is None or not raw.strip():
        return {}, None
    try:
        value = json.loads(raw, parse_constant=_non_standard)
    except json.JSONDecodeError as e:
        return None, f"arguments are not valid JSON ({e.msg}): {raw[:60]!r}"
    except ValueError as e:  # NaN / Infinity: accepted by Python's json, by no standard parser
        return None, f"arguments are not standard JSON ({e}): {raw[:60]!r}"
    except RecursionError:
        return None, f"arguments nest too deep to parse: {raw[:60]!r}"
    if not isinstance(value, dict):
        return None, f"arguments are JSON but not an object: {raw[:60]!r}"
    return value, None


# ---- expected values -----------------------------------------------------------------------

def value_error(name: str, actual: Any, expected: Any, string_match: str = "exact") -> str | None:
    if isinstance(expected, AnyOf):
        if any(same(actual, v, string_match) for v in expected.values):
            return None
        options = " or ".join(show(v) for v in expected.values)
        return f"argument `{name}`: expected {options}, got {show(actual)}"
    if same(actual, expected, string_match):
        return None
    return f"argument `{name}`: expected {show(expected)}, got {show(actual)}"


def is_declared_default(name: str, value: Any, properties: Mapping[str, Any]) -> bool:
    schema = properties.get(name)
    return isinstance(schema, Mapping) and "default" in schema and same(value, schema["default"])


def arguments_error(actual: Mapping[str, Any], expected: Mapping[str, Any] | None,
                    parameters: Mapping[str, Any], string_match: str = "exact") -> str | None:
    """All argument rules for one call; the first broken rule's reason, or None."""
    reason = schema_error(actual, parameters)
    if reason or expected is None:
        return reason
    properties = parameters.get("properties") or {}
    for name, want in expected.items():
        if name not in actual:
            if isinstance(want, AnyOf) and want.optional:
                continue
            return f"missing argument `{name}` (expected {show(want.values[0] if isinstance(want, AnyOf) else want)})"
        err = value_error(name, actual[name], want, string_match)
        if err:
            return err
    for name, value in actual.items():
        if name not in expected and not is_declared_default(name, value, properties):
            return f"unexpected argument `{name}` = {show(value)}"
    return None
