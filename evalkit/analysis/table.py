"""Plain aligned text tables for terminal output."""
from __future__ import annotations

from typing import Any, Sequence

from .. import metricset


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
    text = f"{metricset.get(name).show(value)} ({metricset.count_text(metrics.get(f'{name}_k'))}/{metrics.get(f'{name}_n')})"
    return text + (f" [{100 * ci[0]:.0f}–{100 * ci[1]:.0f}]" if ci else "")


def _tokens(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def summary_table(summary: dict[str, Any]) -> str:
    """One row per variant: n (cases), every headline metric of the metric set, prompt tokens."""
    shown = metricset.headline()
    variants = summary["variants"]
    reported = any(m.get("api_prompt_tokens") is not None for m in variants.values())
    headers = ["variant", "n", *(m.label for m in shown), "prompt tok", *(["API tok"] if reported else [])]
    rows = []
    for name, m in variants.items():
        counted, api = m.get("prompt_tokens"), m.get("api_prompt_tokens")
        row = [name, m.get("cases", m["n_scored"]), *(rate_cell(m, r.name) for r in shown),
               _tokens(counted if counted is not None or reported else api)]
        if reported:
            row.append(_tokens(api) + (" !" if m.get("token_count_mismatch") else ""))
        rows.append(row)
    out = render_table(headers, rows)
    for name, m in variants.items():
        if m.get("token_count_mismatch"):
            out += (f"\n{name}: ! counted {m['prompt_tokens']:.0f} prompt tokens, the API reported "
                    f"{m['api_prompt_tokens']:.0f} (mean difference {m['api_prompt_tokens_diff']:+.1f}, largest "
                    f"{m['api_prompt_tokens_diff_max']:+.0f}): check the variant's `base_model:` or `tokenizer:`")
    attempts = [f"{n}: {m['n_scored']} attempts over {m['cases']} cases" for n, m in summary["variants"].items()
                if m.get("cases") is not None and m["n_scored"] > m["cases"]]
    if attempts:
        out += "\nn counts cases; rates are means of per-case shares of attempts (" + "; ".join(attempts) + ")"
    errors = {n: m["errors"] for n, m in summary["variants"].items() if m.get("errors")}
    if errors:
        out += "\n" + "; ".join(f"{n}: {k} error(s) excluded from rates" for n, k in errors.items())
    return out
