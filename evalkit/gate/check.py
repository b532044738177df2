"""The gate end to end, as `evalkit gate` and `evalkit run --baseline` use it: read both runs, resolve
the thresholds (suite `gate:` section under command-line flags), compare, print and write the
renderings. Returns the exit code."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import InputError
from ..suite import load_suite
from ..suite.sections import GateSpec
from .compare import GateResult, compare
from .inputs import load_run
from .output import render_junit, render_markdown, render_text
from .spec import resolve


def suite_gate(path: str | Path | None) -> GateSpec | None:
    return load_suite(path).spec.gate if path else None


def _write(path: Path, text: str, mode: str = "w") -> None:
    try:
        with open(path, mode, encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise InputError(str(path), f"cannot write: {e.strerror}") from None


def emit(result: GateResult, junit: Path | None, markdown: Path | None) -> int:
    """Print the text report, write the requested files; the exit code of the gate."""
    print(render_text(result), end="")
    if junit:
        _write(junit, render_junit(result))
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if markdown or step_summary:
        text = render_markdown(result)
        if markdown:
            _write(markdown, text)
        if step_summary:
            _write(Path(step_summary), text + "\n", mode="a")
    return result.exit_code


def gate_runs(run_dir: Path, baseline_dir: Path, *, suite_path: Path | None = None,
              flags: dict | None = None, junit: Path | None = None, markdown: Path | None = None) -> int:
    """Load both runs, resolve the thresholds, compare, report: shared by `evalkit gate` and
    `evalkit run --baseline`. Returns the gate's exit code."""
    baseline = load_run(baseline_dir)
    run_ = load_run(run_dir)
    source = suite_path or _existing(run_.suite_path) or _existing(baseline.suite_path)
    if source is None and (run_.suite_path or baseline.suite_path):
        print(f"evalkit gate: note: suite {run_.suite_path or baseline.suite_path} not found, so its "
              "`gate:` section is not read (pass --suite)", file=sys.stderr)
    spec = resolve(suite_gate(source), **(flags or {}))
    return emit(compare(run_, baseline, spec), junit, markdown)


def _existing(path: str | None) -> Path | None:
    """The suite a run names, if it is still where the run was made from."""
    return Path(path) if path and Path(path).is_file() else None
