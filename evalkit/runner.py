"""Run every variant over every case: prepare requests, call providers concurrently, score each
response as it arrives, append it to results.jsonl, then summarise and render the report."""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError, ProviderError, SuiteError
from .metrics import summarise
from .prepare import Prepared, prepare
from .progress import Progress
from .providers import create_provider
from .providers.base import ChatRequest, Completion, Provider
from .results import FUNCTIONS, REPORT, SUMMARY, Result, ResultsWriter, expectation_json, read_results, write_json
from .scoring import decide
from .suite.model import Suite, VariantSpec
from .tokens import request_counter

DEFAULT_CONCURRENCY = 16


@dataclass
class RunOptions:
    out: Path | None = None
    variants: list[str] | None = None
    limit: int | None = None
    concurrency: int | None = None
    repeats: int | None = None
    progress: bool = True


@dataclass
class RunOutcome:
    run_dir: Path
    summary: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)


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
    """Prompt-token accounting hook: the provider's own tokenizer when it has one (local models)."""
    own = getattr(provider, "count_prompt_tokens", None)
    if own is not None:
        return lambda request: {"prompt": own(request), "functions": None, "counter": "model"}
    return request_counter(variant)  # tiktoken + OpenAI's prompt rules (evalkit/tokens.py)


def variant_info(variant: VariantSpec) -> dict[str, Any]:
    """What the summary says about a variant: never connection secrets."""
    info = {"provider": variant.provider, "model": variant.model, "functions": variant.functions,
            "api": variant.api}
    if variant.adapter:
        info["adapter"] = variant.adapter
    if variant.trial:
        info["trial"] = variant.trial
    return info


def make_result(p: Prepared, repeat: int, completion: Completion | None, error: str | None,
                latency: float | None, tokens: dict[str, Any] | None, sha: str, string_match: str) -> Result:
    verdict = decide(p.case.expect, completion, p.full_functions, error=error, string_match=string_match)
    expected_names = sorted(c.name for c in p.case.expect.calls)
    got_names = sorted(c.name for c in verdict.calls)
    usage = completion.usage if completion else None
    return Result(
        case_id=p.case.id, variant=p.variant.name, repeat=repeat, verdict=verdict.verdict,
        reason=verdict.reason, should_call=not p.case.expect.refuse,
        expected=expectation_json(p.case.expect),
        calls=[{"name": c.name, "arguments": c.arguments, "raw_arguments": c.raw_arguments} for c in verdict.calls],
        content=completion.content if completion else None, messages=list(p.request.messages),
        functions_sha=sha, model=p.request.model, api=p.request.api,
        usage=None if usage is None else {"prompt_tokens": usage.prompt_tokens,
                                          "completion_tokens": usage.completion_tokens,
                                          "cached_tokens": usage.cached_tokens},
        tokens=tokens, latency_s=latency, error=error, raw=completion.raw if completion else None,
        tags=list(p.case.tags),
        name_correct=None if p.case.expect.refuse or completion is None else expected_names == got_names,
    )


async def _call(provider: Provider, request: ChatRequest) -> tuple[Completion | None, str | None, float]:
    start = time.perf_counter()
    try:
        completion = await provider.complete(request)
        return completion, None, time.perf_counter() - start
    except ProviderError as e:
        return None, str(e) or type(e).__name__, time.perf_counter() - start


async def _execute(suite: Suite, jobs: list[tuple[Prepared, int]], providers: dict[str, Provider],
                   counters: dict[str, Callable], writer: ResultsWriter, concurrency: int,
                   progress: Progress | None) -> list[Result]:
    gate = asyncio.Semaphore(concurrency)
    per_variant = {v.name: asyncio.Semaphore(v.concurrency) for v in suite.variants if v.concurrency}
    shas: dict[int, str] = {}
    tokens_memo: dict[int, dict | None] = {}
    out: list[Result] = []

    async def one(p: Prepared, repeat: int) -> None:
        vsem = per_variant.get(p.variant.name)
        async with gate:
            if vsem:
                async with vsem:
                    completion, error, latency = await _call(providers[p.variant.name], p.request)
            else:
                completion, error, latency = await _call(providers[p.variant.name], p.request)
        key = id(p.request)
        if key not in tokens_memo:
            tokens_memo[key] = counters[p.variant.name](p.request)
        tkey = id(p.request.tools)
        if tkey not in shas:
            shas[tkey] = functions_sha(p.request.tools)
        result = make_result(p, repeat, completion, error, latency, tokens_memo[key], shas[tkey],
                             suite.spec.string_match)
        writer.write([result])
        out.append(result)
        if progress:
            progress.advance(result.verdict)

    await asyncio.gather(*(one(p, r) for p, r in jobs))
    return out


def run_suite(suite: Suite, options: RunOptions) -> RunOutcome:
    variants = select_variants(suite, options.variants)
    cases = list(suite.cases[: options.limit] if options.limit else suite.cases)
    prepared = prepare(suite, variants, cases)
    base_dir = Path(suite.path).parent
    providers = {v.name: create_provider(v, base_dir) for v in variants}  # config errors before any request
    run_dir = options.out or default_run_dir(suite)
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "results.jsonl").exists():
        raise ConfigError(f"{run_dir} already holds results.jsonl: choose another --out")
    write_json(run_dir / "run.json", {
        "suite": suite.name, "suite_path": str(suite.path),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "variants": {v.name: variant_info(v) for v in variants}, "cases": [c.id for c in cases],
    })
    write_json(run_dir / FUNCTIONS, {functions_sha(p.request.tools): list(p.request.tools) for p in prepared}
               | {"full:" + functions_sha(p.full_functions): list(p.full_functions) for p in prepared})
    jobs = [(p, r) for p in prepared for r in range(options.repeats or p.variant.repeats or suite.spec.repeats)]
    counters = {v.name: token_counter(v, providers[v.name]) for v in variants}
    progress = Progress(len(jobs), "running") if options.progress else None
    writer = ResultsWriter(run_dir / "results.jsonl")
    concurrency = options.concurrency or suite.spec.concurrency or DEFAULT_CONCURRENCY

    async def main() -> list[Result]:
        try:
            return await _execute(suite, jobs, providers, counters, writer, concurrency, progress)
        finally:
            for provider in providers.values():
                await provider.aclose()

    try:
        asyncio.run(main())
    finally:
        writer.close()
        if progress:
            progress.close()
    return finish_run(run_dir, [v.name for v in variants], {v.name: variant_info(v) for v in variants})


def finish_run(run_dir: Path, order: list[str], info: dict[str, dict[str, Any]]) -> RunOutcome:
    """results.jsonl -> summary.json and report.html (also used to re-summarise a run)."""
    from .report import render_report  # jinja2 import kept off the request path

    records = read_results(run_dir)
    summary = summarise(records, info, order)
    write_json(run_dir / SUMMARY, summary)
    (run_dir / REPORT).write_text(render_report([(run_dir, summary, records)]), encoding="utf-8")
    return RunOutcome(run_dir, summary, records)
