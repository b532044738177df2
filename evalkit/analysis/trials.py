"""Fine-tuning trials side by side: which hyperparameters, which data, scored what, at what cost.

A trial is a variant with a `trial:` block (copied into run.json and summary.json by the runner).
`trials_table(runs, metric)` turns runs into `TrialRow`s sorted best-first by the chosen metric,
each with its Wilson interval and an exact McNemar test against the best row on the cases both
scored (one outcome per case: the majority of its attempts with repeats): a 4/5 against 5/5 is
reported as "not significant", as a ten-case test set deserves. Pure: `Run`s in, rows out;
reading run directories (rundir.open_run) and printing live in the CLI.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

from .. import metricset
from ..errors import InputError
from ..rundir.run import Run, VariantInfo
from .cost import PriceTable, default_prices, unit_price
from .metrics import good_outcomes, rate_of, run_summary
from .stats import McNemar, Rate, paired

# The documented `trial:` keys, in display order; any other key is kept as an extra.
TRIAL_KEYS = ("base_model", "training_file", "n_epochs", "learning_rate_multiplier", "batch_size",
              "seed", "checkpoint_step", "trained_tokens", "job_id")
CURVE_KEY = "train_curve"  # {train_loss: [[step, value], ...], valid_loss: [...], ...}: chart data
NOT_CHARTED = frozenset({"job_id", "trained_tokens"})  # identifiers and outcomes, not settings
ALPHA = 0.05


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
        return {k: setting(self.trial[k]) for k in keys if k != CURVE_KEY and is_setting(self.trial[k])}

    @property
    def significant(self) -> bool | None:
        return None if self.vs_best is None else self.vs_best.p_value < ALPHA


def is_setting(value: Any) -> bool:
    """Is this trial value a setting to show: a scalar, or a list of scalars (decision_modules)?"""
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, (str, int, float, bool)) for v in value)
    return not isinstance(value, dict)


def setting(value: Any) -> Any:
    """A setting as shown: a list of scalars joined with commas, a scalar as it is."""
    return ",".join(map(str, value)) if isinstance(value, list) else value


def check_metric(metric: str) -> str:
    try:
        return metricset.get(metric).name
    except ValueError as e:
        raise InputError(None, str(e), field="--metric") from None


def training_cost(variant: VariantInfo, trained_tokens: int | None, prices: PriceTable) -> float | None:
    """Trained tokens x the training price of the trial's base model (None when either is unknown)."""
    if not trained_tokens:
        return None
    trial = variant.trial or {}
    price = unit_price(prices, variant.model_copy(update={"base_model": variant.base_model or trial.get("base_model")}))
    if price is None or not price.fine_tuned:
        return None
    return trained_tokens * price.training / 1e6


def _sort_key(row: TrialRow) -> tuple:
    value = row.rate.value
    if value is None:
        return (1, 0.0, -row.rate.n, row.label)
    return (0, value if metricset.lower_is_better(row.metric) else -value, -row.rate.n, row.label)


def trials_table(runs: Sequence[Run], metric: str = "accuracy", *, include_all: bool = False,
                 prices: PriceTable | None = None) -> list[TrialRow]:
    """Rows for every variant with `trial:` metadata (every variant with `include_all`), sorted
    best-first by `metric`, each tested against the best with the paired exact McNemar test."""
    check_metric(metric)
    prices = prices or default_prices()
    summaries = [run_summary(run) for run in runs]
    names = [name for summary in summaries for name in summary.get("variants", {})]
    rows, outcomes = [], {}
    for run, summary in zip(runs, summaries):
        for name, m in summary.get("variants", {}).items():
            trial = dict(m.get("trial") or {})
            if not trial and not include_all:
                continue
            label = name if names.count(name) == 1 else f"{run.name}:{name}"
            tokens = trial.get("trained_tokens")
            tokens = int(tokens) if isinstance(tokens, (int, float)) and not isinstance(tokens, bool) else None
            curve = trial.get(CURVE_KEY) if isinstance(trial.get(CURVE_KEY), dict) else None
            rows.append(TrialRow(
                label=label, run=run.name, variant=name, model=m.get("model"), trial=trial,
                metric=metric, rate=rate_of(m, metric), accuracy=rate_of(m, "accuracy"),
                refusal_accuracy=rate_of(m, "refusal_accuracy"),
                prompt_tokens=m.get("api_prompt_tokens") if m.get("api_prompt_tokens") is not None
                else m.get("prompt_tokens"),
                trained_tokens=tokens, training_cost=training_cost(VariantInfo.of(name, m), tokens, prices),
                curve=curve))
            outcomes[label] = good_outcomes([r for r in run.records if r["variant"] == name], metric)
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


__all__ = ["TrialRow", "trials_table", "by_hyperparameter", "row_json", "TRIAL_KEYS", "CURVE_KEY"]
