"""`evalkit report RUN_DIR...`: (re)render the HTML report of one run, or compare several."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..report import render_report
from ..results import SUMMARY, read_json, read_results


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="(re)render the HTML report of one or more runs",
                       description="Render report.html for RUN_DIR (or a comparison of several runs).")
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="output file (default: RUN_DIR/report.html for one run, ./report.html for several)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    runs = [(d, read_json(d / SUMMARY, "summary.json"), read_results(d)) for d in args.runs]
    out = args.output or (args.runs[0] / "report.html" if len(args.runs) == 1 else Path("report.html"))
    out.write_text(render_report(runs), encoding="utf-8")
    print(out)
    return 0
