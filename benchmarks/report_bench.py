"""Render the HTML report of a synthetic 10,000-result run and print the time and the file size.

    python benchmarks/report_bench.py [--cases 25000] [--variants 4] [--repeats 1] [--keep DIR]

Results look like real ones (a system prompt, a raw chat.completion, parsed calls, reasons),
so the size of the page is representative. With --keep DIR an existing run there is reused.
Targets: 100,000 results (the defaults) render in under 3 s into under 30 MB; 800 variants
(--cases 100 --variants 800) stay bounded because pairwise work is.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evalkit.analysis.metrics import summarise
from evalkit.report import open_run, render_report
from evalkit.rundir.results import write_json

SYSTEM = ("You are a helpful assistant that answers questions about stock prices. Don't make assumptions "
          "about what values to plug into functions. If no exact symbol is found, ask for clarification.")
TOOLS = [{"type": "function", "function": {"name": "get_current_stock_price", "description": "Latest price.",
                                           "parameters": {"type": "object", "properties": {
                                               "symbol": {"type": "string", "description": "Ticker."}},
                                               "required": ["symbol"]}}}]
VERDICTS = ["correct"] * 7 + ["wrong_arguments", "hallucinated_call", "over_refusal", "wrong_function"]


def ticker(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))


def fake_record(rng: random.Random, case: int, variant: str, repeat: int) -> dict:
    """One result. The case (its question, expected call) is the same for every variant and
    repeat, as in a suite; the answer and verdict are drawn per result."""
    expected = ticker(random.Random(case))
    should_call = case % 3 != 0
    verdict = rng.choice(VERDICTS)
    symbol = expected[:-1] + "X" if verdict == "wrong_arguments" else expected
    call = {"name": "get_current_stock_price", "arguments": {"symbol": symbol},
            "raw_arguments": json.dumps({"symbol": symbol})}
    calls = [] if verdict in ("over_refusal",) or (not should_call and verdict == "correct") else [call]
    content = "Which company do you mean?" if not calls else None
    raw = {"id": f"chatcmpl-{case}-{repeat}", "object": "chat.completion", "created": 1764115200, "model": variant,
           "choices": [{"index": 0, "finish_reason": "tool_calls" if calls else "stop",
                        "message": {"role": "assistant", "content": content,
                                    "tool_calls": [{"id": "call_0", "type": "function",
                                                    "function": {"name": c["name"], "arguments": c["raw_arguments"]}}
                                                   for c in calls] or None}}],
           "usage": {"prompt_tokens": 230, "completion_tokens": 18, "total_tokens": 248}}
    return {"case_id": f"case-{case:05d}", "variant": variant, "repeat": repeat, "verdict": verdict,
            "reason": f"argument `symbol`: expected '{expected}', got '{symbol}'" if verdict == "wrong_arguments"
            else verdict.replace("_", " "),
            "should_call": should_call,
            "expected": {"refuse": not should_call,
                         "calls": [{"name": "get_current_stock_price", "arguments": {"symbol": expected}}]
                         if should_call else []},
            "calls": calls, "content": content,
            "messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": f"What is the price of company {case} ({expected}) today?"}],
            "functions_sha": "f" * 16, "model": variant, "api": "tools",
            "usage": {"prompt_tokens": 230, "completion_tokens": 18, "cached_tokens": 0},
            "tokens": {"prompt": 230, "functions": 120}, "latency_s": rng.uniform(0.2, 2.0), "error": None,
            "raw": raw, "tags": ["real" if should_call else "fake"], "name_correct": None}


def make_run(run_dir: Path, cases: int, variants: int, repeats: int) -> None:
    rng = random.Random(7)
    names = [f"variant-{i}" for i in range(variants)]
    records = [fake_record(rng, c, v, r) for c in range(cases) for v in names for r in range(repeats)]
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "results.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    info = {n: {"provider": "openai", "model": n, "functions": "full", "api": "tools"} for n in names}
    write_json(run_dir / "summary.json", summarise(records, info, names))
    write_json(run_dir / "functions.json", {"f" * 16: TOOLS, "full:" + "f" * 16: TOOLS})
    write_json(run_dir / "run.json", {"suite": "bench", "variants": info,
                                      "cases": [f"case-{c:05d}" for c in range(cases)]})


def browser_init_ms(report: Path) -> str:
    """Parse the page's data and draw the first grid page in headless Chromium, when installed."""
    exe = shutil.which("chromium")
    if not exe:
        return "skipped (no chromium)"
    with tempfile.TemporaryDirectory() as profile:
        started = time.perf_counter()
        proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                               "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
                               "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=300)
    found = re.search(r'data-init-ms="(\d+)"', proc.stdout)
    total = time.perf_counter() - started
    return (f"{found.group(1)} ms ({total:.1f} s for chromium to load it and exit)" if found
            else "page did not finish its script")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=25_000)
    ap.add_argument("--variants", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-browser", action="store_true", help="skip the headless Chromium timing")
    ap.add_argument("--keep", type=Path, help="write the run and report here instead of a temp dir")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.keep or Path(tmp) / "run"
        if not (run_dir / "summary.json").is_file():
            make_run(run_dir, args.cases, args.variants, args.repeats)
        start, cpu0 = time.perf_counter(), time.process_time()
        run = open_run(run_dir)
        loaded, cpu1 = time.perf_counter(), time.process_time()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        html = render_report([run])
        rendered, cpu2 = time.perf_counter(), time.process_time()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        (run_dir / "report.html").write_text(html, encoding="utf-8")
        n = len(run.records)
        print(f"results: {n:,} ({len(run.info.cases or ()):,} cases x {len(run.info.variants)} variants)")
        print(f"load the run:       {loaded - start:.2f} s wall, {cpu1 - cpu0:.2f} s CPU")
        print(f"render report:      {rendered - loaded:.2f} s wall, {cpu2 - cpu1:.2f} s CPU")
        print(f"total:              {rendered - start:.2f} s wall, {cpu2 - cpu0:.2f} s CPU "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        print(f"report.html:        {len(html.encode()) / 1e6:.1f} MB")
        print(f"peak RSS:           {peak / 1024:.0f} MB (+{(peak - before) / 1024:.0f} MB while rendering)")
        if not args.no_browser:
            print(f"browser: JSON.parse + first page: {browser_init_ms(run_dir / 'report.html')}")
        if args.keep:
            print(f"written: {run_dir / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
