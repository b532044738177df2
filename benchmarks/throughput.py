"""Throughput: N requests at concurrency C against a loopback server with fixed latency L.
Ideal wall time is N*L/C; prints achieved/ideal (ideal / measured wall) for evalkit's request
phase (first request to last result scored, token-counted and flushed to results.jsonl) and, in
the same sitting, for bare openai-python (`chat.completions.create` with one shared AsyncOpenAI,
checking each call) as the reference. evalkit's fixed costs outside that phase (preparing the
requests; summary.json and report.html) are printed separately.

  python benchmarks/throughput.py [--n 1000] [--latency 0.2] [--concurrency 64 16] [--repeat 3]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import TOOLS, LoopbackServer, load_average, write_workload  # noqa: E402


def run_evalkit(suite_path: Path, out: Path) -> tuple[float, float, dict[str, float]]:
    """(wall, CPU) of the request phase -- first request to last result written and flushed,
    scoring and token counting included -- plus the run's own timings (prepare, finish)."""
    from evalkit.run import runner
    from evalkit.suite import load_suite

    suite = load_suite(suite_path)
    marks: dict[str, float] = {}
    original = runner._send

    async def timed_send(*args, **kwargs):  # the request phase, measured from outside the runner
        marks["c0"] = time.process_time()
        try:
            return await original(*args, **kwargs)
        finally:
            marks["c1"] = time.process_time()

    runner._send = timed_send
    try:
        outcome = runner.run_suite(suite, runner.RunOptions(out=out, cache=False, progress=False))
    finally:
        runner._send = original
    accuracy = outcome.summary["variants"]["stub"]["accuracy"]
    assert accuracy == 1.0, accuracy
    return outcome.timings["requests"], marks["c1"] - marks["c0"], outcome.timings


def run_bare_openai(url: str, n: int, c: int) -> tuple[float, float]:
    import json

    import openai

    async def main() -> tuple[float, float]:
        client = openai.AsyncOpenAI(api_key="sk-bench", base_url=url)
        gate = asyncio.Semaphore(c)

        async def one(i: int) -> bool:
            async with gate:
                r = await client.chat.completions.create(
                    model="stub-model", tools=TOOLS, temperature=0,
                    messages=[{"role": "user", "content": f"Question {i}: what is the latest price of ACME?"}])
                call = r.choices[0].message.tool_calls[0].function
                return call.name == "get_price" and json.loads(call.arguments)["symbol"] == "ACME"

        await one(-1)  # connection and platform detection warm-up, as evalkit's first request pays it too
        t0, c0 = time.perf_counter(), time.process_time()
        ok = await asyncio.gather(*(one(i) for i in range(n)))
        assert all(ok)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        await client.close()
        return wall, cpu

    return asyncio.run(main())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--concurrency", type=int, nargs="+", default=[64, 16])
    p.add_argument("--repeat", type=int, default=3, help="runs per setting; the median is printed too")
    p.add_argument("--no-bare", action="store_true", help="skip the bare openai-python reference")
    a = p.parse_args()
    os.environ["BENCH_KEY"] = "sk-bench"
    print(f"N={a.n} L={a.latency * 1000:.0f} ms, {os.cpu_count()} cores, load average {load_average()}")
    print(f"{'client':<22}{'C':>4}{'ideal s':>9}{'wall s':>9}{'achieved/ideal':>16}{'CPU ms/case':>13}")
    with LoopbackServer(a.latency) as server, tempfile.TemporaryDirectory() as tmp:
        for c in a.concurrency:
            ideal = a.n * a.latency / c
            suite = write_workload(Path(tmp) / f"c{c}", a.n, server.url, c)
            rows = {"evalkit": [], "bare openai-python": []}
            fixed: list[dict[str, float]] = []
            for k in range(a.repeat):
                wall, cpu, timings = run_evalkit(suite, Path(tmp) / f"run-c{c}-{k}")
                rows["evalkit"].append((wall, cpu))
                fixed.append(timings)
                if not a.no_bare:
                    rows["bare openai-python"].append(run_bare_openai(server.url, a.n, c))
            for name, runs in rows.items():
                for wall, cpu in runs:
                    print(f"{name:<22}{c:>4}{ideal:>9.2f}{wall:>9.2f}{ideal / wall:>16.2f}{cpu / a.n * 1000:>13.2f}")
                if runs:
                    med = sorted(runs)[len(runs) // 2]
                    print(f"{name + ' (median)':<22}{c:>4}{ideal:>9.2f}{med[0]:>9.2f}{ideal / med[0]:>16.2f}"
                          f"{med[1] / a.n * 1000:>13.2f}")
            print("  evalkit outside the request phase, s: " + ", ".join(
                f"prepare {t['prepare']:.2f} finish (summary+report) {t['finish']:.2f}" for t in fixed))


if __name__ == "__main__":
    main()
