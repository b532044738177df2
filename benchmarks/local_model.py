"""Benchmark of the embedded local model (issue B targets; the suite time is issue L's).

    python benchmarks/local_model.py [--train] [--skip-run] [--out DIR]

Prints:
- end-to-end `evalkit run` of the stocks suite with its three local variants (base+full,
  base+short, ft+short), model load included, in a fresh process: wall time, peak RSS, and the
  accuracy of each variant;
- seconds per call, one prompt at a time vs micro-batched (the provider's own path);
- with --train: wall time of LoRA training with the shipped adapter's hyperparameters.

Targets: suite < 90 s on 2 cores (issue L; issue B's was 3 min), peak RSS < 3 GB, training
< 10 min. The machine may be shared: the load average is printed next to every timing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SUITE = ROOT / "suites" / "stocks.yaml"
ADAPTER = ROOT / "suites" / "models" / "stocks-lora"

LOCAL_VARIANTS = [
    {"name": "base+full", "provider": "local", "functions": "full"},
    {"name": "base+short", "provider": "local", "functions": "short"},
    {"name": "ft+short", "provider": "local", "functions": "short", "adapter": str(ADAPTER)},
]


def load() -> str:
    return "load avg %.2f" % os.getloadavg()[0]


def local_suite(tmp: pathlib.Path) -> pathlib.Path:
    """suites/stocks.yaml as is when its variants are local; else a copy with the local variants."""
    spec = yaml.safe_load(SUITE.read_text())
    if all(v.get("provider") == "local" for v in spec["variants"]):
        return SUITE
    spec["variants"] = LOCAL_VARIANTS
    spec["concurrency"] = 48
    if isinstance(spec.get("cases_from"), str):
        spec["cases_from"] = str(SUITE.parent / spec["cases_from"])
    path = tmp / "stocks-local.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_suite(suite: pathlib.Path, out: pathlib.Path) -> None:
    cmd = [sys.executable, "-m", "evalkit", "run", str(suite), "--out", str(out), "--no-cache", "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode not in (0, 1):
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"evalkit run failed ({proc.returncode})")
    print(f"stocks suite, 3 local variants, end to end (model load included): {wall:.1f} s "
          f"(target < 90 s), peak RSS {rss:.0f} MB (target < 3072 MB) [{load()}]")
    summary = json.loads((out / "summary.json").read_text())
    for name, m in summary["variants"].items():
        def rate(key: str) -> str:
            return f"{m.get(key + '_k')}/{m.get(key + '_n')}"
        print(f"  {name:11s} accuracy {rate('accuracy')}  call {rate('call_accuracy')}  "
              f"refusal {rate('refusal_accuracy')}  hallucination {rate('hallucination_rate')}")


def per_call(n: int = 16) -> None:
    from evalkit.suite.functions import shorten, to_tools
    from evalkit.providers.base import ChatRequest
    from evalkit.providers.local import create
    from evalkit.suite import load_suite
    from evalkit.suite.model import VariantSpec

    suite = load_suite(str(SUITE))
    tools = shorten(to_tools(suite.functions))
    reqs = [ChatRequest(model="local", messages=c.messages, tools=tools) for c in suite.cases[:n]]
    t0 = time.perf_counter()
    provider = create(VariantSpec(name="ft+short", provider="local", adapter=str(ADAPTER)), base_dir=ROOT)
    provider.load()
    print(f"model + adapter load: {time.perf_counter() - t0:.1f} s [{load()}]")

    async def go(batch: list[ChatRequest]) -> None:
        await asyncio.gather(*(provider.complete(r) for r in batch))

    asyncio.run(go(reqs[:1]))  # warm-up
    t0 = time.perf_counter()
    for r in reqs[:4]:
        asyncio.run(go([r]))
    single = (time.perf_counter() - t0) / 4
    t0 = time.perf_counter()
    asyncio.run(go(reqs))
    batched = (time.perf_counter() - t0) / len(reqs)
    print(f"s/call ft+short: one at a time {single:.2f}, batched x{len(reqs)} {batched:.2f} "
          f"({single / batched:.1f}x) [{load()}]")


def train() -> None:
    from evalkit.finetune.local import Hyperparameters, train_lora

    trial = json.loads((ADAPTER / "trial.json").read_text())
    hp = Hyperparameters(**{k: v for k, v in trial["hyperparameters"].items() if k != "max_steps"})
    with tempfile.TemporaryDirectory() as tmp:
        result = train_lora(ROOT / "suites" / "data" / "stocks_train.jsonl", tmp, hyperparameters=hp)
    print(f"LoRA training ({result.steps} steps, {trial['n_examples']} examples, r={hp.lora_r}, "
          f"batch {hp.batch_size}, {hp.n_epochs} epochs): {result.wall_time_s:.0f} s (target < 600 s) "
          f"[{load()}]; same loss as shipped: {result.final_loss == trial['final_loss']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", action="store_true", help="also time LoRA training (minutes)")
    ap.add_argument("--skip-run", action="store_true", help="skip the end-to-end suite run")
    ap.add_argument("--out", type=pathlib.Path, help="run directory (default: a temporary one)")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()} [{load()}]")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_run:
            run_suite(local_suite(pathlib.Path(tmp)), args.out or pathlib.Path(tmp) / "run")
        per_call()
    if args.train:
        train()


if __name__ == "__main__":
    main()
