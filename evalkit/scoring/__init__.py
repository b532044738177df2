"""Scoring: pure functions from an expectation and a response to a verdict with a reason. `score`
is the one entry point for a case (first step, later steps, final answer, name correctness)."""
from .answer import execution_refusal
from .case import score
from .verdict import VERDICTS, ParsedCall, Verdict, VerdictName, decide

__all__ = ["VERDICTS", "ParsedCall", "Verdict", "VerdictName", "decide", "execution_refusal", "score"]
