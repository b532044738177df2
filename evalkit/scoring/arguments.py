"""Argument rules, one small pure function each. Each returns None when fine, else a reason."""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

from ..suite.model import AnyOf

_JSON_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_arguments(raw: str | Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
    """Raw model output -> (arguments, None) or (None, reason). Empty text counts as `{}`."""
    if isinstance(raw, Mapping):
        return dict(raw), None
    if raw is None or not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        return None, f"arguments are not valid JSON ({e.msg}): {raw[:60]!r}"
    if not isinstance(value, dict):
        return None, f"arguments are JSON but not an object: {raw[:60]!r}"
    return value, None


def type_error(name: str, value: Any, schema: Mapping[str, Any]) -> str | None:
    """JSON-schema type and enum check of one argument against its (full) schema."""
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared] if declared else []
    known = [t for t in types if t in _JSON_TYPES]
    if known and not any(_JSON_TYPES[t](value) for t in known):
        return f"argument `{name}`: expected {'/'.join(known)}, got {type(value).__name__} {show(value)}"
    if "enum" in schema and isinstance(schema["enum"], list) and not any(same(value, e) for e in schema["enum"]):
        return f"argument `{name}`: {show(value)} is not one of {show(schema['enum'])}"
    if "array" in known and isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            err = type_error(f"{name}[{i}]", item, schema["items"])
            if err:
                return err
    if "object" in known and isinstance(value, dict) and isinstance(schema.get("properties"), Mapping):
        for key, sub in value.items():
            if key in schema["properties"]:
                err = type_error(f"{name}.{key}", sub, schema["properties"][key])
                if err:
                    return err
    return None


def normalise_bfcl(text: str) -> str:
    """BFCL's string normalisation: case, spaces and some punctuation are ignored."""
    return re.sub(r"[ ,./\-_*^]", "", text).lower().replace("'", '"')


def same(actual: Any, expected: Any, string_match: str = "exact") -> bool:
    """Equality that ignores key order and int/float spelling (250 == 250.0) but not types."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and actual == expected
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return float(actual) == float(expected)
    if isinstance(expected, str) and isinstance(actual, str):
        if string_match == "bfcl":
            return normalise_bfcl(actual) == normalise_bfcl(expected)
        return actual == expected
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(same(a, e, string_match) for a, e in zip(actual, expected))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(same(actual[k], expected[k], string_match) for k in expected)
    return type(actual) is type(expected) and actual == expected


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
    properties = parameters.get("properties") or {}
    required = parameters.get("required") or []
    for name, value in actual.items():
        if properties and name not in properties:
            return f"argument `{name}` is not in the schema"
        if name in properties and isinstance(properties[name], Mapping):
            err = type_error(name, value, properties[name])
            if err:
                return err
    for name in required:
        if name not in actual:
            return f"missing required argument `{name}`"
    if expected is None:
        return None
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
