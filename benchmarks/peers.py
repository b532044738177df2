"""evalkit, promptfoo and inspect_ai side by side on the same workload and loopback server
(N cases, one get_price tool, fixed latency L), each at concurrency C. Prints wall time,
achieved/ideal and each peer's wall time as a multiple of evalkit's.

The peers are not dependencies of evalkit: install them in a scratch place and point at them.

  npm install --prefix /tmp/peers/pf promptfoo
  python -m venv /tmp/peers/venv-inspect && /tmp/peers/venv-inspect/bin/pip install inspect_ai openai
  python benchmarks/peers.py --promptfoo /tmp/peers/pf/node_modules/.bin/promptfoo \\
      --inspect /tmp/peers/venv-inspect/bin/inspect --recipes /work/shared/peers [--n 1000] [--concurrency 64 16]

Commands follow the recipes in --recipes (gen_promptfoo_config.py, inspect_task.py), default flags.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import LoopbackServer, load_average, write_workload  # noqa: E402


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 100):  # promptfoo exits 100 when an assertion fails
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, proc.stdout + proc.stderr


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--promptfoo", help="path to the promptfoo executable")
    p.add_argument("--inspect", help="path to the inspect executable (inspect_ai)")
    p.add_argument("--recipes", type=Path, default=Path("/work/shared/peers"))
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--concurrency", type=int, nargs="+", default=[64, 16])
    a = p.parse_args()
    print(f"N={a.n} L={a.latency * 1000:.0f} ms, {os.cpu_count()} cores, load average {load_average()}; "
          "wall = whole command, start-up included")
    print(f"{'tool':<12}{'C':>4}{'ideal s':>9}{'wall s':>9}{'achieved/ideal':>16}{'x evalkit':>11}")
    with LoopbackServer(a.latency) as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "OPENAI_API_KEY": "sk-stub", "OPENAI_BASE_URL": server.url, "BENCH_KEY": "sk-stub",
               "EVALKIT_CACHE_DIR": str(work / "cache"), "PEERS_CASES": str(work / "cases.jsonl"),
               "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1", "INSPECT_DISPLAY": "none"}
        for c in a.concurrency:
            ideal = a.n * a.latency / c
            suite = write_workload(work, a.n, server.url, c)
            walls = {}
            walls["evalkit"], _ = timed([sys.executable, "-m", "evalkit", "run", str(suite), "--no-cache",
                                         "--no-progress", "--out", str(work / f"evalkit-{c}")], env, work)
            if a.promptfoo:
                cfg = work / "promptfooconfig.yaml"
                subprocess.run([sys.executable, str(a.recipes / "gen_promptfoo_config.py"), "--cases",
                                str(work / "cases.jsonl"), "--tools", str(work / "tools.json"), "--out", str(cfg),
                                "--base-url", server.url], check=True)
                walls["promptfoo"], _ = timed([a.promptfoo, "eval", "-c", str(cfg), "--max-concurrency", str(c),
                                               "--no-cache", "--no-table", "--no-progress-bar"], env, work)
            if a.inspect:
                shutil.copy(a.recipes / "inspect_task.py", work / "inspect_task.py")  # inspect wants a relative path
                walls["inspect_ai"], _ = timed([a.inspect, "eval", "inspect_task.py",
                                                "--model", "openai/stub-model", "--max-connections", str(c),
                                                "--log-dir", str(work / f"inspect-{c}"), "--display", "none"],
                                               env, work)
            for name, wall in walls.items():
                print(f"{name:<12}{c:>4}{ideal:>9.2f}{wall:>9.2f}{ideal / wall:>16.2f}{wall / walls['evalkit']:>11.1f}")


if __name__ == "__main__":
    main()
