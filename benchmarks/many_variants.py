"""Many variants, one case each, each variant its own provider against one loopback server, under a
low open-files limit: a variant's connections must be released when it finishes, or the run dies
of EMFILE near the limit.

    python benchmarks/many_variants.py [--variants 1500] [--nofile 256] [--concurrency 16] [--report]

Prints the whole command's wall time, its peak RSS, its exit code, results recorded, and the size
of summary.json (with --report: the report's render time and size, via `evalkit report`).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import TOOLS, LoopbackServer, load_average


def write_suite(directory: Path, variants: int, base_url: str, concurrency: int) -> Path:
    suite = {"name": "many-variants", "functions": TOOLS, "concurrency": concurrency,
             "variants": [{"name": f"v{i:05d}", "model": "stub-model", "base_url": base_url,
                           "api_key_env": "BENCH_KEY"} for i in range(variants)],
             "cases": [{"id": "q0", "user": "What is the latest price of ACME Corp (ACME)?",
                        "expect": {"call": "get_price", "arguments": {"symbol": "ACME"}}}]}
    path = directory / "suite.yaml"
    path.write_text(json.dumps(suite))
    return path


def limited(nofile: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    return apply


def timed(cmd: list[str], nofile: int) -> tuple[int, float, float, str]:
    """(exit code, wall s, peak RSS MB of the child, last stderr line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run(cmd, preexec_fn=limited(nofile), capture_output=True, text=True, check=False,
                          env=os.environ | {"BENCH_KEY": "sk-bench"})
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    last = (proc.stderr.strip().splitlines() or [""])[-1]
    return proc.returncode, wall, max(rss, before) / 1024, last


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", type=int, default=1500)
    p.add_argument("--nofile", type=int, default=256)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--report", action="store_true", help="also render the report (evalkit report)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LoopbackServer(a.latency) as server:
        path = write_suite(Path(tmp), a.variants, server.url, a.concurrency)
        out = Path(tmp) / "run"
        code, wall, rss, last = timed([sys.executable, "-m", "evalkit", "run", str(path), "--out", str(out),
                                       "--no-cache", "--no-progress"], a.nofile)
        lines = sum(1 for _ in (out / "results.jsonl").open()) if (out / "results.jsonl").exists() else 0
        summary = out / "summary.json"
        print(f"variants {a.variants}, ulimit -n {a.nofile}, concurrency {a.concurrency}, load {load_average()}")
        print(f"run: exit {code}, {wall:.2f} s wall, peak RSS {rss:.0f} MB, {lines} of {a.variants} results, "
              f"summary.json {summary.stat().st_size / 1e6:.2f} MB" if summary.exists() else
              f"run: exit {code}, {wall:.2f} s wall, {lines} of {a.variants} results, no summary ({last})")
        if a.report and summary.exists():
            code, wall, rss, last = timed([sys.executable, "-m", "evalkit", "report", str(out)], a.nofile)
            html = next(out.glob("*.html"), None)
            print(f"report: exit {code}, {wall:.2f} s wall, peak RSS {rss:.0f} MB, "
                  f"{html.stat().st_size / 1e6:.1f} MB" if html else f"report: exit {code} ({last})")


if __name__ == "__main__":
    sys.exit(main())
