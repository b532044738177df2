"""The index of a results directory: every run under it, newest first, with its suite, date,
variants and accuracy. A directory that cannot be read is listed with the reason, never skipped
silently and never fatal: one broken run must not hide the others."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..analysis.completeness import incomplete, shortfall
from ..analysis.metrics import run_summary
from ..errors import EvalkitError, InputError
from ..rundir.results import INFO, REPORT, RESULTS, SUMMARY, read_json
from ..rundir.run import open_run, read_info

MARKERS = (RESULTS, SUMMARY, INFO)
MAX_DEPTH = 4  # results/<suite>/<run> and a little more; deeper trees are not run collections


@dataclass(frozen=True)
class VariantLine:
    name: str
    accuracy: float | None
    k: int | None
    n: int | None
    errors: int = 0


@dataclass(frozen=True)
class RunEntry:
    path: str  # relative to the results directory, with '/'
    suite: str | None = None
    created: str | None = None  # as the run recorded it, else the files' time
    when: float = 0.0  # for sorting, newest first
    variants: list[VariantLine] = field(default_factory=list)
    cases: int | None = None
    has_report: bool = False
    partial: bool = False  # no summary.json: summarised from results.jsonl
    incomplete: tuple[int, int] | None = None  # (recorded, planned) when fewer than planned
    problem: str | None = None  # why the directory cannot be read


def find_run_dirs(root: Path) -> list[Path]:
    """Directories under root holding a run's files; a run directory's subfolders are not searched."""
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            return
        names = {e.name for e in entries}
        if any(m in names for m in MARKERS):
            found.append(d)
            return
        if depth >= MAX_DEPTH:
            return
        for e in entries:
            if not e.name.startswith(".") and e.is_dir(follow_symlinks=False):
                walk(Path(e.path), depth + 1)

    walk(root, 0)
    return found


def _mtime(d: Path) -> float:
    times = [(d / m).stat().st_mtime for m in MARKERS if (d / m).exists()]
    return max(times, default=0.0)


def _created(created: str | None, d: Path) -> tuple[str, float]:
    if created:
        try:
            stamp = datetime.fromisoformat(created.replace("Z", "+00:00"))
            stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
            return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"), stamp.timestamp()
        except ValueError:
            pass
    t = _mtime(d)
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC"), t


def _reason(e: BaseException, root: Path) -> str:
    text = str(e) or type(e).__name__
    return text.replace(str(root) + os.sep, "")


def read_entry(root: Path, d: Path) -> RunEntry:
    rel = d.relative_to(root).as_posix() if d != root else "."
    base: dict[str, Any] = {"path": rel, "has_report": (d / REPORT).is_file()}
    try:
        info = read_info(d)
    except EvalkitError as e:
        created, when = _created(None, d)
        return RunEntry(**base, created=created, when=when, problem=_reason(e, root))
    created, when = _created(info.created, d)
    base.update(created=created, when=when, suite=info.suite)
    try:
        if (d / SUMMARY).is_file():  # a finished run: its summary is enough, results.jsonl may be large
            summary = read_json(d / SUMMARY, SUMMARY)
            if not isinstance(summary, dict) or not isinstance(summary.get("variants"), dict):
                raise InputError(SUMMARY, "expected an object with a 'variants' object", field="variants")
            cases, short = len(info.cases) or None, incomplete(summary)
        else:
            run = open_run(d)
            summary, cases = run_summary(run), len({r["case_id"] for r in run.records})
            short = shortfall(run)
        variants = [VariantLine(str(name), m.get("accuracy"), m.get("accuracy_k"), m.get("accuracy_n"),
                                int(m.get("errors") or 0))
                    for name, m in summary["variants"].items() if isinstance(m, dict)]
    except (EvalkitError, OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        return RunEntry(**base, problem=_reason(e, root))
    return RunEntry(**base, variants=variants, cases=cases, partial=not (d / SUMMARY).is_file(), incomplete=short)


def list_runs(root: Path) -> list[RunEntry]:
    root = Path(root).resolve()
    entries = [read_entry(root, d) for d in find_run_dirs(root)]
    return sorted(entries, key=lambda e: (-e.when, e.path))
