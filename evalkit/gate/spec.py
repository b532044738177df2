"""Gate thresholds: the suite's `gate:` section (suite/sections.py), overridden by command-line flags."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from pydantic import ValidationError

from ..errors import InputError
from ..suite.sections import GateSpec


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
