"""Does a run hold every result it set out to record? One answer for every place that shows a
run's numbers: `evalkit run` (exit 4), the gate (incomplete fails), the report's banner and the
results browser's index. A rate over fewer results than planned is never shown as the run's."""
from __future__ import annotations

from typing import Any, Mapping

from ..gcpause import paused_gc
from ..rundir.run import Run


def incomplete(summary: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """(recorded, planned) when a summary says its run holds fewer results than it planned, else
    None (also when the summary does not say)."""
    planned, recorded = (summary or {}).get("planned"), (summary or {}).get("recorded")
    if isinstance(planned, int) and isinstance(recorded, int) and recorded < planned:
        return recorded, planned
    return None


def planned_results(run: Run) -> dict[str, int]:
    """Results the run set out to record, per variant: summary.json's own `planned` count when the
    runner wrote one, else run.json's cases x the repeats (the run's --repeats, else the most
    repeats any case of the variant got). Empty when the run directory does not say."""
    planned: dict[str, int] = {}
    for name, v in ((run.summary or {}).get("variants") or {}).items():
        if isinstance(v, Mapping) and isinstance(v.get("planned"), int):
            planned[name] = v["planned"]
    if planned or not run.info.cases:
        return planned
    repeats = (run.info.options or {}).get("repeats")
    most: dict[str, int] = {}  # the highest repeat each variant got, in one pass
    if not repeats:
        for r in run.records:
            repeat = int(r.get("repeat", 0))
            if repeat > most.get(r["variant"], -1):
                most[r["variant"]] = repeat
    for name in run.info.variants:
        planned[name] = len(run.info.cases) * (repeats or most.get(name, 0) + 1)
    return planned


def shortfall(run: Run) -> tuple[int, int] | None:
    """(recorded, planned) when the run's records hold fewer distinct results than it planned,
    counted from the records themselves (not from what summary.json claims), else None."""
    planned = planned_results(run)
    if not planned:
        return None
    with paused_gc():  # one tuple per result, no cycles (evalkit/gcpause.py)
        held = len({(r["variant"], r["case_id"], r.get("repeat", 0)) for r in run.records
                    if r["variant"] in planned})
    total = sum(planned.values())
    return (held, total) if held < total else None
