"""The request loop: bounded concurrency per variant and per run, rate limits, per-request timeouts.

Only requests happen here. Each finished call is handed to `on_done` as a raw `Outcome`; scoring,
writing and caching happen in batches elsewhere (runner.Recorder), so evalkit's own per-case work
never delays the next request. Providers are always called concurrently, which is what the local
model's micro-batching relies on.

Every job yields exactly one Outcome: whatever a provider raises (its ProviderError, a timeout, or
a bug in a plugin) becomes an error outcome with a one-line reason, never an exception that would
take the other requests down with it.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .. import secrets
from ..errors import ProviderError
from ..providers.base import Completion, Provider
from ..providers.ratelimit import RateLimiter
from .prepare import Prepared


@dataclass(frozen=True)
class Job:
    prepared: Prepared
    repeat: int
    cache_key: str | None = None  # None: not cacheable (temperature > 0, or --no-cache)

    @property
    def key(self) -> tuple[str, str, int]:
        return self.prepared.case.id, self.prepared.variant.name, self.repeat


@dataclass(frozen=True)
class Outcome:
    job: Job
    completion: Completion | None
    error: str | None
    latency: float | None
    cached: bool = False
    raw: Any = None  # what a failed provider call answered, if anything (kept with the error)


@dataclass
class Lane:
    """One variant's way out: its provider, its own concurrency cap and rate limiter."""

    provider: Provider
    concurrency: int
    limiter: RateLimiter
    timeout: float | None = None  # applied here only for providers without their own timeout


def estimated_tokens(p: Prepared) -> int:
    """Rough request size for tokens-per-minute limits: ~4 characters per token plus the reply cap."""
    text = json.dumps(p.request.messages) + (json.dumps(p.request.tools) if p.request.tools else "")
    return len(text) // 4 + (p.request.max_tokens or 0)


async def call(lane: Lane, job: Job) -> Outcome:
    request = job.prepared.request
    if lane.limiter.active:
        await lane.limiter.acquire(estimated_tokens(job.prepared) if lane.limiter.tpm else 0)
    start = time.perf_counter()
    try:
        if lane.timeout:
            async with asyncio.timeout(lane.timeout):
                completion = await lane.provider.complete(request)
        else:
            completion = await lane.provider.complete(request)
    except ProviderError as e:
        return Outcome(job, None, _one_line(str(e) or type(e).__name__), time.perf_counter() - start,
                       raw=e.raw)
    except TimeoutError as e:
        reason = f"timed out after {lane.timeout:g} s" if lane.timeout else f"provider failed: TimeoutError: {e}"
        return Outcome(job, None, _one_line(reason), time.perf_counter() - start)
    except Exception as e:  # a provider's own bug: this request's error, not the run's end
        return Outcome(job, None, _one_line(f"provider failed: {type(e).__name__}: {e}"),
                       time.perf_counter() - start)
    if not isinstance(completion, Completion):
        return Outcome(job, None, f"provider returned {type(completion).__name__}, not a Completion",
                       time.perf_counter() - start)
    own = completion.latency_s
    return Outcome(job, completion, None, own if own is not None else time.perf_counter() - start)


def _one_line(text: str) -> str:
    text = " ".join(secrets.scrub(text).split())
    return text if len(text) <= 300 else text[:297] + "..."


# Variants past the first start only while the workers of the variants in progress stay within
# this many per unit of run concurrency: each open variant may hold a connection per worker until
# it finishes, so ten thousand variants must not all be open at once (one socket each, EMFILE).
OPEN_WORKERS_PER_SLOT = 4


async def dispatch(jobs: list[Job], lanes: dict[str, Lane], concurrency: int,
                   on_done: Callable[[Outcome], None],
                   on_variant_done: Callable[[str], Awaitable[None]] | None = None) -> None:
    """Run every job once. Each variant gets its own workers (its `concurrency`, else the run's);
    a run-wide semaphore keeps the total in flight at `concurrency`. Variants start in order while
    the workers of those in progress number at most OPEN_WORKERS_PER_SLOT x `concurrency` (the
    first always starts); `on_variant_done(name)` is awaited once a variant's last outcome has
    been handed to `on_done`, before the next variant waiting for room starts."""
    gate = asyncio.Semaphore(concurrency)
    by_variant: dict[str, list[Job]] = {}
    for job in jobs:
        by_variant.setdefault(job.prepared.variant.name, []).append(job)
    budget = OPEN_WORKERS_PER_SLOT * concurrency
    room = asyncio.Event()  # set whenever a variant finishes; only the loop below waits on it
    open_workers = 0

    async def worker(lane: Lane, queue) -> None:  # noqa: ANN001 - a shared iterator
        for job in queue:
            async with gate:
                outcome = await call(lane, job)
            on_done(outcome)

    async def run_variant(name: str, lane: Lane, vjobs: list[Job], n: int) -> None:
        nonlocal open_workers
        try:
            queue = iter(vjobs)
            await asyncio.gather(*(worker(lane, queue) for _ in range(n)))
            if on_variant_done is not None:
                await on_variant_done(name)
        finally:
            open_workers -= n
            room.set()

    async with asyncio.TaskGroup() as group:
        for name, vjobs in by_variant.items():
            lane = lanes[name]
            n = min(lane.concurrency, concurrency, len(vjobs))
            while open_workers and open_workers + n > budget:
                room.clear()
                await room.wait()
            open_workers += n
            group.create_task(run_variant(name, lane, vjobs, n))
