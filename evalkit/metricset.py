"""The metric set: every per-variant rate evalkit reports, defined once.

A `Metric` says which scored results it is over (its denominator), what counts as a success
(its numerator), its label, which way is better and how to show it. The summary computes every
entry (evalkit/analysis/metrics.py), the suite's `gate:` section and `--metric` flags accept
every name, and trials, the report, the CLI table and the tidy export show every entry, all by
reading `REGISTRY` when they run: adding a metric is one entry here.

Plain data over result records (the dicts of results.jsonl), nothing imported, so the suite
format (which validates metric names) can use it from below the analysis layer. Error results
never reach `counts`: a provider failure says nothing about the model.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Record = Mapping[str, Any]


@dataclass(frozen=True)
class Metric:
    name: str  # key in summary.json (with `_k`, `_n`, `_ci`), the gate and the tidy export
    label: str  # short column heading
    help: str  # the denominator and the success, in words
    counts: Callable[[Record], bool]  # does this scored result belong to the denominator?
    success: Callable[[Record], bool]  # is it a success (the numerator)?
    lower_is_better: bool = False  # a rise is the regression (hallucination_rate)
    format: str = "percent"  # how a value is shown: "percent" (a share of cases)
    headline: bool = True  # a column of the CLI table and the report's headline table
    # The record fields `counts` and `success` may read: results alike in these are judged alike,
    # so a summary judges each combination once. They are shown only these (`Fields`): reading
    # another is an error, never a stale judgement.
    reads: tuple[str, ...] = ("verdict", "should_call")

    def judge(self, record: Record) -> bool | None:
        """None outside the denominator, else whether `record` is a success."""
        view = Fields(record, self)
        return bool(self.success(view)) if self.counts(view) else None

    def show(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        return f"{100 * value:.{digits}f}%" if self.format == "percent" else f"{value:.{digits}f}"


class Fields(Mapping[str, Any]):
    """A record as a metric sees it: only the fields it declares in `Metric.reads`."""

    __slots__ = ("_record", "_metric")

    def __init__(self, record: Record, metric: Metric) -> None:
        self._record, self._metric = record, metric

    def _check(self, key: str) -> None:
        if key not in self._metric.reads:
            raise ValueError(f"metric '{self._metric.name}' reads '{key}', which is not in its "
                             f"reads= {self._metric.reads}: declare it there")

    def __getitem__(self, key: str) -> Any:
        self._check(key)
        return self._record[key]

    def get(self, key: str, default: Any = None) -> Any:
        self._check(key)
        return self._record.get(key, default)  # a SummaryRecord raises for a field it does not keep

    def __iter__(self) -> Any:
        return (k for k in self._metric.reads if k in self._record)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _should_call(r: Record) -> bool:
    return bool(r.get("should_call"))


def _should_refuse(r: Record) -> bool:
    return not r.get("should_call")


def _correct(r: Record) -> bool:
    return r.get("verdict") == "correct"


REGISTRY: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", "accuracy", "correct / scored cases (errors excluded)",
           counts=lambda r: True, success=_correct),
    Metric("call_accuracy", "call acc.", "correct among cases that expect a call",
           counts=_should_call, success=_correct),
    Metric("refusal_accuracy", "refusal acc.", "correct among cases that expect a refusal",
           counts=_should_refuse, success=_correct),
    Metric("hallucination_rate", "halluc. rate", "any call when a refusal was expected",
           counts=_should_refuse, success=lambda r: r.get("verdict") == "hallucinated_call",
           lower_is_better=True),
    Metric("over_refusal_rate", "over-refusal", "no call when one was expected",
           counts=_should_call, success=lambda r: r.get("verdict") == "over_refusal",
           lower_is_better=True),
    Metric("name_accuracy", "name acc.", "right function name(s) among cases that expect a call",
           counts=_should_call, success=lambda r: bool(r.get("name_correct")), headline=False,
           reads=("should_call", "name_correct")),
)}


def metrics() -> tuple[Metric, ...]:
    """Every metric, in display order (read at call time, so a new entry shows everywhere)."""
    return tuple(REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def headline() -> tuple[Metric, ...]:
    return tuple(m for m in REGISTRY.values() if m.headline)


def get(name: str) -> Metric:
    """The metric called `name`; ValueError naming the known ones otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown metric '{name}' (one of: {', '.join(REGISTRY)})")
    return REGISTRY[name]


def lower_is_better(name: str) -> bool:
    return get(name).lower_is_better


def count_text(k: float | None) -> str:
    """A numerator as shown next to its n: whole without repeats, one decimal with them
    (the sum of per-case shares of attempts, e.g. 7.7 of 8 cases)."""
    if k is None:
        return "–"
    return str(int(k)) if float(k).is_integer() else f"{k:.1f}"
