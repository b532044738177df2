"""Reading the two run directories a gate compares (the I/O edge of the gate)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..rundir.results import RESULTS, read_json, read_results
from ..scoring import VERDICTS


@dataclass(frozen=True)
class RunRecords:
    """A run directory as the gate sees it: its result lines and what run.json says about it."""

    path: str
    suite: str | None
    suite_path: str | None
    records: tuple[dict[str, Any], ...]


def _check_record(rec: dict[str, Any], path: Path, index: int) -> None:
    where = f"result {index + 1} (case {rec.get('case_id')!r}, variant {rec.get('variant')!r})"
    if rec["verdict"] not in VERDICTS:
        raise InputError(str(path), f"{where}: unknown verdict {rec['verdict']!r}", field="verdict")
    if not isinstance(rec.get("should_call"), bool):
        raise InputError(str(path), f"{where}: expected true or false", field="should_call")


def load_run(run_dir: str | Path) -> RunRecords:
    """results.jsonl (required, every line checked) and run.json (optional, must parse)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(str(run_dir), "run directory not found")
    records = read_results(run_dir)
    if not records:
        raise InputError(str(run_dir / RESULTS), "no results in this run")
    for i, rec in enumerate(records):
        _check_record(rec, run_dir / RESULTS, i)
        rec["case_id"] = str(rec["case_id"])
    meta: dict[str, Any] = {}
    if (run_dir / "run.json").exists():
        meta = read_json(run_dir / "run.json", "run.json")
        if not isinstance(meta, dict):
            raise InputError(str(run_dir / "run.json"), "expected a JSON object")
    return RunRecords(str(run_dir), meta.get("suite"), meta.get("suite_path"), tuple(records))
