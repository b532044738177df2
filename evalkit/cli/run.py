"""`evalkit run SUITE`: run, score, summarise and report."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..gate.inputs import load_run
from ..runner import RunOptions, run_suite
from ..suite import load_suite
from .gate import gate_runs
from .table import summary_table

HELP = """\
Run every variant of SUITE over every case, score each response and write a run directory:
  results.jsonl  one line per case x variant x repeat (request, raw response, parsed calls,
                 verdict, reason, tokens, latency)
  summary.json   per-variant metrics with n and Wilson 95% intervals, pairwise McNemar tests
  report.html    self-contained comparison report
Connection settings come from the environment (OPENAI_API_KEY, OPENAI_BASE_URL,
AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT, OPENAI_API_VERSION) unless a variant sets them.
Exit codes: 0 done, 1 regression against --baseline, 2 bad input or configuration."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a suite and write results, summary and report", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", metavar="SUITE", help="suite YAML file")
    p.add_argument("--out", "-o", type=Path, metavar="DIR",
                   help="run directory (default: results/<suite>-<timestamp>/)")
    p.add_argument("--variant", action="append", metavar="NAME",
                   help="run only this variant (repeatable)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N cases")
    p.add_argument("--concurrency", type=int, metavar="N", help="requests in flight at once (default 16)")
    p.add_argument("--repeats", type=int, metavar="K", help="run each case K times (overrides the suite)")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.add_argument("--baseline", type=Path, metavar="DIR",
                   help="then gate this run against a baseline run: exit 1 on a regression (see evalkit gate)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for flag in ("limit", "concurrency", "repeats"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise_bad(f"--{flag} must be at least 1")
    suite = load_suite(args.suite)
    if args.baseline:
        load_run(args.baseline)  # a bad baseline fails before the run, not after it
    outcome = run_suite(suite, RunOptions(out=args.out, variants=args.variant, limit=args.limit,
                                          concurrency=args.concurrency, repeats=args.repeats,
                                          progress=not args.no_progress))
    print(summary_table(outcome.summary))
    print(f"\nrun directory: {outcome.run_dir}")
    print(f"report:        {outcome.run_dir / 'report.html'}")
    if args.baseline:
        print()
        return gate_runs(outcome.run_dir, args.baseline, suite_path=Path(args.suite))
    return 0


def raise_bad(message: str) -> None:
    from ..errors import InputError

    raise InputError(None, message)
