"""Peak memory of a large run with a fast in-process provider (no HTTP): the whole `run_suite`
(prepare, requests, recording, summary.json; no report), then summarising the same results.jsonl
by reading every record (read_results + summarise) and by streaming it (SummaryRecords), each in a
fresh process so the peaks do not mix.

    python benchmarks/memory_bench.py [--cases 100000] [--variants 1]

Prints the peak RSS of each and MB per 1,000 results, for extrapolating to 1M results.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from workload import TOOLS, load_average


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


class Sampler:
    """Highest RSS seen from now on (ru_maxrss cannot be reset after the suite's own peak)."""

    def __init__(self) -> None:
        self.peak, self.stop = rss_mb(), threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def done(self) -> float:
        self.stop.set()
        self.thread.join()
        return max(self.peak, rss_mb())


def write_suite(directory: Path, cases: int, variants: int) -> Path:
    lines = ["name: memory", "concurrency: 64", "functions: " + json.dumps(TOOLS), "variants:"]
    lines += [f"  - {{name: v{i}, provider: instant, model: m{i}}}" for i in range(variants)]
    lines.append("cases:")
    lines += [f"  - {{id: q{i:07d}, user: 'Question {i}: what is the latest price of ACME Corp (ACME)?', "
              f"expect: {{call: get_price, arguments: {{symbol: ACME}}}}}}" for i in range(cases)]
    path = directory / "suite.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(directory: Path) -> None:
    from evalkit import providers
    from evalkit.providers.base import Provider
    from evalkit.run.runner import RunOptions, run_suite
    from evalkit.suite import load_suite
    from evalkit.suite.plugins import ProviderPlugin
    from evalkit.types import Completion, ToolCall, Usage

    class Instant(Provider):
        async def complete(self, request):
            await asyncio.sleep(0)
            return Completion(None, (ToolCall("get_price", '{"symbol": "ACME"}', "c1"),), Usage(60, 9),
                              raw={"id": "chatcmpl-x", "choices": [{"message": {"role": "assistant"}}]})

    providers.BUILTIN["instant"] = ProviderPlugin(lambda variant, base_dir=None: Instant())
    suite = load_suite(directory / "suite.yaml")
    loading_peak, base = peak_mb(), rss_mb()
    sampler = Sampler()
    t = time.perf_counter()
    outcome = run_suite(suite, RunOptions(out=directory / "run", cache=False, progress=False))
    print(json.dumps({"suite_loaded_mb": base, "loading_peak_mb": loading_peak, "peak_mb": sampler.done(),
                      "seconds": time.perf_counter() - t,
                      "timings": outcome.timings, "recorded": outcome.summary["recorded"]}))


def summarise_only(directory: Path, mode: str) -> None:
    from evalkit.analysis.metrics import SummaryRecords, summarise
    from evalkit.rundir.results import iter_results, read_results

    base = peak_mb()
    t = time.perf_counter()
    if mode == "full":
        summary = summarise(read_results(directory / "run"))
    else:
        slim = SummaryRecords()
        for record in iter_results(directory / "run"):
            slim.add(record)
        summary = slim.summarise()
    print(json.dumps({"start_mb": base, "peak_mb": peak_mb(), "seconds": time.perf_counter() - t,
                      "n": sum(v["n"] for v in summary["variants"].values())}))


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--variants", type=int, default=1)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        mode, directory = a.child
        run(Path(directory)) if mode == "run" else summarise_only(Path(directory), mode)
        return
    with tempfile.TemporaryDirectory() as tmp:
        write_suite(Path(tmp), a.cases, a.variants)
        n = a.cases * a.variants
        size = 0
        r = child("--child", "run", tmp)
        size = (Path(tmp) / "run" / "results.jsonl").stat().st_size / 1e6
        print(f"{n} results ({size:.0f} MB results.jsonl), load {load_average()}")
        print(f"load_suite: peak RSS {r['loading_peak_mb']:.0f} MB, {r['suite_loaded_mb']:.0f} MB once loaded")
        print(f"run_suite: peak RSS {r['peak_mb']:.0f} MB, "
              f"{r['seconds']:.1f} s, finish {r['timings']['finish']:.1f} s; "
              f"{(r['peak_mb'] - r['suite_loaded_mb']) / n * 1000:.2f} MB per 1,000 results past the loaded suite")
        for mode in ("full", "stream"):
            s = child("--child", mode, tmp)
            print(f"summary from results.jsonl ({mode}): peak RSS {s['peak_mb']:.0f} MB "
                  f"(+{s['peak_mb'] - s['start_mb']:.0f} MB), {s['seconds']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
