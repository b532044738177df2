"""`evalkit gate RUN_DIR --baseline BASELINE_DIR`: fail CI on a significant regression."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import InputError
from ..gate.compare import GateResult, compare
from ..gate.inputs import load_run
from ..gate.output import render_junit, render_markdown, render_text
from ..gate.spec import METRICS, GateSpec, parse_bounds, resolve
from ..suite import load_suite

HELP = """\
Compare each variant of RUN_DIR with the same variant of BASELINE_DIR on the cases both runs
share (matched by case id; cases added or removed are listed, not mixed in).

A gated metric fails when it worsens by more than --max-drop AND an exact McNemar test on the
shared cases gives p < --alpha: a 10-case suite losing one case is noise, not a regression.
--min/--max are absolute bounds on the run's own value. Defaults come from the suite's `gate:`
section (found through run.json, or --suite), then the flags override them.

Exit codes: 0 pass, 1 regression, 2 bad input (missing run, mismatched suites, corrupt files)."""


def add_threshold_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metric", action="append", metavar="NAME", choices=METRICS,
                   help=f"metric to gate (repeatable; default accuracy): {', '.join(METRICS)}")
    p.add_argument("--max-drop", type=float, metavar="X",
                   help="largest allowed worsening, as a fraction (default 0.05 = 5 points)")
    p.add_argument("--alpha", type=float, metavar="A", help="significance level of the paired test (default 0.05)")
    p.add_argument("--min", action="append", metavar="METRIC=VALUE",
                   help="absolute floor on the run's value, e.g. accuracy=0.8 (repeatable)")
    p.add_argument("--max", action="append", metavar="METRIC=VALUE",
                   help="absolute ceiling, e.g. hallucination_rate=0.2 (repeatable)")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    p.add_argument("--markdown", type=Path, metavar="FILE",
                   help="write a markdown summary here (also appended to $GITHUB_STEP_SUMMARY when set)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="fail (exit 1) on a significant regression against a baseline run",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--baseline", type=Path, required=True, metavar="BASELINE_DIR")
    p.add_argument("--suite", type=Path, metavar="SUITE",
                   help="read the `gate:` section from this suite (default: the run's suite, from run.json)")
    add_threshold_flags(p)
    p.set_defaults(func=run)


def suite_gate(path: str | Path | None) -> GateSpec | None:
    return load_suite(path).spec.gate if path else None


def overrides(args: argparse.Namespace) -> dict:
    """The command line's thresholds, for `spec.resolve`."""
    return dict(metrics=args.metric, max_drop=args.max_drop, alpha=args.alpha,
                lower=parse_bounds(args.min, "--min"), upper=parse_bounds(args.max, "--max"))


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


def run(args: argparse.Namespace) -> int:
    return gate_runs(args.run_dir, args.baseline, suite_path=args.suite, flags=overrides(args),
                     junit=args.junit, markdown=args.markdown)
