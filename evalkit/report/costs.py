"""Money in the report: cost per 1,000 requests per variant and the TCO chart, from evalkit.analysis.cost.

A run records the prices it was run with (shipped table plus the suite's `prices:`) and its TCO
assumptions (`tco:`) in run.json; they are priced with the run's measured token means
(analysis.cost.run_costs), never from the suite file as it is now. When a model has no price, the
report leaves the money out and says why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..analysis.cost import CostReport, run_costs
from ..errors import EvalkitError
from .charts import tco_chart
from .runs import Run


@dataclass(frozen=True)
class CostView:
    run: str
    currency: str
    source: str
    date: str
    per_1k: dict[str, float]  # display variant name -> cost of 1,000 requests
    rows: list[dict[str, Any]]
    tco: dict[str, Any] | None
    chart: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)


def _tokens_sentence(report: CostReport, ran: set[str], name: Any) -> str:
    """Prompt tokens per request even when nothing has a price (a local model's full->short saving)."""
    ref = report.prompt_tokens.get(report.reference) if report.reference else None
    parts = [f"{name(v)} {t:.1f}" + (f" ({100 * (t / ref - 1):+.0f}% vs {name(report.reference)})"
                                     if ref and v != report.reference else "")
             for v, t in report.prompt_tokens.items() if v in ran]
    return f"Prompt tokens per request: {', '.join(parts)}. " if parts else ""


def cost_view(run: Run, prefix: str = "") -> CostView | str:
    """The run's money, or a sentence saying why there is none."""
    try:
        report: CostReport = run_costs(run, run.summary or {})
    except EvalkitError as e:
        return f"cost not shown: {e}"
    ran = set(run.summary.get("variants", {}))
    name = (lambda v: f"{prefix}/{v}") if prefix else (lambda v: v)
    costs = [c for c in report.costs if c.variant in ran]
    if not costs:
        by_reason: dict[str, list[str]] = {}
        for variant, reason in report.unpriced.items():
            if variant in ran:
                by_reason.setdefault(reason, []).append(variant)
        return _tokens_sentence(report, ran, name) + "cost not shown: " + (
            "; ".join(f"{', '.join(vs)}: {r}" for r, vs in by_reason.items()) or "no variant could be priced")
    rows = [{"name": name(c.variant), "price": c.price.key, "prompt": c.prompt_tokens,
             "completion": c.completion_tokens, "per_request": c.per_request, "per_1k": c.per_1k_requests,
             "fixed": c.fixed_per_day, "training": c.training_cost} for c in costs]
    tco = report.tco
    if tco and prefix:
        tco = {**tco, "series": {name(k): v for k, v in tco["series"].items()}}
    notes = list(report.notes) + [f"{k}: not priced ({v})" for k, v in report.unpriced.items() if k in ran]
    return CostView(run=prefix, currency=report.prices.currency, source=report.prices.source.strip(),
                    date=str(report.prices.date), per_1k={r["name"]: r["per_1k"] for r in rows}, rows=rows,
                    tco=tco, chart=tco_chart(tco) if tco else None, notes=notes)
