"""Berkeley Function Calling Leaderboard (BFCL) question files -> an evalkit suite.

BFCL ships each category as JSON lines (`BFCL_v4_<category>.json`: id, question, function) with its
answers beside them (`possible_answer/BFCL_v4_<category>.json`: id, ground_truth). A ground-truth
argument is a list of acceptable values, where `""` means "may be left out". The mapping:

- acceptable values -> `{any_of: [...]}`, with `optional: true` when `""` is among them;
- dict arguments (and lists of dicts) hold acceptable values per key: they are expanded into the
  whole dicts (lists) BFCL would accept, keys with `""` present or absent;
- several ground-truth calls -> several expected calls (parallel, order-free);
- irrelevance categories -> `expect: refuse`;
- BFCL's python-ish types ("dict", "float", "tuple", "any") -> JSON-schema types, and dots in
  function names -> underscores, exactly as BFCL converts them for OpenAI models;
- the suite sets `string_match: bfcl` (BFCL's string normalisation).

Multi-turn, Java/JavaScript, relevance and agentic categories have other rules and are not imported.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from ..errors import InputError
from ..jsonl import read_jsonl
from ..scoring.arguments import normalise_bfcl
from ..suite.schema import value_schema_error

CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
              "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance")
ALIASES = {"simple": "simple_python"}  # BFCL v3 and earlier called it `simple`

# BFCL's GORILLA_TO_OPENAPI (bfcl_eval/constants/type_mappings.py); unknown types become "string".
OPENAPI_TYPES = {
    "integer": "integer", "number": "number", "float": "number", "string": "string",
    "boolean": "boolean", "bool": "boolean", "array": "array", "list": "array", "dict": "object",
    "object": "object", "tuple": "array", "any": "string", "byte": "integer", "short": "integer",
    "long": "integer", "double": "number", "char": "string", "ArrayList": "array", "Array": "array",
    "HashMap": "object", "Hashtable": "object", "Queue": "array", "Stack": "array", "Any": "string",
    "String": "string", "Bigint": "integer",
}
MAX_ALTERNATIVES = 512  # expanded dict / list-of-dict answers per argument
FILE_NAME = re.compile(r"^BFCL_v(\d+)_(.+)\.json$")


class BfclError(InputError):
    """A BFCL file is missing, unreadable or not in the expected shape."""


class Unmappable(ValueError):
    """One entry cannot be expressed as an evalkit case; it is skipped with this reason."""


@dataclass(frozen=True)
class Imported:
    suite: dict[str, Any]
    counts: dict[str, int]  # category -> cases imported
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)


# ---- functions ------------------------------------------------------------------------------

def tool_name(name: str) -> str:
    """OpenAI function names match ^[a-zA-Z0-9_-]{1,64}$: BFCL replaces dots with underscores."""
    return name.replace(".", "_")


def _schema(node: Any, is_property: bool) -> Any:
    if not isinstance(node, Mapping):
        return node
    out = dict(node)
    declared = out.get("type")
    if is_property and declared is None:
        out["type"] = "string"
    elif isinstance(declared, str):
        out["type"] = OPENAPI_TYPES.get(declared, "string")
        if is_property and declared == "float":  # what BFCL sends OpenAI models for floats
            out["format"] = "float"
            out["description"] = out.get("description", "") + " This is a float type value."
    if isinstance(out.get("properties"), Mapping):
        out["properties"] = {k: _schema(v, True) for k, v in out["properties"].items()}
    if isinstance(out.get("items"), Mapping):
        out["items"] = _schema(out["items"], False)
    return out


def to_tool(function: Mapping[str, Any]) -> dict[str, Any]:
    """One BFCL function description -> an OpenAI `tools` entry with JSON-schema types."""
    params = dict(function.get("parameters") or {})
    params["type"] = "object"
    params["properties"] = {k: _schema(v, True) for k, v in (params.get("properties") or {}).items()}
    fn = {**function, "name": tool_name(function["name"]), "parameters": params}
    return {"type": "function", "function": fn}


# ---- answers --------------------------------------------------------------------------------

def _choices(values: Any) -> tuple[list[Any], bool]:
    """A BFCL acceptable-value list -> (values, may be omitted)."""
    values = values if isinstance(values, list) else [values]
    blank = [isinstance(v, str) and v == "" for v in values]
    return [v for v, b in zip(values, blank) if not b], any(blank)


def expand_dict(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A dict answer holds acceptable values per key: every whole dict BFCL's dict_checker accepts."""
    per_key = []
    for key, values in answer.items():
        options, optional = _choices(values)
        per_key.append([(key, v) for v in options] + ([None] if optional else []))
    out = []
    for combo in itertools.product(*per_key):
        out.append({kv[0]: kv[1] for kv in combo if kv is not None})
        if len(out) > MAX_ALTERNATIVES:
            raise Unmappable(f"more than {MAX_ALTERNATIVES} acceptable dicts")
    return out


def _expand_list_of_dicts(answer: list[Any]) -> list[list[Any]]:
    per_item = [expand_dict(d) if isinstance(d, Mapping) else [d] for d in answer]
    out = []
    for combo in itertools.product(*per_item):
        out.append(list(combo))
        if len(out) > MAX_ALTERNATIVES:
            raise Unmappable(f"more than {MAX_ALTERNATIVES} acceptable lists")
    return out


def within_enum(options: list[Any], schema: Mapping[str, Any]) -> list[Any]:
    """Keep the string answers a declared `enum` allows, spelled as the enum spells them (BFCL's
    ground truth sometimes lists values outside the enum, e.g. a default of 'N/A')."""
    enum = schema.get("enum")
    if not isinstance(enum, list):
        return options
    by_form = {normalise_bfcl(e): e for e in enum if isinstance(e, str)}
    out = []
    for option in options:
        if not isinstance(option, str):
            out.append(option)
        elif normalise_bfcl(option) in by_form and by_form[normalise_bfcl(option)] not in out:
            out.append(by_form[normalise_bfcl(option)])
    return out


def acceptable(values: Any, schema: Mapping[str, Any]) -> tuple[list[Any], bool]:
    """The whole values evalkit accepts for one argument, and whether it may be left out.
    `schema` is the BFCL (python-ish) property schema: dict and list-of-dict answers expand."""
    options, optional = _choices(values)
    options = within_enum(options, schema)
    declared = schema.get("type")
    items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
    out: list[Any] = []
    for option in options:
        if declared == "dict" and isinstance(option, Mapping):
            out += expand_dict(option)
        elif declared in ("array", "tuple") and items.get("type") == "dict" and isinstance(option, list):
            out += _expand_list_of_dicts(option)
        else:
            out.append(option)
    return out, optional


def expected_argument(values: Any, schema: Mapping[str, Any], allowed: Any = None) -> Any:
    """Suite form of one argument: a literal, or `{any_of: [...], optional: true}`. `allowed`
    filters the acceptable values (the ones the converted JSON schema allows)."""
    options, optional = acceptable(values, schema)
    if allowed is not None:
        options = [o for o in options if allowed(o)]
    if len(options) == 1 and not optional and not isinstance(options[0], Mapping):
        return options[0]
    spec: dict[str, Any] = {"any_of": options}
    if optional:
        spec["optional"] = True
    return spec


def expected_calls(ground_truth: Any, functions: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    by_name = {f["name"]: f for f in functions}
    if not isinstance(ground_truth, list) or not ground_truth:
        raise Unmappable("ground_truth is not a non-empty list of calls")
    calls = []
    for item in ground_truth:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise Unmappable("each ground-truth call must be {function name: arguments}")
        (name, args), = item.items()
        if name not in by_name:
            raise Unmappable(f"ground truth calls '{name}', which the entry does not define")
        props = (by_name[name].get("parameters") or {}).get("properties") or {}
        params = to_tool(by_name[name])["function"]["parameters"]
        arguments = {}
        for arg, values in (args or {}).items():
            if arg not in props:
                raise Unmappable(f"ground-truth argument '{arg}' is not in the schema of '{name}'")

            def allowed(value: Any, arg: str = arg) -> bool:
                # a value its own schema forbids (outside an enum, the wrong type) no model could
                # give: evalkit refuses to load such an expectation, so the importer drops it
                return value_schema_error(arg, value, params) is None

            options, optional = acceptable(values, props[arg])
            options = [o for o in options if allowed(o)]
            if not options and not optional:
                raise Unmappable(f"argument '{arg}' of '{name}' has no acceptable value its schema allows")
            if options:  # only "": BFCL accepts nothing but leaving it out
                arguments[arg] = expected_argument(values, props[arg], allowed)
        calls.append({"call": tool_name(name), "arguments": arguments})
    return calls


# ---- entries and files ----------------------------------------------------------------------

def to_case(entry: Mapping[str, Any], answer: Mapping[str, Any] | None, category: str) -> dict[str, Any]:
    turns = entry.get("question")
    if not isinstance(turns, list) or len(turns) != 1 or not isinstance(turns[0], list) or not turns[0]:
        raise Unmappable("only single-turn questions are imported")
    functions = entry.get("function")
    if not isinstance(functions, list) or not all(isinstance(f, Mapping) and "name" in f for f in functions):
        raise Unmappable("`function` must be a list of function descriptions")
    if len({tool_name(f["name"]) for f in functions}) != len(functions):
        raise Unmappable("two functions share a name once dots become underscores")
    if category.endswith("irrelevance"):
        expect: Any = "refuse"
    elif answer is None:
        raise Unmappable("no possible answer for this id")
    else:
        expect = {"calls": expected_calls(answer.get("ground_truth"), functions)}
    messages = [dict(m) for m in turns[0]]
    case: dict[str, Any] = {"id": str(entry["id"])}
    if len(messages) == 1 and messages[0].get("role") == "user":
        case["user"] = messages[0].get("content", "")
    else:
        case["messages"] = messages
    case["tags"] = [category]
    case["functions"] = [to_tool(f) for f in functions]
    case["expect"] = expect
    return case


def read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, obj in read_jsonl(path, "file", BfclError):
        if not isinstance(obj, dict) or "id" not in obj:
            raise BfclError(str(path), "expected a JSON object with an `id`", line=lineno)
        yield lineno, obj


def category_of(path: Path) -> str | None:
    m = FILE_NAME.match(path.name)
    return ALIASES.get(m.group(2), m.group(2)) if m else None


def parse_categories(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [ALIASES.get(c.strip(), c.strip()) for c in text.split(",") if c.strip()]
    for name in names:
        if name not in CATEGORIES:
            raise BfclError(None, f"unsupported BFCL category '{name}' (supported: {', '.join(CATEGORIES)})",
                            field="--category")
    return names


def category_files(path: Path, categories: list[str] | None) -> list[tuple[str, Path]]:
    """PATH is one BFCL_v<N>_<category>.json file, or a directory holding them."""
    if path.is_file():
        category = category_of(path)
        if categories and len(categories) == 1:
            category = categories[0]
        if category not in CATEGORIES:
            raise BfclError(str(path), f"cannot tell a supported category from the file name (expected "
                                       f"BFCL_v<N>_<category>.json with one of: {', '.join(CATEGORIES)})")
        return [(category, path)]
    if not path.is_dir():
        raise BfclError(str(path), "no such file or directory")
    found: dict[str, tuple[int, Path]] = {}
    for p in path.glob("BFCL_v*_*.json"):
        m, category = FILE_NAME.match(p.name), category_of(p)
        if m and category in CATEGORIES and int(m.group(1)) >= found.get(category, (-1, p))[0]:
            found[category] = (int(m.group(1)), p)
    wanted = categories or [c for c in CATEGORIES if c in found]
    missing = [c for c in wanted if c not in found]
    if missing or not wanted:
        raise BfclError(str(path), f"no BFCL_v<N>_{missing[0] if missing else '<category>'}.json here",
                        field="--category" if missing else None)
    return [(c, found[c][1]) for c in wanted]


def import_bfcl(path: str | Path, categories: list[str] | None = None, *, name: str = "bfcl",
                variant: Mapping[str, Any] | None = None, limit: int | None = None) -> Imported:
    """Read BFCL question + possible-answer files and build a suite (a plain dict, suite format)."""
    cases, counts, skipped = [], {}, []
    for category, qpath in category_files(Path(path), categories):
        answers: dict[str, Any] = {}
        if not category.endswith("irrelevance"):
            apath = qpath.parent / "possible_answer" / qpath.name
            answers = {str(obj["id"]): obj for _, obj in read_lines(apath)}
        counts[category] = 0
        for _, entry in read_lines(qpath):
            if limit is not None and counts[category] >= limit:
                break
            try:
                cases.append(to_case(entry, answers.get(str(entry["id"])), category))
                counts[category] += 1
            except Unmappable as e:
                skipped.append((str(entry["id"]), str(e)))
    suite = {
        "name": name,
        "description": f"Imported from BFCL ({', '.join(counts)}) by `evalkit import bfcl`. "
                       "BFCL data: Apache-2.0, Berkeley Function Calling Leaderboard.",
        "string_match": "bfcl",
        "variants": [dict(variant or {"name": "base", "provider": "openai", "model": "gpt-4o-mini"})],
        "cases": cases,
    }
    return Imported(suite, counts, skipped)


def dump_suite(suite: Mapping[str, Any]) -> str:
    header = "# Generated by `evalkit import bfcl`; BFCL questions and answers are Apache-2.0.\n"
    return header + yaml.safe_dump(dict(suite), sort_keys=False, allow_unicode=True, width=100,
                                   default_flow_style=None)
