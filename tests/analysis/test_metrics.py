"""The metric set (evalkit/metricset.py) and how rates are computed from it (analysis/metrics.py):
adding a metric is one registry entry that shows up in the summary, gate, trials, report, export
and CLI table; with repeats the case is the unit (n = cases, case-level interval, majority rule)."""
import csv
import json
import random

import pytest

from evalkit import metricset
from evalkit.analysis.metrics import case_outcomes, good_outcomes, pairwise, summarise
from evalkit.analysis.stats import _wilson_bounds, case_rate, wilson
from evalkit.analysis.table import summary_table
from evalkit.metricset import Metric
from evalkit.rundir.results import write_json


def rec(case_id, verdict, variant="v", should_call=True, repeat=0, calls=None):
    if calls is None:
        calls = [{"name": "f", "arguments": {}}] if verdict not in ("over_refusal", "error") else []
    return {"case_id": case_id, "variant": variant, "repeat": repeat, "verdict": verdict, "reason": "",
            "should_call": should_call, "name_correct": verdict == "correct" if should_call else None,
            "calls": calls, "expected": {}, "tags": [], "model": "m", "api": "tools"}


def write_run(path, records, variants=None):
    path.mkdir(parents=True)
    (path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    info = {v: {"provider": "openai", "model": "m", "functions": "full", **(variants or {}).get(v, {})}
            for v in dict.fromkeys(r["variant"] for r in records)}
    write_json(path / "summary.json", summarise(records, info, list(info)))
    write_json(path / "run.json", {"suite": "demo", "variants": info,
                                   "cases": list(dict.fromkeys(r["case_id"] for r in records))})
    return path


# ---- one entry, seen everywhere ---------------------------------------------------------------

ASKED = Metric("asked_back", "asked back", "a question in reply, among cases that expect a refusal",
               counts=lambda r: not r.get("should_call"),
               success=lambda r: not r.get("calls") and r.get("verdict") == "correct",
               reads=("should_call", "calls", "verdict"))


@pytest.fixture
def asked(monkeypatch):
    monkeypatch.setitem(metricset.REGISTRY, ASKED.name, ASKED)
    return ASKED


def refusals(n, asked_back, variant="v", prefix="r"):
    """n should-refuse cases; the first `asked_back` answered with a question, the rest with a call."""
    return [rec(f"{prefix}{i}", "correct" if i < asked_back else "hallucinated_call", variant,
                should_call=False, calls=[] if i < asked_back else None) for i in range(n)]


def test_a_new_metric_is_one_entry_and_shows_everywhere(asked, tmp_path, cli):
    base_records = refusals(12, 12) + [rec("c0", "correct")]
    run_records = refusals(12, 2) + [rec("c0", "correct")]
    # summary: value, count, n and interval
    m = summarise(run_records)["variants"]["v"]
    assert (m["asked_back"], m["asked_back_k"], m["asked_back_n"]) == (pytest.approx(2 / 12), 2, 12)
    assert m["asked_back_ci"] == [round(wilson(2, 12).low, 6), round(wilson(2, 12).high, 6)]
    # the CLI table
    assert "asked back" in summary_table(summarise(run_records))
    base = write_run(tmp_path / "base", base_records)
    run = write_run(tmp_path / "run", run_records,
                    {"v": {"trial": {"n_epochs": 2}}})
    # gate: the flag accepts it, the paired test and the drop rule apply to it
    code, out, err = cli("gate", run, "--baseline", base, "--metric", "asked_back")
    assert code == 1, out + err
    assert "asked_back 100% -> 16.7%: fell 83.3 points" in out and "10 cases worse, 0 better of 12 shared" in out
    # a suite's gate: section validates it as well
    from evalkit.suite.sections import GateSpec
    assert GateSpec(metrics=["asked_back"], min={"asked_back": 0.5}).metrics == ["asked_back"]
    # trials: sorted by it
    code, out, err = cli("trials", run, "--metric", "asked_back", "--json")
    assert code == 0, err
    assert json.loads(out)["rows"][0]["value"] == {"value": pytest.approx(2 / 12), "k": 2, "n": 12,
                                                   "ci": [pytest.approx(wilson(2, 12).low, abs=1e-6),
                                                          pytest.approx(wilson(2, 12).high, abs=1e-6)]}
    # report: a headline column with its label and help text
    code, _, err = cli("report", run)
    assert code == 0, err
    html = (run / "report.html").read_text()
    assert 'data-metric="asked_back"' in html and "asked back" in html and ASKED.help in html
    # export: one column, the row's contribution (empty outside the denominator)
    code, out, err = cli("export", run, "--format", "csv", "-o", tmp_path / "t.csv")
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert [r["asked_back"] for r in rows] == ["1.0"] * 2 + ["0.0"] * 10 + [""]


def test_unknown_metric_is_one_line_everywhere(cli, tmp_path):
    run = write_run(tmp_path / "run", [rec("c0", "correct")])
    code, _, err = cli("trials", run, "--all", "--metric", "speed")
    assert code == 2 and "unknown metric 'speed'" in err and err.count("\n") == 1, err
    with pytest.raises(ValueError, match="unknown metric 'speed'"):
        metricset.get("speed")


def test_direction_and_definitions_come_from_the_registry():
    assert [m.name for m in metricset.metrics() if m.lower_is_better] == ["hallucination_rate", "over_refusal_rate"]
    records = [rec("a", "correct", should_call=False, calls=[]), rec("b", "hallucinated_call", should_call=False),
               rec("c", "over_refusal"), rec("d", "wrong_function"), rec("e", "error")]
    m = summarise(records)["variants"]["v"]
    assert (m["accuracy_k"], m["accuracy_n"]) == (1, 4)  # the error is left out
    assert (m["hallucination_rate_k"], m["hallucination_rate_n"]) == (1, 2)
    assert (m["over_refusal_rate_k"], m["over_refusal_rate_n"]) == (1, 2)
    assert good_outcomes(records, "hallucination_rate") == {"a": True, "b": False}
    assert metricset.count_text(3) == "3" and metricset.count_text(7.6667) == "7.7"


# ---- repeats: the case is the unit -------------------------------------------------------------

def attempts(shares_k):
    """Per case, its attempts: (correct, total) -> that many True then False."""
    return {f"c{i}": [True] * c + [False] * (t - c) for i, (c, t) in enumerate(shares_k)}


def test_one_attempt_per_case_is_exactly_wilson():
    r = case_rate(attempts([(1, 1), (0, 1), (1, 1), (1, 1)]))
    assert r == wilson(3, 4) and isinstance(r.k, int)


def test_repeats_give_per_case_means_and_a_case_level_interval():
    r = case_rate(attempts([(3, 3), (2, 3), (1, 3), (0, 3)]))
    assert r.n == 4 and r.k == pytest.approx(2.0) and r.value == pytest.approx(0.5)
    spread = sum((s - 0.5) ** 2 for s in (1, 2 / 3, 1 / 3, 0)) / 16
    low, high = _wilson_bounds(0.5, 0.25 / spread, 0.95)  # n_eff = p(1-p) / v = 7.2
    assert (r.low, r.high) == (pytest.approx(low), pytest.approx(high))
    naive, cases = wilson(6, 12), wilson(2, 4)
    assert cases.low < r.low and r.high < cases.high  # repeats do narrow it ...
    assert r.low < naive.low and naive.high < r.high  # ... but never as far as 12 independent trials


def test_deterministic_repeats_are_one_attempt_per_case():
    r = case_rate(attempts([(3, 3), (3, 3), (0, 3), (3, 3), (0, 3)]))
    w = wilson(3, 5)
    assert (r.n, r.low, r.high) == (5, pytest.approx(w.low), pytest.approx(w.high))
    every = case_rate(attempts([(3, 3)] * 8))
    assert (every.low, every.high) == (pytest.approx(wilson(8, 8).low), pytest.approx(1.0))


def test_interval_covers_under_correlated_repeats():
    """20 cases with their own success chance (Beta(0.3, 0.3): most cases nearly always or nearly
    never right), 5 attempts each. Wilson over the 100 attempts claims 95% and covers far less;
    the case-level interval keeps close to 95%."""
    rng = random.Random(7)
    hits_case = hits_naive = 0
    sims, true_p = 400, 0.5
    for _ in range(sims):
        outcomes = {}
        for i in range(20):
            p = rng.betavariate(0.3, 0.3)
            outcomes[str(i)] = [rng.random() < p for _ in range(5)]
        r = case_rate(outcomes)
        w = wilson(sum(map(sum, outcomes.values())), 100)
        hits_case += r.low <= true_p <= r.high
        hits_naive += w.low <= true_p <= w.high
    assert hits_case / sims >= 0.9
    assert hits_naive / sims <= 0.8


def test_summary_with_repeats_shows_cases(tmp_path):
    records = [rec(f"c{i}", "correct" if j < c else "wrong_arguments", repeat=j)
               for i, c in enumerate([3, 2, 1, 0]) for j in range(3)]
    m = summarise(records)["variants"]["v"]
    assert m["accuracy_n"] == 4 and m["accuracy"] == pytest.approx(0.5) and m["cases"] == 4 and m["n"] == 12
    assert m["pass_hat_k"] == pytest.approx(0.25) and m["consistency"] == pytest.approx(0.5)  # as before
    table = summary_table(summarise(records))
    assert "50% (2/4)" in table and "v: 12 attempts over 4 cases" in table


def test_paired_tests_use_the_majority_of_attempts():
    a = [rec(f"c{i}", "correct" if j < 2 else "wrong_arguments", "a", repeat=j) for i in range(6) for j in range(3)]
    b = [rec(f"c{i}", "correct" if j < 1 else "wrong_arguments", "b", repeat=j) for i in range(6) for j in range(3)]
    assert case_outcomes(a, "accuracy") == {f"c{i}": True for i in range(6)}  # 2 of 3
    assert case_outcomes(b, "accuracy") == {f"c{i}": False for i in range(6)}  # 1 of 3
    tie = [rec("t", "correct", repeat=0), rec("t", "wrong_arguments", repeat=1)]
    assert case_outcomes(tie, "accuracy") == {"t": False}  # 1 of 2 is not a majority
    (pair,) = pairwise({"a": a, "b": b})
    assert (pair["a_only_correct"], pair["b_only_correct"], pair["n"]) == (6, 0, 6)  # cases, not 18 attempts
    assert pair["p_value"] == pytest.approx(2 * 0.5 ** 6)


def test_gate_with_repeats_counts_cases(tmp_path, cli):
    base = write_run(tmp_path / "base", [rec(f"c{i}", "correct", repeat=j) for i in range(10) for j in range(3)])
    run = write_run(tmp_path / "run", [rec(f"c{i}", "correct" if j == 0 else "wrong_arguments", repeat=j)
                                       for i in range(10) for j in range(3)])
    code, out, err = cli("gate", run, "--baseline", base)
    assert code == 1, out + err
    assert "accuracy 100% -> 33.3%" in out and "10 cases worse, 0 better of 10 shared" in out
    assert "(3.3/10" in out  # the run's rate: sum of per-case shares over 10 cases
    code, _, err = cli("report", run)
    assert code == 0, err
    html = (run / "report.html").read_text()
    assert '<span class="kn">3.3/10</span>' in html and "3.33333" not in html


# ---- each distinct combination of the fields a metric reads is judged once ----------------------

def test_every_metric_reads_only_the_fields_it_declares():
    grid = [rec(f"c{i}", verdict, should_call=call)
            for i, (verdict, call) in enumerate((v, c) for v in ("correct", "wrong_arguments", "over_refusal",
                                                                 "hallucinated_call", "wrong_function")
                                                for c in (True, False))]
    for m in metricset.metrics():
        for r in grid:
            m.judge(r)  # raises if the metric reads a field it did not declare


def test_a_metric_reading_an_undeclared_field_is_an_error_not_a_stale_number():
    sneaky = Metric("sneaky", "sneaky", "reads tags", counts=lambda r: True,
                    success=lambda r: "x" in r.get("tags"))
    with pytest.raises(ValueError, match="metric 'sneaky' reads 'tags', which is not in its reads="):
        sneaky.judge(rec("a", "correct"))


def test_one_pass_judging_equals_judging_each_result(asked):
    from evalkit.analysis.metrics import attempts_by_metric

    rng = random.Random(5)
    verdicts = ("correct", "wrong_arguments", "over_refusal", "hallucinated_call", "wrong_function", "error")
    records = []
    for i in range(300):
        call = rng.random() < 0.6
        r = rec(f"c{i % 70}", rng.choice(verdicts), should_call=call, repeat=i // 70,
                calls=[] if rng.random() < 0.5 else None)  # `calls` (a list) cannot be a memo key
        r["name_correct"] = rng.choice((True, False, None))
        records.append(r)
    names = metricset.names()
    got = attempts_by_metric(records, names)
    for m in metricset.metrics():
        expected: dict[str, list[bool]] = {}
        for r in records:
            if r["verdict"] != "error" and m.counts(r):
                expected.setdefault(r["case_id"], []).append(bool(m.success(r)))
        assert got[m.name] == expected, m.name


def test_good_outcomes_of_many_metrics_equal_each_alone_with_and_without_repeats():
    from evalkit.analysis.metrics import good_outcomes_by_metric

    rng = random.Random(9)
    verdicts = ("correct", "wrong_arguments", "over_refusal", "hallucinated_call", "error")
    for repeats in (1, 3):
        records = [rec(f"c{i}", rng.choice(verdicts), should_call=i % 3 > 0, repeat=k)
                   for i in range(40) for k in range(repeats)]
        got = good_outcomes_by_metric(records, metricset.names())
        for name in metricset.names():
            attempts: dict[str, list[bool]] = {}
            for r in records:
                if r["verdict"] != "error" and metricset.get(name).counts(r):
                    attempts.setdefault(r["case_id"], []).append(bool(metricset.get(name).success(r)))
            expected = {c: (2 * sum(xs) > len(xs)) != metricset.lower_is_better(name) for c, xs in attempts.items()}
            assert got[name] == expected == good_outcomes(records, name), (repeats, name)
