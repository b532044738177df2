"""`evalkit tokens SUITE`: prompt tokens per variant, counted offline, and the full->short saving."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..analysis.table import render_table

HELP = """\
Count, without calling any model, the prompt tokens of every request SUITE would send: per
variant the function-definition tokens, the prompt tokens (mean, min, max over cases) and the
reduction against the variant that sends the full definitions. Counted with tiktoken and
OpenAI's prompt rules (messages plus the rendered definitions), or with the model's own tokenizer
when the provider has one (the embedded local model: read from its GGUF file, no weights
loaded); works offline."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokens", help="count prompt tokens per variant (no model calls)",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", metavar="SUITE", help="suite YAML file")
    p.add_argument("--json", action="store_true", help="print JSON (with per-case counts) instead of a table")
    p.set_defaults(func=run)


def _num(x: float | None) -> str:
    return "n/a" if x is None else (f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}")


def render(summary: dict[str, Any]) -> str:
    headers = ["variant", "functions", "encoding", "fn tokens", "prompt mean", "min", "max",
               f"vs {summary['reference'] or 'full'}"]
    rows, notes = [], []
    for name, r in summary["variants"].items():
        if "prompt_mean" not in r:
            rows.append([name, r["functions"], r["encoding"] or "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"])
            notes.append(f"{name}: {r['reason']}")
            continue
        red = r["reduction"]
        vs = "ref" if name == summary["reference"] else "–" if red is None else f"{-100 * red:+.0f}%"
        rows.append([name, r["functions"], r["encoding"], _num(r["function_tokens"]), _num(r["prompt_mean"]),
                     r["prompt_min"], r["prompt_max"], vs])
    out = f"{summary['suite']}: prompt tokens over {summary['n_cases']} cases (counted, no model calls)\n"
    return out + render_table(headers, rows) + "".join(f"\n{n}" for n in notes)


def run(args: argparse.Namespace) -> int:
    from ..run.prepare import token_summary
    from ..suite import load_suite
    summary = token_summary(load_suite(args.suite))
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    return 0
