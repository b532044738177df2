"""`evalkit cost SUITE_OR_RUN`: cost per request and per 1,000 requests, and the fine-tune's TCO."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis.table import render_table

if TYPE_CHECKING:
    from ..analysis.cost import CostReport

HELP = """\
Price every variant: cost per request and per 1,000 requests (prompt tokens x input price +
completion tokens x output price), and the total cost of ownership of the fine-tuned variant
against the baseline: its daily cost at a range of requests/day (training amortised over
tco.amortize_days, hosting per hour) and the break-even point, or "never".
Given a SUITE, prompt tokens are counted offline and completion tokens assumed (tco.completion_tokens,
default 20); given a RUN_DIR, the run's API-reported usage is used where present.
Prices: evalkit/prices.yaml (source and date printed), overridden by the suite's `prices:`; a RUN_DIR
is priced with the table and `tco:` settings it recorded when it ran (its run.json), so the suite
file's current state and the working directory do not matter."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cost", help="cost per request, TCO and break-even of a fine-tune",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="SUITE_OR_RUN", help="suite YAML file or run directory")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=run)


def cost_data(target: str) -> CostReport:
    from ..analysis.cost import run_costs, suite_costs
    from ..analysis.metrics import run_summary
    from ..run.prepare import token_summary
    from ..rundir.run import open_run
    from ..suite import load_suite
    path = Path(target)
    if path.is_dir():
        run = open_run(path)
        return run_costs(run, run_summary(run))
    suite = load_suite(target)
    counted = token_summary(suite)["variants"]
    return suite_costs(suite, {name: r.get("prompt_mean") for name, r in counted.items()})


def to_json(report: CostReport) -> dict[str, Any]:
    return {
        "prices": {"source": report.prices.source, "date": report.prices.date,
                   "currency": report.prices.currency},
        "variants": {c.variant: {"price_key": c.price.key, "prompt_tokens": c.prompt_tokens,
                                 "completion_tokens": c.completion_tokens, "per_request": c.per_request,
                                 "per_1k_requests": c.per_1k_requests, "training_tokens": c.training_tokens,
                                 "training_cost": c.training_cost, "fixed_per_day": c.fixed_per_day}
                     for c in report.costs},
        "unpriced": report.unpriced, "tco": report.tco, "notes": report.notes,
    }


def _tokens_note(report: CostReport, name: str) -> str:
    """An unpriced variant's prompt tokens and their saving against the full definitions."""
    tokens = report.prompt_tokens.get(name)
    if tokens is None:
        return ""
    ref = report.prompt_tokens.get(report.reference) if report.reference else None
    vs = "" if not ref or name == report.reference else f" ({100 * (tokens / ref - 1):+.0f}% vs {report.reference})"
    return f"{tokens:.1f} prompt tokens{vs}, "


def render(report: CostReport) -> str:
    cur = report.prices.currency
    rows = [[c.variant, c.price.key, f"{c.prompt_tokens:.1f}", f"{c.completion_tokens:.1f}",
             f"{c.per_request:.6f}", f"{c.per_1k_requests:.4f}", f"{c.fixed_per_day:.2f}"]
            for c in report.costs]
    out = [render_table(["variant", "price", "prompt tok", "compl. tok", f"{cur}/request",
                         f"{cur}/1k requests", f"fixed {cur}/day"], rows)] if rows else []
    out += [f"{name}: {_tokens_note(report, name)}not priced ({why})" for name, why in report.unpriced.items()]
    if report.tco:
        tco = report.tco
        names = list(tco["series"])
        picks = [x for x in tco["requests_per_day"] if x in (100, 1000, 10_000, 100_000)]
        be = tco["break_even"]
        if be["requests_per_day"]:
            picks = sorted(set(picks) | {round(be["requests_per_day"])})
        xs = tco["requests_per_day"]
        daily = [[f"{x:,.0f}"] + [f"{c.daily(x):,.2f}" for c in report.costs if c.variant in names]
                 for x in (picks or xs)]
        out += ["", f"daily cost ({cur}) by requests/day", render_table(["requests/day", *names], daily),
                "", "break-even: " + be["text"]]
    out += ["", f"prices: {report.prices.source.strip()} ({report.prices.date})"]
    out += [f"note: {n}" for n in report.notes]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    report = cost_data(args.target)
    print(json.dumps(to_json(report), indent=2) if args.json else render(report))
    return 0
