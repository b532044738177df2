"""The gate end to end, as `evalkit gate` and `evalkit run --baseline` use it: read both runs, resolve
the thresholds (suite `gate:` section under command-line flags), compare, print and write the
renderings. Returns the exit code."""
from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from ..analysis.completeness import planned_results
from ..errors import InputError
from ..suite import load_suite
from ..suite.sections import GateSpec
from .compare import Check, GateResult, compare
from .inputs import load_run
from .output import render_junit, render_markdown, render_text
from .spec import resolve

_STATUS = re.compile(r"\b(PASS|FAIL|SKIP)\b")
_COLOURS = {"PASS": "\033[32m", "FAIL": "\033[31m", "SKIP": "\033[33m"}


def colour_on(stream: TextIO) -> bool:
    """Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def paint(text: str) -> str:
    return _STATUS.sub(lambda m: f"{_COLOURS[m.group(1)]}{m.group(1)}\033[0m", text)


def suite_gate(path: str | Path | None) -> GateSpec | None:
    return load_suite(path).spec.gate if path else None


def _write(path: Path, text: str, mode: str = "w") -> None:
    try:
        with open(path, mode, encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise InputError(str(path), f"cannot write: {e.strerror}") from None


def emit(result: GateResult, junit: Path | None, markdown: Path | None, *, stream: TextIO | None = None) -> int:
    """Print the text report (to `stream`, default stdout), write the requested files; the exit
    code of the gate."""
    stream = stream or sys.stdout
    text = render_text(result)
    print(paint(text) if colour_on(stream) else text, end="", file=stream)
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


def gate_result(run_dir: Path, baseline_dir: Path, *, suite_path: Path | None = None, flags: dict | None = None,
                allow_partial: bool = False) -> GateResult:
    """Load both runs, resolve the thresholds, compare."""
    baseline = load_run(baseline_dir)
    run_ = load_run(run_dir)
    source = suite_path or _existing(run_.suite_path) or _existing(baseline.suite_path)
    if source is None and (run_.suite_path or baseline.suite_path):
        print(f"evalkit gate: note: suite {run_.suite_path or baseline.suite_path} not found, so its "
              "`gate:` section is not read (pass --suite)", file=sys.stderr)
    spec = resolve(suite_gate(source), **(flags or {}))
    return compare(run_, baseline, spec, planned=planned_results(run_), allow_partial=allow_partial)


def gate_runs(run_dir: Path, baseline_dir: Path, *, suite_path: Path | None = None,
              flags: dict | None = None, junit: Path | None = None, markdown: Path | None = None,
              allow_partial: bool = False, stream: TextIO | None = None) -> int:
    """Compare and report: shared by `evalkit gate` and `evalkit run --baseline`. Returns the
    gate's exit code."""
    result = gate_result(run_dir, baseline_dir, suite_path=suite_path, flags=flags, allow_partial=allow_partial)
    return emit(result, junit, markdown, stream=stream)


def _rate_json(rate: Any) -> dict[str, Any] | None:
    if rate is None:
        return None
    return {"k": rate.k, "n": rate.n, "value": rate.value, "low": rate.low, "high": rate.high}


def _check_json(c: Check) -> dict[str, Any]:
    return {"metric": c.metric, "rule": c.rule, "limit": c.limit, "status": c.status, "why": c.why,
            "baseline": _rate_json(c.baseline), "run": _rate_json(c.run), "change": c.change,
            "p_value": None if c.test is None else c.test.p_value}


def result_json(result: GateResult) -> dict[str, Any]:
    """The gate as data, for `--json`: the verdict, why, and every check."""
    return {
        "verdict": "fail" if result.failed else "pass", "reason": result.reason, "exit_code": result.exit_code,
        "run": result.run, "baseline": result.baseline, "suite": result.suite,
        "spec": result.spec.model_dump(), "incomplete": list(result.incomplete),
        "variants": [{"name": v.name, "shared_cases": v.shared, "errors": v.errors, "failed": v.failed,
                      "checks": [_check_json(c) for c in v.checks],
                      "regressed": [{"case_id": c.case_id, "verdict": c.verdict, "reason": c.reason}
                                    for c in v.regressed]} for v in result.variants],
        "added": list(result.added), "removed": list(result.removed), "notes": list(result.notes),
    }


def _finite(data: Any) -> Any:
    """NaN and infinities have no JSON spelling: null, so any parser reads the output."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def dumps(data: Any) -> str:
    """Standard JSON for `--json` output."""
    return json.dumps(_finite(data), indent=2, ensure_ascii=False, allow_nan=False, default=str)


def _existing(path: str | None) -> Path | None:
    """The suite a run names, if it is still where the run was made from."""
    return Path(path) if path and Path(path).is_file() else None
