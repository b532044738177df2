"""Run every variant over every case: prepare requests once, replay what the response cache holds,
send the rest concurrently (evalkit/run/dispatch.py), score and append results in small batches off
the request path, then summarise and render the report. A run directory can be resumed after a
crash or Ctrl-C (evalkit/run/resume.py); `--batch` sends the requests through the Batch API instead
(evalkit/run/batch.py).

Every planned key (case x variant x repeat) ends as exactly one result line: any response, however
malformed, is an `error` or `invalid_arguments` result (the provider boundary never raises). A
result that cannot be scored or written stops the run loudly (IncompleteRun, exit 4) with every
earlier result kept, so `--resume` finishes it; summary.json states `planned` and `recorded`."""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .. import secrets
from ..analysis.cost import cost_snapshot
from ..analysis.metrics import SummaryRecords
from ..analysis.tokens import request_counter
from ..errors import ConfigError, IncompleteRun, SuiteError
from ..providers import PluginProvider, create_provider
from ..providers.base import ChatRequest, Completion, Provider
from ..providers.ratelimit import RateLimiter
from ..rundir.results import (
    FUNCTIONS,
    SUMMARY,
    Result,
    ResultsWriter,
    expectation_json,
    iter_results,
    read_results,
    write_json,
)
from ..rundir.identity import tools_fingerprint
from ..rundir.lock import writer_lock
from ..scoring import score
from ..suite.model import Suite, VariantSpec
from .cache import ResponseCache, cacheable, endpoint_of, request_key
from .dispatch import Job, Lane, Outcome, dispatch
from .execute import ExecutingProvider, executing_providers
from .prepare import Prepared, prepare
from .progress import Progress
from .resume import (
    RUN,
    RunInterrupted,
    check_identity,
    completed,
    repair_tail,
    results_path,
    run_identity_of,
    run_options_json,
    suite_sha,
)

DEFAULT_CONCURRENCY = 16
FLUSH_INTERVAL = 0.05  # seconds between batched writes: a kill loses at most this much finished work
DEFAULT_MAX_ERROR_RATE = 0.1


@dataclass
class RunOptions:
    out: Path | None = None
    variants: list[str] | None = None
    limit: int | None = None
    concurrency: int | None = None
    repeats: int | None = None
    progress: bool = True
    cache: bool = True  # replay/store temperature-0 responses (evalkit/run/cache.py)
    resume: bool = False  # `out` is an existing run directory to finish
    batch: bool = False  # send through the Batch API (evalkit/run/batch.py)
    cache_path: Path | None = None  # default: evalkit.run.cache.cache_dir()
    recorded: dict[str, Any] = field(default_factory=dict)  # command-line choices a resume repeats (--set, -k)


@dataclass
class RunOutcome:
    run_dir: Path
    summary: dict[str, Any]
    requests: int = 0  # requests sent by this invocation (cache hits and resumed results excluded)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: prepare, requests, finish
    _results: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def results(self) -> list[dict[str, Any]]:
        """Every result record of the run directory, read from results.jsonl on first use."""
        if self._results is None:
            self._results = read_results(self.run_dir)
        return self._results


def functions_sha(tools: tuple[dict, ...]) -> str:
    return hashlib.sha256(json.dumps(tools, sort_keys=True).encode()).hexdigest()[:16]


def select_variants(suite: Suite, names: list[str] | None) -> list[VariantSpec]:
    if not names:
        return list(suite.variants)
    known = {v.name: v for v in suite.variants}
    missing = [n for n in names if n not in known]
    if missing:
        raise SuiteError(suite.path, f"no variant named '{missing[0]}' (variants: {', '.join(known)})",
                         field="variants")
    return [known[n] for n in names]


def default_run_dir(suite: Suite) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in suite.name)
    return Path("results") / f"{safe}-{stamp}"


def token_counter(variant: VariantSpec, provider: Provider) -> Callable[[ChatRequest], dict[str, Any] | None]:
    """Prompt-token accounting hook: the provider's own tokenizer when it declares one (local
    models), else tiktoken with OpenAI's prompt rules (evalkit/analysis/tokens.py)."""
    return request_counter(variant, provider)


def variant_info(variant: VariantSpec, batch: bool = False) -> dict[str, Any]:
    """What the summary says about a variant: never connection secrets."""
    info = {"provider": variant.provider, "model": variant.model, "functions": variant.functions,
            "api": variant.api}
    if variant.adapter:
        info["adapter"] = variant.adapter
    if variant.base_model:  # prices an Azure deployment by the model behind it
        info["base_model"] = variant.base_model
    if variant.tokenizer:  # counts a training file's tokens for the run's cost
        info["tokenizer"] = variant.tokenizer
    if variant.trial:
        info["trial"] = variant.trial
    if batch:
        info["batch"] = True  # cost applies the Batch API discount
    return info


def make_result(p: Prepared, repeat: int, completion: Completion | None, error: str | None,
                latency: float | None, tokens: dict[str, Any] | None, sha: str, string_match: str,
                raw: Any = None) -> Result:
    """`raw`: what a failed call answered (a malformed body, an HTTP error body), kept with the error."""
    verdict = score(p.case.expect, completion, p.full_functions, error=error, string_match=string_match)
    usage = completion.usage if completion else None
    return Result(
        case_id=p.case.id, variant=p.variant.name, repeat=repeat, verdict=verdict.verdict,
        reason=verdict.reason, should_call=not p.case.expect.refuse,
        expected=expectation_json(p.case.expect),
        calls=[{"name": c.name, "arguments": c.arguments, "raw_arguments": c.raw_arguments} for c in verdict.calls],
        content=completion.content if completion else None, messages=list(p.request.messages),
        functions_sha=sha, model=(completion.model if completion and completion.model else p.request.model),
        api=p.request.api,
        usage=None if usage is None else {"prompt_tokens": usage.prompt_tokens,
                                          "completion_tokens": usage.completion_tokens,
                                          "cached_tokens": usage.cached_tokens},
        tokens=tokens, latency_s=latency, error=error, raw=completion.raw if completion else raw,
        tags=list(p.case.tags),
        name_correct=verdict.name_correct,
    )


class RecordingFailed(Exception):
    """A result could not be scored, written or cached: the run must stop (str: what failed)."""


class Recorder:
    """Scores finished outcomes and appends them to results.jsonl in batches; stores new responses
    in the cache after their results are written. Per-request work (token counts, function hashes)
    is memoised per prepared request, so repeats and variants share it.

    A failure here is never swallowed: `flush` writes every result it could score, then raises
    RecordingFailed naming what failed, and refuses to record anything more."""

    def __init__(self, suite: Suite, writer: ResultsWriter, counters: dict[str, Callable],
                 cache: ResponseCache | None, progress: Progress | None, batch: bool = False):
        self.suite, self.writer, self.counters, self.cache, self.progress = suite, writer, counters, cache, progress
        self.batch = batch
        self.pending: list[Outcome] = []
        self.written = 0
        self.failure: str | None = None
        self.errors = 0
        self._tokens: dict[int, dict | None] = {}
        self._shas: dict[int, str] = {}

    def add(self, outcome: Outcome) -> None:
        self.pending.append(outcome)

    def _result(self, o: Outcome) -> Result:
        p = o.job.prepared
        key, tkey = id(p.request), id(p.request.tools)
        if key not in self._tokens:
            self._tokens[key] = self.counters[p.variant.name](p.request)
        if tkey not in self._shas:
            self._shas[tkey] = functions_sha(p.request.tools)
        r = make_result(p, o.job.repeat, o.completion, o.error, o.latency, self._tokens[key], self._shas[tkey],
                        self.suite.spec.string_match, raw=o.raw)
        r.cached, r.batch = o.cached, self.batch
        return r

    def flush(self) -> None:
        if self.failure:
            raise RecordingFailed(self.failure)
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        results, scored = [], []
        for o in batch:
            try:
                results.append(self._result(o))
                scored.append(o)
            except Exception as e:  # evalkit's own bug: say which result, keep the others
                case, variant, repeat = o.job.key
                self.failure = self.failure or (f"cannot score case '{case}' of variant '{variant}' (repeat "
                                                f"{repeat}): {type(e).__name__}: {_one_line(e)}")
        try:
            self.writer.write(results)
        except Exception as e:  # disk full, file gone, an unencodable value
            self.failure = f"cannot write {self.writer.path}: {type(e).__name__}: {_one_line(e)}"
            raise RecordingFailed(self.failure) from None
        self.written += len(results)
        self.errors += sum(r.verdict == "error" for r in results)
        if self.progress:
            for r in results:
                self.progress.advance(r.verdict)
        if self.cache is not None:
            try:
                self.cache.put_many((o.job.cache_key, o.completion, o.latency) for o in scored
                                    if o.job.cache_key and o.completion is not None and not o.cached)
            except Exception as e:
                self.failure = self.failure or (f"cannot store responses in the cache {self.cache.path}: "
                                                f"{type(e).__name__}: {_one_line(e)} (--no-cache runs without it)")
        if self.failure:
            raise RecordingFailed(self.failure)

    async def flush_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.flush()


def _one_line(e: BaseException) -> str:
    text = " ".join(secrets.scrub(str(e)).split())
    return text if len(text) <= 300 else text[:297] + "..."


def plan_jobs(suite: Suite, prepared: list[Prepared], options: RunOptions,
              endpoints: dict[str, str]) -> list[Job]:
    jobs = []
    for p in prepared:
        for r in range(options.repeats or p.variant.repeats or suite.spec.repeats):
            key = request_key(p.request, endpoints[p.variant.name], r) if options.cache and cacheable(p.request) else None
            jobs.append(Job(p, r, key))
    return jobs


def _start_run_dir(run_dir: Path, suite: Suite, variants: list[VariantSpec], cases: list, prepared: list[Prepared],
                   options: RunOptions, identity: dict[str, str]) -> None:
    if results_path(run_dir).exists():
        raise ConfigError(f"{run_dir} already holds results.jsonl: choose another --out, "
                          f"or finish it with --resume {run_dir}")
    write_json(run_dir / RUN, {
        "suite": suite.name, "suite_path": str(Path(suite.path).resolve()), "suite_sha": suite_sha(suite.path),
        "identity": identity,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "variants": {v.name: variant_info(v, options.batch) for v in variants}, "cases": [c.id for c in cases],
        "options": run_options_json([v.name for v in variants], options.limit, options.repeats, options.cache,
                                    options.batch) | options.recorded,
        **cost_snapshot(suite),  # prices and tco: so `evalkit cost`/`report` price the run as it was run
    })
    write_json(run_dir / FUNCTIONS, {functions_sha(p.request.tools): list(p.request.tools) for p in prepared}
               | {"full:" + functions_sha(p.full_functions): list(p.full_functions) for p in prepared})


def run_suite(suite: Suite, options: RunOptions) -> RunOutcome:
    run_dir = options.out or default_run_dir(suite)
    with writer_lock(run_dir):  # one writer per run directory, from the first check to summary.json
        return _run_suite(suite, replace(options, out=run_dir))


def _run_suite(suite: Suite, options: RunOptions) -> RunOutcome:
    t_start = time.perf_counter()
    secrets.register_environment()  # scrubbed from everything this run stores or prints
    variants = select_variants(suite, options.variants)
    cases = list(suite.cases[: options.limit] if options.limit else suite.cases)
    prepared = prepare(suite, variants, cases)
    base_dir = Path(suite.path).parent
    providers = {v.name: create_provider(v, base_dir) for v in variants}  # config errors before any request
    providers = executing_providers(suite, providers)  # `execute: true` runs the tools
    run_dir = options.out
    identity = run_identity_of(suite, variants, prepared)
    if options.resume:
        check_identity(run_dir, suite.path, identity)
        repair_tail(results_path(run_dir))
    else:
        _start_run_dir(run_dir, suite, variants, cases, prepared, options, identity)
    done = completed(results_path(run_dir)) if options.resume else set()
    fingerprint = tools_fingerprint(identity)  # once: it reads every variant's entry
    endpoints = {v.name: endpoint_of(providers[v.name], v, fingerprint) for v in variants}
    planned_jobs = plan_jobs(suite, prepared, options, endpoints)
    planned = Counter(j.prepared.variant.name for j in planned_jobs)
    jobs = [j for j in planned_jobs if j.key not in done]
    cache = ResponseCache(options.cache_path) if options.cache and any(j.cache_key for j in jobs) else None
    counters = {v.name: token_counter(v, providers[v.name]) for v in variants}
    progress = Progress(len(jobs), "running") if options.progress and jobs else None
    writer = ResultsWriter(results_path(run_dir))
    recorder = Recorder(suite, writer, counters, cache, progress, batch=options.batch)
    concurrency = options.concurrency or suite.spec.concurrency or DEFAULT_CONCURRENCY
    sent, handed_off = 0, False
    t_requests = time.perf_counter()
    try:
        hits = cache.get_many(j.cache_key for j in jobs if j.cache_key) if cache else {}
        for job in jobs:
            if job.cache_key in hits:
                completion, latency = hits[job.cache_key]
                recorder.add(Outcome(job, completion, None, latency, cached=True))
        recorder.flush()
        to_send = [j for j in jobs if j.cache_key not in hits]
        sent = len(to_send)
        handed_off = bool(to_send)  # both senders close the providers they were given
        if to_send and options.batch:
            from .batch import run_batches  # only --batch needs it
            run_batches(to_send, providers, recorder, run_dir, {v.name: v for v in variants},
                        quiet=not options.progress)
        elif to_send:
            asyncio.run(_send(to_send, variants, providers, recorder, concurrency))
    except RecordingFailed as e:
        raise IncompleteRun(f"{e}; the run stopped with {len(done) + recorder.written} of {len(planned_jobs)} "
                            f"results recorded in {run_dir}; after fixing it, finish the rest with: "
                            f"evalkit run --resume {run_dir}") from None
    except KeyboardInterrupt:
        try:
            recorder.flush()
        except RecordingFailed:
            pass  # interrupted anyway; what is recorded is counted below
        raise RunInterrupted(run_dir, len(done) + recorder.written, len(done) + len(jobs)) from None
    finally:
        if not handed_off:  # nothing was sent (all replayed or resumed): still release each provider
            asyncio.run(Closer(providers, set()).close_all())
        try:
            writer.close()
        except OSError:
            pass  # the failed write was reported; the lines before it are on disk
        if cache is not None:
            cache.close()
        if progress:
            progress.close()
    t_finish = time.perf_counter()
    # the requests, jobs and their memos are done with: summarising a large run needs the room
    del prepared, planned_jobs, jobs, to_send, hits, recorder, counters, providers, endpoints
    outcome = finish_run(run_dir, [v.name for v in variants], {v.name: variant_info(v, options.batch) for v in variants},
                         planned=dict(planned))
    outcome.requests = sent
    outcome.timings = {"prepare": t_requests - t_start, "requests": t_finish - t_requests,
                       "finish": time.perf_counter() - t_finish}
    return outcome


def _underlying(provider: Any) -> Any:
    """The object a wrapper (the tool loop, a plugin's adapter) closes in its `aclose`: two
    variants whose wrappers share it share connections."""
    while isinstance(provider, (ExecutingProvider, PluginProvider)):
        provider = provider.inner
    return provider


class Closer:
    """Closes each provider as soon as every variant that uses it has finished sending, so a run of
    many variants holds the connections of the variants in progress only. A provider object shared
    by several variants (a plugin returning one client for all) closes after the last of them;
    whatever is still open when the run ends closes then. A failing `aclose` is not the run's
    failure: its results are recorded already."""

    def __init__(self, providers: dict[str, Provider], sending: set[str]):
        self.providers = providers
        self.users: dict[int, set[str]] = {}
        for name, provider in providers.items():
            self.users.setdefault(id(_underlying(provider)), set()).add(name)
        # variants with nothing to send (all cached or resumed) never hold a connection
        self.waiting = {key: names & sending for key, names in self.users.items()}
        self.closed: set[int] = set()

    async def variant_done(self, name: str) -> None:
        key = id(_underlying(self.providers[name]))
        self.waiting[key].discard(name)
        if not self.waiting[key]:
            await self._close(key, self.providers[name])

    async def close_all(self) -> None:
        for provider in self.providers.values():
            await self._close(id(_underlying(provider)), provider)

    async def _close(self, key: int, provider: Provider) -> None:
        if key in self.closed:
            return
        self.closed.add(key)
        try:
            await provider.aclose()
        except Exception:  # noqa: BLE001, S110 - closing is best effort once the results are in
            pass


async def _send(jobs: list[Job], variants: list[VariantSpec], providers: dict[str, Provider], recorder: Recorder,
                concurrency: int) -> None:
    lanes = {v.name: Lane(providers[v.name], v.concurrency or concurrency,
                          RateLimiter(v.requests_per_minute, v.tokens_per_minute),
                          None if providers[v.name].handles_timeout else v.timeout)
             for v in variants}
    closer = Closer(providers, {j.prepared.variant.name for j in jobs})
    flusher = asyncio.create_task(recorder.flush_every(FLUSH_INTERVAL))
    work = asyncio.create_task(dispatch(jobs, lanes, concurrency, recorder.add, closer.variant_done))
    try:
        await asyncio.wait({flusher, work}, return_when=asyncio.FIRST_COMPLETED)
        if flusher.done():  # the recorder failed: stop sending, report it
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            flusher.result()
        await work
    finally:  # also on Ctrl-C (cancellation): keep every finished result
        flusher.cancel()
        work.cancel()
        await asyncio.gather(flusher, work, return_exceptions=True)
        try:
            recorder.flush()
        finally:
            await closer.close_all()


def error_share(summary: dict[str, Any]) -> tuple[int, int]:
    """(errors, results) over all variants of a run."""
    variants = summary.get("variants", {}).values()
    return sum(v.get("errors", 0) for v in variants), sum(v.get("n", 0) for v in variants)


def finish_run(run_dir: Path, order: list[str], info: dict[str, dict[str, Any]],
               planned: dict[str, int] | None = None) -> RunOutcome:
    """results.jsonl -> summary.json (also used to re-summarise a run), in one pass over the file
    that keeps only what the summary reads of each result (analysis.metrics.SummaryRecords); the
    outcome's `results` are read when first asked for (the report). The report is rendered by
    the caller (`evalkit.report.write_report`), which keeps jinja2 off the run's import path.
    With `planned` (results planned per variant), the summary states `planned` and `recorded`
    (distinct keys held) at the top level and per variant."""
    slim = SummaryRecords()
    for record in iter_results(run_dir):
        slim.add(record)
    summary = slim.summarise(info, order)
    if planned is not None:
        keys = set(slim.keys())
        recorded = Counter(variant for variant, _, _ in keys)
        del keys
        for name, metrics in summary.get("variants", {}).items():
            metrics["planned"], metrics["recorded"] = planned.get(name, 0), recorded.get(name, 0)
        summary["planned"] = sum(planned.values())
        summary["recorded"] = sum(recorded[name] for name in planned)
    write_json(run_dir / SUMMARY, summary)
    return RunOutcome(run_dir, summary)


def common_error(results: list[dict[str, Any]]) -> tuple[str, int] | None:
    """The most frequent error reason of a run's results, and how often it occurs."""
    counts = Counter(r.get("error") or r.get("reason") or "" for r in results if r.get("verdict") == "error")
    return counts.most_common(1)[0] if counts else None
