"""Count the prompt tokens of 10,000 requests (the stocks suite's cases x its variants, cycled)
and print requests/second. Offline; run: python benchmarks/tokens_bench.py [N]"""
from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from evalkit.analysis.tokens import count_request, encoding_for_variant
from evalkit.run.prepare import prepare
from evalkit.suite import load_suite

SUITE = Path(__file__).resolve().parent.parent / "suites" / "stocks.yaml"


def main(n: int = 10_000) -> None:
    suite = load_suite(SUITE)
    prepared = prepare(suite, list(suite.variants), list(suite.cases))
    encodings = {p.variant.name: encoding_for_variant(p.variant) for p in prepared}
    # Distinct user texts per request, so the per-string cache cannot hide the encoder's cost.
    requests = []
    for i in range(n):
        p = prepared[i % len(prepared)]
        messages = tuple({**m, "content": f"{m['content']} (#{i})"} if m.get("role") == "user" else m
                         for m in p.request.messages)
        requests.append((replace(p.request, messages=messages), encodings[p.variant.name]))
    start = time.perf_counter()
    total = sum(count_request(request, encoding).prompt for request, encoding in requests)
    elapsed = time.perf_counter() - start
    print(f"counted {n:,} requests ({total:,} prompt tokens) in {elapsed:.3f} s: "
          f"{n / elapsed:,.0f} requests/second")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
