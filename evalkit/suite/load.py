"""The one place suites are loaded: YAML (+ `cases_from` JSONL) -> validated, resolved `Suite`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from ..errors import SuiteError
from ..jsonl import read_jsonl
from .expect import ExpectError, expect_from_assistant, forbidden_value, parse_expect
from .functions import apply_transform, to_tools, tools_from_files
from .model import AnyOf, Case, CaseSpec, Expectation, Suite, SuiteSpec
from .schema import schema_problem
from .plugins import settings_problem
from .yamlmap import dotted, line_of, read_yaml_file

JSONL_KEYS = {"messages", "tools", "functions", "parallel_tool_calls", "id", "tags"}
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
# Body keys a variant's `params` may not set: evalkit builds them from the suite, or reads the
# response in a way they would break.
RESERVED_PARAMS = {"model": "the variant's `model`", "messages": "the cases", "tools": "the suite's `functions`",
                   "functions": "the suite's `functions`", "temperature": "the variant's `temperature`",
                   "max_tokens": "the variant's `max_tokens`", "stream": "nothing: evalkit reads whole responses"}


def _pydantic_error(e: ValidationError, path: str, lines: dict) -> SuiteError:
    err = e.errors()[0]
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        msg = f"unknown key '{loc[-1]}'"
    elif err["type"] == "missing":
        msg = "required field is missing"
    else:
        msg = f"{err['msg']} (got {err.get('input')!r:.60})"
    return SuiteError(path, msg, line=line_of(lines, loc), field=dotted(loc))


def _check_functions(tools: tuple[dict, ...], where: str, line: int | None, field: str) -> None:
    seen = set()
    for i, t in enumerate(tools):
        fn = t.get("function")
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise SuiteError(where, "each function needs a non-empty `name`", line=line, field=f"{field}[{i}]")
        params = fn.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, Mapping) or not isinstance(params.get("properties", {}), Mapping):
            raise SuiteError(where, "`parameters` must be a JSON-schema object with `properties`",
                             line=line, field=f"{field}[{i}].parameters")
        if fn["name"] in seen:
            raise SuiteError(where, f"function '{fn['name']}' is defined twice", line=line, field=f"{field}[{i}]")
        seen.add(fn["name"])
        problem = schema_problem(params)
        if problem:
            raise SuiteError(where, f"the schema of '{fn['name']}' is not valid JSON Schema: {problem}",
                             line=line, field=f"{field}[{i}].parameters")


def _check_expectation(expect: Expectation, tools: tuple[dict, ...], where: str, line: int | None) -> None:
    by_name = {t["function"]["name"]: t["function"] for t in tools}
    for i, call in enumerate(expect.calls):
        if call.name not in by_name:
            known = ", ".join(by_name) or "none"
            raise SuiteError(where, f"expects a call to '{call.name}', which is not defined (defined: {known})",
                             line=line, field="expect.call")
        props = (by_name[call.name].get("parameters") or {}).get("properties") or {}
        for arg in call.arguments or {}:
            if props and arg not in props:
                raise SuiteError(where, f"expected argument '{arg}' is not in the schema of '{call.name}'",
                                 line=line, field=f"expect.arguments.{arg}")
        problem = forbidden_value(call, by_name[call.name].get("parameters") or {})
        if problem:
            raise SuiteError(where, str(problem), line=line, field=problem.field)


def _with_system(messages: list[dict], system: str | None) -> tuple[dict, ...]:
    if system and not (messages and messages[0].get("role") in ("system", "developer")):
        messages = [{"role": "system", "content": system}, *messages]
    return tuple(messages)


def _check_messages(messages: Any, where: str, line: int | None, field: str) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise SuiteError(where, "expected a non-empty list of messages", line=line, field=field)
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or m.get("role") not in ROLES:
            raise SuiteError(where, f"each message needs a role in {sorted(ROLES)}", line=line, field=f"{field}[{i}].role")
    return [dict(m) for m in messages]


def _inline_case(spec: CaseSpec, i: int, suite: SuiteSpec, path: str, lines: dict) -> Case:
    line = line_of(lines, ("cases", i))
    if (spec.user is None) == (spec.messages is None):
        raise SuiteError(path, "give exactly one of `user` or `messages`", line=line, field=f"cases[{i}]")
    messages = [{"role": "user", "content": spec.user}] if spec.user is not None else \
        _check_messages(spec.messages, path, line, f"cases[{i}].messages")
    try:
        expect = parse_expect(spec.expect)
    except ExpectError as e:
        raise SuiteError(path, str(e), line=line_of(lines, ("cases", i, "expect")),
                         field=f"cases[{i}].{e.field}") from None
    functions = to_tools(spec.functions) if spec.functions is not None else None
    return Case(spec.id, _with_system(messages, suite.system), expect, functions, tuple(spec.tags), f"{path}:{line}")


def _jsonl_case(obj: Any, where: str, lineno: int, stem: str, system: str | None) -> Case:
    if not isinstance(obj, Mapping):
        raise SuiteError(where, "each line must be a JSON object", line=lineno)
    unknown = set(obj) - JSONL_KEYS
    if unknown:
        raise SuiteError(where, f"unknown key '{sorted(unknown)[0]}' (expected {sorted(JSONL_KEYS)})", line=lineno)
    messages = _check_messages(obj.get("messages"), where, lineno, "messages")
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        raise SuiteError(where, "no assistant message: the last assistant message is the expectation",
                         line=lineno, field="messages")
    try:
        expect = expect_from_assistant(messages[last])
    except ExpectError as e:
        raise SuiteError(where, str(e), line=lineno, field=f"messages[{last}].{e.field}") from None
    if last == 0:
        raise SuiteError(where, "nothing before the assistant message to use as the prompt", line=lineno, field="messages")
    functions = None
    for key in ("tools", "functions"):
        if key in obj:
            if not isinstance(obj[key], list):
                raise SuiteError(where, "expected a list of function definitions", line=lineno, field=key)
            functions = to_tools(obj[key])
            _check_functions(functions, where, lineno, key)
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise SuiteError(where, "expected a list of strings", line=lineno, field="tags")
    params = {}
    if "parallel_tool_calls" in obj:
        if not isinstance(obj["parallel_tool_calls"], bool):
            raise SuiteError(where, "expected true or false", line=lineno, field="parallel_tool_calls")
        params["parallel_tool_calls"] = obj["parallel_tool_calls"]
    case_id = str(obj.get("id", f"{stem}-{lineno}"))
    return Case(case_id, _with_system(messages[:last], system), expect, functions, tuple(tags), f"{where}:{lineno}",
                params)


def load_cases_jsonl(path: Path, system: str | None = None, shown: str | None = None) -> list[Case]:
    """Read cases in the OpenAI chat fine-tuning format (one JSON object per line)."""
    where = shown or str(path)
    return [_jsonl_case(obj, where, lineno, path.stem, system)
            for lineno, obj in read_jsonl(path, "cases file", SuiteError, "cases_from")]


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    shown = str(path)
    data, lines = read_yaml_file(path, shown, "suite file")
    if not isinstance(data, Mapping):
        raise SuiteError(shown, "a suite must be a YAML mapping (name, functions, variants, cases)", line=1)
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as e:
        raise _pydantic_error(e, shown, lines) from None

    functions = to_tools(spec.functions) + tools_from_files(spec.functions_from, path, shown,
                                                            line_of(lines, ("functions_from",)))
    _check_functions(functions, shown, line_of(lines, ("functions",)), "functions")

    names = set()
    for i, v in enumerate(spec.variants):
        where_line = line_of(lines, ("variants", i))
        if v.name in names:
            raise SuiteError(shown, f"duplicate variant name '{v.name}'", line=where_line, field=f"variants[{i}].name")
        names.add(v.name)
        problem = settings_problem(v)  # the provider's own model of the keys it reads
        if problem:
            raise SuiteError(shown, problem.message, line=line_of(lines, ("variants", i, *problem.loc)),
                             field=dotted(("variants", i, *problem.loc)))
        for key in v.params:
            if key in RESERVED_PARAMS:
                raise SuiteError(shown, f"`{key}` cannot be a request parameter: it comes from {RESERVED_PARAMS[key]}",
                                 line=line_of(lines, ("variants", i, "params", key)), field=f"variants[{i}].params.{key}")
        try:
            apply_transform(functions, v.functions, spec.transforms)
        except SuiteError as e:
            raise SuiteError(shown, e.message, line=line_of(lines, ("variants", i, "functions")),
                             field=f"variants[{i}].functions") from None

    cases = [_inline_case(c, i, spec, shown, lines) for i, c in enumerate(spec.cases)]
    sources = [spec.cases_from] if isinstance(spec.cases_from, str) else (spec.cases_from or [])
    for j, rel in enumerate(sources):
        shown_rel = str(path.parent / rel)
        if not (path.parent / rel).is_file():
            field = "cases_from" if isinstance(spec.cases_from, str) else f"cases_from[{j}]"
            raise SuiteError(shown, f"cases file '{rel}' not found (resolved to {shown_rel})",
                             line=line_of(lines, ("cases_from",)), field=field)
        cases += load_cases_jsonl(path.parent / rel, spec.system, shown_rel)
    if not cases:
        raise SuiteError(shown, "the suite has no cases (give `cases` or `cases_from`)", line=1, field="cases")

    seen: dict[str, str] = {}
    for case in cases:
        if case.id in seen:
            raise SuiteError(case.source.rsplit(":", 1)[0], f"duplicate case id '{case.id}' (first at {seen[case.id]})",
                             line=int(case.source.rsplit(":", 1)[1]), field="id")
        seen[case.id] = case.source
        file, _, line = case.source.rpartition(":")
        _check_expectation(case.expect, case.functions or functions, file, int(line) if line.isdigit() else None)
    return Suite(spec=spec, path=shown, functions=functions, cases=tuple(cases), variants=tuple(spec.variants))


__all__ = ["load_suite", "load_cases_jsonl", "AnyOf"]
