"""The run directory contract (evalkit/rundir/run.py): one typed `Run` from `open_run`, every file
validated once with file, line and field, and a snapshot that lets `cost` and `report` work without
the suite file or the directory the run was started from."""
import json
import re
import shutil

import pytest
from conftest import ROOT
from fakeserver import FakeServer, scripted, text_reply, tool_reply

from evalkit.analysis.metrics import run_summary
from evalkit.errors import InputError
from evalkit.rundir.results import INFO, RESULTS, SUMMARY
from evalkit.rundir.run import Run, RunInfo, VariantInfo, open_run, read_info

SUITE = """\
name: snapshot
functions:
  - {name: get_price, parameters: {type: object, properties: {symbol: {type: string}}, required: [symbol]}}
variants:
  - {name: base, model: gpt-3.5-turbo-0613, base_url: "URL/v1", options: {max_retries: 0}}
  - {name: ft, model: "ft:gpt-3.5-turbo-0613:acme::x1", base_url: "URL/v1", functions: short,
     options: {max_retries: 0}, trial: {n_epochs: 3, trained_tokens: 50000}}
prices:
  models:
    gpt-3.5-turbo-0613: {input: PRICE, output: 200.0}
tco: {amortize_days: 10, hosting_hours_per_day: 0}
cases:
  - {id: msft, user: "MSFT?", expect: {call: get_price, arguments: {symbol: MSFT}}}
  - {id: titan, user: "Titan?", expect: refuse}
  - {id: aapl, user: "AAPL?", expect: {call: get_price, arguments: {symbol: AAPL}}}
"""

SCRIPT = {"MSFT?": tool_reply(("get_price", {"symbol": "MSFT"})),
          "Titan?": tool_reply(("get_price", {"symbol": "TITN"})),
          "AAPL?": text_reply("Which Apple?")}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    from evalkit.cli import main

    tmp = tmp_path_factory.mktemp("rundir")
    with FakeServer(scripted(SCRIPT)) as server:
        (tmp / "suite.yaml").write_text(SUITE.replace("URL", server.url).replace("PRICE", "100.0"))
        assert main(["run", str(tmp / "suite.yaml"), "--out", str(tmp / "run"), "--no-progress"]) == 0
    return tmp


@pytest.fixture
def run_dir(made, tmp_path):
    shutil.copytree(made / "run", tmp_path / "run")
    return tmp_path / "run"


def one_line(code, out, err):
    assert code == 2, out + err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---- the typed record ------------------------------------------------------------------------

def test_open_run_is_one_typed_record(run_dir):
    run = open_run(run_dir)
    assert isinstance(run, Run) and isinstance(run.info, RunInfo) and run.name == "run"
    assert run.suite == "snapshot" and run.info.cases == ["msft", "titan", "aapl"]
    assert {r["variant"] for r in run.records} == {"base", "ft"} and len(run.records) == 6
    assert all(isinstance(r["case_id"], str) for r in run.records)
    ft = run.variant("ft")
    assert isinstance(ft, VariantInfo) and ft.name == "ft" and ft.functions == "short"
    assert ft.trial == {"n_epochs": 3, "trained_tokens": 50000} and ft.model.startswith("ft:")
    assert set(run.summary["variants"]) == {"base", "ft"}
    assert run.functions and all(isinstance(v, list) for v in run.functions.values())
    # the snapshot: the prices this run was priced with (suite override applied), and its tco:
    assert run.info.prices["models"]["gpt-3.5-turbo-0613"]["input"] == 100.0
    assert run.info.tco["amortize_days"] == 10
    assert run.info.identity and "suite" in run.info.identity


def test_a_run_without_summary_is_summarised_from_its_results(run_dir, cli):
    (run_dir / SUMMARY).unlink()
    run = open_run(run_dir)
    assert run.summary is None
    summary = run_summary(run)
    assert list(summary["variants"]) == ["base", "ft"]  # run.json's order
    assert summary["variants"]["base"]["accuracy_n"] == 3 and summary["variants"]["ft"]["provider"] == "openai"
    code, out, err = cli("report", run_dir)
    assert code == 0, err
    code, out, err = cli("trials", run_dir)
    assert code == 0 and "ft" in out


def test_run_json_is_optional_but_typed_when_present(run_dir):
    (run_dir / INFO).unlink()
    run = open_run(run_dir)
    assert run.info == RunInfo() and run.suite is None
    assert run.variant("ft").trial["n_epochs"] == 3  # from summary.json
    with pytest.raises(InputError, match="no run.json here"):
        read_info(run_dir, required=True)


# ---- malformed or missing files: one error naming file, line and field --------------------------

def _write_lines(path, lines):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def _lines(run_dir):
    return [json.loads(x) for x in (run_dir / RESULTS).read_text().splitlines()]


@pytest.mark.parametrize("damage, expected", [
    (lambda recs: recs.__setitem__(1, {**recs[1], "verdict": "fine"}),
     r"results\.jsonl:2: field 'verdict': unknown verdict 'fine'"),
    (lambda recs: recs.__setitem__(2, {k: v for k, v in recs[2].items() if k != "should_call"}),
     r"results\.jsonl:3: field 'should_call': missing"),
    (lambda recs: recs.__setitem__(0, {**recs[0], "repeat": "0"}),
     r"results\.jsonl:1: field 'repeat': expected an integer"),
    (lambda recs: recs.__setitem__(3, {**recs[3], "usage": [1]}),
     r"results\.jsonl:4: field 'usage': expected an object or null"),
    (lambda recs: recs.__setitem__(0, {**recs[0], "case_id": None}),
     r"results\.jsonl:1: field 'case_id': expected a string"),
    (lambda recs: recs.__setitem__(4, {**recs[4], "name_correct": "yes"}),
     r"results\.jsonl:5: field 'name_correct'"),
])
def test_bad_result_lines(run_dir, damage, expected):
    recs = _lines(run_dir)
    damage(recs)
    _write_lines(run_dir / RESULTS, recs)
    with pytest.raises(InputError, match=expected):
        open_run(run_dir)


@pytest.mark.parametrize("name, text, expected", [
    (INFO, "{not json", r"run\.json:1: corrupt run\.json"),
    (INFO, "[1, 2]", r"run\.json: expected a JSON object, got list"),
    (INFO, json.dumps({"variants": {"ft": {"provider": 3}}}), r"run\.json: field 'variants\.ft\.provider'"),
    (INFO, json.dumps({"cases": "abc"}), r"run\.json: field 'cases'"),
    (SUMMARY, '{"variants": [1]}', r"summary\.json: field 'variants'"),
    (SUMMARY, "\n\n{", r"summary\.json:3: corrupt summary\.json"),
    ("functions.json", '"x"', r"functions\.json: expected a JSON object"),
    (RESULTS, "", r"results\.jsonl: no results in this run"),
])
def test_bad_side_files(run_dir, name, text, expected):
    (run_dir / name).write_text(text)
    with pytest.raises(InputError, match=expected):
        open_run(run_dir)


def test_missing_directory_and_results(tmp_path):
    with pytest.raises(InputError, match="nope: run directory not found"):
        open_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty/results\.jsonl: no results\.jsonl here"):
        open_run(tmp_path / "empty")


@pytest.mark.parametrize("command", [["report"], ["trials"], ["export"], ["cost"], ["gate", "--baseline", "BASE"]])
def test_every_reader_fails_the_same_way(run_dir, made, cli, command):
    recs = _lines(run_dir)
    recs[1]["verdict"] = "fine"
    _write_lines(run_dir / RESULTS, recs)
    args = [command[0], run_dir, *[str(made / "run") if a == "BASE" else a for a in command[1:]]]
    err = one_line(*cli(*args))
    assert re.search(r"results\.jsonl:2: field 'verdict': unknown verdict 'fine'", err), err


# ---- the snapshot: cost and report never read the suite again ---------------------------------

def test_cost_and_report_use_what_the_run_recorded(made, run_dir, cli, monkeypatch, tmp_path):
    code, before, err = cli("cost", run_dir, "--json")
    assert code == 0, err
    data = json.loads(before)
    base = data["variants"]["base"]
    # 100 / 200 USD per 1M tokens: the suite's override when the run was made
    assert base["per_request"] == pytest.approx((base["prompt_tokens"] * 100 + base["completion_tokens"] * 200) / 1e6)
    assert data["variants"]["ft"]["training_cost"] == pytest.approx(50000 * 8.0 / 1e6)
    assert data["tco"]["break_even"]["candidate"] == "ft"
    # the suite changes its prices, then disappears; the command runs from elsewhere
    suite = made / "suite.yaml"
    original = suite.read_text()
    try:
        suite.write_text(original.replace("100.0", "1.0"))
        monkeypatch.chdir(tmp_path)
        assert cli("cost", run_dir, "--json")[1] == before
        suite.unlink()
        assert cli("cost", run_dir, "--json")[1] == before
        code, _, err = cli("report", run_dir)
        assert code == 0, err
        html = (run_dir / "report.html").read_text()
        assert "cost not shown" not in html and "gpt-3.5-turbo-0613" in html
    finally:
        suite.write_text(original)


def test_a_run_that_recorded_no_prices_says_so(run_dir, cli):
    info = json.loads((run_dir / INFO).read_text())
    del info["prices"]
    (run_dir / INFO).write_text(json.dumps(info))
    code, out, err = cli("cost", run_dir)
    assert code == 0, err
    assert "did not record its prices: priced with the shipped table" in out
    info["prices"] = {"source": "x", "date": "y", "models": {"m": {"input": -1, "output": 1}}}
    (run_dir / INFO).write_text(json.dumps(info))
    err = one_line(*cli("cost", run_dir))
    assert "run.json: field 'prices.models.m.input'" in err


def test_the_file_names_are_spelled_once():
    """"run.json" (and the other names) live in rundir/results.py; every other module imports them."""
    for name in ("run.json", "results.jsonl", "summary.json", "functions.json"):
        spelled = [p.relative_to(ROOT).as_posix() for p in (ROOT / "evalkit").rglob("*.py")
                   if f'"{name}"' in p.read_text(encoding="utf-8")]
        assert spelled == ["evalkit/rundir/results.py"], (name, spelled)
