"""One writer per run directory.

`evalkit run --out DIR` and `evalkit run --resume DIR` hold an OS-level lock on DIR/.writer.lock
(filelock: flock on POSIX, LockFileEx on Windows) for the whole run, so two writers can never
append to one results.jsonl. The kernel releases the lock when its process dies, so a run killed
with kill -9 leaves nothing to clean up: the next writer simply takes it. The holder's pid is kept
beside the lock (DIR/.writer.pid) only to name it in the refusal; it never decides anything.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from ..errors import ConfigError, EvalkitError

LOCK = ".writer.lock"
PID = ".writer.pid"


class RunDirInUse(EvalkitError):
    """Another evalkit process is writing this run directory."""

    exit_code = 2

    def __init__(self, run_dir: Path, pid: str | None):
        super().__init__(f"run directory {run_dir} is in use by another evalkit process "
                         f"(pid {pid or 'unknown'}); wait for it to finish, or stop it first")


def holder_pid(run_dir: Path) -> str | None:
    try:
        text = (Path(run_dir) / PID).read_text().strip()
    except OSError:
        return None
    return text if text.isdigit() else None


@contextmanager
def writer_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's writer lock (creating the directory) or raise RunDirInUse at once.
    A directory this call created is removed again when nothing but the lock was put in it
    (a run that failed on its configuration leaves no empty run directory behind)."""
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create run directory {run_dir}: {e.strerror or e}") from None
    lock = FileLock(str(run_dir / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunDirInUse(run_dir, holder_pid(run_dir)) from None
    mine = str(os.getpid())
    try:
        (run_dir / PID).write_text(mine + "\n")
        yield
    finally:
        try:
            if holder_pid(run_dir) == mine:
                (run_dir / PID).unlink()
        except OSError:
            pass
        lock.release()
        if created and {p.name for p in run_dir.iterdir()} <= {LOCK}:
            (run_dir / LOCK).unlink(missing_ok=True)
            run_dir.rmdir()
