"""Cached rerun: run a 1,000-case suite once against the loopback server (filling the response
cache), then run it again unchanged. Prints the rerun's time inside `run_suite` and the whole
`evalkit run` command (interpreter start-up and imports included), and how many requests the
rerun sent (should be 0). Target: < 2 s.

  python benchmarks/cached_rerun.py [--n 1000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import LoopbackServer, load_average, write_workload  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000)
    a = p.parse_args()
    from evalkit.run.runner import RunOptions, run_suite
    from evalkit.suite import load_suite

    with LoopbackServer(0.2) as server, tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCH_KEY"] = "sk-bench"
        os.environ["EVALKIT_CACHE_DIR"] = str(Path(tmp) / "cache")
        suite_path = write_workload(Path(tmp), a.n, server.url, 64)
        first = run_suite(load_suite(suite_path), RunOptions(out=Path(tmp) / "first", progress=False))
        t0 = time.perf_counter()
        suite = load_suite(suite_path)
        t1 = time.perf_counter()
        again = run_suite(suite, RunOptions(out=Path(tmp) / "again", progress=False))
        t2 = time.perf_counter()
        t3 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "evalkit", "run", str(suite_path), "--out", str(Path(tmp) / "cli"),
                               "--no-progress"], capture_output=True, text=True)
        t4 = time.perf_counter()
        assert proc.returncode == 0, proc.stderr
        assert again.summary == first.summary or again.summary["variants"]["stub"]["accuracy"] == 1.0
    print(f"N={a.n}, load average {load_average()}: first run sent {first.requests} requests; the rerun sent "
          f"{again.requests}")
    print(f"cached rerun inside run_suite: {t2 - t1:.2f} s (replay {again.timings['requests']:.2f}, "
          f"prepare {again.timings['prepare']:.2f}, summary+report {again.timings['finish']:.2f}); "
          f"load_suite {t1 - t0:.2f} s")
    print(f"cached rerun, whole `evalkit run` command: {t4 - t3:.2f} s")


if __name__ == "__main__":
    main()
