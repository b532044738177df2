"""HTML report: one self-contained file (inline CSS, no CDN), every text escaped by jinja2."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from jinja2 import Environment, PackageLoader, select_autoescape

RATE_COLUMNS = [("accuracy", "accuracy"), ("call_accuracy", "call acc."), ("refusal_accuracy", "refusal acc."),
                ("hallucination_rate", "halluc. rate"), ("over_refusal_rate", "over-refusal")]

_env = Environment(loader=PackageLoader("evalkit.report", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


_env.filters["pct"] = pct


def grid(records: Sequence[Mapping[str, Any]], variants: Sequence[str]) -> list[dict[str, Any]]:
    """Cases x variants: one row per case id (first repeat), cells in variant order."""
    rows: dict[str, dict[str, Any]] = {}
    for r in records:
        row = rows.setdefault(r["case_id"], {"id": r["case_id"], "prompt": _last_user(r), "cells": {}})
        row["cells"].setdefault(r["variant"], r)
    return [{**row, "cells": [row["cells"].get(v) for v in variants]} for row in rows.values()]


def _last_user(record: Mapping[str, Any]) -> str:
    users = [m.get("content") for m in record.get("messages", []) if m.get("role") == "user"]
    return str(users[-1]) if users else ""


def render_report(runs: Sequence[tuple[Path, Mapping[str, Any], Sequence[Mapping[str, Any]]]]) -> str:
    run_dir, summary, records = runs[0]
    variants = list(summary["variants"])
    return _env.get_template("report.html.j2").render(
        title=f"evalkit report: {run_dir.name}", summary=summary, variants=variants,
        rate_columns=RATE_COLUMNS, rows=grid(records, variants))
