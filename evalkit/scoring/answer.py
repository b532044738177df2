"""The final-answer check of end-to-end cases (`answer_contains`, `answer_matches`), and the
per-step check of multi-step trajectories. Pure."""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from ..suite.model import Expectation
from ..types import Completion
from .arguments import arguments_error, parse_arguments
from .verdict import Verdict


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


def judge_answer(expect: Expectation, completion: Completion | None, verdict: Verdict) -> Verdict:
    """After the first step's verdict: a later step that broke a rule (end-to-end mode), then the
    final-answer check (`wrong_answer`). Only a correct verdict can change."""
    if completion is None or not verdict.correct:
        return verdict
    raw = completion.raw
    for step in raw.get("trajectory", [])[1:] if isinstance(raw, Mapping) else []:
        if step.get("verdict") not in ("correct", "not_executed"):
            return Verdict(step["verdict"], f"step {step['step']}: {step['reason']}", verdict.calls)
    reason = answer_error(expect, final_answer(completion))
    return verdict if reason is None else Verdict("wrong_answer", reason, verdict.calls)


def step_verdict(calls: Sequence[tuple[str, Any]], functions: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """One step of a trajectory, on its own: its calls must name declared functions and carry a JSON
    object valid against the full schema. (The first step is also judged by the expectation.)"""
    for name, raw in calls:
        if name not in functions:
            return "wrong_function", f"called undeclared function `{name}`"
        args, reason = parse_arguments(raw)
        if args is None:
            return "invalid_arguments", f"{name}: {reason}"
        reason = arguments_error(args, None, functions[name].get("parameters") or {})
        if reason:
            return "wrong_arguments", f"{name}: {reason}"
    return "correct", "declared functions with schema-valid arguments"
