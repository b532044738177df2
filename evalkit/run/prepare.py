"""Build every request of a run once, before any I/O: case x variant -> ChatRequest.

The full definitions (the case's own, else the suite's) are what scoring checks types against;
the variant's transform of them is what is sent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..suite.functions import apply_transform
from ..providers.base import ChatRequest
from ..suite.model import Case, Suite, VariantSpec


@dataclass(frozen=True)
class Prepared:
    case: Case
    variant: VariantSpec
    request: ChatRequest
    full_functions: tuple[dict[str, Any], ...]


def full_functions(suite: Suite, case: Case) -> tuple[dict[str, Any], ...]:
    return case.functions if case.functions is not None else suite.functions


def _request(variant: VariantSpec, case: Case, tools: tuple[dict[str, Any], ...]) -> ChatRequest:
    return ChatRequest(model=variant.model or "", messages=case.messages, tools=tools, api=variant.api,
                       temperature=variant.temperature, max_tokens=variant.max_tokens)


def prepare(suite: Suite, variants: list[VariantSpec], cases: list[Case]) -> list[Prepared]:
    """All requests of a run, variant-major, with the transform computed once per definition set."""
    out = []
    for variant in variants:
        memo: dict[int, tuple[dict, ...]] = {}
        for case in cases:
            full = full_functions(suite, case)
            key = id(full)
            if key not in memo:
                memo[key] = apply_transform(full, variant.functions, suite.spec.transforms)
            out.append(Prepared(case, variant, _request(variant, case, memo[key]), full))
    return out
