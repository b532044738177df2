"""evalkit's own CPU per case, without any HTTP: for N distinct cases, the work the runner does
around each response -- scoring the call against the full schema, counting prompt tokens with
tiktoken, building the result record, writing and flushing results.jsonl, storing the response
in the cache -- timed with process CPU time. Target: < 1 ms per case.

  python benchmarks/cpu_per_case.py [--n 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import write_workload  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000)
    a = p.parse_args()
    os.environ["BENCH_KEY"] = "sk-bench"
    from evalkit.providers import create_provider
    from evalkit.providers.openai_compat import to_completion
    from evalkit.run.cache import ResponseCache, request_key
    from evalkit.run.dispatch import Job, Outcome
    from evalkit.run.prepare import prepare
    from evalkit.run.runner import Recorder, token_counter
    from evalkit.rundir.results import ResultsWriter
    from evalkit.suite import load_suite

    with tempfile.TemporaryDirectory() as tmp:
        suite = load_suite(write_workload(Path(tmp), a.n, "http://127.0.0.1:9/v1", 64))
        variant = suite.variants[0]
        prepared = prepare(suite, [variant], list(suite.cases))
        provider = create_provider(variant, Path(tmp))
        body = {"id": "c", "object": "chat.completion", "created": 0, "model": "stub-model",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": None, "tool_calls": [{"id": "call_0", "type": "function",
                    "function": {"name": "get_price", "arguments": json.dumps({"symbol": "ACME"})}}]}}],
                "usage": {"prompt_tokens": 60, "completion_tokens": 9, "total_tokens": 69}}
        raw = json.dumps(body).encode()
        cache = ResponseCache(Path(tmp) / "cache.sqlite")
        writer = ResultsWriter(Path(tmp) / "results.jsonl")
        recorder = Recorder(suite, writer, {variant.name: token_counter(variant, provider)}, cache, None)
        token_counter(variant, provider)(prepared[0].request)  # tokenizer load is a one-off, not per case
        t0 = time.process_time()
        for i, p_ in enumerate(prepared):
            completion = to_completion(json.loads(raw))  # the provider's parse, minus HTTP
            recorder.add(Outcome(Job(p_, 0, request_key(p_.request, "http://127.0.0.1:9/v1", 0)), completion,
                                 None, 0.2))
            if i % 64 == 63:
                recorder.flush()  # the runner flushes every 50 ms; at 320 req/s that is ~16 results
        recorder.flush()
        cpu = time.process_time() - t0
        writer.close()
        cache.close()
    print(f"N={a.n}: evalkit's own CPU per case {cpu / a.n * 1000:.3f} ms "
          "(parse + score + count tokens + result record + write/flush + cache store)")


if __name__ == "__main__":
    main()
