"""Intervals and paired tests. Every rate evalkit shows carries n and a Wilson 95% interval."""
from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import binomtest, norm


@dataclass(frozen=True)
class Rate:
    k: int
    n: int
    low: float | None
    high: float | None

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None


def wilson(k: int, n: int, confidence: float = 0.95) -> Rate:
    """Wilson score interval (no continuity correction). n = 0 gives no interval."""
    if n == 0:
        return Rate(k, n, None, None)
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Rate(k, n, max(0.0, float(centre - half)), min(1.0, float(centre + half)))


@dataclass(frozen=True)
class McNemar:
    """Paired comparison of A and B on the same cases. b: A right, B wrong; c: A wrong, B right."""

    b: int
    c: int
    n: int
    p_value: float


def mcnemar_exact(b: int, c: int, n: int | None = None) -> McNemar:
    """Exact McNemar: two-sided binomial test of b successes in b + c trials at p = 0.5."""
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return McNemar(b, c, n if n is not None else b + c, min(1.0, p))


def paired(a: dict[str, bool], b: dict[str, bool]) -> McNemar:
    """McNemar on the case ids both variants scored."""
    shared = a.keys() & b.keys()
    only_a = sum(1 for k in shared if a[k] and not b[k])
    only_b = sum(1 for k in shared if b[k] and not a[k])
    return mcnemar_exact(only_a, only_b, len(shared))


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), None for no data."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
