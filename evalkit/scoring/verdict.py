"""The first step of a case judged against its expectation: model response -> Verdict. Pure."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Mapping, Sequence

from ..suite.model import Expectation, ExpectedCall
from ..types import Completion
from .arguments import arguments_error, parse_arguments


class VerdictName(StrEnum):
    """Every verdict evalkit records. A case gets one of these but `not_executed`, which marks a
    trajectory step past the tool-round bound (its calls were recorded, not run)."""

    CORRECT = "correct"
    WRONG_FUNCTION = "wrong_function"
    WRONG_ARGUMENTS = "wrong_arguments"
    INVALID_ARGUMENTS = "invalid_arguments"
    WRONG_CALL_COUNT = "wrong_call_count"
    HALLUCINATED_CALL = "hallucinated_call"
    OVER_REFUSAL = "over_refusal"
    WRONG_ANSWER = "wrong_answer"  # end-to-end mode: scoring/answer.py
    NOT_EXECUTED = "not_executed"
    ERROR = "error"


VERDICTS = tuple(v.value for v in VerdictName)


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: dict[str, Any] | None  # None: not parseable as a JSON object
    raw_arguments: str


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str
    calls: tuple[ParsedCall, ...] = field(default=())
    name_correct: bool | None = None  # the called names are the expected ones; None: refusal or no response

    @property
    def correct(self) -> bool:
        return self.verdict == VerdictName.CORRECT


def parse_calls(completion: Completion) -> tuple[ParsedCall, ...]:
    out = []
    for call in completion.calls:
        args, _ = parse_arguments(call.arguments)
        out.append(ParsedCall(call.name, args, call.arguments if isinstance(call.arguments, str) else str(call.arguments)))
    return tuple(out)


def _names(items: Sequence[Any]) -> str:
    return ", ".join(getattr(i, "name") for i in items) or "nothing"


def _match_parallel(calls: Sequence[ParsedCall], expected: Sequence[ExpectedCall],
                    schemas: Mapping[str, Mapping[str, Any]], string_match: str) -> str | None:
    """Order-free matching of parallel calls: every expected call must be met by a distinct call.
    A bipartite search over the (small) set of same-named candidates."""
    errors: dict[tuple[int, int], str | None] = {}
    for i, call in enumerate(calls):
        for j, want in enumerate(expected):
            if call.name == want.name:
                errors[i, j] = arguments_error(call.arguments or {}, want.arguments,
                                               schemas.get(call.name, {}), string_match)
    assigned: dict[int, int] = {}  # expected j -> call i

    def place(i: int, seen: set[int]) -> bool:
        for j in range(len(expected)):
            if errors.get((i, j), "x") is None and j not in seen:
                seen.add(j)
                if j not in assigned or place(assigned[j], seen):
                    assigned[j] = i
                    return True
        return False

    for i in range(len(calls)):
        if not place(i, set()):
            candidates = [errors[i, j] for j in range(len(expected)) if (i, j) in errors]
            reason = next((e for e in candidates if e), "matches no remaining expected call")
            prefix = f"call {i + 1} ({calls[i].name}): " if len(calls) > 1 else ""
            return prefix + reason
    return None


def decide(expect: Expectation, completion: Completion | None, functions: Sequence[Mapping[str, Any]],
           *, error: str | None = None, string_match: str = "exact") -> Verdict:
    """`functions` are the full (source) definitions: types are checked against them even when the
    variant sent short ones."""
    if completion is None:
        return Verdict(VerdictName.ERROR, error or "no response")
    calls = parse_calls(completion)
    if expect.refuse:
        if calls:
            return Verdict(VerdictName.HALLUCINATED_CALL, f"expected no call, got a call to {_names(calls)}", calls)
        return Verdict(VerdictName.CORRECT, "no call, as expected", calls)
    if not calls:
        text = (completion.content or "").strip().replace("\n", " ")
        said = f": {text[:80]!r}" if text else ""
        return Verdict(VerdictName.OVER_REFUSAL, f"expected a call to {_names(expect.calls)}, got no call{said}", calls)
    if len(calls) != len(expect.calls):
        return Verdict(VerdictName.WRONG_CALL_COUNT, f"expected {len(expect.calls)} call(s) ({_names(expect.calls)}), "
                                           f"got {len(calls)} ({_names(calls)})", calls)
    if Counter(c.name for c in calls) != Counter(e.name for e in expect.calls):
        return Verdict(VerdictName.WRONG_FUNCTION, f"expected {_names(expect.calls)}, got {_names(calls)}", calls)
    for call in calls:
        if call.arguments is None:
            _, reason = parse_arguments(call.raw_arguments)
            return Verdict(VerdictName.INVALID_ARGUMENTS, f"{call.name}: {reason}", calls)
    schemas = {t["function"]["name"]: (t["function"].get("parameters") or {}) for t in functions}
    reason = _match_parallel(calls, expect.calls, schemas, string_match)
    if reason:
        return Verdict(VerdictName.WRONG_ARGUMENTS, reason, calls)
    return Verdict(VerdictName.CORRECT, "called " + _names(calls) + " with the expected arguments", calls)
