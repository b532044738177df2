"""Fine-tuning trials side by side: which hyperparameters, which data, scored what, at what cost.

A trial is a variant with a `trial:` block (copied into run.json and summary.json by the runner).
`trials_table(runs, metric)` turns runs into `TrialRow`s sorted best-first by the chosen metric,
each with its Wilson interval and an exact McNemar test against the best row on the cases both
scored: a 4/5 against 5/5 is reported as "not significant", as the seed's test set deserves.
Pure: run data in, rows out; reading run directories and printing live in the CLI.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Mapping, Sequence

from ..errors import InputError
from .cost import PriceTable, default_prices, unit_price
from .metrics import RATES
from .stats import McNemar, Rate, paired, wilson

# The documented `trial:` keys, in display order; any other key is kept as an extra.
TRIAL_KEYS = ("base_model", "training_file", "n_epochs", "learning_rate_multiplier", "batch_size",
              "seed", "checkpoint_step", "trained_tokens", "job_id")
CURVE_KEY = "train_curve"  # {train_loss: [[step, value], ...], valid_loss: [...], ...}: chart data
NOT_CHARTED = frozenset({"job_id", "trained_tokens"})  # identifiers and outcomes, not settings
LOWER_IS_BETTER = frozenset({"hallucination_rate", "over_refusal_rate"})
ALPHA = 0.05

Run = tuple[Path, Mapping[str, Any], Sequence[Mapping[str, Any]]]  # (run dir, summary, records)


# Per metric: which results count (its denominator) and what a success is, case by case, so the
# paired test compares exactly what the rate measures.
def _always(r: Mapping[str, Any]) -> bool:
    return True


OUTCOMES: dict[str, tuple[Callable[[Mapping[str, Any]], bool], Callable[[Mapping[str, Any]], bool]]] = {
    "accuracy": (_always, lambda r: r["verdict"] == "correct"),
    "call_accuracy": (lambda r: bool(r.get("should_call")), lambda r: r["verdict"] == "correct"),
    "refusal_accuracy": (lambda r: not r.get("should_call"), lambda r: r["verdict"] == "correct"),
    "hallucination_rate": (lambda r: not r.get("should_call"), lambda r: r["verdict"] == "hallucinated_call"),
    "over_refusal_rate": (lambda r: bool(r.get("should_call")), lambda r: r["verdict"] == "over_refusal"),
    "name_accuracy": (lambda r: bool(r.get("should_call")), lambda r: bool(r.get("name_correct"))),
}
assert set(OUTCOMES) == set(RATES)


@dataclass(frozen=True)
class TrialRow:
    """One trial (a variant of one run). `vs_best` is None for the best row itself and when the
    two share no scored case; `significant` says whether its difference from the best is."""

    label: str  # variant name, prefixed with the run directory's name when names repeat
    run: str
    variant: str
    model: str | None
    trial: dict[str, Any]
    metric: str
    rate: Rate  # the chosen metric
    accuracy: Rate
    refusal_accuracy: Rate
    prompt_tokens: float | None
    trained_tokens: int | None
    training_cost: float | None  # USD: trained tokens x the price table's training price
    best: bool = False
    vs_best: McNemar | None = None
    curve: dict[str, list[list[Any]]] | None = None  # loss curves, [step, value] points per metric

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Scalar trial settings in display order (documented keys first, then extras)."""
        keys = [k for k in TRIAL_KEYS if k in self.trial] + sorted(k for k in self.trial if k not in TRIAL_KEYS)
        return {k: self.trial[k] for k in keys if k != CURVE_KEY and not isinstance(self.trial[k], (dict, list))}

    @property
    def significant(self) -> bool | None:
        return None if self.vs_best is None else self.vs_best.p_value < ALPHA


def check_metric(metric: str) -> str:
    if metric not in OUTCOMES:
        raise InputError(None, f"unknown metric '{metric}' (known: {', '.join(RATES)})", field="--metric")
    return metric


def case_outcomes(records: Sequence[Mapping[str, Any]], metric: str) -> dict[str, bool]:
    """Per case id, the metric's success on the first repeat; errors and cases outside the
    metric's denominator are left out."""
    counts, success = OUTCOMES[metric]
    out: dict[str, bool] = {}
    for r in sorted(records, key=lambda r: r.get("repeat", 0)):
        if r["verdict"] != "error" and counts(r) and r["case_id"] not in out:
            out[r["case_id"]] = success(r)
    return out


def _rate(metrics: Mapping[str, Any], name: str) -> Rate:
    return wilson(int(metrics.get(f"{name}_k") or 0), int(metrics.get(f"{name}_n") or 0))


def training_cost(info: Mapping[str, Any], trained_tokens: int | None, prices: PriceTable) -> float | None:
    """Trained tokens x the training price of the trial's base model (None when either is unknown)."""
    if not trained_tokens:
        return None
    trial = info.get("trial") or {}
    variant = SimpleNamespace(provider=info.get("provider"), model=info.get("model"),
                              base_model=trial.get("base_model"), adapter=info.get("adapter"))
    price = unit_price(prices, variant)
    if price is None or not price.fine_tuned:
        return None
    return trained_tokens * price.training / 1e6


def _sort_key(row: TrialRow) -> tuple:
    value = row.rate.value
    if value is None:
        return (1, 0.0, -row.rate.n, row.label)
    return (0, value if row.metric in LOWER_IS_BETTER else -value, -row.rate.n, row.label)


def trials_table(runs: Sequence[Run], metric: str = "accuracy", *, include_all: bool = False,
                 prices: PriceTable | None = None) -> list[TrialRow]:
    """Rows for every variant with `trial:` metadata (every variant with `include_all`), sorted
    best-first by `metric`, each tested against the best with the paired exact McNemar test."""
    check_metric(metric)
    prices = prices or default_prices()
    names = [name for _, summary, _ in runs for name in summary.get("variants", {})]
    rows, outcomes = [], {}
    for run_dir, summary, records in runs:
        for name, m in summary.get("variants", {}).items():
            trial = dict(m.get("trial") or {})
            if not trial and not include_all:
                continue
            label = name if names.count(name) == 1 else f"{Path(run_dir).name}:{name}"
            tokens = trial.get("trained_tokens")
            tokens = int(tokens) if isinstance(tokens, (int, float)) and not isinstance(tokens, bool) else None
            curve = trial.get(CURVE_KEY) if isinstance(trial.get(CURVE_KEY), dict) else None
            rows.append(TrialRow(
                label=label, run=Path(run_dir).name, variant=name, model=m.get("model"), trial=trial,
                metric=metric, rate=_rate(m, metric), accuracy=_rate(m, "accuracy"),
                refusal_accuracy=_rate(m, "refusal_accuracy"),
                prompt_tokens=m.get("api_prompt_tokens") if m.get("api_prompt_tokens") is not None
                else m.get("prompt_tokens"),
                trained_tokens=tokens, training_cost=training_cost(m, tokens, prices), curve=curve))
            outcomes[label] = case_outcomes([r for r in records if r["variant"] == name], metric)
    rows.sort(key=_sort_key)
    if not rows:
        return rows
    best = rows[0]
    out = [replace(best, best=True)]
    for row in rows[1:]:
        test = paired(outcomes[best.label], outcomes[row.label])
        out.append(replace(row, vs_best=test if test.n else None))
    return out


def by_hyperparameter(rows: Sequence[TrialRow]) -> dict[str, list[dict[str, Any]]]:
    """Chart data: for each setting that varies across rows, the metric at each value (one point
    per trial that sets it: value, metric, interval, label), sorted by the setting."""
    out: dict[str, list[dict[str, Any]]] = {}
    keys = dict.fromkeys(k for row in rows for k in row.hyperparameters if k not in NOT_CHARTED)
    for key in keys:
        having = [row for row in rows if key in row.hyperparameters]
        if len({repr(row.hyperparameters[key]) for row in having}) < 2:
            continue
        points = [{"value": row.hyperparameters[key], "metric": row.rate.value, "low": row.rate.low,
                   "high": row.rate.high, "label": row.label} for row in having]
        out[key] = sorted(points, key=lambda p: (not isinstance(p["value"], (int, float)), str(p["value"])
                                                 if not isinstance(p["value"], (int, float)) else p["value"]))
    return out


def row_json(row: TrialRow) -> dict[str, Any]:
    """A row as plain JSON (for `--json` and the report)."""
    def rate(r: Rate) -> dict[str, Any]:
        return {"value": r.value, "k": r.k, "n": r.n, "ci": None if r.low is None else [r.low, r.high]}

    return {
        "label": row.label, "run": row.run, "variant": row.variant, "model": row.model,
        "hyperparameters": row.hyperparameters, "metric": row.metric, "value": rate(row.rate),
        "accuracy": rate(row.accuracy), "refusal_accuracy": rate(row.refusal_accuracy),
        "prompt_tokens": row.prompt_tokens, "trained_tokens": row.trained_tokens,
        "training_cost": row.training_cost, "best": row.best,
        "vs_best": None if row.vs_best is None else {
            "best_only": row.vs_best.b, "this_only": row.vs_best.c, "n": row.vs_best.n,
            "p_value": row.vs_best.p_value, "significant": row.significant},
        "curve": row.curve,
    }


__all__ = ["TrialRow", "trials_table", "by_hyperparameter", "row_json", "case_outcomes", "TRIAL_KEYS",
           "CURVE_KEY"]
