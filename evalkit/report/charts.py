"""Geometry of the report's inline SVG charts. Pure: numbers in, coordinates out; the template
draws them (and escapes every label)."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ..scoring import VERDICTS

PALETTE = ("#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626")


def verdict_bars(variants: Mapping[str, Mapping[str, Any]], width: float = 560.0,
                 label_width: float = 200.0, row: float = 28.0) -> dict[str, Any]:
    """One stacked bar per variant: a segment per verdict, widths proportional to counts."""
    rows = []
    for i, (name, m) in enumerate(variants.items()):
        counts = m.get("verdicts") or {}
        total = sum(counts.values())
        x, segments = label_width, []
        for verdict in VERDICTS:
            k = counts.get(verdict, 0)
            if not k:
                continue
            w = width * k / total
            segments.append({"verdict": verdict, "k": k, "x": round(x, 2), "w": round(w, 2),
                             "share": k / total, "label": str(k) if w >= 18 else ""})
            x += w
        rows.append({"name": name, "short": name if len(name) <= 28 else name[:27] + "…",
                     "y": i * row, "total": total, "segments": segments})
    return {"rows": rows, "width": label_width + width + 8, "height": max(1, len(rows)) * row,
            "bar_height": row - 8, "verdicts": [v for v in VERDICTS
                                                 if any((m.get("verdicts") or {}).get(v) for m in variants.values())]}


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def money(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.1f}"
    return f"{x:.2g}"


def count(x: float) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            v = x / div
            return f"{v:.0f}{unit}" if v == int(v) else f"{v:.1f}{unit}"
    return f"{x:.0f}"


def tco_chart(tco: Mapping[str, Any], width: float = 720.0, height: float = 320.0) -> dict[str, Any] | None:
    """Daily cost against requests/day (log scale) per variant, the break-even marked."""
    xs = [float(x) for x in tco.get("requests_per_day") or [] if x and x > 0]
    series = tco.get("series") or {}
    if len(xs) < 2 or not series:
        return None
    left, right, top, bottom = 64.0, width - 16, 16.0, height - 40
    lo, hi = math.log10(min(xs)), math.log10(max(xs))
    ymax = max(max(v) for v in series.values()) or 1.0
    step = _nice_step(ymax)
    ytop = step * math.ceil(ymax / step)

    def px(x: float) -> float:
        return round(left + (math.log10(x) - lo) / ((hi - lo) or 1) * (right - left), 2)

    def py(y: float) -> float:
        return round(bottom - y / ytop * (bottom - top), 2)

    lines = []
    for i, (name, ys) in enumerate(series.items()):
        points = " ".join(f"{px(x)},{py(y)}" for x, y in zip(xs, ys) if x > 0)
        lines.append({"name": name, "points": points, "colour": PALETTE[i % len(PALETTE)]})
    xticks = [{"x": px(10 ** e), "label": count(10 ** e)}
              for e in range(math.ceil(lo), math.floor(hi) + 1)]
    yticks = [{"y": py(step * j), "label": money(step * j)} for j in range(int(round(ytop / step)) + 1)]
    chart = {"width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
             "lines": lines, "xticks": xticks, "yticks": yticks, "break_even": None,
             "text": (tco.get("break_even") or {}).get("text")}
    be = tco.get("break_even") or {}
    point = be.get("requests_per_day")
    if point and min(xs) <= point <= max(xs):
        chart["break_even"] = {"x": px(point), "label": f"break-even ≈ {count(point)}/day"}
    return chart


def interval_bar(value: float | None, ci: Sequence[float] | None, width: float = 72.0) -> dict[str, Any] | None:
    """A small 0–100% track with the Wilson interval and the point estimate."""
    if value is None or not ci:
        return None
    return {"width": width, "lo": round(ci[0] * width, 2), "w": round(max(1.0, (ci[1] - ci[0]) * width), 2),
            "x": round(value * width, 2)}


def loss_chart(curve: Mapping[str, Sequence[Sequence[float]]], width: float = 180.0,
               height: float = 56.0) -> dict[str, Any] | None:
    """Small multiples of a fine-tune's loss curves ([step, value] points per metric), one scale."""
    series = {k: [(float(p[0]), float(p[1])) for p in v if len(p) >= 2 and p[1] is not None]
              for k, v in curve.items() if isinstance(v, Sequence)}
    series = {k: v for k, v in series.items() if len(v) >= 2}
    if not series:
        return None
    xs = [x for v in series.values() for x, _ in v]
    ys = [y for v in series.values() for _, y in v]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad = 3.0

    def pt(x: float, y: float) -> str:
        px = pad + (x - x0) / ((x1 - x0) or 1) * (width - 2 * pad)
        py = pad + (1 - (y - y0) / ((y1 - y0) or 1)) * (height - 2 * pad)
        return f"{px:.1f},{py:.1f}"

    lines = [{"name": k, "points": " ".join(pt(x, y) for x, y in v), "colour": PALETTE[i % len(PALETTE)],
              "last": v[-1][1]} for i, (k, v) in enumerate(series.items())]
    return {"width": width, "height": height, "lines": lines, "low": y0, "high": y1, "steps": int(x1)}


def hyperparameter_chart(key: str, points: Sequence[Mapping[str, Any]], width: float = 220.0,
                         height: float = 130.0) -> dict[str, Any]:
    """The trials' metric (with its Wilson interval) against one setting; values are placed in
    sorted order, evenly spaced, so categorical and numeric settings read the same way."""
    left, right, top, bottom = 30.0, 8.0, 8.0, 22.0
    values = list(dict.fromkeys(str(p["value"]) for p in points))
    step = (width - left - right) / max(1, len(values))

    def px(value: Any) -> float:
        return round(left + step * (values.index(str(value)) + 0.5), 1)

    def py(y: float) -> float:
        return round(top + (1 - y) * (height - top - bottom), 1)

    marks = [{"x": px(p["value"]), "y": py(p["metric"]), "lo": py(p["low"]) if p["low"] is not None else None,
              "hi": py(p["high"]) if p["high"] is not None else None, "label": p["label"],
              "value": p["value"], "metric": p["metric"]} for p in points if p["metric"] is not None]
    return {"key": key, "width": width, "height": height, "marks": marks,
            "ticks": [{"x": px(v), "label": v} for v in values],
            "grid": [{"y": py(g), "label": f"{int(g * 100)}%"} for g in (0.0, 0.5, 1.0)],
            "left": left, "right": width - right, "base": height - bottom}
