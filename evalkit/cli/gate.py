"""`evalkit gate RUN_DIR --baseline BASELINE_DIR`: fail CI on a significant regression."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import metricset

HELP = """\
Compare each variant of RUN_DIR with the same variant of BASELINE_DIR on the cases both runs
share (matched by case id; cases added or removed are listed, not mixed in).

A gated metric fails when it worsens by more than --max-drop AND an exact McNemar test on the
shared cases gives p < --alpha: a 10-case suite losing one case is noise, not a regression.
--min/--max are absolute bounds on the run's own value. Defaults come from the suite's `gate:`
section (found through run.json, or --suite), then the flags override them.

The run must cover the baseline: a variant or case of the baseline missing from RUN_DIR, or
fewer results recorded than the run planned (an interrupted run), fails with reason
"incomplete"; --allow-partial gates what is there instead.

--json prints the verdict, its reason and every check as JSON on stdout (the text goes to
stderr). PASS/FAIL are coloured on a terminal unless NO_COLOR is set.

Exit codes: 0 pass, 1 regression or incomplete run, 2 bad input (missing run, mismatched
suites, corrupt files)."""


def add_threshold_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metric", action="append", metavar="NAME", choices=metricset.names(),
                   help=f"metric to gate (repeatable; default accuracy): {', '.join(metricset.names())}")
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
    p.add_argument("--allow-partial", action="store_true",
                   help="gate an incomplete run on what it has instead of failing it")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="fail (exit 1) on a significant regression against a baseline run",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--baseline", type=Path, required=True, metavar="BASELINE_DIR")
    p.add_argument("--suite", type=Path, metavar="SUITE",
                   help="read the `gate:` section from this suite (default: the run's suite, from run.json)")
    add_threshold_flags(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout (text on stderr)")
    p.set_defaults(func=run)


def overrides(args: argparse.Namespace) -> dict:
    """The command line's thresholds, for `spec.resolve`."""
    from ..gate.spec import parse_bounds
    return dict(metrics=args.metric, max_drop=args.max_drop, alpha=args.alpha,
                lower=parse_bounds(args.min, "--min"), upper=parse_bounds(args.max, "--max"))


def run(args: argparse.Namespace) -> int:
    from ..gate.check import dumps, emit, gate_result, result_json
    result = gate_result(args.run_dir, args.baseline, suite_path=args.suite, flags=overrides(args),
                         allow_partial=args.allow_partial)
    code = emit(result, args.junit, args.markdown, stream=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(dumps(result_json(result)))
    return code
