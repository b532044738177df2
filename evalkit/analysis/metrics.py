"""Per-variant metrics from result records (BRIEF §4). Pure: records in, plain dicts out.

Rates exclude `error` results (a provider failure says nothing about the model). Each rate `r`
comes with `r_n` (its denominator), `r_k` (its numerator) and `r_ci` (Wilson 95%).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations
from statistics import mean
from typing import Any, Iterable, Mapping

from ..scoring import VERDICTS
from .stats import case_pass_rates, paired, percentile, repeat_stats, wilson
from .tokens import usage_check

RATES = ("accuracy", "call_accuracy", "refusal_accuracy", "hallucination_rate",
         "over_refusal_rate", "name_accuracy")


def _rate(out: dict[str, Any], name: str, k: int, n: int) -> None:
    r = wilson(k, n)
    out[name] = r.value
    out[f"{name}_k"] = k
    out[f"{name}_n"] = n
    out[f"{name}_ci"] = None if r.low is None else [round(r.low, 6), round(r.high, 6)]


def _mean(values: Iterable[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return mean(xs) if xs else None


def variant_metrics(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    scored = [r for r in records if r["verdict"] != "error"]
    calls = [r for r in scored if r["should_call"]]
    refusals = [r for r in scored if not r["should_call"]]
    verdicts = Counter(r["verdict"] for r in records)
    out: dict[str, Any] = {"n": len(records), "n_scored": len(scored), "errors": verdicts.get("error", 0)}
    _rate(out, "accuracy", sum(r["verdict"] == "correct" for r in scored), len(scored))
    _rate(out, "call_accuracy", sum(r["verdict"] == "correct" for r in calls), len(calls))
    _rate(out, "refusal_accuracy", sum(r["verdict"] == "correct" for r in refusals), len(refusals))
    _rate(out, "hallucination_rate", sum(r["verdict"] == "hallucinated_call" for r in refusals), len(refusals))
    _rate(out, "over_refusal_rate", sum(r["verdict"] == "over_refusal" for r in calls), len(calls))
    _rate(out, "name_accuracy", sum(bool(r.get("name_correct")) for r in calls), len(calls))
    out["verdicts"] = {v: verdicts.get(v, 0) for v in VERDICTS}
    usage = [r.get("usage") or {} for r in records]
    tokens = [r.get("tokens") or {} for r in records]
    out["prompt_tokens"] = _mean(t.get("prompt") for t in tokens)
    out["function_tokens"] = _mean(t.get("functions") for t in tokens)
    out["api_prompt_tokens"] = _mean(u.get("prompt_tokens") for u in usage)
    out["completion_tokens"] = _mean(u.get("completion_tokens") for u in usage)
    out.update(usage_check(records))  # counted vs API-reported prompt tokens, flagged if far apart
    latencies = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    out["latency_p50"] = percentile(latencies, 50)
    out["latency_p95"] = percentile(latencies, 95)
    out.update(repeat_metrics(records))
    return out


def repeat_metrics(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """With repeats (any case asked more than once): per-case pass rate, pass^k, pass@k, all-correct
    and consistency, from stats.repeat_stats over the scored attempts. Empty without repeats."""
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        if r["verdict"] != "error":
            outcomes[r["case_id"]].append(r["verdict"] == "correct")
    if not any(len(xs) > 1 for xs in outcomes.values()):
        return {}
    s = repeat_stats(outcomes)
    out: dict[str, Any] = {"repeats_k": s.k, "pass_rate": s.pass_rate, "pass_hat_k": s.pass_hat_k,
                           "pass_at_k": s.pass_at_k, "consistency": s.consistency,
                           "case_pass_rates": case_pass_rates(outcomes)}
    _rate(out, "all_correct", s.all_correct.k, s.all_correct.n)
    return out


def by_variant(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["variant"]].append(r)
    return dict(groups)


def case_correct(records: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """Per case id, correct on the first repeat (the paired unit), errors left out."""
    out: dict[str, bool] = {}
    for r in sorted(records, key=lambda r: r.get("repeat", 0)):
        if r["verdict"] != "error" and r["case_id"] not in out:
            out[r["case_id"]] = r["verdict"] == "correct"
    return out


def pairwise(groups: Mapping[str, list[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Exact McNemar for every pair of variants on the cases both scored."""
    correct = {name: case_correct(rs) for name, rs in groups.items()}
    out = []
    for a, b in combinations(groups, 2):
        m = paired(correct[a], correct[b])
        out.append({"a": a, "b": b, "a_only_correct": m.b, "b_only_correct": m.c, "n": m.n,
                    "p_value": m.p_value})
    return out


def summarise(records: list[Mapping[str, Any]], variant_info: Mapping[str, Mapping[str, Any]] | None = None,
              order: list[str] | None = None) -> dict[str, Any]:
    groups = by_variant(records)
    names = [n for n in (order or []) if n in groups] + [n for n in groups if n not in (order or [])]
    variants = {}
    for name in names:
        variants[name] = {**(variant_info or {}).get(name, {}), **variant_metrics(groups[name])}
    return {"variants": variants, "pairs": pairwise({n: groups[n] for n in names})}
