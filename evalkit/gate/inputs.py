"""Reading the two run directories a gate compares (the I/O edge of the gate): each is a
`Run` (evalkit/rundir/run.py), every result line validated when it was read."""
from __future__ import annotations

from pathlib import Path

from ..rundir.run import Run, open_run


def load_run(run_dir: str | Path) -> Run:
    """The run in `run_dir`; a missing directory, an empty or malformed file is one InputError."""
    return open_run(run_dir)


__all__ = ["Run", "load_run"]
