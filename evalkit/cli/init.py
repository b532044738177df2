"""`evalkit init [--from TOOLS_FILE]`: write a starter suite that loads and runs as written, from a
tools file (OpenAI, legacy functions, MCP or Anthropic) or from a built-in example function."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import InputError

HELP = """\
Write a starter suite: the function definitions, two variants (the full and the short
definitions on one model) and one case per function plus one the model should refuse.
With --from, the definitions come from TOOLS_FILE (JSON or YAML), in any shape `functions_from:`
reads: OpenAI `tools` ([{"type": "function", "function": {...}}]), legacy `functions`
([{"name": ..., "parameters": {...}}]), an MCP `tools/list` result ({"tools": [{"name": ...,
"inputSchema": {...}}]}) or Anthropic tools ([{"name": ..., "input_schema": {...}}]).
Expected argument values are placeholders derived from each schema: edit the questions and
values, then `evalkit tokens SUITE` and `evalkit run SUITE`. Refuses to overwrite a file
unless --force. Exit 2 on a file it cannot read."""

EXAMPLE_TOOL = {"type": "function", "function": {
    "name": "get_current_weather",
    "description": "Get the current weather in a given location.",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city, e.g. San Francisco"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"]}}}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="write a starter suite (from a tools file with --from)", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--out", type=Path, default=Path("suite.yaml"), metavar="SUITE",
                   help="suite YAML to write (default suite.yaml)")
    p.add_argument("--from", dest="tools_file", type=Path, metavar="TOOLS_FILE",
                   help="JSON file of function definitions (OpenAI tools or legacy functions)")
    p.add_argument("--provider", default="openai", help="provider of the two variants (default openai)")
    p.add_argument("--model", default="gpt-4o-mini", help="model of the two variants (default gpt-4o-mini)")
    p.add_argument("--name", help="suite name (default: the output file's stem)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=run)


def read_tools_file(path: Path) -> tuple[dict[str, Any], ...]:
    """The definitions in a tools file (any shape `functions_from:` reads), in the `tools` shape;
    one-line errors naming the file, line and entry."""
    from ..suite.functions import read_tool_file

    tools = read_tool_file(path)
    if not tools:
        raise InputError(str(path), "expected a non-empty list of function definitions")
    seen: set[str] = set()
    for i, t in enumerate(tools):
        name = t["function"].get("name")
        if name in seen:
            raise InputError(str(path), f"definition {i + 1}: duplicate function name '{name}'")
        seen.add(name)
    return tools


def placeholder(schema: Any) -> Any:
    """A value of the schema's type, for the user to replace with the one the question implies."""
    if not isinstance(schema, dict):
        return "TODO"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    return {"integer": 0, "number": 0, "boolean": False, "array": [], "object": {},
            "null": None}.get(kind, "TODO")


def starter_case(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool["function"]
    params = fn.get("parameters") or {}
    props = params.get("properties") or {}
    required = [r for r in params.get("required") or [] if r in props]
    args = {name: placeholder(props[name]) for name in required}
    expect: dict[str, Any] = {"call": fn["name"]}
    if args:
        expect["arguments"] = args
    return {"id": f"{fn['name']}-1".replace("_", "-"), "tags": ["starter"],
            "user": f"TODO: a question that needs {fn['name']}", "expect": expect}


def starter_suite(tools: tuple[dict[str, Any], ...], name: str, provider: str, model: str) -> dict[str, Any]:
    variant = {"provider": provider, "model": model}
    return {
        "name": name,
        "system": "Don't make assumptions about what values to plug into functions. Ask for clarification "
                  "if a user request is ambiguous.",
        "functions": list(tools),
        "variants": [{"name": "full", **variant, "functions": "full"},
                     {"name": "short", **variant, "functions": "short"}],
        "cases": [starter_case(t) for t in tools]
        + [{"id": "refuse-1", "tags": ["starter"],
            "user": "TODO: a question none of the functions can answer, or one that needs a detail the "
                    "user did not give", "expect": "refuse"}],
    }


def render(suite: dict[str, Any], source: str) -> str:
    import yaml
    def block(key: str) -> str:
        return yaml.safe_dump({key: suite[key]}, sort_keys=False, allow_unicode=True, width=100)

    return "".join([
        (f"# Starter suite written by `evalkit init` from {source}.\n"
         "# Edit the cases (questions and expected values), then: evalkit tokens THIS_FILE; evalkit run THIS_FILE\n"
         "# Format: README \"The suite format\".\n"),
        block("name"), block("system"),
        "# Single source of truth for the definitions; `short` variants strip descriptions and properties.\n",
        block("functions"),
        "# Connection settings come from the environment (OPENAI_API_KEY, ...) unless a variant sets them.\n",
        block("variants"),
        "# expect: {call: NAME, arguments: {...}} | refuse; argument values may be {any_of: [a, b]}.\n",
        block("cases"),
    ])


def run(args: argparse.Namespace) -> int:
    from ..suite import load_suite
    out: Path = args.out
    if out.exists() and not args.force:
        raise InputError(str(out), "already exists: choose another -o/--out, or --force to overwrite")
    tools = read_tools_file(args.tools_file) if args.tools_file else (EXAMPLE_TOOL,)
    source = str(args.tools_file) if args.tools_file else "the built-in example function"
    suite = starter_suite(tools, args.name or out.stem, args.provider, args.model)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(suite, source), encoding="utf-8")
    except OSError as e:
        raise InputError(str(out), f"cannot write: {e.strerror}") from None
    load_suite(out)  # what init writes must load: a schema the loader rejects fails here, not later
    print(f"wrote {out}: {len(tools)} function(s), 2 variants ({args.provider} {args.model}), "
          f"{len(suite['cases'])} starter cases")
    print(f"next: edit the cases, then  evalkit tokens {out}  and  evalkit run {out}")
    return 0
