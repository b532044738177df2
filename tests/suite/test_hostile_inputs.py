"""Hostile suites and files are bounded: alias bombs, recursive aliases and deep nesting fail fast
with file:line (exit 2), duplicate keys in YAML and JSON are errors, and whatever a model puts in
a function name or a reason can neither break the JUnit XML nor inject HTML into the markdown."""
import json
import time
import xml.etree.ElementTree as ET

import pytest

from evalkit.gate.compare import CaseOutcome, Check, GateResult, VariantGate
from evalkit.gate.output import render_junit, render_markdown
from evalkit.suite.sections import GateSpec

HEAD = """name: hostile
functions:
  - type: function
    function: {name: get_price, parameters: {type: object, properties: {symbol: {type: string}}}}
variants:
  - {name: v, model: m, base_url: "http://127.0.0.1:9/v1"}
"""
CASES = "cases:\n  - {id: c1, user: hi, expect: refuse}\n"

BOMB = "".join(
    f"{a}: &{a} [{', '.join(['*' + p] * 9 if p else ['lol'] * 9)}]\n"
    for p, a in zip([None, *"abcdefgh"], "abcdefghi"))


def one_line(code, out, err):
    assert code == 2, out + err
    assert err.startswith("evalkit: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def run_suite_file(cli, tmp_path, text, name="suite.yaml"):
    path = tmp_path / name
    path.write_text(text)
    cli("run", tmp_path / "absent.yaml")  # the command's own imports are not the loader's time
    started = time.perf_counter()
    result = cli("run", path, "--out", tmp_path / "out", "--no-progress")
    return result, time.perf_counter() - started, path


def test_alias_bomb_fails_fast_with_a_line(tmp_path, cli):
    assert len(BOMB) < 1024
    (code, out, err), elapsed, path = run_suite_file(cli, tmp_path, HEAD + CASES + "extra:\n" +
                                                     "".join("  " + line + "\n" for line in BOMB.splitlines()))
    err = one_line(code, out, err)
    assert elapsed < 0.2, elapsed
    assert f"{path}:16: " in err and "aliases expand this value to more than" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nested deeper than 100 levels"),  # would overflow libyaml's C stack
    ("a: &a [1, *a]\n", "recursive alias"),
    ("x0: &x0 [1]\n" + "".join(f"x{i}: &x{i} [*x{i - 1}]\n" for i in range(1, 120)), "aliases nest this value deeper"),
])
def test_deep_and_recursive_yaml_is_one_line(tmp_path, cli, text, message):
    (code, out, err), elapsed, path = run_suite_file(cli, tmp_path, text)
    err = one_line(code, out, err)
    assert message in err and f"{path}:" in err
    assert elapsed < 1.0, elapsed


def test_duplicate_yaml_keys_name_both_lines(tmp_path, cli):
    (code, out, err), _, path = run_suite_file(cli, tmp_path, HEAD + CASES + "name: again\n")
    err = one_line(code, out, err)
    assert f"{path}:9: field 'name': duplicate key 'name' (first at line 1)" in err
    nested = HEAD.replace("{name: v, model: m,", "{name: v, model: m, model: n,")
    (code, out, err), _, path = run_suite_file(cli, tmp_path, nested + CASES)
    assert f"{path}:6: field 'variants[0].model': duplicate key 'model'" in one_line(code, out, err)


def test_merge_keys_and_anchors_still_work(tmp_path):
    from evalkit.suite.load import load_suite

    path = tmp_path / "suite.yaml"
    path.write_text(HEAD.replace("variants:\n  - {name: v,", "variants:\n  - &v {name: v,")
                    + "  - {<<: *v, name: w}\n" + CASES)
    suite = load_suite(path)
    assert [v.name for v in suite.variants] == ["v", "w"] and suite.variants[1].model == "m"


def cases_file(tmp_path, line):
    (tmp_path / "cases.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "no"}]})
        + "\n" + line + "\n")
    return HEAD + "cases_from: cases.jsonl\n"


@pytest.mark.parametrize("line, message", [
    ("[" * 50_000 + "]" * 50_000, "JSON nested deeper than 100 levels"),  # RecursionError inside json
    ('{"messages": ' + "[" * 150 + "]" * 150 + "}", "JSON nested deeper than 100 levels"),
    ('{"messages": [], "messages": [{"role": "user", "content": "x"}]}', "duplicate key 'messages'"),
    ('{"messages": [{"role": "user", "content": "a", "content": "b"}]}', "duplicate key 'content'"),
])
def test_hostile_cases_file_is_file_and_line(tmp_path, cli, line, message):
    (code, out, err), elapsed, _ = run_suite_file(cli, tmp_path, cases_file(tmp_path, line))
    err = one_line(code, out, err)
    assert f"{tmp_path / 'cases.jsonl'}:2: " in err and message in err
    assert elapsed < 1.0


def test_training_file_reports_duplicate_keys_and_depth_per_line(tmp_path, cli):
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps(good) + "\n" + '{"messages": [], "messages": []}\n' + "[" * 30_000 + "]" * 30_000 + "\n")
    code, out, err = cli("data", "check", train)
    assert code == 2 and "Traceback" not in out + err
    text = out + err
    assert f"{train}:2: error: duplicate key 'messages' in a JSON object" in text
    assert f"{train}:3: error: JSON nested deeper than 100 levels" in text


# ---- what a model can put in gate output -------------------------------------------------------

EVIL = "<script>alert(1)</script>\x00\x1b[31m\udc00|`x`"


def hostile_gate():
    check = Check(variant=EVIL, metric="accuracy", rule="max_drop", limit=0.05, status="fail",
                  why=f"accuracy fell: {EVIL}")
    cases = (CaseOutcome(case_id=f"c{EVIL}", verdict="wrong_function",
                         reason=f"called '{EVIL}' instead of 'get_price'", baseline_verdict="correct"),)
    return GateResult(run=f"runs/{EVIL}", baseline="base", suite="s\x00", spec=GateSpec(),
                      variants=(VariantGate(name=EVIL, shared=1, checks=(check,), cases=cases, errors=0),),
                      added=(f"new{EVIL}",), removed=())


def test_junit_stays_valid_xml_whatever_the_model_names():
    text = render_junit(hostile_gate())
    text.encode("utf-8")  # no lone surrogate survives
    root = ET.fromstring(text.split("\n", 1)[1])  # parses: no NUL or ESC reached the file
    names = [c.get("name") for c in root.iter("testcase")]
    assert any(n.startswith("case c<script>alert(1)</script>\ufffd\ufffd[31m\ufffd") for n in names), names
    failures = [f.get("message") for f in root.iter("failure")]
    assert any("called '<script>alert(1)</script>\ufffd" in m for m in failures), failures


def test_markdown_escapes_html_and_markdown():
    text = render_markdown(hostile_gate())
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "\x00" not in text and "\x1b" not in text and "\udc00" not in text
    for line in text.splitlines():
        if line.startswith("| "):  # the table row keeps its 8 cells: '|' in a name is escaped
            assert line.replace("\\|", "").count("|") == 9, line
    assert "\\`x\\`" in text  # a backtick cannot open a code span
