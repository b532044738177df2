"""`--set VARIANT.FIELD=VALUE`: change one field of a variant from the command line, validated
exactly as the suite's YAML is. VALUE is read as a YAML scalar (`0.7` is a number, `true` a
boolean, `gpt-4o` a string, `{seed: 1}` a mapping); FIELD may go into a mapping field
(`params.seed`, `options.http_client`); VARIANT `*` means every variant."""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable

import yaml
from pydantic import ValidationError

from ..errors import InputError, SuiteError
from .functions import apply_transform
from .model import Suite, VariantSpec

FLAG = "--set"


def _fail(item: str, message: str) -> InputError:
    return InputError(None, f"'{item}': {message}", field=FLAG)


def parse_override(item: str, names: Iterable[str]) -> tuple[list[str], list[str], Any]:
    """'base+full.params.seed=7' -> (['base+full'], ['params', 'seed'], 7). Variant names may hold
    dots, so the longest name followed by '.' wins."""
    target, sep, text = item.partition("=")
    names = list(names)
    if not sep or "." not in target:
        raise _fail(item, "expected VARIANT.FIELD=VALUE, e.g. --set base+full.temperature=0.7")
    if target.startswith("*."):
        chosen, path = names, target[2:]
    else:
        match = max((n for n in names if target.startswith(n + ".")), key=len, default=None)
        if match is None:
            raise _fail(item, f"no variant named '{target.rsplit('.', 1)[0]}' (variants: {', '.join(names)}; "
                        "* for all)")
        chosen, path = [match], target[len(match) + 1:]
    fields = path.split(".")
    if not all(fields):
        raise _fail(item, "empty field name")
    if fields[0] == "name":
        raise _fail(item, "a variant's name cannot be changed (results are keyed by it)")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as e:
        raise _fail(item, f"VALUE is not a YAML value ({getattr(e, 'problem', None) or e})") from None
    return chosen, fields, value


def _assign(data: dict[str, Any], fields: list[str], value: Any, item: str) -> None:
    node = data
    for f in fields[:-1]:
        node = node.setdefault(f, {})
        if not isinstance(node, dict):
            raise _fail(item, f"'{f}' is not a mapping field")
    node[fields[-1]] = value


def override_variant(variant: VariantSpec, fields: list[str], value: Any, item: str) -> VariantSpec:
    data = variant.model_dump(exclude_unset=True)
    if fields[0] not in VariantSpec.model_fields:
        known = ", ".join(f for f in VariantSpec.model_fields if f != "name")
        raise _fail(item, f"unknown variant field '{fields[0]}' (fields: {known})")
    if len(fields) > 1 and not isinstance(data.get(fields[0], {}), dict):
        raise _fail(item, f"'{fields[0]}' is not a mapping field")
    _assign(data, fields, value, item)
    try:
        return VariantSpec.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or ".".join(fields)
        raise _fail(item, f"{loc}: {err['msg'].removeprefix('Value error, ')}") from None


def apply_overrides(suite: Suite, items: Iterable[str]) -> Suite:
    """The suite with every `--set` applied in order (later ones win)."""
    variants = list(suite.variants)
    for item in items:
        chosen, fields, value = parse_override(item, [v.name for v in variants])
        variants = [override_variant(v, fields, value, item) if v.name in chosen else v for v in variants]
        if fields[0] == "functions":  # the suite's own check: the transform must exist
            for v in variants:
                try:
                    apply_transform(suite.functions, v.functions, suite.spec.transforms)
                except SuiteError as e:
                    raise _fail(item, e.message) from None
    return dataclasses.replace(suite, variants=tuple(variants))
