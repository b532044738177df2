"""`evalkit report RUN_DIR...`: (re)render the HTML report of one run, or compare several."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError

HELP = """\
Render report.html for RUN_DIR: the headline table (every rate with n and a Wilson 95% interval,
the best variant marked only where an exact McNemar test says so), the pairwise McNemar matrix,
verdict bars, tokens and cost with the TCO chart, trials and repeats when present, and a
cases x variants grid with a detail panel per case. One self-contained file; opens offline.

Given several RUN_DIRs, compares them in one report: cases are matched by id and each variant is
prefixed with its run's directory name ("before/base+full"). A run without summary.json (killed
before it finished) is summarised from its results.jsonl. A run holding fewer results than it
planned is rendered with a banner saying how many, and noted on stderr (exit 0)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="(re)render the HTML report of one or more runs", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("-o", "--out", "--output", dest="output", type=Path, metavar="FILE",
                   help="output file (default: RUN_DIR/report.html for one run, ./report.html for several)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.completeness import shortfall
    from ..report import render_report
    from ..rundir.run import open_run
    runs = [open_run(d) for d in args.runs]  # a run without summary.json is summarised by the report
    shortfalls = [shortfall(r) for r in runs]  # the report says so at its top; so does the command
    for d, short in zip(args.runs, shortfalls):
        if short:
            print(f"evalkit report: note: {d}: incomplete run: {short[0]} of {short[1]} planned results are "
                  f"recorded (finish with: evalkit run --resume {d})", file=sys.stderr)
    out = args.output or (args.runs[0] / "report.html" if len(args.runs) == 1 else Path("report.html"))
    try:
        out.write_text(render_report(runs, shortfalls), encoding="utf-8")
    except OSError as e:
        raise InputError(str(out), f"cannot write the report ({e.strerror})") from None
    print(out)
    return 0
