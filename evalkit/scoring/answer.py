"""The final-answer check of end-to-end cases (`answer_contains`, `answer_matches`), and the
per-step check of multi-step trajectories. Pure."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Mapping, Sequence

from ..suite.model import Expectation
from ..types import Completion
from .arguments import arguments_error, parse_arguments
from .verdict import Verdict, VerdictName


def final_answer(completion: Completion) -> str | None:
    """The text the user finally sees: after tool execution when the run executed tools
    (`raw["final_answer"]`, see evalkit/run/execute.py), else the reply itself."""
    raw = completion.raw
    if isinstance(raw, Mapping) and "trajectory" in raw:
        return raw.get("final_answer")
    return completion.content


def answer_error(expect: Expectation, answer: str | None) -> str | None:
    """None when the answer satisfies the expectation, else the reason. `answer_contains` is
    case-insensitive; `answer_matches` is a regular expression searched anywhere in the answer."""
    if not expect.answer_contains and expect.answer_matches is None:
        return None
    if not answer:
        return "no final answer"
    shown = answer.strip().replace("\n", " ")[:80]
    missing = [s for s in expect.answer_contains if s.lower() not in answer.lower()]
    if missing:
        return f"final answer lacks {missing[0]!r}: {shown!r}"
    if expect.answer_matches is not None:
        try:
            found = re.search(expect.answer_matches, answer)
        except re.error as e:
            return f"answer_matches is not a valid regular expression ({e})"
        if not found:
            return f"final answer does not match /{expect.answer_matches}/: {shown!r}"
    return None


def _functions_by_name(functions: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in functions if "function" in t}


def judge_answer(expect: Expectation, completion: Completion | None, verdict: Verdict,
                 functions: Sequence[Mapping[str, Any]] = ()) -> Verdict:
    """After the first step's verdict: a later step that broke a rule (end-to-end mode), then the
    final-answer check (`wrong_answer`). Only a correct verdict can change. Later steps are judged
    here from the calls the trajectory recorded, against the full `functions` (tools shape), not
    from anything the tool loop wrote down; a step whose calls were not run (`results` null: the
    round bound was reached) is `not_executed` and leaves the verdict to the final-answer check."""
    if completion is None or not verdict.correct:
        return verdict
    raw = completion.raw
    declared = _functions_by_name(functions)
    for step in raw.get("trajectory", [])[1:] if isinstance(raw, Mapping) else []:
        if step.get("results") is None:
            continue
        calls = [(c.get("name"), c.get("arguments")) for c in step.get("calls") or ()]
        name, reason = step_verdict(calls, declared)
        if name != VerdictName.CORRECT:
            return replace(verdict, verdict=name, reason=f"step {step.get('step')}: {reason}")
    reason = answer_error(expect, final_answer(completion))
    return verdict if reason is None else replace(verdict, verdict=VerdictName.WRONG_ANSWER, reason=reason)


def step_verdict(calls: Sequence[tuple[str, Any]], functions: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """One step of a trajectory, on its own: its calls must name declared functions and carry a JSON
    object valid against the full schema. (The first step is also judged by the expectation.)"""
    for name, raw in calls:
        if name not in functions:
            return VerdictName.WRONG_FUNCTION, f"called undeclared function `{name}`"
        args, reason = parse_arguments(raw)
        if args is None:
            return VerdictName.INVALID_ARGUMENTS, f"{name}: {reason}"
        reason = arguments_error(args, None, functions[name].get("parameters") or {})
        if reason:
            return VerdictName.WRONG_ARGUMENTS, f"{name}: {reason}"
    return VerdictName.CORRECT, "declared functions with schema-valid arguments"


def execution_refusal(name: str, arguments: Any, functions: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why the tool loop must not run this call (an undeclared function, arguments that are not a
    JSON object valid against the full schema), or None. A safety rule for executing, not a
    verdict: the step's verdict is decided by `judge_answer` when the case is scored."""
    verdict, reason = step_verdict([(name, arguments)], functions)
    return None if verdict == VerdictName.CORRECT else reason
