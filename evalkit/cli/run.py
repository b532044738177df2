"""`evalkit run SUITE`: run, score, summarise and report."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..analysis.table import summary_table
from ..gate.check import gate_runs
from ..gate.inputs import load_run
from ..run.resume import resume_plan
from ..run.runner import DEFAULT_MAX_ERROR_RATE, RunOptions, error_share, run_suite
from ..suite import load_suite

HELP = """\
Run every variant of SUITE over every case, score each response and write a run directory:
  results.jsonl  one line per case x variant x repeat (request, raw response, parsed calls,
                 verdict, reason, tokens, latency)
  summary.json   per-variant metrics with n and Wilson 95% intervals, pairwise McNemar tests
  report.html    self-contained comparison report
Connection settings come from the environment (OPENAI_API_KEY, OPENAI_BASE_URL,
AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT, OPENAI_API_VERSION) unless a variant sets them.
Temperature-0 responses are cached (evalkit cache clear; --no-cache). A run killed or stopped
with Ctrl-C keeps every finished result: `evalkit run --resume RUN_DIR` finishes the rest.
Exit codes: 0 done, 1 regression against --baseline, 2 bad input or configuration,
3 too many provider errors (--max-error-rate), 130 interrupted."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a suite and write results, summary and report", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", metavar="SUITE", nargs="?", help="suite YAML file (not with --resume)")
    p.add_argument("--out", "-o", type=Path, metavar="DIR",
                   help="run directory (default: results/<suite>-<timestamp>/)")
    p.add_argument("--variant", action="append", metavar="NAME",
                   help="run only this variant (repeatable)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N cases")
    p.add_argument("--concurrency", type=int, metavar="N", help="requests in flight at once (default 16)")
    p.add_argument("--repeats", type=int, metavar="K", help="run each case K times (overrides the suite)")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="finish an interrupted run: only the results RUN_DIR does not hold yet")
    p.add_argument("--no-cache", action="store_true",
                   help="neither replay nor store responses in the response cache")
    p.add_argument("--batch", action="store_true",
                   help="send the requests through the OpenAI/Azure Batch API (50%% price, results within 24 h)")
    p.add_argument("--max-error-rate", type=float, metavar="R", default=DEFAULT_MAX_ERROR_RATE,
                   help="exit 3 when more than this share of results are provider errors (default %(default)s)")
    p.add_argument("--baseline", type=Path, metavar="DIR",
                   help="then gate this run against a baseline run: exit 1 on a regression (see evalkit gate)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for flag in ("limit", "concurrency", "repeats"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise_bad(f"--{flag} must be at least 1")
    if not 0 <= args.max_error_rate <= 1:
        raise_bad("--max-error-rate must be between 0 and 1")
    options = RunOptions(out=args.out, variants=args.variant, limit=args.limit, concurrency=args.concurrency,
                         repeats=args.repeats, progress=not args.no_progress, cache=not args.no_cache,
                         batch=args.batch)
    if args.resume:
        if args.suite or args.out or args.variant or args.limit or args.repeats:
            raise_bad("--resume takes the suite and options the run started with: give only RUN_DIR "
                      "(and --concurrency, --no-cache, --no-progress)")
        plan = resume_plan(args.resume)
        args.suite = plan.suite_path
        options.out, options.resume, options.variants = args.resume, True, plan.variants
        options.limit, options.repeats, options.batch = plan.limit, plan.repeats, plan.batch or args.batch
        options.cache = plan.cache and not args.no_cache
    elif not args.suite:
        raise_bad("give a SUITE file (or --resume RUN_DIR)")
    suite = load_suite(args.suite)
    if args.baseline:
        load_run(args.baseline)  # a bad baseline fails before the run, not after it
    outcome = run_suite(suite, options)
    from ..report import (
        write_report,  # jinja2 is imported only once the requests are done
    )

    write_report(outcome.run_dir, outcome.summary, outcome.results)
    print(summary_table(outcome.summary))
    print(f"\nrun directory: {outcome.run_dir}")
    print(f"report:        {outcome.run_dir / 'report.html'}")
    errors, total = error_share(outcome.summary)
    too_many = total and errors / total > args.max_error_rate
    code = 0
    if args.baseline:
        print()
        code = gate_runs(outcome.run_dir, args.baseline, suite_path=Path(args.suite))
    if too_many:
        import sys

        print(f"evalkit: error: {errors} of {total} results ({errors / total:.0%}) are provider errors, above "
              f"--max-error-rate {args.max_error_rate:g}; see the `error` field in results.jsonl",
              file=sys.stderr)
        return 3
    return code


def raise_bad(message: str) -> None:
    from ..errors import InputError

    raise InputError(None, message)
