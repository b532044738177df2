"""Scoring: pure functions from an expectation and a response to a verdict with a reason."""
from .verdict import VERDICTS, ParsedCall, Verdict, decide

__all__ = ["VERDICTS", "ParsedCall", "Verdict", "decide"]
