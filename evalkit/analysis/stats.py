"""Intervals and paired tests. Every rate evalkit shows carries n and a 95% interval: Wilson when
each case was asked once, the case-level (cluster-robust) Wilson interval of `case_rate` with repeats."""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Mapping, Sequence


@dataclass(frozen=True)
class Rate:
    k: int | float  # with repeats: the sum of per-case shares of successful attempts
    n: int  # cases
    low: float | None
    high: float | None

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None


def wilson(k: int, n: int, confidence: float = 0.95) -> Rate:
    """Wilson score interval (no continuity correction). n = 0 gives no interval."""
    if n == 0:
        return Rate(k, n, None, None)
    low, high = _wilson_bounds(k / n, n, confidence)
    return Rate(k, n, low, high)


def _wilson_bounds(p: float, n: float, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a share p observed over n (possibly an effective, non-integer n)."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(0.0, p * (1 - p)) / n + z * z / (4 * n * n)) / denom
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def case_rate(attempts: Mapping[str, Sequence[bool]], confidence: float = 0.95) -> Rate:
    """A rate with the case as the unit: each case's outcome is the share of its attempts that
    succeeded, the rate is the mean of those shares over cases and n is the number of cases.

    With one attempt per case this is exactly `wilson`. With repeats the attempts of a case are
    correlated, so they are not n independent trials: the variance of the mean is the
    cluster-robust one, v = sum((s_i - mean)^2) / n^2 over the per-case shares s_i (CR0, each
    case a cluster), and the interval is the Wilson interval at the effective sample size
    n_eff = p(1 - p) / v (Korn & Graubard 1998). n_eff is at least the number of cases (v can
    not exceed p(1 - p) / n) and is capped at the number of attempts; when every attempt agrees
    with every other (p is 0 or 1) there is no spread to learn from and n_eff is the number of
    cases. Deterministic repeats (every case all right or all wrong) thus give the interval of
    one attempt per case, never the narrower one of n x k independent attempts."""
    shares = [sum(map(bool, xs)) / len(xs) for xs in attempts.values() if xs]
    n = len(shares)
    if all(len(xs) <= 1 for xs in attempts.values()):
        return wilson(sum(s == 1 for s in shares), n, confidence)
    total = sum(len(xs) for xs in attempts.values())
    p = sum(shares) / n
    spread = sum((s - p) ** 2 for s in shares) / (n * n)
    if p * (1 - p) <= 1e-12:
        n_eff = float(n)
    elif spread <= 1e-15:
        n_eff = float(total)
    else:
        n_eff = min(float(total), max(float(n), p * (1 - p) / spread))
    low, high = _wilson_bounds(p, n_eff, confidence)
    return Rate(round(sum(shares), 6), n, low, high)


@dataclass(frozen=True)
class McNemar:
    """Paired comparison of A and B on the same cases. b: A right, B wrong; c: A wrong, B right."""

    b: int
    c: int
    n: int
    p_value: float


def mcnemar_exact(b: int, c: int, n: int | None = None) -> McNemar:
    """Exact McNemar: two-sided binomial test of b successes in b + c trials at p = 0.5."""
    # at p = 0.5 the binomial is symmetric: the two-sided p-value is twice the smaller tail
    p = 1.0 if b + c == 0 else 2.0 * _half_binomial_cdf(min(b, c), b + c)
    return McNemar(b, c, n if n is not None else b + c, min(1.0, p))


EXACT_UP_TO = 5000  # discordant pairs summed in exact integers; more in floats (integers grow with n^2)


def _half_binomial_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), k <= n / 2 (no scipy: importing it cost every run
    0.3 s of start-up). Up to EXACT_UP_TO trials in exact integer arithmetic with one rounding at
    the end; past it the terms are summed from the largest, C(n, k) / 2^n through lgamma, down
    until they stop counting (relative error ~1e-9 at a million trials)."""
    if n <= EXACT_UP_TO:
        term = total = 1
        for i in range(k):
            term = term * (n - i) // (i + 1)
            total += term
        return total / (1 << n)
    top = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    ratio = total = 1.0
    for i in range(k, 0, -1):
        ratio *= i / (n - i + 1)
        total += ratio
        if ratio < 1e-17 * total:
            break
    return math.exp(top) * total


def paired(a: dict[str, bool], b: dict[str, bool]) -> McNemar:
    """McNemar on the case ids both variants scored."""
    only_a = only_b = shared = 0
    for k, x in a.items():
        y = b.get(k)
        if y is None:
            continue
        shared += 1
        if x != y:
            if x:
                only_a += 1
            else:
                only_b += 1
    return mcnemar_exact(only_a, only_b, shared)


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), None for no data."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# ---- repeats: the same case asked k times ------------------------------------------------

def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k of one case (tau-bench): the chance that k draws without replacement from its n
    attempts, c of them correct, are all correct. k = n: 1 if every attempt was correct."""
    if not 0 < k <= n or not 0 <= c <= n:
        raise ValueError(f"pass^k needs 0 < k <= n and 0 <= c <= n (n={n}, c={c}, k={k})")
    return math.comb(c, k) / math.comb(n, k)


def pass_at_k(n: int, c: int, k: int) -> float:
    """pass@k of one case (Chen et al. 2021): the chance that at least one of k draws is correct."""
    if not 0 < k <= n or not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 < k <= n and 0 <= c <= n (n={n}, c={c}, k={k})")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


@dataclass(frozen=True)
class Repeats:
    """How a variant behaves over repeats of the same cases.

    `pass_rate`: mean over cases of the per-case share of correct attempts; `pass_hat_k`: mean
    per-case pass^k; `all_correct`: cases right on every attempt, with a Wilson interval (it equals
    pass^k when every case has exactly k attempts); `consistency`: share of cases whose attempts
    all agree (all right or all wrong)."""

    cases: int
    k: int
    pass_rate: float | None
    pass_hat_k: float | None
    pass_at_k: float | None
    all_correct: Rate
    consistency: float | None


def case_pass_rates(outcomes: Mapping[str, Sequence[bool]]) -> dict[str, float]:
    """Per case id, the share of its attempts that were correct (cases with no attempt left out)."""
    return {case: sum(map(bool, xs)) / len(xs) for case, xs in outcomes.items() if xs}


def repeat_stats(outcomes: Mapping[str, Sequence[bool]], k: int | None = None) -> Repeats:
    """Summarise per-case attempt outcomes; k defaults to the fewest attempts any case has."""
    cases = {c: [bool(x) for x in xs] for c, xs in outcomes.items() if xs}
    if not cases:
        return Repeats(0, k or 0, None, None, None, wilson(0, 0), None)
    k = k or min(len(xs) for xs in cases.values())
    usable = {c: xs for c, xs in cases.items() if len(xs) >= k}
    rates = case_pass_rates(cases)
    hat = [pass_hat_k(len(xs), sum(xs), k) for xs in usable.values()]
    at = [pass_at_k(len(xs), sum(xs), k) for xs in usable.values()]
    return Repeats(
        cases=len(cases), k=k,
        pass_rate=sum(rates.values()) / len(rates),
        pass_hat_k=sum(hat) / len(hat) if hat else None,
        pass_at_k=sum(at) / len(at) if at else None,
        all_correct=wilson(sum(all(xs) for xs in cases.values()), len(cases)),
        consistency=sum(all(xs) or not any(xs) for xs in cases.values()) / len(cases),
    )


# ---- before / after on the same cases ------------------------------------------------------

@dataclass(frozen=True)
class PairedDifference:
    """after − before on the same n cases: each rate with its Wilson interval, the difference with
    its interval, and the exact McNemar test on the discordant cases."""

    before: Rate
    after: Rate
    delta: float | None
    low: float | None
    high: float | None
    test: McNemar


def paired_difference(both: int, before_only: int, after_only: int, neither: int,
                      confidence: float = 0.95) -> PairedDifference:
    """Newcombe's hybrid score interval for a difference of paired proportions (Newcombe 1998,
    method 10), built from the two Wilson intervals, with the correlation term as Altman et al.'s
    'Statistics with Confidence' computes it (shrunk by n/2 when positive), so the interval does not
    collapse to a point when no case changed. Counts: cases right both times, right only before,
    right only after, wrong both times."""
    n = both + before_only + after_only + neither
    test = mcnemar_exact(before_only, after_only, n)
    r1, r2 = wilson(both + before_only, n, confidence), wilson(both + after_only, n, confidence)
    if n == 0:
        return PairedDifference(r1, r2, None, None, None, test)
    p1, p2 = r1.value, r2.value
    margins = (both + before_only) * (after_only + neither) * (both + after_only) * (before_only + neither)
    cross = both * neither - before_only * after_only
    cross = cross - n / 2 if cross > n / 2 else min(cross, 0)
    phi = cross / math.sqrt(margins) if margins else 0.0
    down = math.sqrt(max(0.0, (p2 - r2.low) ** 2 - 2 * phi * (p2 - r2.low) * (r1.high - p1) + (r1.high - p1) ** 2))
    up = math.sqrt(max(0.0, (r2.high - p2) ** 2 - 2 * phi * (r2.high - p2) * (p1 - r1.low) + (p1 - r1.low) ** 2))
    delta = p2 - p1
    return PairedDifference(r1, r2, delta, max(-1.0, delta - down), min(1.0, delta + up), test)
