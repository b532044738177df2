"""Hosted fine-tuning (OpenAI and Azure OpenAI) through openai-python: read jobs back as trials,
launch a hyperparameter grid, wait for it.

Reading a job: `fine_tuning.jobs.retrieve`, its events (`jobs.list_events`), its checkpoints
(`jobs.checkpoints.list`) and the result file (`files.content`: a CSV of step, train/valid loss and
token accuracy, which the API may return base64-encoded). A job becomes a variant whose `trial:`
block holds its hyperparameters, trained tokens, final losses and a downsampled loss curve (plain
lists the report can plot). Launching: one `files.create(purpose="fine-tune")` per file, then one
`fine_tuning.jobs.create` per grid point with `method: {type: supervised, ...}`; the job ids go to
a trials file (JSON) that `--wait` and later imports read. Turning jobs into suite variants is
evalkit.finetune.trial_variants.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import hashlib
import io
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence

import openai

from ..errors import EvalkitError, InputError
from ..providers.openai_compat import make_client
from ..suite.model import VariantSpec

HYPERPARAMETERS = ("n_epochs", "learning_rate_multiplier", "batch_size")
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
MAX_EVENTS = 10_000
CURVE_POINTS = 50  # enough to see a loss curve's shape; keeps the suite YAML readable


class FineTuningError(EvalkitError):
    """The fine-tuning API refused a request or returned something unusable."""


# ---- a job, read back ----------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    step: int
    model: str
    metrics: dict[str, Any]


@dataclass(frozen=True)
class Job:
    id: str
    status: str
    base_model: str
    fine_tuned_model: str | None
    hyperparameters: dict[str, Any]
    trained_tokens: int | None
    training_file: str | None
    validation_file: str | None
    seed: int | None
    error: str | None = None
    checkpoints: tuple[Checkpoint, ...] = ()
    curve: dict[str, list[Any]] = field(default_factory=dict)  # full result-file columns
    last_event: str | None = None


def client_for(provider: str = "openai", **connection: Any) -> openai.AsyncOpenAI:
    """The same connection rules as `evalkit run` (environment unless given)."""
    return make_client(VariantSpec(name=f"{provider} fine-tuning", provider=provider,
                                   **{k: v for k, v in connection.items() if v is not None}))


def _number(text: str) -> Any:
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text.strip()
    return int(value) if value.is_integer() and "." not in text else value


def parse_result_file(raw: bytes | str) -> dict[str, list[Any]]:
    """The result CSV (plain or base64-encoded) as columns: {"step": [...], "train_loss": [...], ...}."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = text.strip()
    if not text.startswith("step"):
        try:
            text = base64.b64decode(text, validate=False).decode("utf-8").strip()
        except (binascii.Error, UnicodeDecodeError):
            raise FineTuningError("the result file is neither CSV nor base64-encoded CSV") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "step" not in rows[0]:
        raise FineTuningError("the result file has no `step` column")
    return {col: [_number(r.get(col) or "") for r in rows] for col in rows[0]}


def curve_from_events(events: Iterable[Any]) -> dict[str, list[Any]]:
    """Fallback when there is no result file: the `metrics` events' data, in step order."""
    points = sorted((e.data for e in events if getattr(e, "type", None) == "metrics" and isinstance(e.data, dict)
                     and "step" in e.data), key=lambda d: d["step"])
    cols = list(dict.fromkeys(k for d in points for k in d if k != "total_steps"))
    return {c: [d.get(c) for d in points] for c in cols}


def downsample(curve: Mapping[str, list[Any]], max_points: int = CURVE_POINTS,
               until_step: int | None = None) -> dict[str, list[list[Any]]]:
    """Chart data: per metric column, its [step, value] points (missing values skipped, so a
    validation loss measured every 10 steps keeps its own points), at most `max_points` evenly
    spaced ones with the first and last kept, rounded to 4 places."""
    steps = list(curve.get("step") or [])
    out = {}
    for col, values in curve.items():
        if col == "step":
            continue
        points = [[s, round(v, 4) if isinstance(v, float) else v] for s, v in zip(steps, values)
                  if v is not None and s is not None and (until_step is None or s <= until_step)]
        if len(points) > max_points:
            points = [points[i] for i in sorted({round(j * (len(points) - 1) / (max_points - 1))
                                                 for j in range(max_points)})]
        if points:
            out[col] = points
    return out


def _hyperparameters(job: Any) -> dict[str, Any]:
    """The resolved values (the API replaces "auto" once the job starts); method first."""
    method = getattr(job, "method", None)
    source = getattr(getattr(method, "supervised", None), "hyperparameters", None) or job.hyperparameters
    values = source.model_dump() if hasattr(source, "model_dump") else dict(source or {})
    return {k: values[k] for k in HYPERPARAMETERS if values.get(k) not in (None, "auto")}


async def read_job(client: openai.AsyncOpenAI, job_id: str, *, events: bool = True) -> Job:
    try:
        job = await client.fine_tuning.jobs.retrieve(job_id)
        found = []
        if events:  # newest first; enough for the last message and a fallback curve
            async for event in client.fine_tuning.jobs.list_events(job_id, limit=100):
                found.append(event)
                if len(found) >= MAX_EVENTS:
                    break
        checkpoints = [c async for c in client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)]
        curve: dict[str, list[Any]] = {}
        for file_id in job.result_files or []:
            content = await client.files.content(file_id)
            curve = parse_result_file(content.content)
    except openai.NotFoundError:
        raise FineTuningError(f"fine-tuning job '{job_id}' not found") from None
    except openai.APIError as e:
        raise FineTuningError(f"reading fine-tuning job '{job_id}' failed: {e.message}") from None
    error = getattr(job.error, "message", None) if job.error else None
    return Job(id=job.id, status=job.status, base_model=job.model, fine_tuned_model=job.fine_tuned_model,
               hyperparameters=_hyperparameters(job), trained_tokens=job.trained_tokens,
               training_file=job.training_file, validation_file=job.validation_file, seed=job.seed,
               error=error, last_event=found[0].message if found else None,
               checkpoints=tuple(sorted((Checkpoint(c.step_number, c.fine_tuned_model_checkpoint,
                                                    c.metrics.model_dump(exclude_none=True) if c.metrics else {})
                                         for c in checkpoints), key=lambda c: c.step)),
               curve=curve or curve_from_events(found))


# ---- launching a grid ----------------------------------------------------------------------

def parse_grid(items: Sequence[str]) -> list[dict[str, Any]]:
    """["n_epochs=2,3", "learning_rate_multiplier=0.5,1"] -> the 4 combinations."""
    axes: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise InputError(None, f"expected KEY=V1,V2,... (got {item!r})", field="--grid")
        if key not in HYPERPARAMETERS:
            raise InputError(None, f"unknown hyperparameter '{key}' (known: {', '.join(HYPERPARAMETERS)})",
                             field="--grid")
        parsed = []
        for v in values.split(","):
            value = v.strip() if v.strip() == "auto" else _number(v)
            if value != "auto" and not (isinstance(value, (int, float)) and value > 0) or \
                    (key != "learning_rate_multiplier" and isinstance(value, float)):
                raise InputError(None, f"{key}: {v!r} is not a valid value (a positive "
                                 f"{'number' if key == 'learning_rate_multiplier' else 'integer'} or auto)",
                                 field="--grid")
            parsed.append(value)
        axes[key] = parsed
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes.values())] or [{}]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


async def upload(client: openai.AsyncOpenAI, path: Path) -> str:
    try:
        created = await client.files.create(file=(Path(path).name, Path(path).read_bytes()), purpose="fine-tune")
    except openai.APIError as e:
        raise FineTuningError(f"uploading {path} failed: {e.message}") from None
    return created.id


async def launch(client: openai.AsyncOpenAI, model: str, train: Path, validation: Path | None,
                 grid: Sequence[Mapping[str, Any]], *, suffix: str | None = None,
                 seed: int | None = None) -> dict[str, Any]:
    """Upload the files once, create one supervised job per grid point; returns the trials record."""
    train_id = await upload(client, train)
    valid_id = await upload(client, validation) if validation else None
    jobs = []
    for point in grid:
        params: dict[str, Any] = {"model": model, "training_file": train_id,
                                  "method": {"type": "supervised", "supervised": {"hyperparameters": dict(point)}}}
        if valid_id:
            params["validation_file"] = valid_id
        if suffix:
            params["suffix"] = suffix
        if seed is not None:
            params["seed"] = seed
        try:
            job = await client.fine_tuning.jobs.create(**params)
        except openai.APIError as e:
            raise FineTuningError(f"creating the job for {dict(point)} failed: {e.message} "
                                  f"(jobs created so far: {', '.join(j['id'] for j in jobs) or 'none'})") from None
        jobs.append({"id": job.id, "hyperparameters": dict(point), "status": job.status})
    return {"model": model,
            "training_file": {"path": str(train), "id": train_id, "sha256": sha256(train)},
            "validation_file": {"path": str(validation), "id": valid_id, "sha256": sha256(validation)}
            if validation else None,
            "suffix": suffix, "seed": seed, "created": int(time.time()), "jobs": jobs}


def append_trials_file(path: Path, record: Mapping[str, Any]) -> None:
    """The trials file keeps every launch: {"launches": [record, ...]}."""
    data = read_trials_file(path) if path.is_file() else {"launches": []}
    data["launches"].append(dict(record))
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_trials_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(path), "trials file not found") from None
    except json.JSONDecodeError as e:
        raise InputError(str(path), f"corrupt trials file ({e.msg})", line=e.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("launches"), list):
        raise InputError(str(path), "not an evalkit trials file (expected {\"launches\": [...]})")
    return data


async def wait(client: openai.AsyncOpenAI, job_ids: Sequence[str], *, poll: float = 30.0,
               timeout: float | None = None, report: Callable[[str], None] = lambda s: None,
               sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> dict[str, str]:
    """Poll until every job is succeeded, failed or cancelled; returns id -> final status."""
    status: dict[str, str] = {}
    started = time.monotonic()
    while True:
        for job_id in job_ids:
            if status.get(job_id) in TERMINAL:
                continue
            try:
                job = await client.fine_tuning.jobs.retrieve(job_id)
            except openai.APIError as e:
                raise FineTuningError(f"polling job '{job_id}' failed: {e.message}") from None
            if job.status != status.get(job_id):
                report(f"{job_id}: {job.status}" + (f" ({job.fine_tuned_model})" if job.fine_tuned_model else ""))
            status[job_id] = job.status
        if all(s in TERMINAL for s in status.values()):
            return status
        if timeout is not None and time.monotonic() - started > timeout:
            raise FineTuningError(f"jobs still running after {timeout:.0f}s: "
                                  + ", ".join(j for j, s in status.items() if s not in TERMINAL)
                                  + " (import them later with `evalkit trials import`)")
        await sleep(poll)


__all__ = ["Checkpoint", "FineTuningError", "Job", "append_trials_file", "client_for", "downsample", "launch",
           "parse_grid", "parse_result_file", "read_job", "read_trials_file", "wait"]
