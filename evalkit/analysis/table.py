"""Plain aligned text tables for terminal output."""
from __future__ import annotations

from typing import Any, Sequence


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def rate_cell(metrics: dict[str, Any], name: str) -> str:
    value = metrics.get(name)
    if value is None:
        return "–"
    ci = metrics.get(f"{name}_ci")
    text = f"{100 * value:.0f}% ({metrics.get(f'{name}_k')}/{metrics.get(f'{name}_n')})"
    return text + (f" [{100 * ci[0]:.0f}–{100 * ci[1]:.0f}]" if ci else "")


def summary_table(summary: dict[str, Any]) -> str:
    headers = ["variant", "n", "accuracy", "call acc.", "refusal acc.", "halluc. rate", "prompt tok"]
    rows = []
    for name, m in summary["variants"].items():
        tokens = m.get("prompt_tokens") if m.get("prompt_tokens") is not None else m.get("api_prompt_tokens")
        rows.append([name, m["n_scored"], rate_cell(m, "accuracy"), rate_cell(m, "call_accuracy"),
                     rate_cell(m, "refusal_accuracy"), rate_cell(m, "hallucination_rate"),
                     "–" if tokens is None else f"{tokens:.0f}"])
    out = render_table(headers, rows)
    errors = {n: m["errors"] for n, m in summary["variants"].items() if m.get("errors")}
    if errors:
        out += "\n" + "; ".join(f"{n}: {k} error(s) excluded from rates" for n, k in errors.items())
    return out
