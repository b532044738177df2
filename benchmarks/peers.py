"""evalkit, promptfoo and inspect_ai side by side on the same workload and loopback server
(N cases, one get_price tool, fixed latency L), each at concurrency C. Prints wall time
(median of --repeat runs), wall/ideal, CPU ms per request (the command and its children, start-up
and finish included), achieved/ideal and each peer's wall time as a multiple of evalkit's.

The peers are not dependencies of evalkit: install them in a scratch place and point at them.

  npm install --prefix /tmp/peers/pf promptfoo
  python -m venv /tmp/peers/venv-inspect && /tmp/peers/venv-inspect/bin/pip install inspect_ai openai
  python benchmarks/peers.py --promptfoo /tmp/peers/pf/node_modules/.bin/promptfoo \\
      --inspect /tmp/peers/venv-inspect/bin/inspect --recipes /work/shared/peers [--n 1000] [--concurrency 64 16]

Commands follow the recipes in --recipes (gen_promptfoo_config.py, inspect_task.py), default flags,
with one exception: inspect_ai is given `-M responses_api=false`. Without it inspect_ai 0.3.285 takes
the unknown model name `stub-model` for a GPT-5-class model, sends every request to the Responses
API (`POST /v1/responses`) instead of chat completions, gets the loopback server's
chat.completion body back, fails parsing it (TypeError: 'NoneType' object is not iterable) and, with
its default fail_on_error, ends the whole run after the first ~C requests with exit code 0. An
extra inspect_ai row adds `--no-log-samples --no-log-realtime` (the flags from PERF_NOTES.md), and
the row "inspect_ai recipe" runs the recipe's command unchanged, to show that it still fails.

Every tool run gets its own loopback server, and the number of requests that server received is
printed next to the wall time; a run whose count is not N gets no ratio (it did not do the work).
For inspect_ai the log's status and completed samples are printed too.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import LoopbackServer, load_average, write_workload  # noqa: E402


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the command and its children, output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 100):  # promptfoo exits 100 when an assertion fails
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, proc.stdout + proc.stderr


INSPECT_LOG_SUMMARY = """
import glob, sys
from inspect_ai.log import read_eval_log
for path in sorted(glob.glob(sys.argv[1] + "/*.eval")):
    log = read_eval_log(path, header_only=True)
    done = log.results.completed_samples if log.results else 0
    err = str(log.error.message)[:80] if log.error else ""
    print(f"log {log.status}, {done} samples completed" + (f", error {err}" if err else ""))
"""


def inspect_log_summary(inspect: str, log_dir: Path) -> str:
    python = Path(inspect).parent / "python"  # the inspect_ai venv's interpreter
    proc = subprocess.run([str(python), "-c", INSPECT_LOG_SUMMARY, str(log_dir)], capture_output=True, text=True)
    return (proc.stdout.strip() or proc.stderr.strip()[-200:]).replace("\n", "; ")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--promptfoo", help="path to the promptfoo executable")
    p.add_argument("--inspect", help="path to the inspect executable (inspect_ai)")
    p.add_argument("--recipes", type=Path, default=Path("/work/shared/peers"))
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--concurrency", type=int, nargs="+", default=[64, 16])
    p.add_argument("--repeat", type=int, default=3, help="runs per tool and C; the median is printed")
    a = p.parse_args()
    print(f"N={a.n} L={a.latency * 1000:.0f} ms, {os.cpu_count()} cores, load average {load_average()}; "
          "wall = whole command, start-up included; requests = what the loopback server received")
    print(f"{'tool':<22}{'C':>4}{'ideal s':>9}{'wall s':>9}{'wall/ideal':>11}{'CPU ms/req':>11}{'requests':>10}"
          f"{'achieved/ideal':>16}{'x evalkit':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base_env = {**os.environ, "OPENAI_API_KEY": "sk-stub", "BENCH_KEY": "sk-stub",
                    "EVALKIT_CACHE_DIR": str(work / "cache"), "PEERS_CASES": str(work / "cases.jsonl"),
                    "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1", "INSPECT_DISPLAY": "none"}
        if a.inspect:
            shutil.copy(a.recipes / "inspect_task.py", work / "inspect_task.py")  # inspect wants a relative path
        for c in a.concurrency:
            ideal = a.n * a.latency / c
            runs: list[tuple[str, object]] = [("evalkit", lambda url, c=c: [
                sys.executable, "-m", "evalkit", "run", str(write_workload(work, a.n, url, c)), "--no-cache",
                "--no-progress", "--out", str(work / f"evalkit-{c}")])]
            if a.promptfoo:
                def promptfoo_cmd(url: str, c: int = c) -> list[str]:
                    write_workload(work, a.n, url, c)
                    cfg = work / "promptfooconfig.yaml"
                    subprocess.run([sys.executable, str(a.recipes / "gen_promptfoo_config.py"), "--cases",
                                    str(work / "cases.jsonl"), "--tools", str(work / "tools.json"), "--out", str(cfg),
                                    "--base-url", url], check=True)
                    return [a.promptfoo, "eval", "-c", str(cfg), "--max-concurrency", str(c),
                            "--no-cache", "--no-table", "--no-progress-bar"]
                runs.append(("promptfoo", promptfoo_cmd))
            if a.inspect:
                for name, extra in (("inspect_ai recipe", None),  # as the recipe says: shows the failure
                                    ("inspect_ai", []),
                                    ("inspect_ai no-log", ["--no-log-samples", "--no-log-realtime"])):
                    def inspect_cmd(url: str, c: int = c, name: str = name, extra: list[str] = extra) -> list[str]:
                        write_workload(work, a.n, url, c)
                        model_args = [] if extra is None else ["-M", "responses_api=false"]
                        return [a.inspect, "eval", "inspect_task.py", "--model", "openai/stub-model",
                                *model_args, "--max-connections", str(c), *(extra or []),
                                "--log-dir", str(work / f"{name.replace(' ', '-')}-{c}"), "--display", "none"]
                    runs.append((name, inspect_cmd))
            evalkit_wall = None
            for name, make_cmd in runs:
                walls, cpus, counts = [], [], []
                for _ in range(a.repeat):
                    shutil.rmtree(work / f"evalkit-{c}", ignore_errors=True)  # a fresh run directory each time
                    with LoopbackServer(a.latency) as server:
                        env = {**base_env, "OPENAI_BASE_URL": server.url}
                        one_wall, one_cpu, _ = timed(make_cmd(server.url), env, work)
                    walls.append(one_wall)
                    cpus.append(one_cpu)
                    counts.append(server.requests)
                wall, cpu = statistics.median(walls), statistics.median(cpus)
                requests = counts[0] if len(set(counts)) == 1 else "/".join(map(str, counts))
                note = ""
                if name.startswith("inspect_ai"):
                    note = "  " + inspect_log_summary(a.inspect, work / f"{name.replace(' ', '-')}-{c}")
                if requests == a.n:
                    if name == "evalkit":
                        evalkit_wall = wall
                    ratio = f"{ideal / wall:>16.2f}"
                    vs = f"{wall / evalkit_wall:>11.1f}" if evalkit_wall else f"{'-':>11}"
                else:  # it did not make the N requests: its wall time measures something else
                    ratio, vs = f"{'INVALID':>16}", f"{'-':>11}"
                    note += f"  (expected {a.n} requests, no ratio reported)"
                print(f"{name:<22}{c:>4}{ideal:>9.2f}{wall:>9.2f}{wall / ideal:>11.2f}{1000 * cpu / a.n:>11.2f}"
                      f"{str(requests):>10}{ratio}{vs}{note}", flush=True)


if __name__ == "__main__":
    main()
