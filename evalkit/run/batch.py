"""`evalkit run --batch`: the same requests through the OpenAI / Azure OpenAI Batch API.

Per variant: write the requests as batch JSONL (custom_id, method, url, body), upload it
(`files.create(purpose="batch")`), create the batch (24 h window), poll it with progress,
download the output and error files, and hand every answer to the runner's recorder, which scores
and appends it like any other result (with `batch: true`, so cost applies the 50% batch price).
The batch id is saved in the run directory first, so `--resume` after a crash polls the same batch
instead of submitting (and paying for) the requests again.

A provider that can do this declares `supports_batch = True` and implements the Batch API members
of `evalkit.providers.base.Provider` (`batch_url`, `submit_batch`, `batch_status`, `file_text`). An
endpoint without the Batch API is a configuration error (one line, exit 2); a submission that
fails otherwise records an `error` result for each of its requests.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .. import jsontext
from ..errors import ConfigError, ProviderError
from ..providers.base import Provider
from ..providers.openai_compat import request_params, to_completion
from ..rundir.results import read_json, write_json
from .dispatch import Job, Outcome

BATCHES = "batches.json"
TERMINAL = {"completed", "failed", "expired", "cancelled"}


def poll_interval() -> float:
    return float(os.environ.get("EVALKIT_BATCH_POLL_S", "15"))


def batch_lines(jobs: list[Job], url: str) -> list[dict[str, Any]]:
    """One JSONL object per request; custom_id is the result key, so answers map back exactly."""
    return [{"custom_id": custom_id(j), "method": "POST", "url": url, "body": request_params(j.prepared.request)}
            for j in jobs]


def custom_id(job: Job) -> str:
    case, variant, repeat = job.key
    return json.dumps([case, variant, repeat], ensure_ascii=False, separators=(",", ":"))


def outcomes_from_files(jobs: list[Job], output: str, errors: str, status: str) -> list[Outcome]:
    """Output and error file lines -> one Outcome per job; a job with no line becomes an error."""
    by_id = {custom_id(j): j for j in jobs}
    seen: dict[str, Outcome] = {}
    for line in (output + "\n" + errors).splitlines():
        if not line.strip():
            continue
        try:
            rec = jsontext.loads_body(line)
        except (ValueError, RecursionError):
            continue  # an unreadable line: its request ends up "no answer" below
        if not isinstance(rec, dict) or not isinstance(rec.get("custom_id"), str):
            continue
        job = by_id.get(rec["custom_id"])
        if job is None or rec["custom_id"] in seen:
            continue
        response = rec.get("response") if isinstance(rec.get("response"), dict) else {}
        body = response.get("body") or {}
        raw = None
        if response.get("status_code") == 200 and not rec.get("error"):
            try:
                seen[rec["custom_id"]] = Outcome(job, to_completion(body), None, None)
                continue
            except ProviderError as e:
                message, raw = str(e), e.raw
        else:
            err = rec.get("error") or (body.get("error") if isinstance(body, dict) else None) or {}
            said = err.get("message", err) if isinstance(err, dict) else err
            message = f"batch: HTTP {response.get('status_code', '?')}: {' '.join(str(said or 'failed').split())}"
        seen[rec["custom_id"]] = Outcome(job, None, message, None, raw=raw)
    return [seen.get(custom_id(j)) or Outcome(j, None, f"batch {status} before this request ran", None) for j in jobs]


def _provider(name: str, provider: Provider) -> Provider:
    if not provider.supports_batch:
        raise ConfigError(f"variant '{name}': --batch needs a provider that speaks the Batch API, such as "
                          "openai or azure (and a suite without `execute: true`)")
    return provider


async def _submit(name: str, provider: Provider, jobs: list[Job]) -> dict[str, Any]:
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n"
                   for line in batch_lines(jobs, provider.batch_url)).encode()
    return {**await provider.submit_batch(name, data), "keys": [custom_id(j) for j in jobs]}


async def _wait(name: str, provider: Provider, batch_id: str, quiet: bool) -> dict[str, Any]:
    while True:
        b = await provider.batch_status(batch_id)
        if not quiet:
            done = f" {b['done']}/{b['total']}" if b["total"] is not None else ""
            print(f"batch {name}: {b['status']}{done}", file=sys.stderr, flush=True)
        if b["status"] in TERMINAL:
            return b
        await asyncio.sleep(poll_interval())


async def _answers(name: str, provider: Provider, jobs: list[Job], run_dir: Path, quiet: bool) -> list[Outcome]:
    state_path = run_dir / BATCHES
    state = read_json(state_path, "batches.json") if state_path.exists() else {}
    keys = [custom_id(j) for j in jobs]
    entry = state.get(name)
    if not entry or set(keys) - set(entry.get("keys", [])):
        entry = await _submit(name, provider, jobs)
        # Re-read: the variants submit concurrently, and another one's batch id may have been
        # saved while this one was uploading; writing the stale copy would drop it.
        state = read_json(state_path, "batches.json") if state_path.exists() else {}
        state[name] = entry
        write_json(state_path, state)  # before waiting: a crash resumes this batch, not a new one
    b = await _wait(name, provider, entry["batch_id"], quiet)
    if b["status"] == "failed":
        return [Outcome(j, None, f"batch failed: {b['errors'] or 'no reason given'}", None) for j in jobs]
    output = await provider.file_text(b["output_file_id"])
    errors = await provider.file_text(b["error_file_id"])
    return outcomes_from_files(jobs, output, errors, b["status"])


async def _one_variant(name: str, provider: Provider, jobs: list[Job], run_dir: Path, recorder: Any,
                       quiet: bool) -> None:
    try:
        outcomes = await _answers(name, provider, jobs, run_dir, quiet)
    except ProviderError as e:  # the endpoint failed the batch itself: each request gets the reason
        outcomes = [Outcome(j, None, str(e), None) for j in jobs]
    except ConfigError as e:
        raise ConfigError(f"variant '{name}': {e}") from None
    for o in outcomes:
        recorder.add(o)
    recorder.flush()


def run_batches(jobs: list[Job], providers: dict[str, Provider], recorder: Any, run_dir: Path,
                variants: dict[str, Any], quiet: bool = False) -> None:
    by_variant: dict[str, list[Job]] = {}
    for j in jobs:
        by_variant.setdefault(j.prepared.variant.name, []).append(j)
    chosen = {name: _provider(name, providers[name]) for name in by_variant}

    async def main() -> None:
        try:
            await asyncio.gather(*(_one_variant(name, chosen[name], vjobs, run_dir, recorder, quiet)
                                   for name, vjobs in by_variant.items()))
        finally:
            for provider in providers.values():
                await provider.aclose()

    start = time.monotonic()
    asyncio.run(main())
    if not quiet:
        print(f"batch: {len(jobs)} requests answered in {time.monotonic() - start:.0f} s", file=sys.stderr)
