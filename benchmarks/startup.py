"""Start-up cost: `import evalkit`, `evalkit --help` and `evalkit run --help`, against a bare
interpreter, as wall and CPU seconds (median of --repeat runs), and which heavy modules each loads.

    python benchmarks/startup.py [--repeat 7]

CPU time (user + sys of the child) is the figure to compare on a loaded machine: wall time
includes waiting for a core. "over bare" subtracts `python -c pass`, the interpreter's own start-up.
The minimum CPU time is the closest to an idle machine. Targets: `evalkit --help` under 0.2 s, `import evalkit` under 0.1 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("openai", "pydantic", "jinja2", "scipy", "pandas", "torch", "numpy", "tiktoken", "jsonschema", "yaml")
REPORT_HEAVY = f"import sys; print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import evalkit": [sys.executable, "-c", "import evalkit; " + REPORT_HEAVY],
    "evalkit --help": [sys.executable, "-c", "import sys; sys.argv = ['evalkit', '--help']\n"
                       "from evalkit.cli import main\ntry: main()\nexcept SystemExit: pass\n" + REPORT_HEAVY],
    "evalkit run --help": [sys.executable, "-c", "import sys; sys.argv = ['evalkit', 'run', '--help']\n"
                           "from evalkit.cli import main\ntry: main()\nexcept SystemExit: pass\n" + REPORT_HEAVY],
}


def measure(cmd: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    heavy = proc.stderr.read().strip().splitlines() if proc.stderr else []
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, heavy[-1] if heavy else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    rows = {}
    for _ in range(args.repeat):  # interleaved, so that load changes hit every command alike
        for name, cmd in COMMANDS.items():
            rows.setdefault(name, []).append(measure(cmd))
    bare_wall = statistics.median(w for w, _, _ in rows["python -c pass"])
    bare_cpu = statistics.median(c for _, c, _ in rows["python -c pass"])
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores; "
          f"median of {args.repeat}")
    print(f"{'command':<20} {'wall s':>7} {'cpu s':>7} {'min cpu':>8} {'wall over bare':>15} {'cpu over bare':>14}  heavy modules")
    for name, xs in rows.items():
        wall = statistics.median(w for w, _, _ in xs)
        cpu = statistics.median(c for _, c, _ in xs)
        low = min(c for _, c, _ in xs)
        print(f"{name:<20} {wall:7.3f} {cpu:7.3f} {low:8.3f} {wall - bare_wall:15.3f} {cpu - bare_cpu:14.3f}  {xs[-1][2] or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
