"""Suite sections that configure later stages: `gate:` (thresholds), `prices:` and `tco:` (cost).
They are part of the suite format, so they are validated with it; the stages that use them import
them from here. Only pydantic and the metric set are imported.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import metricset


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PricesSpec(_Strict):
    """A suite's `prices:`: per model, the fields to replace (a new model needs input and output)."""

    source: str | None = None
    date: str | None = None
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)


class TcoSpec(_Strict):
    """A suite's `tco:`: which variants to compare and the fixed-cost assumptions."""

    baseline: str | None = None  # default: the first variant that is not fine-tuned
    candidate: str | None = None  # default: the first fine-tuned variant
    training_tokens: int | None = Field(default=None, ge=0)  # tokens in the file x epochs
    training_file: str | None = None  # fine-tuning JSONL, relative to the suite
    n_epochs: int | None = Field(default=None, ge=1)
    amortize_days: float = Field(default=30.0, gt=0)
    hosting_hours_per_day: float = Field(default=24.0, ge=0, le=24)
    completion_tokens: float | None = Field(default=None, ge=0)  # per request, when no run says
    requests_per_day: list[float] | None = None


def _known_metric(name: str) -> str:
    """Any rate of the metric set (evalkit/metricset.py) can be gated."""
    return metricset.get(name).name


class GateSpec(BaseModel):
    """When a run fails against its baseline.

    A gated metric fails when it worsens by more than `max_drop` (a fraction: 0.05 = 5 points)
    AND an exact McNemar test on the shared cases gives p < `alpha`. `min`/`max` are absolute
    bounds on the run's own value, baseline or not.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: list[str] = Field(default_factory=lambda: ["accuracy"])
    max_drop: float = Field(default=0.05, ge=0, le=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    min: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: list[str]) -> list[str]:
        return [_known_metric(m) for m in v]

    @field_validator("min", "max")
    @classmethod
    def _bounds(cls, v: dict[str, float]) -> dict[str, float]:
        for name, value in v.items():
            _known_metric(name)
            if not 0 <= value <= 1:
                raise ValueError(f"bound for '{name}' must be a rate between 0 and 1, got {value}")
        return v
