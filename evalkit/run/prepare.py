"""Build every request of a run once, before any I/O: case x variant -> ChatRequest.

The full definitions (the case's own, else the suite's) are what scoring checks types against;
the variant's transform of them is what is sent.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

from ..analysis.tokens import VariantTokens, count_prepared
from ..providers.base import ChatRequest
from ..suite.functions import apply_transform
from ..suite.model import Case, Suite, VariantSpec


@dataclass(frozen=True)
class Prepared:
    case: Case
    variant: VariantSpec
    request: ChatRequest
    full_functions: tuple[dict[str, Any], ...]


def full_functions(suite: Suite, case: Case) -> tuple[dict[str, Any], ...]:
    return case.functions if case.functions is not None else suite.functions


def request_extra(variant: VariantSpec, case: Case, tools: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """Body keys beyond the standard ones: the case's own (a cases_from line's parallel_tool_calls,
    which only means something when tools are sent), then the variant's `params`, which win."""
    own = case.params if tools and variant.api == "tools" else {}
    return {**own, **variant.params}


def _request(variant: VariantSpec, case: Case, tools: tuple[dict[str, Any], ...]) -> ChatRequest:
    return ChatRequest(model=variant.model or "", messages=case.messages, tools=tools, api=variant.api,
                       temperature=variant.temperature, max_tokens=variant.max_tokens,
                       extra=request_extra(variant, case, tools))


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


def reference_variant(suite: Any, counted: dict[str, VariantTokens]) -> str | None:
    """The first countable variant sending the full definitions: what reductions are against."""
    for v in suite.variants:
        if v.functions == "full" and counted.get(v.name) and counted[v.name].encoding:
            return v.name
    return None


def token_summary(suite: Any) -> dict[str, Any]:
    """Per variant: encoding, function tokens, prompt mean/min/max, reduction, per-case counts."""
    counted = count_prepared(prepare(suite, list(suite.variants), list(suite.cases)),
                             base_dir=Path(suite.path).parent)
    ref = reference_variant(suite, counted)
    ref_mean = mean(counted[ref].prompt.values()) if ref and counted[ref].prompt else None
    variants = {}
    for v in suite.variants:
        c = counted.get(v.name)
        row: dict[str, Any] = {"functions": v.functions, "model": v.model,
                               "encoding": c.encoding if c else None}
        if c is None or not c.prompt:
            row["reason"] = c.reason if c else "no cases"
        else:
            prompts = list(c.prompt.values())
            row |= {"function_tokens": mean(c.functions.values()), "prompt_mean": mean(prompts),
                    "prompt_min": min(prompts), "prompt_max": max(prompts),
                    "reduction": None if ref_mean is None else 1 - mean(prompts) / ref_mean,
                    "cases": c.prompt}
        variants[v.name] = row
    return {"suite": suite.name, "reference": ref, "n_cases": len(suite.cases), "variants": variants}
