"""`evalkit gate`: pairs of run directories written directly (results.jsonl + summary.json + run.json)
and one end-to-end `evalkit run --baseline` against the loopback server."""
import json
import textwrap

import pytest
from fakeserver import FakeServer, last_user, tool_reply
from junitparser import Failure, JUnitXml, Skipped

from evalkit import metricset
from evalkit.analysis.metrics import summarise
from evalkit.analysis.stats import mcnemar_exact, wilson
from evalkit.gate.compare import drop_check, first_scored
from evalkit.suite.sections import GateSpec


def rec(case_id, verdict, variant="v", should_call=True, repeat=0, reason=""):
    calls_ok = verdict in ("correct", "wrong_arguments", "invalid_arguments")
    return {"case_id": case_id, "variant": variant, "repeat": repeat, "verdict": verdict,
            "reason": reason or ("" if verdict == "correct" else f"because {verdict}"),
            "should_call": should_call, "name_correct": (calls_ok if should_call else None),
            "expected": {}, "calls": [], "tags": []}


def write_run(path, records, suite="demo", suite_path=None):
    path.mkdir(parents=True)
    (path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (path / "summary.json").write_text(json.dumps(summarise(records)))
    (path / "run.json").write_text(json.dumps({"suite": suite, "suite_path": suite_path,
                                               "cases": sorted({r["case_id"] for r in records})}))
    return path


def calls(n, wrong=(), variant="v", prefix="c"):
    """n should-call cases, those indexed in `wrong` answered with wrong arguments."""
    return [rec(f"{prefix}{i}", "wrong_arguments" if i in wrong else "correct", variant) for i in range(n)]


@pytest.fixture
def pair(tmp_path):
    def make(base, run, **kw):
        return write_run(tmp_path / "base", base, **kw), write_run(tmp_path / "run", run, **kw)
    return make


def one_line_error(code, out, err):
    assert code == 2
    assert err.startswith("evalkit: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# ---- the four stories of the issue -------------------------------------------------------------

def test_nothing_changed_passes(pair, cli):
    base, run = pair(calls(10, wrong={3}), calls(10, wrong={3}))
    code, out, err = cli("gate", run, "--baseline", base)
    assert code == 0, out + err
    assert out.startswith("evalkit gate: PASS")
    assert "accuracy 90% -> 90%: no worse" in out
    assert "went from correct to wrong" not in out


def test_real_drop_fails_with_counts_interval_p_and_cases(pair, cli):
    base, run = pair(calls(40), calls(40, wrong=set(range(10))))
    code, out, err = cli("gate", run, "--baseline", base)
    assert code == 1, out + err
    assert out.startswith("evalkit gate: FAIL")
    assert "accuracy 100% -> 75%: fell 25 points, more than the 5 points allowed, and significant" in out
    p = mcnemar_exact(10, 0).p_value
    assert f"McNemar p={p:.3g}, 10 cases worse, 0 better of 40 shared" in out
    assert "100% (40/40)" in out and "75% (30/40)" in out
    assert "10 case(s) went from correct to wrong" in out
    assert "c0: correct -> wrong_arguments (because wrong_arguments)" in out


def test_noisy_drop_passes_and_says_it_is_not_significant(pair, cli):
    base, run = pair(calls(5), calls(5, wrong={2}))
    code, out, err = cli("gate", run, "--baseline", base)
    assert code == 0, out + err
    assert "fell 20 points, more than the 5 points allowed, but not significant" in out
    assert "McNemar p=1, 1 case worse, 0 better of 5 shared" in out
    assert "c2: correct -> wrong_arguments" in out  # still listed, so a reader can look


def test_floor_breach_fails_even_without_a_drop(pair, cli):
    base, run = pair(calls(10, wrong={0, 1}), calls(10, wrong={0, 1}))
    code, out, _ = cli("gate", run, "--baseline", base, "--min", "accuracy=0.9")
    assert code == 1
    assert "accuracy 80% (8/10, 95% CI" in out and "is under the floor of 90%" in out
    code, out, _ = cli("gate", run, "--baseline", base, "--min", "accuracy=80%")
    assert code == 0, out


def test_cases_added_and_removed_are_listed_not_compared(pair, cli):
    base = calls(10, prefix="old") [:8] + [rec("gone1", "correct"), rec("gone2", "correct")]
    run = calls(10, prefix="old")[:8] + [rec("new1", "wrong_function"), rec("new2", "wrong_function")]
    base_dir, run_dir = pair(base, run)
    code, out, _ = cli("gate", run_dir, "--baseline", base_dir)
    assert code == 1 and "FAIL (incomplete run)" in out  # gone1, gone2: the run lacks baseline cases
    assert "incomplete: 2 cases of the baseline missing (gone1, gone2)" in out
    code, out, _ = cli("gate", run_dir, "--baseline", base_dir, "--allow-partial")
    assert code == 0, out  # the two new wrong cases do not count as a drop
    assert "cases only in this run (not compared): new1, new2" in out
    assert "cases only in the baseline (not compared): gone1, gone2" in out
    assert "v: 8 shared case(s)" in out
    assert "accuracy 100% -> 100%" in out


# ---- rules -------------------------------------------------------------------------------------

def test_a_rise_in_hallucination_rate_is_the_regression(pair, cli):
    refuse_ok = [rec(f"r{i}", "correct", should_call=False) for i in range(20)]
    refuse_bad = [rec(f"r{i}", "hallucinated_call" if i < 10 else "correct", should_call=False)
                  for i in range(20)]
    base, run = pair(refuse_ok + calls(20), refuse_bad + calls(20))
    code, out, _ = cli("gate", run, "--baseline", base, "--metric", "hallucination_rate",
                       "--metric", "call_accuracy")
    assert code == 1
    assert "hallucination_rate 0% -> 50%: rose 50 points" in out and "10 cases worse, 0 better of 20 shared" in out
    assert "call_accuracy 100% -> 100%: no worse" in out
    code, out, _ = cli("gate", base, "--baseline", run, "--metric", "hallucination_rate")
    assert code == 0 and "hallucination_rate 50% -> 0%: no worse (McNemar p=0.00195, 0 cases worse, 10 better" in out
    code, out, _ = cli("gate", run, "--baseline", base, "--metric", "call_accuracy",
                       "--max", "hallucination_rate=0.2")
    assert code == 1 and "hallucination_rate 50% (10/20, 95% CI" in out and "over the ceiling of 20%" in out


def test_drop_exactly_at_the_limit_passes_and_alpha_is_respected():
    spec = GateSpec(max_drop=0.25)
    test = mcnemar_exact(10, 0, 40)
    at_limit = drop_check("v", "accuracy", wilson(40, 40), wilson(30, 40), test, spec)
    assert at_limit.status == "pass" and "within the 25 points allowed" in at_limit.why
    strict = drop_check("v", "accuracy", wilson(40, 40), wilson(30, 40), test, GateSpec(alpha=0.001))
    assert strict.status == "pass" and "not significant" in strict.why
    empty = drop_check("v", "refusal_accuracy", wilson(0, 0), wilson(0, 0), mcnemar_exact(0, 0), spec)
    assert empty.status == "skip"


def test_paired_unit_is_the_first_scored_repeat_and_errors_are_left_out(pair, cli):
    recs = [rec("a", "error", repeat=0), rec("a", "correct", repeat=1), rec("b", "error")]
    assert {k: r["verdict"] for k, r in first_scored(recs).items()} == {"a": "correct", "b": "error"}
    base = calls(12)
    run = [rec(f"c{i}", "error") if i < 8 else rec(f"c{i}", "correct") for i in range(12)]
    base_dir, run_dir = pair(base, run)
    code, out, _ = cli("gate", run_dir, "--baseline", base_dir)
    # provider errors are not a regression of the model (they are reported, and excluded)
    assert code == 0 and "8 error(s) excluded" in out and "of 4 shared" in out


def test_suite_gate_section_sets_thresholds_and_flags_override(tmp_path, pair, cli):
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent("""\
        name: demo
        functions:
          - {type: function, function: {name: f, parameters: {type: object, properties: {}}}}
        variants: [{name: v, model: m}]
        cases: [{id: c0, user: hi, expect: {call: f}}]
        gate:
          metrics: [accuracy, name_accuracy]
          min: {accuracy: 0.9}
        """))
    base, run = pair(calls(10, wrong={0, 1}), calls(10, wrong={0, 1}), suite_path=str(suite))
    code, out, _ = cli("gate", run, "--baseline", base)
    assert code == 1 and "under the floor of 90%" in out and "name_accuracy" in out
    code, out, _ = cli("gate", run, "--baseline", base, "--min", "accuracy=0.5")
    assert code == 0, out
    suite.write_text(suite.read_text().replace("min: {accuracy: 0.9}", "mni: 1"))
    code, out, err = cli("gate", run, "--baseline", base)
    assert "suite.yaml:8: field 'gate.mni': unknown key 'mni'" in one_line_error(code, out, err)
    suite.unlink()
    code, out, err = cli("gate", run, "--baseline", base)
    assert code == 0 and "suite.yaml not found, so its `gate:` section is not read" in err


def test_new_and_missing_variants_are_noted(pair, cli):
    base, run = pair(calls(6) + calls(6, variant="old"), calls(6) + calls(6, variant="new", wrong={0, 1, 2}))
    code, out, _ = cli("gate", run, "--baseline", base, "--min", "accuracy=0.9", "--allow-partial")
    assert code == 1  # the new variant has no baseline, but its floor still applies
    assert "variant 'new' is not in the baseline" in out
    assert "incomplete: variant 'old' of the baseline is not in this run: gated on what is there" in out
    code, out, _ = cli("gate", run, "--baseline", base, "--allow-partial", "--json")
    assert json.loads(out)["reason"] == "pass"  # what is there is fine; 'new' has no floor now


def test_gated_metric_names_are_the_summary_rates():
    assert GateSpec(metrics=list(metricset.names())).metrics == list(metricset.names())
    assert set(metricset.names()) <= set(summarise([rec("a", "correct")])["variants"]["v"])
    with pytest.raises(ValueError, match="unknown metric 'speed'"):
        GateSpec(metrics=["speed"])


# ---- bad input: exit 2, one line ---------------------------------------------------------------

def test_missing_run_directory(tmp_path, pair, cli):
    base, _ = pair(calls(3), calls(3))
    err = one_line_error(*cli("gate", tmp_path / "nope", "--baseline", base))
    assert "nope: run directory not found" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no results.jsonl here" in one_line_error(*cli("gate", empty, "--baseline", base))


@pytest.mark.parametrize("damage, expected", [
    (lambda d: (d / "results.jsonl").write_text('{"case_id": "c0"\n' + json.dumps(rec("c1", "correct")) + "\n"),
     "results.jsonl:1: corrupt result line"),
    (lambda d: (d / "run.json").write_text("{not json"), "run.json:1: corrupt run.json"),
    (lambda d: (d / "results.jsonl").write_text(json.dumps(rec("c0", "fine")) + "\n"),
     "results.jsonl:1: field 'verdict': unknown verdict 'fine'"),
    (lambda d: (d / "results.jsonl").write_text(json.dumps({**rec("c0", "correct"), "should_call": "yes"}) + "\n"),
     "field 'should_call'"),
    (lambda d: (d / "results.jsonl").write_text(""), "no results in this run"),
])
def test_corrupt_files(pair, cli, damage, expected):
    base, run = pair(calls(3), calls(3))
    damage(run)
    assert expected in one_line_error(*cli("gate", run, "--baseline", base))


def test_mismatched_runs(tmp_path, cli):
    base = write_run(tmp_path / "base", calls(3), suite="stocks")
    other = write_run(tmp_path / "other", calls(3), suite="weather")
    assert "suite 'weather' but the baseline" in one_line_error(*cli("gate", other, "--baseline", base))
    renamed = write_run(tmp_path / "renamed", calls(3, variant="w"), suite="stocks")
    assert "no variant in common" in one_line_error(*cli("gate", renamed, "--baseline", base))
    disjoint = write_run(tmp_path / "disjoint", calls(3, prefix="x"), suite="stocks")
    assert "no case id in common" in one_line_error(*cli("gate", disjoint, "--baseline", base))


@pytest.mark.parametrize("flags, expected", [
    (["--min", "accuracy"], "field '--min': expected METRIC=VALUE"),
    (["--min", "speed=0.5"], "unknown metric 'speed'"),
    (["--max", "accuracy=2"], "must be a rate between 0 and 1"),
    (["--alpha", "1.5"], "field '--alpha'"),
    (["--max-drop", "-0.1"], "field '--max-drop'"),
])
def test_bad_thresholds(pair, cli, flags, expected):
    base, run = pair(calls(3), calls(3))
    assert expected in one_line_error(*cli("gate", run, "--baseline", base, *flags))


# ---- outputs -----------------------------------------------------------------------------------

# Required attributes of the Jenkins/Surefire junit-10.xsd (the schema pytest validates against).
REQUIRED = {"testsuite": {"name", "tests", "failures", "errors"}, "testcase": {"name"}, "property": {"name", "value"}}
ALLOWED = {"testsuites": {"name", "time", "tests", "failures", "errors"},
           "testsuite": {"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp",
                         "hostname", "id", "package", "file", "log", "url", "version"},
           "testcase": {"name", "time", "classname", "group"}, "failure": {"type", "message"},
           "skipped": {"type", "message"}, "properties": set(), "property": {"name", "value"},
           "system-out": set(), "system-err": set()}


def test_junit_validates_and_has_a_suite_per_variant(tmp_path, pair, cli):
    import xml.etree.ElementTree as ET

    base, run = pair(calls(40) + calls(5, variant="w"),
                     calls(40, wrong=set(range(10))) + calls(5, variant="w", wrong={4}))
    junit = tmp_path / "gate.xml"
    code, _, _ = cli("gate", run, "--baseline", base, "--junit", junit, "--metric", "accuracy",
                     "--metric", "call_accuracy", "--min", "accuracy=0.5")
    assert code == 1
    for el in ET.parse(junit).iter():
        assert el.tag in ALLOWED, el.tag
        assert set(el.attrib) <= ALLOWED[el.tag], (el.tag, el.attrib)
        assert REQUIRED.get(el.tag, set()) <= set(el.attrib), (el.tag, el.attrib)
    xml = JUnitXml.fromfile(str(junit))
    suites = {s.name: s for s in xml}
    assert set(suites) == {"v", "w"}
    v = suites["v"]
    assert v.tests == 40 + 3 and v.failures == 10 + 2  # 40 cases, 3 metric checks; accuracy + call_accuracy fire
    cases = {c.name: c for c in v}
    assert isinstance(cases["case c0"].result[0], Failure)
    assert cases["case c0"].result[0].message.startswith("correct in the baseline, wrong_arguments now")
    assert cases["case c39"].is_passed
    assert isinstance(cases["metric accuracy (drop <= 5%)"].result[0], Failure)
    assert cases["metric accuracy (>= 50%)"].is_passed
    w = {c.name: c for c in suites["w"]}
    assert w["metric accuracy (drop <= 5%)"].is_passed  # 5/5 -> 4/5 is noise
    # the case that flipped is shown, but not as a failure: CI would turn red on noise
    assert w["case c4"].is_passed and "not significant" in w["case c4"].system_out
    assert xml.failures == 12


def test_junit_marks_errored_cases_skipped(tmp_path, pair, cli):
    base, run = pair(calls(3), calls(2) + [rec("c2", "error", reason="HTTP 500")])
    junit = tmp_path / "gate.xml"
    cli("gate", run, "--baseline", base, "--junit", junit)
    case = {c.name: c for s in JUnitXml.fromfile(str(junit)) for c in s}["case c2"]
    assert isinstance(case.result[0], Skipped)


def test_markdown_file_and_github_step_summary(tmp_path, pair, cli, monkeypatch):
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    base, run = pair(calls(40), calls(40, wrong=set(range(10))))
    md = tmp_path / "gate.md"
    code, _, _ = cli("gate", run, "--baseline", base, "--markdown", md)
    assert code == 1
    text = md.read_text()
    assert text.startswith("### evalkit gate: ❌ regression")
    assert "| v | accuracy | drop <= 5% | 100% (40/40) | 75% (30/40) | -25 pt | 0.00195 | FAIL |" in text
    assert "<details><summary>v: 10 case(s) went from correct to wrong</summary>" in text
    assert summary.read_text() == "earlier step\n" + text + "\n"


def test_unwritable_output_is_one_line(tmp_path, pair, cli):
    base, run = pair(calls(3), calls(3))
    err = one_line_error(*cli("gate", run, "--baseline", base, "--junit", tmp_path / "no" / "dir" / "g.xml"))
    assert "cannot write" in err


# ---- evalkit run --baseline, end to end ---------------------------------------------------------

SUITE = """\
name: gated
functions:
  - type: function
    function:
      name: get_price
      parameters: {type: object, properties: {symbol: {type: string}}, required: [symbol]}
variants:
  - {name: m, model: m, base_url: "URL/v1", options: {max_retries: 0}}
gate: {max_drop: 0.1}
cases:
"""


def test_run_with_baseline_runs_and_gates(tmp_path, cli):
    symbols = [f"S{i}" for i in range(8)]
    suite = tmp_path / "suite.yaml"
    broken = {"on": False}

    def responder(body, path):
        symbol = last_user(body).split()[-1]
        return tool_reply(("get_price", {"symbol": "WRONG" if broken["on"] else symbol}))

    with FakeServer(responder) as server:
        suite.write_text(SUITE.replace("URL", server.url) + "".join(
            f"  - {{id: {s}, user: price of {s}, expect: {{call: get_price, arguments: {{symbol: {s}}}}}}}\n"
            for s in symbols))
        code, _, err = cli("run", suite, "--out", tmp_path / "base", "--no-progress")
        assert code == 0, err
        code, out, err = cli("run", suite, "--out", tmp_path / "same", "--no-progress", "--baseline", tmp_path / "base")
        assert code == 0, err
        assert "evalkit gate: PASS" in out
        broken["on"] = True
        code, out, err = cli("run", suite, "--out", tmp_path / "worse", "--no-progress", "--no-cache", "--baseline", tmp_path / "base")
        assert code == 1, err
        assert "more than the 10 points allowed, and significant" in out  # max_drop from the suite
        assert "S0: correct -> wrong_arguments" in out
        n_requests = len(server.requests)
        code, out, err = cli("run", suite, "--out", tmp_path / "never", "--baseline", tmp_path / "missing")
        assert "run directory not found" in one_line_error(code, out, err)
        assert len(server.requests) == n_requests  # a bad baseline stops before any request


def test_the_example_workflow_uses_real_flags():
    import shlex

    import yaml
    from conftest import ROOT

    from evalkit.cli import build_parser

    steps = yaml.safe_load((ROOT / "docs" / "github-actions.yml").read_text())["jobs"]["eval"]["steps"]
    commands = [s["run"].strip() for s in steps if s.get("run", "").startswith("evalkit")]
    assert [c.split()[1] for c in commands] == ["run", "gate"]
    for command in commands:
        build_parser().parse_args(shlex.split(command)[1:])  # argparse exits on an unknown flag


# ---- completeness: an interrupted or partial run never passes by itself ------------------------

def _plan(run_dir, cases, variants=("v",), repeats=None):
    (run_dir / "run.json").write_text(json.dumps({"suite": "demo", "cases": list(cases),
                                                  "variants": {v: {} for v in variants},
                                                  "options": {"repeats": repeats}}))


def test_fewer_results_than_planned_is_incomplete(pair, cli):
    base_dir, run_dir = pair(calls(4), calls(4))
    _plan(run_dir, [f"c{i}" for i in range(10)])  # the run meant 10 cases and recorded 4
    code, out, _ = cli("gate", run_dir, "--baseline", base_dir)
    assert code == 1 and out.startswith("evalkit gate: FAIL (incomplete run)")
    assert "incomplete: 4 of 10 planned results recorded" in out and "--resume" in out
    code, out, _ = cli("gate", run_dir, "--baseline", base_dir, "--json")
    data = json.loads(out)
    assert (data["verdict"], data["reason"], data["exit_code"]) == ("fail", "incomplete", 1)
    check = data["variants"][0]["checks"][0]
    assert (check["metric"], check["status"], check["run"]["k"], check["run"]["n"]) == ("results", "fail", 4, 10)
    code, out, _ = cli("gate", run_dir, "--baseline", base_dir, "--allow-partial")
    assert code == 0 and "gated on what is there (--allow-partial)" in out


def test_missing_repeats_are_incomplete(pair, cli):
    base = calls(3) + [rec(f"c{i}", "correct", repeat=1) for i in range(3)]
    run = calls(3) + [rec("c0", "correct", repeat=1)]
    base_dir, run_dir = pair(base, run)
    _plan(run_dir, ["c0", "c1", "c2"], repeats=2)
    code, out, _ = cli("gate", run_dir, "--baseline", base_dir)
    assert code == 1 and "4 of 6 planned results recorded" in out


def test_summary_planned_count_wins_over_run_json(pair, cli):
    base_dir, run_dir = pair(calls(5), calls(5))
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["variants"]["v"]["planned"] = 8
    (run_dir / "summary.json").write_text(json.dumps(summary))
    code, out, _ = cli("gate", run_dir, "--baseline", base_dir)
    assert code == 1 and "5 of 8 planned results recorded" in out


def test_a_missing_variant_fails_and_shows_in_junit_and_markdown(pair, cli, tmp_path):
    base_dir, run_dir = pair(calls(6) + calls(6, variant="ft"), calls(6))
    junit, md = tmp_path / "gate.xml", tmp_path / "gate.md"
    code, out, _ = cli("gate", run_dir, "--baseline", base_dir, "--junit", junit, "--markdown", md)
    assert code == 1 and "incomplete: variant 'ft' of the baseline is not in this run" in out
    assert "❌ incomplete run" in md.read_text()
    failures = [f for suite in JUnitXml.fromfile(str(junit)) for case in suite for f in case.result
                if isinstance(f, Failure)]
    assert any("variant 'ft' of the baseline is not in this run" in f.message for f in failures)


def test_complete_run_has_no_completeness_row(pair, cli):
    base_dir, run_dir = pair(calls(5), calls(5))
    _plan(run_dir, [f"c{i}" for i in range(5)])
    code, out, _ = cli("gate", run_dir, "--baseline", base_dir, "--json")
    data = json.loads(out)
    assert code == 0 and data["incomplete"] == []
    assert [c["metric"] for c in data["variants"][0]["checks"]] == ["accuracy"]
