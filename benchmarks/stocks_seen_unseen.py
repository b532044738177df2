"""Accuracy of each variant of a stocks run on companies seen in LoRA training vs unseen ones.

    python benchmarks/stocks_seen_unseen.py RUN_DIR [RUN_DIR ...]

A should-call case is "seen" when every symbol it expects appears in suites/data/stocks_train.jsonl;
fake companies and the vague question never appear in training. Also prints an exact McNemar test
of each variant against base+short on the cases both scored.
"""
from __future__ import annotations

import json
import pathlib
import sys
from collections import defaultdict

from scipy.stats import binomtest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def train_symbols() -> set[str]:
    out = set()
    for line in (ROOT / "suites" / "data" / "stocks_train.jsonl").read_text().splitlines():
        for call in json.loads(line)["messages"][-1].get("tool_calls") or ():
            out.add(json.loads(call["function"]["arguments"])["symbol"])
    return out


def expected_symbols(record: dict) -> list[str]:
    syms = []
    for call in record["expected"].get("calls") or ():
        s = (call.get("arguments") or {}).get("symbol")
        if isinstance(s, dict):
            s = (s.get("any_of") or s.get("values") or [None])[0]
        syms.append(s)
    return syms


def group(record: dict, seen: set[str]) -> str:
    if not record["should_call"]:
        return "refuse"
    syms = expected_symbols(record)
    if all(s in seen for s in syms):
        return "call/seen"
    if any(s in seen for s in syms):
        return "call/partly"
    return "call/unseen"


def main(run_dirs: list[str]) -> None:
    seen = train_symbols()
    outcomes: dict[str, dict[str, bool]] = defaultdict(dict)
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for d in run_dirs:
        for line in (pathlib.Path(d) / "results.jsonl").read_text().splitlines():
            r = json.loads(line)
            if r["verdict"] == "error":
                continue
            ok = r["verdict"] == "correct"
            outcomes[r["variant"]][r["case_id"]] = ok
            c = counts[r["variant"]][group(r, seen)]
            c[0] += ok
            c[1] += 1
    groups = ["call/seen", "call/partly", "call/unseen", "refuse"]
    print(f"{'variant':12s} " + "  ".join(f"{g:>12s}" for g in groups) + "   McNemar vs base+short")
    base = outcomes.get("base+short", {})
    for variant, by_group in counts.items():
        cells = "  ".join(f"{by_group[g][0]:>5d}/{by_group[g][1]:<6d}" for g in groups)
        test = ""
        if base and variant != "base+short":
            shared = set(base) & set(outcomes[variant])
            b = sum(outcomes[variant][c] and not base[c] for c in shared)
            c_ = sum(base[c] and not outcomes[variant][c] for c in shared)
            p = binomtest(b, b + c_, 0.5).pvalue if b + c_ else 1.0
            test = f"   +{b} / -{c_}, p = {p:.2g}"
        print(f"{variant:12s} {cells}{test}")


if __name__ == "__main__":
    main(sys.argv[1:])
