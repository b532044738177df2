"""Intervals, paired tests and repeat statistics against values computed independently."""
from fractions import Fraction
from math import comb

import pytest

from evalkit.analysis.stats import (
    case_pass_rates,
    mcnemar_exact,
    paired,
    pass_at_k,
    pass_hat_k,
    percentile,
    repeat_stats,
    wilson,
)


# Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score, no correction).
@pytest.mark.parametrize("k,n,low,high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_newcombe(k, n, low, high):
    r = wilson(k, n)
    assert (round(r.low, 4), round(r.high, 4)) == (low, high)


@pytest.mark.parametrize("k,n,low,high", [
    (4, 5, 0.3755, 0.9638),   # the seed's fine-tuned fake-company detection
    (5, 5, 0.5655, 1.0),
    (0, 5, 0.0, 0.4345),
    (45, 50, 0.7864, 0.9565),
])
def test_wilson_seed_sized_samples(k, n, low, high):
    r = wilson(k, n)
    assert r.value == k / n
    assert (round(r.low, 4), round(r.high, 4)) == (low, high)


def test_wilson_without_data_has_no_interval():
    r = wilson(0, 0)
    assert (r.value, r.low, r.high) == (None, None, None)


def exact_two_sided(b: int, c: int) -> float:
    """Independent exact McNemar: doubled smaller tail of Binomial(b + c, 1/2), in fractions."""
    n = b + c
    tail = sum(Fraction(comb(n, i), 2 ** n) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), 2 * tail))


@pytest.mark.parametrize("b,c", [(0, 1), (1, 0), (10, 2), (2, 10), (3, 13), (7, 7), (0, 6), (25, 12)])
def test_mcnemar_exact_against_binomial_tail(b, c):
    m = mcnemar_exact(b, c)
    assert m.p_value == pytest.approx(exact_two_sided(b, c), abs=1e-12)
    assert (m.b, m.c) == (b, c)


@pytest.mark.parametrize("b,c", [(3000, 3100), (2900, 3300), (4000, 4000), (10, 7000)])
def test_mcnemar_past_the_exact_range_keeps_its_precision(b, c):
    """Thousands of discordant cases (large runs) are summed in floats: still the exact tail."""
    exact = exact_two_sided(b, c)
    assert mcnemar_exact(b, c).p_value == pytest.approx(exact, rel=1e-9, abs=1e-300)


def test_mcnemar_known_values():
    assert mcnemar_exact(10, 2).p_value == pytest.approx(158 / 4096)
    assert mcnemar_exact(0, 6).p_value == pytest.approx(2 / 64)
    assert mcnemar_exact(0, 0).p_value == 1.0
    # the seed's 4/5 vs 5/5: one discordant case says nothing
    assert mcnemar_exact(0, 1).p_value == 1.0


def test_paired_uses_only_shared_cases():
    a = {"x": True, "y": True, "z": False, "only-a": True}
    b = {"x": False, "y": True, "z": True, "only-b": False}
    m = paired(a, b)
    assert (m.b, m.c, m.n) == (1, 1, 3)


def test_percentile_interpolates():
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)


def test_pass_hat_k_and_pass_at_k_by_hand():
    # 5 attempts, 3 correct, k = 2: pass^2 = C(3,2)/C(5,2) = 3/10; pass@2 = 1 - C(2,2)/C(5,2) = 9/10
    assert pass_hat_k(5, 3, 2) == pytest.approx(0.3)
    assert pass_at_k(5, 3, 2) == pytest.approx(0.9)
    assert pass_hat_k(3, 3, 3) == 1.0 and pass_hat_k(3, 2, 3) == 0.0
    assert pass_hat_k(4, 2, 1) == pass_at_k(4, 2, 1) == 0.5
    with pytest.raises(ValueError):
        pass_hat_k(2, 1, 3)


def test_repeat_stats():
    outcomes = {"a": [True, True, True], "b": [True, False, True], "c": [False, False, False]}
    assert case_pass_rates(outcomes) == {"a": 1.0, "b": pytest.approx(2 / 3), "c": 0.0}
    r = repeat_stats(outcomes)
    assert r.k == 3 and r.cases == 3
    assert r.pass_rate == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert r.pass_hat_k == pytest.approx(1 / 3)  # only "a" is right every time
    assert r.pass_at_k == pytest.approx(2 / 3)
    assert (r.all_correct.k, r.all_correct.n) == (1, 3)
    assert r.consistency == pytest.approx(2 / 3)  # a and c agree with themselves, b does not
    r2 = repeat_stats(outcomes, k=2)
    assert r2.pass_hat_k == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_repeat_stats_empty():
    r = repeat_stats({})
    assert r.cases == 0 and r.pass_rate is None and r.all_correct.low is None
