"""HTML report: one self-contained file (inline CSS and JS, no network), every text escaped.

`render_report(runs)` takes one run or several to compare, each a `Run` (evalkit/rundir/run.py:
`open_run(path)`, or `open_run(path, summary=..., records=...)` with what the runner has at hand).
Tables and charts are rendered by jinja2 (autoescaped); the cases grid is drawn in the browser
from JSON embedded in the page.
"""
from __future__ import annotations

from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from jinja2 import (
    Environment,
    FileSystemBytecodeCache,
    PackageLoader,
    select_autoescape,
)
from markupsafe import Markup

from ..analysis.completeness import shortfall
from ..analysis.metrics import ALL_PAIRS_UP_TO
from ..gcpause import paused_gc
from ..metricset import count_text
from ..rundir.results import REPORT
from ..scoring import VERDICTS
from .cases import case_payload, script_json
from .changes import bar_scale, change_sentence, delta_bar, run_changes, signed
from .charts import PALETTE, interval_bar, verdict_bars
from .costs import CostView, cost_view
from .runs import Comparison, Run, combine, open_run
from .view import (
    headline,
    min_discordant,
    p_text,
    pair_matrix,
    repeats,
    trials_view,
    verdict_sentence,
)

__all__ = ["render_report", "write_report", "Run", "open_run", "combine"]



def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def num(value: float | None, fmt: str = "{:.0f}") -> str:
    return "–" if value is None else fmt.format(value)


class _TemplateCache(FileSystemBytecodeCache):
    """Compiled templates beside the response cache: compiling the report template costs every
    command that renders one ~0.1 s of CPU. jinja2 recompiles when a template's source changes
    (the entry carries its checksum); a cache it cannot read or write is simply not used."""

    def load_bytecode(self, bucket: Any) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError):
            bucket.reset()

    def dump_bytecode(self, bucket: Any) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _template_cache() -> _TemplateCache | None:
    from ..run.cache import cache_dir

    try:
        path = cache_dir() / "templates"
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _TemplateCache(str(path))


def _env() -> Environment:
    env = Environment(loader=PackageLoader("evalkit.report", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, bytecode_cache=_template_cache())
    env.filters.update(pct=pct, num=num, ptext=p_text, signed=signed, count=count_text)
    return env


_ENV = _env()


def _asset(name: str) -> Markup:
    """Our own CSS/JS, inlined verbatim (no user text in them)."""
    return Markup((resources.files("evalkit.report") / "templates" / name).read_text(encoding="utf-8"))


def _costs(comparison: Comparison) -> tuple[list[CostView], list[str], dict[str, float]]:
    views, notes, per_1k = [], [], {}
    for run, prefix in zip(comparison.runs, comparison.run_names):
        view = cost_view(run, prefix)
        if isinstance(view, str):
            notes.append(f"{prefix}: {view}" if prefix else view)
        else:
            views.append(view)
            per_1k.update(view.per_1k)
    return views, notes, per_1k


def render_report(runs: Sequence[Run], shortfalls: Sequence[tuple[int, int] | None] | None = None) -> str:
    """The report page. `shortfalls`, one per run (`analysis.completeness.shortfall`), when the
    caller has counted them already; else they are counted here."""
    with paused_gc():  # millions of short-lived objects, no cycles (evalkit/gcpause.py)
        return _render(runs, shortfalls)


def _render(runs: Sequence[Run], shortfalls: Sequence[tuple[int, int] | None] | None) -> str:
    comparison = combine(runs)
    if shortfalls is None:
        shortfalls = [shortfall(run) for run in comparison.runs]
    variants = comparison.variants
    names = list(variants)
    cost_views, cost_notes, per_1k = _costs(comparison)
    table = headline(variants, comparison.records, per_1k)
    colours = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    case_order = list(comparison.runs[0].info.cases)
    payload, detail = case_payload(names, comparison.records, comparison.functions, case_order, VERDICTS)
    changes = run_changes(comparison)
    if changes:
        payload["flipped"] = sorted({c for ch in changes for c in ch.flipped})
    reference = names[0] if len(names) > ALL_PAIRS_UP_TO else None
    incomplete = [{"run": run.name if len(comparison.runs) > 1 else None, "path": str(run.path),
                   "recorded": short[0], "planned": short[1]}
                  for run, short in zip(comparison.runs, shortfalls) if short]
    return _ENV.get_template("report.html.j2").render(
        title=f"evalkit report — {comparison.title}", comparison=comparison, variants=variants, names=names,
        incomplete=incomplete,
        table=table, rates=table["rates"], interval_bar=interval_bar,
        changes=changes, scale=bar_scale(changes), delta_bar=delta_bar,
        change_sentence=lambda ch: change_sentence(ch, p_text),
        sentence=verdict_sentence(variants, table["bests"]["accuracy"]),
        min_discordant=min_discordant(), matrix=pair_matrix(names, comparison.pairs, reference),
        reference=reference, all_pairs_up_to=ALL_PAIRS_UP_TO,
        bars=verdict_bars(variants), costs=cost_views, cost_notes=cost_notes, colours=colours,
        trials=trials_view(comparison.runs), repeats=repeats(comparison.records, names),
        n_cases=len(payload["cases"]["id"]), n_results=len(comparison.records), detail=detail,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        data=script_json(payload), css=_asset("report.css"), js=_asset("report.js"))


def write_report(run_dir: Path, summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> Path:
    """Render one finished run into its own report.html."""
    path = run_dir / REPORT
    path.write_text(render_report([open_run(run_dir, summary=summary, records=records)]), encoding="utf-8")
    return path
