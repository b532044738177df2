"""`evalkit trials RUN_DIR...` (compare trials) and `evalkit trials import JOB_ID...` (jobs -> variants)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import metricset
from ..analysis.table import render_table
from ..errors import InputError

if TYPE_CHECKING:
    from ..analysis.stats import Rate
    from ..analysis.trials import TrialRow

USAGE = """\
evalkit trials RUN_DIR [RUN_DIR ...] [--metric M] [--all] [--json]
       evalkit trials import JOB_ID [JOB_ID ...] [--suite SUITE] [--checkpoints] [--provider P]"""

HELP = """\
Compare fine-tuning trials: every variant with a `trial:` block (n_epochs, learning_rate_multiplier,
batch_size, seed, checkpoint_step, trained_tokens, job_id, ...) in the given run directories,
sorted best-first by --metric, with Wilson 95% intervals, prompt tokens, trained tokens and
training cost (evalkit/prices.yaml). "vs best" is an exact McNemar test against the best trial on
the cases both scored: "ns" means the test set cannot tell the two apart.

`evalkit trials import JOB_ID ...` reads fine-tuning jobs through the OpenAI (or --provider azure)
API: the job, its events, its checkpoints and the result file's metrics (train/valid loss, token
accuracy), and writes one variant per job (per checkpoint with --checkpoints) with its `trial:`
metadata and training-loss curve into --suite (or prints the YAML). Then `evalkit run SUITE`
evaluates the whole grid. Connection from the environment, as for `evalkit run`."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trials", help="compare fine-tuning trials; import fine-tuning jobs as variants",
                       usage=USAGE, description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="+", metavar="RUN_DIR | import JOB_ID",
                   help="run directories, or `import` followed by fine-tuning job ids")
    show = p.add_argument_group("comparing runs")
    show.add_argument("--metric", default="accuracy",
                      help="sort by this metric (accuracy, refusal_accuracy, hallucination_rate, ...)")
    show.add_argument("--all", action="store_true", help="include variants without `trial:` (baselines)")
    show.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    imp = p.add_argument_group("importing jobs")
    imp.add_argument("--suite", type=Path, metavar="SUITE", help="add the variants to this suite YAML")
    imp.add_argument("--checkpoints", action="store_true", help="one variant per checkpoint as well")
    imp.add_argument("--provider", choices=["openai", "azure"], default="openai",
                     help="API the jobs live on (default openai)")
    imp.add_argument("--functions", metavar="NAME",
                     help="the variants' functions transform (default: that of the suite's existing "
                          "trial variant, else full)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.trials import by_hyperparameter, row_json, trials_table
    from ..rundir.run import open_run
    if args.targets[0] == "import":
        return run_import(args, args.targets[1:])
    for flag in ("suite", "functions"):
        if getattr(args, flag) is not None:
            raise InputError(None, f"--{flag} only applies to `evalkit trials import`")
    runs = [open_run(Path(t)) for t in args.targets]
    rows = trials_table(runs, args.metric, include_all=args.all)
    if not rows:
        raise InputError(", ".join(args.targets), "no variant with a `trial:` block in these runs "
                         "(add `trial:` to fine-tuned variants, or pass --all)")
    if args.json:
        print(json.dumps({"metric": args.metric, "rows": [row_json(r) for r in rows],
                          "by_hyperparameter": by_hyperparameter(rows)}, indent=2, default=str))
    else:
        print(trials_text(rows))
    return 0


def run_import(args: argparse.Namespace, job_ids: list[str]) -> int:
    from ..finetune.openai_jobs import client_for, read_trials_file
    from ..finetune.trial_variants import import_jobs, trials_file_for

    if not job_ids:
        raise InputError(None, "give at least one fine-tuning job id: evalkit trials import JOB_ID ...")
    if args.json or args.all or args.metric != "accuracy":
        raise InputError(None, "--metric, --all and --json apply to comparing runs, not to `trials import`")
    training_files = {}
    if args.suite and trials_file_for(args.suite).is_file():  # launched by `evalkit finetune`: local paths
        for launch in read_trials_file(trials_file_for(args.suite))["launches"]:
            for job in launch.get("jobs", []):
                training_files[job["id"]] = launch["training_file"]["path"]
    imported = import_jobs(client_for(args.provider), job_ids, suite_path=args.suite,
                           provider=args.provider, functions=args.functions, checkpoints=args.checkpoints,
                           training_files=training_files)
    for job in imported.jobs:
        line = f"{job.id}: {job.status}, {job.base_model} -> {job.fine_tuned_model or 'no model yet'}"
        line += f", {len(job.checkpoints)} checkpoint(s), {len(job.curve.get('step') or [])} metric rows"
        if job.error:
            line += f", error: {job.error}"
        print(line)
    if not imported.variants:
        print("no fine-tuned model or checkpoint to evaluate yet")
        return 0
    if args.suite is None:
        import yaml

        print(yaml.safe_dump({"variants": list(imported.variants)}, sort_keys=False, default_flow_style=None,
                             width=110).rstrip())
        return 0
    for name in imported.added:
        print(f"added variant {name}")
    for name in imported.replaced:
        print(f"replaced variant {name}")
    print(f"next: evalkit run {args.suite} --variant NAME ... (or the whole suite)")
    return 0


def _rate(r: Rate) -> str:
    from ..metricset import count_text
    if r.value is None:
        return "–"
    return f"{100 * r.value:.0f}% ({count_text(r.k)}/{r.n}) [{100 * r.low:.0f}–{100 * r.high:.0f}]"


def _vs_best(row: TrialRow) -> str:
    if row.best:
        return "best"
    if row.vs_best is None:
        return "no shared cases"
    return f"p={row.vs_best.p_value:.2f} {'*' if row.significant else 'ns'}"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def trials_text(rows: list[TrialRow]) -> str:
    metric = rows[0].metric
    params = list(dict.fromkeys(k for r in rows for k in r.hyperparameters))
    headers = ["trial", *params]
    if metric != "accuracy":
        headers.append(metricset.get(metric).label)
    headers += ["accuracy", "refusal acc.", "prompt tok", "cost", "vs best"]
    table = []
    for r in rows:
        cells = [r.label, *(_short(r.hyperparameters[k]) if k in r.hyperparameters else "–" for k in params)]
        if metric != "accuracy":
            cells.append(_rate(r.rate))
        cells += [_rate(r.accuracy), _rate(r.refusal_accuracy),
                  "–" if r.prompt_tokens is None else f"{r.prompt_tokens:.0f}",
                  "–" if r.training_cost is None else f"${r.training_cost:.2f}", _vs_best(r)]
        table.append(cells)
    notes = [f"sorted by {metric}; vs best: exact McNemar on the cases both trials scored, "
             "* significant at 5%, ns not significant (the test set cannot tell them apart)"]
    if any(r.training_cost is not None for r in rows):
        notes.append("cost: trained tokens x training price per 1M tokens (evalkit/prices.yaml)")
    curves = [r for r in rows if r.curve]
    for r in curves:
        notes.append(f"{r.label}: {_curve_line(r.curve)}")
    return render_table(headers, table) + "\n" + "\n".join(notes)


def _curve_line(curve: dict[str, list[list[Any]]]) -> str:
    """A loss curve in one line: first and last point of the training and validation loss."""
    parts = []
    for key in ("train_loss", "valid_loss"):
        points = [p for p in curve.get(key) or [] if isinstance(p, list) and len(p) == 2]
        if points:
            parts.append(f"{key} {points[0][1]:.3f} (step {points[0][0]}) -> {points[-1][1]:.3f} "
                         f"(step {points[-1][0]})")
    return ", ".join(parts) or "no loss values"


__all__ = ["register", "trials_text"]
