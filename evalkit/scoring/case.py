"""One case's whole verdict, the only place it is decided: the first step against the expectation
(verdict.decide), the later steps and the final answer of an end-to-end trajectory
(answer.judge_answer), and whether the called names were the expected ones. Pure."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from ..suite.model import Expectation
from ..types import Completion
from .answer import judge_answer
from .verdict import Verdict, decide


def score(expect: Expectation, completion: Completion | None, functions: Sequence[Mapping[str, Any]], *,
          error: str | None = None, string_match: str = "exact") -> Verdict:
    """`functions`: the full (source) definitions in the tools shape, whatever the variant sent.
    `name_correct` is None for a refusal case or a failed request."""
    verdict = decide(expect, completion, functions, error=error, string_match=string_match)
    verdict = judge_answer(expect, completion, verdict, functions)
    if expect.refuse or completion is None:
        return replace(verdict, name_correct=None)
    named = sorted(c.name for c in verdict.calls) == sorted(c.name for c in expect.calls)
    return replace(verdict, name_correct=named)
