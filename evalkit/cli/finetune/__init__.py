"""`evalkit finetune SUITE --train FILE ...`: launch fine-tuning trials and add them to the suite.

Hosted (OpenAI / Azure OpenAI): one job per --grid point, job ids recorded in SUITE's trials
file (<suite>.trials.json), --wait to poll and add the fine-tuned models as trial variants.
Local (--local): a LoRA adapter trained here on the CPU (evalkit/cli/finetune/local.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...errors import InputError
from .local import add_arguments as add_local_arguments
from .local import run as run_local

HELP = """\
Fine-tune and add the results to SUITE as trial variants.

Hosted (OpenAI, or --provider azure): checks FILE against the suite (`evalkit data check`;
--variant names the variant whose definitions training must match when the suite has no
fine-tuned variant yet), uploads it (files.create, purpose fine-tune), creates one supervised
job per --grid point, e.g.
  --grid n_epochs=2,3 learning_rate_multiplier=0.5,1,2      (6 jobs)
and records the job ids in SUITE's trials file (<suite>.trials.json). With --wait it polls until
every job is done and adds each fine-tuned model (and with --checkpoints each checkpoint) as a
variant with its `trial:` metadata; without it, import later with `evalkit trials import JOB_ID
--suite SUITE`. Then `evalkit run SUITE` and `evalkit trials RUN_DIR` compare the grid.
Connection from the environment, as for `evalkit run`."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="launch fine-tuning trials and add them to a suite", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", type=Path, nargs="?", metavar="SUITE",
                   help="the suite (required for hosted jobs; with --local, only for --variant)")
    p.add_argument("--train", type=Path, required=True, metavar="FILE", help="training JSONL")
    p.add_argument("--validation", type=Path, metavar="FILE", help="validation JSONL")
    hosted = p.add_argument_group("hosted fine-tuning (OpenAI / Azure OpenAI)")
    hosted.add_argument("--grid", nargs="+", default=[], metavar="KEY=V1,V2",
                        help="n_epochs, learning_rate_multiplier, batch_size values (a number or auto)")
    hosted.add_argument("--model", metavar="M", help="base model (default: the suite's trial base_model "
                                                     "or first non-fine-tuned model)")
    hosted.add_argument("--provider", choices=["openai", "azure"], default="openai")
    hosted.add_argument("--suffix", metavar="S", help="suffix for the fine-tuned model names")
    hosted.add_argument("--seed", type=int, metavar="N")
    hosted.add_argument("--wait", action="store_true", help="poll until done and add the models as variants")
    hosted.add_argument("--poll", type=float, default=30.0, metavar="SECONDS", help="poll interval (default 30)")
    hosted.add_argument("--timeout", type=float, metavar="SECONDS", help="give up waiting after this long")
    hosted.add_argument("--functions", metavar="NAME", help="the new variants' functions transform")
    hosted.add_argument("--checkpoints", action="store_true", help="also add a variant per checkpoint")
    hosted.add_argument("--no-check", action="store_true", help="launch even if `evalkit data check` finds errors")
    add_local_arguments(p)
    p.set_defaults(func=run)


def check_training(train: Path, suite_path: Path, variant: str | None = None) -> None:
    """Refuse to pay for a job on data the check rejects (e.g. definitions that differ from the
    ones the fine-tuned variant will send; `variant` names it when the suite has none yet)."""
    from ...data import check_examples, read_examples
    from ...suite import load_suite
    examples, unparsed = read_examples(train)
    report = check_examples(examples, unparsed, load_suite(suite_path), variant)
    errors = [p for p in report.problems if p.level == "error"]
    if errors:
        first = errors[0]
        also = f" --variant {variant}" if variant else ""
        raise InputError(str(train), f"{len(errors)} error(s) in the training data, first: {first.message} "
                         f"(see `evalkit data check {train} --suite {suite_path}{also}`; --no-check to launch "
                         "anyway)",
                         line=first.line)


def run(args: argparse.Namespace) -> int:
    from ...suite import load_suite
    if args.local:
        return run_local(args)
    if args.suite is None:
        raise InputError(None, "hosted fine-tuning needs the SUITE argument (or --local)", field="SUITE")
    from ...finetune.openai_jobs import client_for, parse_grid
    from ...finetune.trial_variants import finetune_grid

    grid = parse_grid(args.grid)
    if args.poll < 0:
        raise InputError(None, "--poll must not be negative", field="--poll")
    load_suite(args.suite)
    for path in (args.train, args.validation):
        if path is not None and not path.is_file():
            raise InputError(str(path), "file not found")
    if not args.no_check:
        check_training(args.train, args.suite, args.variant)
    trials_file, record, imported = finetune_grid(
        lambda: client_for(args.provider), args.suite, args.train, args.validation, grid, model=args.model,
        suffix=args.suffix, seed=args.seed, wait_for_jobs=args.wait, poll=args.poll, timeout=args.timeout,
        provider=args.provider, functions=args.functions, checkpoints=args.checkpoints,
        report=lambda line: print(line, file=sys.stderr))
    print(f"{len(record['jobs'])} job(s) on {record['model']} recorded in {trials_file}")
    if imported is None:
        print(f"when they are done: evalkit trials import {' '.join(j['id'] for j in record['jobs'])} "
              f"--suite {args.suite}")
        return 0
    for name in imported.added:
        print(f"added variant {name}")
    for name in imported.replaced:
        print(f"replaced variant {name}")
    failed = len(record["jobs"]) - len(imported.jobs)
    if failed:
        print(f"{failed} job(s) did not succeed: see the trials file and `evalkit trials import`")
    print(f"next: evalkit run {args.suite}")
    return 0
