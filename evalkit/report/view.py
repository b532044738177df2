"""The report's tables, as plain data: headline rates with intervals, the best variant where (and
only where) a paired test says it is better, the McNemar matrix, trials and repeats.

Numbers come from summary.json untouched; only the significance marks and repeat statistics are
derived here, from the result records, with the functions in `evalkit.analysis.stats`.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .. import metricset
from ..analysis.metrics import by_variant, good_outcomes_by_metric
from ..analysis.stats import paired, repeat_stats
from ..analysis.trials import by_hyperparameter, trials_table
from .charts import hyperparameter_chart, loss_chart

ALPHA = 0.05


@dataclass(frozen=True)
class RateSpec:
    key: str
    label: str
    help: str
    higher_is_better: bool


def rates() -> tuple[RateSpec, ...]:
    """The headline rates: the metric set's (evalkit/metricset.py), read when a report is drawn."""
    return tuple(RateSpec(m.name, m.label, m.help, not m.lower_is_better) for m in metricset.headline())


@dataclass(frozen=True)
class Best:
    """The variant with the best value of a rate, and whether it beats every other one."""

    variant: str | None
    significant: bool
    worst_p: float | None  # the largest p-value against the others
    runner_up: str | None  # the other variant with that p-value


def best_variant(spec: RateSpec, variants: Mapping[str, Mapping[str, Any]],
                 outcomes: Mapping[str, Mapping[str, Mapping[str, bool]]]) -> Best:
    """`outcomes`: per variant, per metric, per case, did it do the good thing
    (analysis.metrics.good_outcomes_by_metric)."""
    values = {v: m.get(spec.key) for v, m in variants.items() if m.get(spec.key) is not None}
    if len(values) < 2:
        return Best(None, False, None, None)
    pick = max if spec.higher_is_better else min
    top = pick(values.values())
    leaders = [v for v, x in values.items() if x == top]
    if len(leaders) > 1:
        return Best(None, False, 1.0, leaders[1])

    def of(v: str) -> Mapping[str, bool]:
        return outcomes.get(v, {}).get(spec.key, {})

    leader = leaders[0]
    mine = of(leader)
    worst, against = 0.0, None
    for other in values:
        if other != leader:
            p = paired(mine, of(other)).p_value
            if p >= worst:
                worst, against = p, other
    return Best(leader, worst < ALPHA, worst, against)


def _reduction(tokens: float | None, reference: float | None) -> float | None:
    if tokens is None or not reference:
        return None
    return (tokens - reference) / reference


def _tokens(m: Mapping[str, Any]) -> float | None:
    return m.get("prompt_tokens") if m.get("prompt_tokens") is not None else m.get("api_prompt_tokens")


def headline(variants: Mapping[str, Mapping[str, Any]], records: Sequence[Mapping[str, Any]],
             cost_per_1k: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Rows of the headline table and the significance marks."""
    groups = by_variant(records)
    specs = rates()
    outcomes = {v: good_outcomes_by_metric(rs, [s.key for s in specs]) for v, rs in groups.items()}
    bests = {s.key: best_variant(s, variants, outcomes) for s in specs}
    full = next((_tokens(m) for m in variants.values() if m.get("functions") == "full" and _tokens(m)), None)
    rows = []
    for name, m in variants.items():
        cells = []
        for s in specs:
            b = bests[s.key]
            cells.append({"key": s.key, "value": m.get(s.key), "k": metricset.count_text(m.get(f"{s.key}_k")),
                          "n": m.get(f"{s.key}_n"), "ci": m.get(f"{s.key}_ci"),
                          "best": b.variant == name and b.significant})
        tokens = _tokens(m)
        rows.append({"name": name, "m": m, "rates": cells, "tokens": tokens,
                     "reduction": None if m.get("functions") == "full" else _reduction(tokens, full),
                     "cost_per_1k": (cost_per_1k or {}).get(name)})
    return {"rows": rows, "bests": bests, "rates": specs}


def p_text(p: float) -> str:
    """A p-value as people read it: two digits, three below 0.01, and '< 0.001' below that."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def verdict_sentence(variants: Mapping[str, Mapping[str, Any]], best: Best) -> str:
    """One honest line about accuracy: who leads, and whether the lead means anything."""
    if best.variant is None and best.runner_up is None:
        return ""
    if best.variant is None:
        return "Two or more variants tie on accuracy."
    lead = variants[best.variant]
    text = f"Highest accuracy: {best.variant} ({100 * lead['accuracy']:.0f}%, n = {lead.get('accuracy_n')})."
    if best.significant:
        return text + (" It is significantly better than every other variant "
                       f"(exact McNemar, {p_text(best.worst_p)} against the closest).")
    return text + (f" Not significantly better than {best.runner_up} (exact McNemar {p_text(best.worst_p)}): "
                   "on these cases the difference could be chance.")


def min_discordant(alpha: float = ALPHA) -> int:
    """Fewest discordant cases, all one way, that exact McNemar can call significant."""
    m = 1
    while 2 * 0.5 ** m >= alpha:
        m += 1
    return m


def pair_matrix(names: Sequence[str], pairs: Sequence[Mapping[str, Any]],
                reference: str | None = None) -> list[dict[str, Any]]:
    """Row A, column B: cases only A got right, only B got right, n shared and the p-value.
    With a `reference` (past analysis.metrics.ALL_PAIRS_UP_TO variants) one column: every variant against it."""
    lookup: dict[tuple[str, str], dict[str, Any]] = {}
    for p in pairs:
        lookup[(p["a"], p["b"])] = {"wins": p["a_only_correct"], "losses": p["b_only_correct"],
                                    "n": p["n"], "p": p["p_value"]}
        lookup[(p["b"], p["a"])] = {"wins": p["b_only_correct"], "losses": p["a_only_correct"],
                                    "n": p["n"], "p": p["p_value"]}
    rows = []
    columns = [reference] if reference is not None else names
    for a in names:
        cells = []
        for b in columns:
            cell = lookup.get((a, b)) if a != b else None
            if cell:
                cell = {**cell, "significant": cell["p"] < ALPHA,
                        "direction": "win" if cell["wins"] > cell["losses"] else
                        "loss" if cell["wins"] < cell["losses"] else "tie"}
            cells.append(cell)
        rows.append({"name": a, "cells": cells})
    return rows


def trials_view(runs: Sequence[Any]) -> dict[str, Any] | None:
    """Trials (variants with `trial:` metadata) best-first by accuracy, each tested against the
    best (evalkit.analysis.trials), with the union of their settings as columns and their loss curves."""
    rows = trials_table(runs)
    if not rows:
        return None
    keys = list(dict.fromkeys(k for row in rows for k in row.hyperparameters if k != "trained_tokens"))
    return {"keys": keys, "rows": [{"row": row, "values": [row.hyperparameters.get(k) for k in keys],
                                    "curve": loss_chart(row.curve) if row.curve else None} for row in rows],
            "charts": [hyperparameter_chart(k, pts) for k, pts in by_hyperparameter(rows).items()]}


def repeats(records: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[dict[str, Any]] | None:
    """Per variant pass rate, pass^k, pass@k and consistency, when any case was asked more than once."""
    if not any(r.get("repeat") for r in records):  # one attempt per case: nothing to show
        return None
    outcomes: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r["verdict"] != "error":
            outcomes[r["variant"]][r["case_id"]].append(r["verdict"] == "correct")
    if not any(len(xs) > 1 for cases in outcomes.values() for xs in cases.values()):
        return None
    return [{"name": n, "stats": repeat_stats(outcomes[n])} for n in names if n in outcomes]
