"""Crash-safe runs: what a run directory already holds, and how to finish it.

results.jsonl is append-only and each finished result is flushed (in small batches) as it is
scored, so after Ctrl-C, kill -9 or power loss the file holds every finished result, at worst
followed by one torn line. `evalkit run --resume RUN_DIR` reads run.json for the suite and the
options the run started with, checks that nothing that determines results changed since (the run
identity in run.json: suite, cases files, tools module, adapters, variant settings, functions
sent), cuts a torn tail, and runs only the case x variant x repeat keys not yet in results.jsonl.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EvalkitError, InputError
from ..rundir.identity import changes, describe, run_identity
from ..rundir.results import INFO as RUN
from ..rundir.results import RESULTS, read_results
from ..rundir.run import read_info
from ..suite.model import Suite, VariantSpec
from .prepare import Prepared

Key = tuple[str, str, int]  # case id, variant, repeat


class RunInterrupted(EvalkitError):
    """Ctrl-C: everything finished is saved; the message says how to finish the run."""

    exit_code = 130

    def __init__(self, run_dir: Path, done: int, total: int):
        super().__init__(f"interrupted: {done} of {total} results saved in {run_dir}; "
                         f"finish the rest with: evalkit run --resume {run_dir}")


@dataclass(frozen=True)
class ResumePlan:
    suite_path: str
    variants: list[str]
    limit: int | None
    repeats: int | None
    cache: bool
    batch: bool


def suite_sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def run_options_json(variants: list[str], limit: int | None, repeats: int | None, cache: bool,
                     batch: bool) -> dict[str, Any]:
    return {"variants": variants, "limit": limit, "repeats": repeats, "cache": cache, "batch": batch}


def resume_plan(run_dir: Path) -> ResumePlan:
    """What `--resume` needs from run.json: which suite, and the options the run started with."""
    info = read_info(run_dir, required=True)
    opts = info.options
    if opts is None or info.suite_path is None:
        raise InputError(str(Path(run_dir) / RUN), "this run was not started by a resumable evalkit run",
                         field="options")
    return ResumePlan(info.suite_path, list(opts.get("variants") or []), opts.get("limit"),
                      opts.get("repeats"), bool(opts.get("cache", True)), bool(opts.get("batch", False)))


def run_identity_of(suite: Suite, variants: list[VariantSpec], prepared: list[Prepared]) -> dict[str, str]:
    """The identity (evalkit/rundir/identity.py) of running `variants` with these requests."""
    sent: dict[str, list[tuple[dict, ...]]] = {}
    seen: set[int] = set()
    for p in prepared:
        if id(p.request.tools) not in seen:  # transforms are memoised: one tuple per definition set
            seen.add(id(p.request.tools))
            sent.setdefault(p.variant.name, []).append(p.request.tools)
    return run_identity(suite, variants, sent)


def check_identity(run_dir: Path, suite_path: str | Path, current: dict[str, str]) -> None:
    """Refuse to resume when any input that determines results differs from the run's start."""
    info = read_info(run_dir, required=True)
    recorded = info.identity
    if recorded is None:  # started before run identities: only the suite was fingerprinted
        if info.suite_sha and info.suite_sha != suite_sha(suite_path):
            recorded, current = {"suite": info.suite_sha}, {"suite": suite_sha(suite_path)}
        else:
            return
    changed = changes(recorded, current)
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise InputError(str(suite_path), f"{describe(changed[0])} changed since {run_dir} started{more}; "
                         "resuming would mix two suites: start a new run instead")


def repair_tail(path: Path) -> int:
    """Cut a torn final line (a write interrupted by a kill) so appends start on a fresh line.
    Returns the number of bytes removed."""
    if not path.is_file():
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
        return len(data) - keep


def completed(path: Path) -> set[Key]:
    """Keys of the results already in results.jsonl (after `repair_tail`, every line is whole),
    read through the run directory's one reader, so a malformed line is the same error here."""
    if not path.is_file():
        return set()
    return {(r["case_id"], r["variant"], int(r.get("repeat", 0))) for r in read_results(path.parent)}


def results_path(run_dir: Path) -> Path:
    return Path(run_dir) / RESULTS
