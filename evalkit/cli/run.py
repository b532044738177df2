"""`evalkit run SUITE`: run, score, summarise and report."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis.table import summary_table

if TYPE_CHECKING:
    from ..suite.model import Suite

HELP = """\
Run every variant of SUITE over every case, score each response and write a run directory:
  results.jsonl  one line per case x variant x repeat (request, raw response, parsed calls,
                 verdict, reason, tokens, latency)
  summary.json   per-variant metrics with n and Wilson 95% intervals, pairwise McNemar tests
  report.html    self-contained comparison report
Connection settings come from the environment (OPENAI_API_KEY, OPENAI_BASE_URL,
AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT, OPENAI_API_VERSION) unless a variant sets them.
Temperature-0 responses are cached (evalkit cache clear; --no-cache). A run killed, stopped
with Ctrl-C or terminated (SIGTERM) keeps every finished result: `evalkit run --resume RUN_DIR`
finishes the rest, with the selection and --set overrides the run started with.

  -k "titan or msft"      only the cases whose id contains a word of the expression, or
                          that carry it as a tag (and, or, not, parentheses; case-insensitive,
                          as pytest -k)
  --set ft+short.temperature=0.7   change a variant's field for this run (VALUE is YAML;
                          FIELD may be params.seed; * for every variant); checked as the YAML is
  --json                  print the summary (and the gate) as JSON on stdout; table to stderr

Exit codes: 0 done, 1 regression or incomplete run against --baseline, 2 bad input or
configuration, 3 too many provider errors (--max-error-rate), 4 a result could not be scored or
written (the run stops; what it recorded is resumable), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM)."""


# evalkit.run.runner.DEFAULT_MAX_ERROR_RATE, spelled here so that `--help` imports no runner (tests check they match).
DEFAULT_MAX_ERROR_RATE = 0.1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a suite and write results, summary and report", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", metavar="SUITE", nargs="?", help="suite YAML file (not with --resume)")
    p.add_argument("-o", "--out", type=Path, metavar="DIR",
                   help="run directory (default: results/<suite>-<timestamp>/)")
    p.add_argument("--variant", action="append", metavar="NAME",
                   help="run only this variant (repeatable, or comma-separated)")
    p.add_argument("-k", dest="select", metavar="EXPR",
                   help="only the cases whose id or tags match EXPR, e.g. \"titan or msft\", \"not fake\"")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="VARIANT.FIELD=VALUE",
                   help="override a variant field for this run, e.g. base+full.temperature=0.7 (repeatable)")
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
    p.add_argument("--allow-partial", action="store_true",
                   help="with --baseline: gate an incomplete run on what it has instead of failing it")
    p.add_argument("--json", action="store_true",
                   help="print the summary (and gate) as JSON on stdout; the table goes to stderr")
    p.set_defaults(func=run)


def _variant_names(values: list[str] | None) -> list[str] | None:
    names = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    return names or None


def _resume_choices(run_dir: Path) -> dict[str, Any]:
    """The case ids and --set overrides the run started with (run.json)."""
    from ..rundir.run import read_info
    info = read_info(run_dir, required=True)
    opts = info.options or {}
    return {"cases": info.cases or None, "overrides": list(opts.get("set") or []), "select": opts.get("select")}


def _check_batch(suite: Suite, names: list[str] | None) -> None:
    """--batch is the OpenAI/Azure Batch API: refuse it up front for variants it cannot carry."""
    from ..providers import provider_traits

    chosen = [v for v in suite.variants if not names or v.name in names]
    others = [v for v in chosen if not provider_traits(v.provider).batch_api]
    if suite.spec.execute:
        raise_bad("--batch cannot run a suite with `execute: true` (each call's result is sent back to the "
                  "model, one step at a time)", "--batch")
    if others:
        shown = ", ".join(f"'{v.name}' ({v.provider})" for v in others)
        every = "every selected variant runs" if len(others) == len(chosen) else "some variants run"
        raise_bad(f"the Batch API is OpenAI/Azure only, and {every} elsewhere: {shown}; drop --batch, "
                  "or pick hosted variants with --variant", "--batch")


def run(args: argparse.Namespace) -> int:
    from ..gate.check import dumps, emit, gate_result, result_json
    from ..gate.inputs import load_run
    from ..run.resume import resume_plan
    from ..analysis.completeness import incomplete
    from ..run.runner import RunOptions, common_error, error_share, run_suite
    from ..suite import load_suite
    from ..suite.override import apply_overrides
    from ..suite.select import select_cases
    for flag in ("limit", "concurrency", "repeats"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise_bad(f"--{flag} must be at least 1")
    if not 0 <= args.max_error_rate <= 1:
        raise_bad("--max-error-rate must be between 0 and 1")
    if args.allow_partial and not args.baseline:
        raise_bad("--allow-partial applies to the gate: give --baseline DIR too", "--allow-partial")
    variants = _variant_names(args.variant)
    options = RunOptions(out=args.out, variants=variants, limit=args.limit, concurrency=args.concurrency,
                         repeats=args.repeats, progress=not args.no_progress, cache=not args.no_cache,
                         batch=args.batch)
    case_ids = None
    if args.resume:
        if args.suite or args.out or variants or args.limit or args.repeats or args.select or args.overrides:
            raise_bad("--resume takes the suite and options the run started with: give only RUN_DIR "
                      "(and --concurrency, --no-cache, --no-progress, --baseline, --json)")
        plan = resume_plan(args.resume)
        args.suite = plan.suite_path
        options.out, options.resume, options.variants = args.resume, True, plan.variants
        options.limit, options.repeats, options.batch = plan.limit, plan.repeats, plan.batch or args.batch
        options.cache = plan.cache and not args.no_cache
        started = _resume_choices(args.resume)
        args.overrides, args.select, case_ids = started["overrides"], started["select"], started["cases"]
    elif not args.suite:
        raise_bad("give a SUITE file (or --resume RUN_DIR)")
    suite = load_suite(args.suite)
    if args.overrides:
        suite = apply_overrides(suite, args.overrides)
    if args.select:
        suite = _replace_cases(suite, select_cases(suite.cases, args.select))
    if case_ids is not None and not args.select:  # a resume runs the cases the run started with
        wanted = set(map(str, case_ids))
        suite = _replace_cases(suite, tuple(c for c in suite.cases if c.id in wanted))
    options.recorded = {k: v for k, v in (("set", args.overrides), ("select", args.select)) if v}
    if options.batch:
        _check_batch(suite, options.variants)
    if args.baseline:
        load_run(args.baseline)  # a bad baseline fails before the run, not after it
    outcome = run_suite(suite, options)
    from ..report import (
        write_report,  # jinja2 is imported only once the requests are done
    )

    write_report(outcome.run_dir, outcome.summary, outcome.results)
    # With --json, stdout is for the machine: the human output goes to stderr.
    human = sys.stderr if args.json else sys.stdout
    print(summary_table(outcome.summary), file=human)
    print(f"\nrun directory: {outcome.run_dir}", file=human)
    print(f"report:        {outcome.run_dir / 'report.html'}", file=human)
    errors, total = error_share(outcome.summary)
    too_many = total and errors / total > args.max_error_rate
    code, gate = 0, None
    if args.baseline:
        print(file=human)
        gate = gate_result(outcome.run_dir, args.baseline, suite_path=Path(args.suite),
                           allow_partial=args.allow_partial)
        code = emit(gate, None, None, stream=human)
    if too_many:
        common = common_error(outcome.results)
        most = f"; most common ({common[1]}x): {common[0]}" if common else ""
        print(f"evalkit: error: {errors} of {total} results ({errors / total:.0%}) are provider errors, above "
              f"--max-error-rate {args.max_error_rate:g}{most} (all in the `error` field of results.jsonl)",
              file=sys.stderr)
        code = 3
    short = incomplete(outcome.summary)
    if short:  # fewer results than planned is never a success
        print(f"evalkit: error: incomplete run: {short[0]} of {short[1]} planned results are recorded; "
              f"finish with: evalkit run --resume {outcome.run_dir}", file=sys.stderr)
        code = 4
    if args.json:
        print(dumps({"run_dir": str(outcome.run_dir), "report": str(outcome.run_dir / "report.html"),
                     "exit_code": code, "summary": outcome.summary,
                     "gate": result_json(gate) if gate is not None else None}))
    return code


def _replace_cases(suite: Suite, cases: tuple) -> Suite:
    import dataclasses

    return dataclasses.replace(suite, cases=cases)


def raise_bad(message: str, flag: str | None = None) -> None:
    from ..errors import InputError

    raise InputError(None, message, field=flag)
