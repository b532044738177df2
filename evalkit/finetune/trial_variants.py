"""Fine-tuning jobs as suite variants: a job (or checkpoint) becomes a variant with a `trial:`
block, and variants are written into a suite YAML file in place: appended to (or replacing
same-named items of) the `variants:` list as text, so the rest of the file, comments included,
stays as the user wrote it. The result is loaded again before it replaces the file."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import openai
import yaml

from ..errors import InputError, SuiteError
from ..providers import provider_traits
from ..suite import load_suite
from ..suite.model import VariantSpec
from .openai_jobs import (
    Checkpoint,
    Job,
    append_trials_file,
    downsample,
    launch,
    read_job,
    wait,
)


def _leaves_end(node: yaml.Node) -> yaml.Mark:
    """Where a node's content really ends (a block collection's own end mark lies at the next
    token, after any trailing comments and blank lines)."""
    if isinstance(node, yaml.MappingNode):
        return _leaves_end(node.value[-1][1]) if node.value else node.end_mark
    if isinstance(node, yaml.SequenceNode) and node.flow_style is False and node.value:
        return _leaves_end(node.value[-1])
    return node.end_mark


def _last_line(node: yaml.Node) -> int:
    """0-based index of the last line holding the node's content."""
    end = _leaves_end(node)
    return end.line - 1 if end.column == 0 else end.line


def render_variant(variant: Mapping[str, Any], indent: int) -> list[str]:
    text = yaml.safe_dump([dict(variant)], sort_keys=False, default_flow_style=None, width=110,
                          allow_unicode=True)
    return [" " * indent + line for line in text.splitlines()]


def add_variants(path: Path, variants: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """Append `variants` to the suite's list, replacing items with the same name.
    Returns (added names, replaced names)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    seq = None
    if isinstance(root, yaml.MappingNode):
        seq = next((v for k, v in root.value if k.value == "variants"), None)
    if not isinstance(seq, yaml.SequenceNode) or seq.flow_style or not seq.value:
        raise SuiteError(str(path), "cannot add variants: expected a non-empty block list under `variants:`",
                         field="variants")
    lines = text.splitlines()
    first = lines[seq.value[0].start_mark.line]
    indent = len(first) - len(first.lstrip(" "))
    spans = {}
    for i, item in enumerate(seq.value):
        name = next((v.value for k, v in item.value if k.value == "name"), None) \
            if isinstance(item, yaml.MappingNode) else None
        spans[name] = (item.start_mark.line, _last_line(item))
    added, replaced = [], []
    insert_at = _last_line(seq.value[-1]) + 1
    appended: list[str] = []
    # Replace from the bottom up so earlier spans keep their line numbers.
    replacements = []
    for v in variants:
        rendered = render_variant(v, indent)
        if v["name"] in spans:
            replacements.append((spans[v["name"]], rendered))
            replaced.append(v["name"])
        else:
            appended += rendered
            added.append(v["name"])
    lines[insert_at:insert_at] = appended
    for (start, end), rendered in sorted(replacements, reverse=True):
        lines[start:end + 1] = rendered
    tmp = path.with_name(path.name + ".new.yaml")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_suite(tmp)
    except SuiteError as e:
        tmp.unlink()
        raise SuiteError(str(path), f"the suite would not load with the new variants: {e.message}",
                         field=e.field) from None
    tmp.replace(path)
    return added, replaced


# ---- jobs -> variants ----------------------------------------------------------------------

def _final(curve: Mapping[str, list[list[Any]]], column: str) -> Any:
    points = curve.get(column) or []
    return points[-1][1] if points else None


def trial_block(job: Job, checkpoint: Checkpoint | None = None, training_file: str | None = None) -> dict[str, Any]:
    """A job (or one of its checkpoints) as `trial:` metadata."""
    trial: dict[str, Any] = {"base_model": job.base_model, "training_file": training_file or job.training_file}
    trial.update(job.hyperparameters)
    if job.seed is not None:
        trial["seed"] = job.seed
    if checkpoint is not None:
        trial["checkpoint_step"] = checkpoint.step
    if job.trained_tokens:
        trial["trained_tokens"] = job.trained_tokens
    trial["job_id"] = job.id
    if job.validation_file:
        trial["validation_file"] = job.validation_file
    curve = downsample(job.curve, until_step=checkpoint.step if checkpoint else None)
    for column in ("train_loss", "valid_loss", "full_valid_loss"):
        value = (checkpoint.metrics.get(column) if checkpoint else None) or _final(curve, column)
        if value is not None:
            trial[f"final_{column}"] = round(value, 4)
    if curve:
        trial["train_curve"] = curve
    return trial


def variant_name(job: Job, checkpoint: Checkpoint | None = None) -> str:
    hp = job.hyperparameters
    parts = ["ft"] + [f"{tag}{hp[k]:g}" if isinstance(hp.get(k), float) else f"{tag}{hp[k]}"
                      for k, tag in (("n_epochs", "e"), ("learning_rate_multiplier", "lr"), ("batch_size", "b"))
                      if k in hp]
    name = "-".join(parts + [job.id.split("-")[-1][-6:]])
    return f"{name}@{checkpoint.step}" if checkpoint else name


def job_variants(job: Job, template: Mapping[str, Any], *, checkpoints: bool = False,
                 training_file: str | None = None) -> list[dict[str, Any]]:
    """Variants for a job: its final model (when it has one) and, if asked, each checkpoint
    (except the one the final model is). `template` gives provider, functions and connection."""
    out = []
    last = job.checkpoints[-1].step if job.checkpoints else None
    points: list[Checkpoint | None] = [c for c in job.checkpoints if checkpoints and
                                       (c.step != last or not job.fine_tuned_model)]
    if job.fine_tuned_model:
        points.append(None)
    for cp in points:
        out.append({"name": variant_name(job, cp), **template,
                    "model": cp.model if cp else job.fine_tuned_model, "base_model": job.base_model,
                    "trial": trial_block(job, cp, training_file)})
    return out


TEMPLATE_KEYS = ("provider", "functions", "api", "base_url", "api_key_env", "azure_endpoint", "api_version")


def variant_template(suite_variants: Sequence[VariantSpec], provider: str | None,
                     functions: str | None) -> dict[str, Any]:
    """Settings new trial variants share: those of the suite's first trial variant (the previous
    trials), overridden by the flags."""
    previous = next((v for v in suite_variants if v.trial is not None), None)
    base = {k: getattr(previous, k) for k in TEMPLATE_KEYS if previous is not None
            and getattr(previous, k) != VariantSpec.model_fields[k].default}
    if provider and provider != base.get("provider", "openai"):
        base = {"provider": provider, **({"functions": base["functions"]} if "functions" in base else {})}
    base.setdefault("provider", provider or "openai")
    if functions:
        base["functions"] = functions
    return {k: base[k] for k in TEMPLATE_KEYS if k in base}


# ---- whole flows (the CLI calls these) -----------------------------------------------------

@dataclass(frozen=True)
class Imported:
    jobs: tuple[Job, ...]
    variants: tuple[dict[str, Any], ...]
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()


def import_jobs(client: openai.AsyncOpenAI, job_ids: Sequence[str], *, suite_path: Path | None = None,
                provider: str | None = None, functions: str | None = None, checkpoints: bool = False,
                training_files: Mapping[str, str] | None = None) -> Imported:
    """Read the jobs and turn them into variants; with `suite_path`, write them into the suite."""
    suite_variants = load_suite(suite_path).variants if suite_path else ()
    template = variant_template(suite_variants, provider, functions)

    async def read_all() -> list[Job]:
        try:
            return [await read_job(client, j) for j in job_ids]
        finally:
            await client.close()

    jobs = asyncio.run(read_all())
    variants = [v for job in jobs for v in job_variants(job, template, checkpoints=checkpoints,
                                                         training_file=(training_files or {}).get(job.id))]
    if suite_path is None or not variants:
        return Imported(tuple(jobs), tuple(variants))
    added, replaced = add_variants(suite_path, variants)
    return Imported(tuple(jobs), tuple(variants), tuple(added), tuple(replaced))


def trials_file_for(suite_path: Path) -> Path:
    return Path(suite_path).with_name(Path(suite_path).stem + ".trials.json")


def relative_to_suite(path: Path, suite_path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(suite_path).resolve().parent))
    except ValueError:
        return str(path)


def default_base_model(variants: Sequence[VariantSpec]) -> str | None:
    """The model to fine-tune when none is given: a trial's `base_model`, else the first
    hosted variant that is not itself fine-tuned."""
    for v in variants:
        if v.trial and v.trial.get("base_model"):
            return str(v.trial["base_model"])
    for v in variants:
        if provider_traits(v.provider).fine_tuning_api and v.model and not v.model.startswith("ft:"):
            return v.base_model or v.model
    return None


def finetune_grid(connect: Callable[[], openai.AsyncOpenAI], suite_path: Path, train: Path,
                  validation: Path | None, grid: Sequence[Mapping[str, Any]], *, model: str | None = None,
                  suffix: str | None = None, seed: int | None = None, wait_for_jobs: bool = False,
                  poll: float = 30.0, timeout: float | None = None, provider: str | None = None,
                  functions: str | None = None, checkpoints: bool = False,
                  report: Callable[[str], None] = lambda s: None) -> tuple[Path, dict[str, Any], Imported | None]:
    """Launch one hosted job per grid point, record them in the suite's trials file and, with
    `wait_for_jobs`, wait and add the fine-tuned models to the suite as trial variants."""
    suite = load_suite(suite_path)
    model = model or default_base_model(suite.variants)
    if not model:
        raise InputError(None, "no base model to fine-tune in the suite: give --model", field="--model")
    trials_file = trials_file_for(suite_path)

    async def start() -> tuple[dict[str, Any], dict[str, str] | None]:
        client = connect()
        try:
            record = await launch(client, model, train, validation, grid, suffix=suffix, seed=seed)
            for key, path in (("training_file", train), ("validation_file", validation)):
                if path is not None:
                    record[key]["path"] = relative_to_suite(path, suite_path)
            append_trials_file(trials_file, record)  # before waiting: an interrupted wait keeps the ids
            for job in record["jobs"]:
                report(f"{job['id']}: {job['status']} {job['hyperparameters']}")
            if not wait_for_jobs:
                return record, None
            return record, await wait(client, [j["id"] for j in record["jobs"]], poll=poll, timeout=timeout,
                                      report=report)
        finally:
            await client.close()

    record, status = asyncio.run(start())
    if status is None:
        return trials_file, record, None
    done = [job_id for job_id, s in status.items() if s == "succeeded"]
    if not done:
        return trials_file, record, Imported((), ())
    files = {job_id: record["training_file"]["path"] for job_id in done}
    return trials_file, record, import_jobs(connect(), done, suite_path=suite_path, provider=provider,
                                            functions=functions, checkpoints=checkpoints, training_files=files)
