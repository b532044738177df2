"""Function-definition transforms (full, short, named) and the tools <-> legacy functions shapes.

The suite's `functions` list is the single source of truth; every variant's definitions are derived
from it here, so training data, token counts and requests all agree by construction.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import SuiteError
from .yamlmap import line_of, read_yaml_file

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


# Keywords whose value is a schema, a list of schemas, or a map of names to schemas: a
# `description` is stripped only where it is a keyword, never a property that happens to be
# called "description".
_SCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
           "unevaluatedItems", "unevaluatedProperties", "additionalItems", "contentSchema")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def strip_descriptions(schema: Any) -> Any:
    """Remove every `description` keyword at any depth: the function's, its parameters', nested
    properties', array items', `anyOf`/`oneOf` branches' and `$defs`'."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key in _SCHEMA or key == "parameters":
            out[key] = [strip_descriptions(v) for v in value] if isinstance(value, list) else strip_descriptions(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [strip_descriptions(v) for v in value]
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: strip_descriptions(v) for name, v in value.items()}
        else:
            out[key] = copy.deepcopy(value)
    return out


def empty_properties(function: Mapping[str, Any], *, keep_required: bool = False) -> dict[str, Any]:
    """Empty the top-level `properties` to `{}`; drop `required` (which would name nothing,
    unless `keep_required`) and the `$defs` only those properties referred to."""
    out = dict(function)
    params = dict(out.get("parameters") or {"type": "object"})
    params["properties"] = {}
    if not keep_required:
        params.pop("required", None)
    params.pop("$defs", None)
    params.pop("definitions", None)
    out["parameters"] = params
    return out


def shorten(tools: Iterable[Mapping[str, Any]], *, descriptions: bool = True,
            properties: bool = True, keep_required: bool = False) -> tuple[Tool, ...]:
    """The "short" definitions: no descriptions anywhere, `properties: {}`."""
    out = []
    for tool in to_tools(tools):
        fn = tool["function"]
        if descriptions:
            fn = strip_descriptions(fn)
        if properties:
            fn = empty_properties(fn, keep_required=keep_required)
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
    out = shorten(tools, descriptions=strip, properties=empty, keep_required=spec.keep_required)
    names = set(function_names(out))
    for listed in [*spec.drop, *(spec.keep or [])]:
        if listed not in names:
            raise SuiteError(where or None, f"transform '{name}' names unknown function '{listed}'",
                             field=f"transforms.{name}")
    if spec.keep is not None:
        out = tuple(t for t in out if t["function"]["name"] in spec.keep)
    return tuple(t for t in out if t["function"]["name"] not in spec.drop)


# ---- tool files people already have ---------------------------------------------------------

TOOL_FILE_SHAPES = "OpenAI tools, legacy functions, an MCP tools/list result or Anthropic tools"


def _one_tool(item: Any, where: str, line: int | None, field: str) -> Tool:
    """One definition in any of the known shapes -> the `tools` shape. MCP and Anthropic keep
    only what a function definition has (name, description, schema); `annotations`,
    `outputSchema`, `cache_control` and the like say nothing to the model being evaluated."""
    if not isinstance(item, Mapping):
        raise SuiteError(where, f"expected a tool definition (a mapping), got {type(item).__name__}",
                         line=line, field=field)
    if item.get("type") == "function" and isinstance(item.get("function"), Mapping):
        return {"type": "function", "function": copy.deepcopy(dict(item["function"]))}
    if not isinstance(item.get("name"), str) or not item["name"]:
        raise SuiteError(where, f"a tool needs a non-empty `name` ({TOOL_FILE_SHAPES})", line=line, field=field)
    for key in ("inputSchema", "input_schema", "parameters"):  # MCP, Anthropic, legacy / Responses API
        if key in item:
            schema = item[key]
            break
    else:
        schema = {"type": "object", "properties": {}}
    if not isinstance(schema, Mapping):
        raise SuiteError(where, "the tool's schema must be a JSON-schema object", line=line, field=f"{field}.{key}")
    fn: dict[str, Any] = {"name": item["name"]}
    if item.get("description"):
        fn["description"] = item["description"]
    fn["parameters"] = copy.deepcopy(dict(schema))
    if isinstance(item.get("strict"), bool):
        fn["strict"] = item["strict"]
    return {"type": "function", "function": fn}


def tools_from_data(data: Any, where: str, lines: Mapping[tuple, int] | None = None) -> tuple[Tool, ...]:
    """A parsed tool file -> definitions in the `tools` shape. Accepted: a list of OpenAI tools,
    legacy functions, MCP tools or Anthropic tools; `{"tools": [...]}` (an MCP `tools/list`
    result, also inside a JSON-RPC response's `result`) or `{"functions": [...]}`."""
    lines = lines or {}
    prefix: tuple[Any, ...] = ()
    if isinstance(data, Mapping) and isinstance(data.get("result"), Mapping) and "jsonrpc" in data:
        data, prefix = data["result"], ("result",)
    if isinstance(data, Mapping):
        key = next((k for k in ("tools", "functions") if isinstance(data.get(k), list)), None)
        if key is None:
            raise SuiteError(where, f"expected a list of tools, or a mapping with a `tools` list ({TOOL_FILE_SHAPES})",
                             line=line_of(lines, prefix) or 1)
        data, prefix = data[key], (*prefix, key)
    if not isinstance(data, list):
        raise SuiteError(where, f"expected a list of tools ({TOOL_FILE_SHAPES})", line=1)
    field = ".".join(str(p) for p in prefix)
    return tuple(_one_tool(item, where, line_of(lines, (*prefix, i)), f"{field}[{i}]" if field else f"[{i}]")
                 for i, item in enumerate(data))


def read_tool_file(path: Any, shown: str | None = None) -> tuple[Tool, ...]:
    """Read a JSON or YAML tool file (`functions_from:`); errors name the file and line."""
    where = shown or str(path)
    data, lines = read_yaml_file(path, where, "tool file")  # YAML is a superset of JSON: one reader, with lines
    return tools_from_data(data, where, lines)


def tools_from_files(sources: str | list[str] | None, suite_path: Path, shown: str,
                     line: int | None) -> tuple[Tool, ...]:
    """A suite's `functions_from:` (one path or a list, relative to the suite file), in order."""
    listed = [sources] if isinstance(sources, str) else list(sources or ())
    out: list[Tool] = []
    for j, rel in enumerate(listed):
        path = Path(suite_path).parent / rel
        if not path.is_file():
            field = "functions_from" if isinstance(sources, str) else f"functions_from[{j}]"
            raise SuiteError(shown, f"tool file '{rel}' not found (resolved to {path})", line=line, field=field)
        out += read_tool_file(path, str(path))
    return tuple(out)
