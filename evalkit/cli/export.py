"""`evalkit export RUN_DIR --format csv|parquet|jsonl [-o FILE]`: the run as one tidy table."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = """\
Write a run as one tidy table: one row per case x variant x repeat with its verdict, reason,
calls, tokens, latency and the variant's settings (trial hyperparameters as trial_* columns).
Nested values (calls, expectations) are JSON text. The same table in Python:
  import evalkit; df = evalkit.load("RUN_DIR")
parquet needs pyarrow (pip install 'evalkit[parquet]')."""


# evalkit.analysis.tidy.FORMATS, spelled here so that building the parser imports no pandas (tests check they match).
FORMATS = ("csv", "parquet", "jsonl")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run as a tidy CSV, Parquet or JSON-lines table", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run directory")
    p.add_argument("--format", "-f", choices=FORMATS, default="csv", help="output format (default csv)")
    p.add_argument("-o", "--out", type=Path, metavar="FILE", help="output file (default RUN_DIR/tidy.FORMAT)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.tidy import export
    out = export(args.run_dir, args.format, args.out or args.run_dir / f"tidy.{args.format}")
    print(out)
    return 0
