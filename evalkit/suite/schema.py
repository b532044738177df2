"""Arguments checked against a function's JSON schema: one compiled validator per schema.

Arguments are validated with the `jsonschema` library (Draft 2020-12, or the draft a schema's
`$schema` names; `$ref`/`$defs`, `anyOf`, `oneOf`, `const`, bounds, patterns,
`additionalProperties`, every keyword) against the full source schema, with evalkit's contract
on top:

- an integer is a number (250 == 250.0), but a float is not an integer and "3" is not 3
  (JSON Schema would take 3.0 as an integer; a model that writes 3.0 for a count is wrong, as
  BFCL also says);
- an optional property given explicitly with its declared `default` is accepted, at any depth,
  even when the default itself breaks the schema (`type: string, default: null`);
- at the top level an argument the schema does not declare is wrong even without
  `additionalProperties: false` (the model made it up); deeper down JSON Schema's rules apply;
- an unknown `type` name (a hand-written `float`, `dict`) constrains nothing;
- `format` is an annotation, as Draft 2020-12 has it by default: schemas in the wild say
  `format: date` and mean "Jan 15, 2021" as much as "2021-01-15" (BFCL's answers do).

Validators are compiled once per schema: the hot path sees the same schema objects for every
response, so they are cached by identity (and by content, for equal copies).
"""
from __future__ import annotations

import json
import re
import warnings
from typing import Any, Iterable, Mapping

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import UnknownType, ValidationError, best_match
from referencing.exceptions import Unresolvable

_PY_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
             dict: "object", type(None): "null"}


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ---- equality ------------------------------------------------------------------------------

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


# ---- the validator: Draft 2020-12 plus evalkit's contract -----------------------------------

def _strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _lenient_type(validator: Any, types: Any, instance: Any, schema: Any) -> Iterable[ValidationError]:
    """`type`, with names JSON Schema does not know ignored instead of raising."""
    names = types if isinstance(types, list) else [types]
    known = []
    for name in names:
        try:
            if validator.is_type(instance, name):
                return
            known.append(name)
        except UnknownType:
            continue
    if known:
        yield ValidationError(f"expected {' or '.join(known)}, got {_PY_TYPES.get(type(instance), 'value')} "
                              f"{show(instance)}")


def _properties_with_defaults(validator: Any, properties: Any, instance: Any, schema: Any
                              ) -> Iterable[ValidationError]:
    """`properties`, except that an optional property equal to its declared default is accepted."""
    if not validator.is_type(instance, "object"):
        return
    required = schema.get("required") or ()
    for name, sub in properties.items():
        if name not in instance:
            continue
        if (isinstance(sub, Mapping) and "default" in sub and name not in required
                and same(instance[name], sub["default"])):
            continue
        yield from validator.descend(instance[name], sub, path=name, schema_path=name)


_CONTRACT: dict[type, Any] = {}


def _draft(schema: Mapping[str, Any]) -> Any:
    """The validator class of the draft a schema's `$schema` names (MCP servers publish draft-07,
    whose tuple `items: [...]` 2020-12 spells `prefixItems`), Draft 2020-12 otherwise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unknown $schema URI: the default, without a warning
        return jsonschema.validators.validator_for(schema, default=Draft202012Validator)


def _contract(schema: Mapping[str, Any]) -> Any:
    """That draft's validator with evalkit's contract on top."""
    base = _draft(schema)
    cls = _CONTRACT.get(base)
    if cls is None:
        cls = _CONTRACT[base] = jsonschema.validators.extend(
            base, validators={"type": _lenient_type, "properties": _properties_with_defaults},
            type_checker=base.TYPE_CHECKER.redefine("integer", _strict_integer))
    return cls


_by_id: dict[int, tuple[Mapping[str, Any], Any]] = {}
_by_text: dict[str, Any] = {}


def validator_for(schema: Mapping[str, Any]) -> Any:
    """The compiled validator of one parameters schema, built once per schema."""
    hit = _by_id.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    text = json.dumps(schema, sort_keys=True, default=str)
    validator = _by_text.get(text)
    if validator is None:
        if len(_by_text) > 4096:
            _by_text.clear()
        validator = _by_text[text] = _contract(schema)(schema)
    if len(_by_id) > 4096:
        _by_id.clear()
    _by_id[id(schema)] = (schema, validator)  # keeps the schema alive, so its id stays its own
    return validator


def argument_path(path: Iterable[Any]) -> str:
    """('items', 0, 'qty') -> items[0].qty"""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _all_type_errors(error: ValidationError) -> list[str] | None:
    """The branch types of an anyOf/oneOf every branch of which failed on `type` alone."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return None
    if any(e.validator != "type" or e.relative_path for e in error.context):
        return None
    names: list[str] = []
    for e in error.context:
        for t in e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]:
            if t not in names:
                names.append(t)
    return names


def describe(error: ValidationError) -> str:
    """One line naming the argument path: `items[0].qty: 0 is less than the minimum of 1`."""
    if error.validator == "required" and not error.path:
        missing = re.match(r"'(.*)' is a required property", error.message)
        return f"missing required argument `{missing.group(1) if missing else error.message}`"
    where = argument_path(error.absolute_path) or "arguments"
    types = _all_type_errors(error)
    if types:
        got = _PY_TYPES.get(type(error.instance), "value")
        return _one_line(f"{where}: expected {' or '.join(types)}, got {got} {show(error.instance)}")
    leaf = best_match([error]) if error.context else error
    where = argument_path(leaf.absolute_path) or "arguments"
    if leaf.validator == "enum":
        return _one_line(f"{where}: {show(leaf.instance)} is not one of {show(leaf.validator_value)}")
    if leaf.validator == "const":
        return _one_line(f"{where}: expected {show(leaf.validator_value)}, got {show(leaf.instance)}")
    return _one_line(f"{where}: {leaf.message}")


def _undeclared(actual: Mapping[str, Any], parameters: Mapping[str, Any]) -> str | None:
    """Top-level arguments the schema does not declare (unless it opens itself to extra keys)."""
    properties = parameters.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return None
    if "additionalProperties" in parameters or "patternProperties" in parameters \
            or "unevaluatedProperties" in parameters:
        return None  # JSON Schema decides
    for name in actual:
        if name not in properties:
            return f"argument `{name}` is not in the schema"
    return None


def schema_error(actual: Mapping[str, Any], parameters: Mapping[str, Any]) -> str | None:
    """The arguments checked against the full JSON schema; the most relevant broken rule."""
    reason = _undeclared(actual, parameters)
    if reason or not parameters:
        return reason
    try:
        errors = list(validator_for(parameters).iter_errors(dict(actual)))
    except Unresolvable as e:
        return _one_line(f"the schema cannot be checked: unresolvable reference {e}")
    except RecursionError:
        return "arguments nest too deep to check against the schema"
    except (re.error, TypeError) as e:  # a schema the load-time check let through
        return _one_line(f"the schema cannot be checked: {e}")
    if not errors:
        return None
    # Missing required arguments first (a clear message), then what JSON Schema finds most relevant.
    for e in errors:
        if e.validator == "required" and not e.path:
            return describe(e)
    return describe(best_match(errors) if len(errors) > 1 else errors[0])


def value_schema_error(name: str, value: Any, parameters: Mapping[str, Any]) -> str | None:
    """Whether the schema allows `value` for the top-level argument `name`, on its own: the
    errors of the other arguments (missing required ones, rules across arguments) are not its."""
    if not parameters:
        return None
    try:
        errors = [e for e in validator_for(parameters).iter_errors({name: value})
                  if e.absolute_path and e.absolute_path[0] == name]
    except Unresolvable as e:
        return _one_line(f"the schema cannot be checked: unresolvable reference {e}")
    except (RecursionError, re.error, TypeError) as e:
        return _one_line(f"the schema cannot be checked: {type(e).__name__}: {e}")
    return describe(best_match(errors)) if errors else None


def schema_problem(parameters: Mapping[str, Any]) -> str | None:
    """Why a parameters schema cannot be used to check arguments (`minimum: "5"`, `required: a`,
    a `pattern` that is not a regular expression), or None. Type names JSON Schema does not know
    are let through: they constrain nothing (see `_lenient_type`)."""
    draft = _draft(parameters)
    for error in draft(draft.META_SCHEMA).iter_errors(parameters):
        if error.absolute_path and error.absolute_path[-1] == "type" and error.validator == "anyOf":
            continue
        where = argument_path(error.absolute_path) or "parameters"
        return _one_line(f"{where}: {error.message}")
    for path, pattern in _patterns(parameters, ()):
        try:
            re.compile(pattern)
        except re.error as e:
            return _one_line(f"{argument_path(path)}: {pattern!r} is not a regular expression ({e})")
    return None


def _patterns(node: Any, path: tuple[Any, ...]) -> Iterable[tuple[tuple[Any, ...], str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield (*path, key), value
            else:
                yield from _patterns(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _patterns(value, (*path, i))
