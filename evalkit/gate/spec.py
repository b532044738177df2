"""Gate thresholds: the suite's `gate:` section, overridden by command-line flags.

Only pydantic is imported here: the suite model embeds `GateSpec`.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InputError

# The per-variant rates of summary.json that can be gated (metrics.RATES, kept in step by a test).
METRICS = ("accuracy", "call_accuracy", "refusal_accuracy", "hallucination_rate",
           "over_refusal_rate", "name_accuracy")
# For these a rise is the regression.
LOWER_IS_BETTER = frozenset({"hallucination_rate", "over_refusal_rate"})


def _known_metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"unknown metric '{name}' (one of: {', '.join(METRICS)})")
    return name


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


def parse_bounds(items: Iterable[str] | None, flag: str) -> dict[str, float]:
    """`--min accuracy=0.8` (or `=80%`) -> {"accuracy": 0.8}."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        try:
            if not sep:
                raise ValueError
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise InputError(None, f"expected METRIC=VALUE such as accuracy=0.8, got '{item}'",
                             field=flag) from None
        out[name.strip()] = value
    return out


def resolve(base: GateSpec | None, *, metrics: list[str] | None = None, max_drop: float | None = None,
            alpha: float | None = None, lower: Mapping[str, float] | None = None,
            upper: Mapping[str, float] | None = None) -> GateSpec:
    """The suite's thresholds with the command line's on top (bounds merge per metric)."""
    data: dict[str, Any] = (base or GateSpec()).model_dump()
    if metrics:
        data["metrics"] = list(metrics)
    if max_drop is not None:
        data["max_drop"] = max_drop
    if alpha is not None:
        data["alpha"] = alpha
    data["min"] = {**data["min"], **(lower or {})}
    data["max"] = {**data["max"], **(upper or {})}
    try:
        return GateSpec.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else None
        raise InputError(None, err["msg"].removeprefix("Value error, "), field=flag) from None
