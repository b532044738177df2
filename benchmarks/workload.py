"""The benchmark workload, shared by every benchmark script: N distinct stock-price questions, one
tool `get_price(symbol)`, every case expecting get_price(symbol=ACME), and the loopback server
(loopback_server.py, fixed latency) that answers each with that call.

Files written to a directory: suite.yaml (evalkit), cases.jsonl + tools.json (the peers' recipes).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = [{"type": "function", "function": {
    "name": "get_price", "description": "Get the latest price of a stock.",
    "parameters": {"type": "object", "properties": {"symbol": {"type": "string", "description": "the ticker symbol"}},
                   "required": ["symbol"]}}}]


def write_workload(directory: Path, n: int, base_url: str, concurrency: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    cases = [{"id": f"q{i}", "input": f"Question {i}: what is the latest price of ACME Corp (ACME)?",
              "expected": {"name": "get_price", "arguments": {"symbol": "ACME"}}} for i in range(n)]
    (directory / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    (directory / "tools.json").write_text(json.dumps(TOOLS))
    suite = {"name": "throughput", "functions": TOOLS, "concurrency": concurrency,
             "variants": [{"name": "stub", "model": "stub-model", "base_url": base_url, "api_key_env": "BENCH_KEY"}],
             "cases": [{"id": c["id"], "user": c["input"], "expect": {"call": "get_price", "arguments": {"symbol": "ACME"}}}
                       for c in cases]}
    path = directory / "suite.yaml"
    path.write_text(json.dumps(suite))  # JSON is YAML
    return path


class LoopbackServer:
    """loopback_server.py in its own process (its CPU is not the client's). After the `with` block,
    `requests` holds how many requests it received (None if it did not say)."""

    def __init__(self, latency: float):
        self.latency = latency

    def __enter__(self) -> "LoopbackServer":
        self.proc = subprocess.Popen([sys.executable, str(HERE / "loopback_server.py"), "--latency", str(self.latency)],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline().split()[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        out, _ = self.proc.communicate()
        # the server prints `REQUESTS <n>` on SIGTERM: every request it received over its lifetime
        self.requests = next((int(line.split()[1]) for line in out.splitlines() if line.startswith("REQUESTS ")), None)


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"
