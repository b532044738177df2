"""`evalkit data check`: the format checks of OpenAI's chat fine-tuning data-preparation recipe,
plus the advice of fine-tuning guides: at least 100 examples, should-refuse examples present, no duplicates, no
test case in the training data, and the same function definitions in training as at inference.

Each check is a small function returning `Problem`s; `check_examples` runs them all. Pure: parsed
examples (and optionally the suite) in, problems out.
"""
from __future__ import annotations

import difflib
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, Sequence

from ..analysis.cost import is_fine_tuned
from ..errors import InputError
from ..scoring.arguments import arguments_error, parse_arguments
from ..suite.functions import apply_transform
from ..suite.model import Suite, VariantSpec
from .examples import Example, Unparsed, canonical, definitions, line_ranges

LINE_KEYS = {"messages", "tools", "functions", "parallel_tool_calls"}
MESSAGE_KEYS = {"role", "content", "name", "function_call", "tool_calls", "tool_call_id", "weight", "refusal"}
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
MIN_EXAMPLES = 10  # OpenAI rejects smaller files
ADVISED_EXAMPLES = 100  # fewer examples rarely teach a call format reliably


@dataclass(frozen=True)
class Problem:
    level: Literal["error", "warning"]
    code: str
    message: str
    line: int | None = None  # None: about the whole file
    detail: str = ""  # e.g. a diff, printed under the message


def error(code: str, message: str, line: int | None = None, detail: str = "") -> Problem:
    return Problem("error", code, message, line, detail)


def warning(code: str, message: str, line: int | None = None, detail: str = "") -> Problem:
    return Problem("warning", code, message, line, detail)


# ---- one example -------------------------------------------------------------------------

def _message_problems(m: Any, i: int, line: int) -> list[Problem]:
    where = f"messages[{i}]"
    if not isinstance(m, Mapping):
        return [error("data_type", f"{where} is not an object", line)]
    out = []
    if "role" not in m:
        out.append(error("message_missing_key", f"{where} has no `role`", line))
    elif m["role"] not in ROLES:
        out.append(error("unrecognized_role", f"{where}: unknown role {m['role']!r} (expected one of "
                                              f"{', '.join(sorted(ROLES))})", line))
    for key in sorted(set(m) - MESSAGE_KEYS):
        out.append(error("message_unrecognized_key", f"{where}: unknown key {key!r}", line))
    content = m.get("content")
    if not content and not m.get("tool_calls") and not m.get("function_call"):
        out.append(error("missing_content", f"{where} has neither content nor a tool/function call", line))
    elif content is not None and not isinstance(content, (str, list)):
        out.append(error("data_type", f"{where}: `content` must be a string", line))
    if "weight" in m and m["weight"] not in (0, 1):
        out.append(error("invalid_weight", f"{where}: `weight` must be 0 or 1", line))
    return out


def calls_of(message: Mapping[str, Any]) -> list[tuple[str | None, Any]]:
    """(name, raw arguments) of every call an assistant message makes, in either wire format."""
    calls = [(c.get("function") or {}) for c in message.get("tool_calls") or [] if isinstance(c, Mapping)]
    if isinstance(message.get("function_call"), Mapping):
        calls.append(message["function_call"])
    return [(c.get("name"), c.get("arguments")) for c in calls if isinstance(c, Mapping)]


def _call_problems(messages: Sequence[Mapping[str, Any]], defined: Mapping[str, Mapping[str, Any]],
                   schemas: Mapping[str, Mapping[str, Any]] | None, line: int) -> list[Problem]:
    out = []
    for i, m in enumerate(messages):
        if m.get("role") != "assistant":
            continue
        for name, raw in calls_of(m):
            if name not in defined:
                known = ", ".join(defined) or "none"
                out.append(error("undefined_function", f"messages[{i}] calls {name!r}, which the example "
                                                       f"does not define (defined: {known})", line))
                continue
            args, reason = parse_arguments(raw)
            if args is None:
                out.append(error("invalid_arguments", f"messages[{i}] {name}: {reason}", line))
                continue
            schema = (schemas or {}).get(name)
            rule = arguments_error(args, None, schema.get("parameters") or {}) if schema else None
            if rule:
                out.append(error("arguments_schema", f"messages[{i}] {name}: {rule} (suite's full schema)", line))
    return out


def example_problems(ex: Example, schemas: Mapping[str, Mapping[str, Any]] | None = None) -> list[Problem]:
    """The recipe's format checks for one line; `schemas`: the suite's full definitions by name,
    against which call arguments are also checked."""
    data, line = ex.data, ex.line
    if not isinstance(data, Mapping):
        return [error("data_type", "each line must be a JSON object", line)]
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        return [error("missing_messages_list", "expected a non-empty `messages` list", line)]
    out = [warning("unknown_key", f"unknown key {k!r} (expected {', '.join(sorted(LINE_KEYS))})", line)
           for k in sorted(set(data) - LINE_KEYS)]
    for i, m in enumerate(messages):
        out += _message_problems(m, i, line)
    if out and any(p.level == "error" for p in out):
        return out
    if not any(m.get("role") == "assistant" for m in messages):
        out.append(error("example_missing_assistant_message", "no assistant message", line))
    defined = {t["function"].get("name"): t["function"] for t in definitions(data) or ()}
    return out + _call_problems(messages, defined, schemas, line)


def should_refuse(example: Mapping[str, Any]) -> bool:
    """The last assistant message answers in text, without any call (a clarifying question)."""
    last = [m for m in example["messages"] if isinstance(m, Mapping) and m.get("role") == "assistant"][-1]
    return not calls_of(last)


# ---- the whole file ----------------------------------------------------------------------

def size_problems(n: int) -> list[Problem]:
    if n < MIN_EXAMPLES:
        return [error("too_few_examples", f"{n} examples: OpenAI fine-tuning needs at least {MIN_EXAMPLES}")]
    if n < ADVISED_EXAMPLES:
        return [warning("few_examples", f"{n} examples: at least {ADVISED_EXAMPLES} good examples are advised")]
    return []


def refusal_problems(n_refuse: int, n: int) -> list[Problem]:
    if n and n_refuse == 0:
        return [warning("no_refusals", "no should-refuse example (a text answer instead of a call): the model "
                                       "never learns to ask for clarification instead of inventing a call")]
    if n and n_refuse == n:
        return [warning("only_refusals", "every example refuses: the model never learns to call a function")]
    return []


def duplicate_problems(examples: Sequence[Example]) -> list[Problem]:
    seen: dict[str, list[int]] = defaultdict(list)
    for ex in examples:
        seen[canonical(ex.data)].append(ex.line)
    return [warning("duplicate", f"same example as line {lines[0]}", line)
            for lines in seen.values() if len(lines) > 1 for line in lines[1:]]


def _last_user(messages: Iterable[Any]) -> str | None:
    users = [m.get("content") for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    return " ".join(str(users[-1]).split()).lower() if users and isinstance(users[-1], str) else None


def leak_problems(examples: Sequence[Example], suite: Suite) -> list[Problem]:
    """A training example asking a test case's question inflates the test score."""
    tests = {_last_user(c.messages): c.id for c in suite.cases}
    tests.pop(None, None)
    out = []
    for ex in examples:
        case = tests.get(_last_user(ex.data["messages"]))
        if case is not None:
            out.append(error("test_case_in_training", f"same question as the suite's test case '{case}'", ex.line))
    return out


def fine_tuned_variant(suite: Suite, name: str | None = None) -> VariantSpec:
    """The variant whose definitions training must match: `name`, else the first fine-tuned one."""
    if name is not None:
        for v in suite.variants:
            if v.name == name:
                return v
        raise InputError(suite.path, f"no variant named '{name}' (variants: "
                         f"{', '.join(v.name for v in suite.variants)})", field="--variant")
    for v in suite.variants:
        if v.trial is not None or v.adapter or (v.model and is_fine_tuned(v.model)):
            return v
    raise InputError(suite.path, "no fine-tuned variant (one with `trial:`, `adapter:` or an ft: model) to "
                     "compare the training definitions with: name one with --variant", field="variants")


def definition_problems(examples: Sequence[Example], suite: Suite, variant: VariantSpec) -> list[Problem]:
    """Training must send exactly the definitions the fine-tuned variant sends at inference:
    one error per distinct mismatching set, with a diff and the lines that carry it."""
    expected = list(apply_transform(suite.functions, variant.functions, suite.spec.transforms))
    want = json.dumps(expected, indent=2, sort_keys=True).splitlines()
    groups: dict[str, list[int]] = defaultdict(list)
    for ex in examples:
        tools = definitions(ex.data)
        if tools is None:
            groups["null"].append(ex.line)
        elif canonical(list(tools)) != canonical(expected):
            groups[canonical(list(tools))].append(ex.line)
    out = []
    for key, lines in groups.items():
        got = [] if key == "null" else json.dumps(json.loads(key), indent=2, sort_keys=True).splitlines()
        diff = "\n".join(difflib.unified_diff(want, got, f"suite variant '{variant.name}' (functions: "
                                              f"{variant.functions})", f"training lines {line_ranges(lines)}",
                                              lineterm="", n=2))
        what = "no function definitions" if key == "null" else "function definitions differ from"
        out.append(error("definitions_mismatch", f"{what} the ones variant '{variant.name}' sends "
                         f"({len(lines)} example(s): lines {line_ranges(lines)}; fix with "
                         f"`evalkit data shorten --functions {variant.functions}`)", lines[0], diff))
    return out


@dataclass(frozen=True)
class CheckReport:
    n: int
    n_refuse: int
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> int:
        return sum(p.level == "error" for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.level == "warning" for p in self.problems)


def check_examples(examples: Sequence[Example], unparsed: Sequence[Unparsed] = (),
                   suite: Suite | None = None, variant: str | None = None) -> CheckReport:
    schemas = {t["function"]["name"]: t["function"] for t in suite.functions} if suite else None
    problems = [error("invalid_json", u.message, u.line) for u in unparsed]
    good = []
    for ex in examples:
        found = example_problems(ex, schemas)
        problems += found
        if not any(p.level == "error" for p in found):
            good.append(ex)
    n_refuse = sum(should_refuse(ex.data) for ex in good)
    problems += size_problems(len(examples) + len(unparsed))
    problems += refusal_problems(n_refuse, len(good))
    problems += duplicate_problems(good)
    if suite is not None:
        problems += leak_problems(good, suite)
        problems += definition_problems(good, suite, fine_tuned_variant(suite, variant))
    problems.sort(key=lambda p: (p.line is not None, p.line or 0))
    return CheckReport(len(examples) + len(unparsed), n_refuse, tuple(problems))
