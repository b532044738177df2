"""Function-definition transforms (full, short, named) and the tools <-> legacy functions shapes.

The suite's `functions` list is the single source of truth; every variant's definitions are derived
from it here, so training data, token counts and requests all agree by construction.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping

from ..errors import SuiteError

Tool = dict[str, Any]


def to_tools(definitions: Iterable[Mapping[str, Any]]) -> tuple[Tool, ...]:
    """Accept the `tools` shape or the legacy `functions` shape; return the `tools` shape."""
    return tuple(
        copy.deepcopy(dict(d)) if d.get("type") == "function" and "function" in d
        else {"type": "function", "function": copy.deepcopy(dict(d))}
        for d in definitions
    )


def to_legacy_functions(tools: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`tools` shape -> the legacy `functions=[...]` request parameter (2023-06 wire format)."""
    return [copy.deepcopy(dict(t["function"])) for t in tools]


def function_names(tools: Iterable[Mapping[str, Any]]) -> list[str]:
    return [t["function"]["name"] for t in tools]


def strip_descriptions(schema: Any) -> Any:
    """Remove every `description` key, at any depth (function, parameters, nested properties)."""
    if isinstance(schema, dict):
        return {k: strip_descriptions(v) for k, v in schema.items() if k != "description"}
    if isinstance(schema, list):
        return [strip_descriptions(v) for v in schema]
    return schema


def empty_properties(function: Mapping[str, Any]) -> dict[str, Any]:
    """Empty the top-level `properties` to `{}` and drop `required`, which would name nothing."""
    out = dict(function)
    params = dict(out.get("parameters") or {"type": "object"})
    params["properties"] = {}
    params.pop("required", None)
    out["parameters"] = params
    return out


def shorten(tools: Iterable[Mapping[str, Any]], *, descriptions: bool = True,
            properties: bool = True) -> tuple[Tool, ...]:
    """The seed's "short" definitions: no descriptions anywhere, `properties: {}`."""
    out = []
    for tool in to_tools(tools):
        fn = tool["function"]
        if descriptions:
            fn = strip_descriptions(fn)
        if properties:
            fn = empty_properties(fn)
        out.append({"type": "function", "function": fn})
    return tuple(out)


def apply_transform(tools: tuple[Tool, ...], name: str, transforms: Mapping[str, Any],
                    *, where: str = "") -> tuple[Tool, ...]:
    """Resolve a variant's `functions:` value (`full`, `short` or a suite-defined transform)."""
    if name == "full":
        return to_tools(tools)
    if name == "short":
        return shorten(tools)
    spec = transforms.get(name)
    if spec is None:
        known = ", ".join(["full", "short", *transforms])
        raise SuiteError(where or None, f"unknown functions transform '{name}' (known: {known})",
                         field="functions")
    is_short = spec.base == "short"
    strip = is_short if spec.strip_descriptions is None else spec.strip_descriptions
    empty = is_short if spec.empty_properties is None else spec.empty_properties
    out = shorten(tools, descriptions=strip, properties=empty)
    names = set(function_names(out))
    for listed in [*spec.drop, *(spec.keep or [])]:
        if listed not in names:
            raise SuiteError(where or None, f"transform '{name}' names unknown function '{listed}'",
                             field=f"transforms.{name}")
    if spec.keep is not None:
        out = tuple(t for t in out if t["function"]["name"] in spec.keep)
    return tuple(t for t in out if t["function"]["name"] not in spec.drop)
