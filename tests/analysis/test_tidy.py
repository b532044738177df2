"""Tidy results: `evalkit.load(RUN_DIR)` and `evalkit export` on a real run (loopback server)."""
import importlib.util
import json
import subprocess
import sys

import pandas
import pytest
from fakeserver import FakeServer, scripted, text_reply, tool_reply

import evalkit

SUITE = """\
name: tidy
functions:
  - {name: get_price, parameters: {type: object, properties: {symbol: {type: string}}, required: [symbol]}}
variants:
  - {name: base, model: m1, base_url: "URL/v1", options: {max_retries: 0}}
  - {name: ft, model: m2, base_url: "URL/v1", functions: short, options: {max_retries: 0},
     trial: {n_epochs: 3, learning_rate_multiplier: 0.5}}
repeats: 2
cases:
  - {id: msft, user: "MSFT?", expect: {call: get_price, arguments: {symbol: MSFT}}, tags: [real]}
  - {id: titan, user: "Titan?", expect: refuse, tags: [fake]}
  - {id: aapl, user: "AAPL?", expect: {call: get_price, arguments: {symbol: AAPL}}}
  - {id: boom, user: "boom", expect: refuse}
"""

SCRIPT = {"MSFT?": tool_reply(("get_price", {"symbol": "MSFT"})),
          "Titan?": tool_reply(("get_price", {"symbol": "TITN"})),
          "AAPL?": text_reply("Which Apple?"), "boom": {"status": 500}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from evalkit.cli import main

    tmp = tmp_path_factory.mktemp("tidy")
    with FakeServer(scripted(SCRIPT)) as server:
        (tmp / "suite.yaml").write_text(SUITE.replace("URL", server.url))
        # the 500s are on purpose: 4 of 16 results are errors
        assert main(["run", str(tmp / "suite.yaml"), "--out", str(tmp / "run"), "--no-progress",
                     "--max-error-rate", "1"]) == 0
    return tmp / "run"


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_load_round_trips_the_run(run_dir):
    df = evalkit.load(run_dir)
    recs = records(run_dir)
    assert len(df) == len(recs) == 4 * 2 * 2
    assert df.groupby(["case_id", "variant", "repeat"]).size().max() == 1
    by_key = {(r["case_id"], r["variant"], r["repeat"]): r for r in recs}
    for row in df.to_dict("records"):
        rec = by_key[row["case_id"], row["variant"], row["repeat"]]
        assert (row["verdict"], row["reason"], row["should_call"]) == (rec["verdict"], rec["reason"], rec["should_call"])
        assert json.loads(row["calls"]) == rec["calls"] and json.loads(row["expected"]) == rec["expected"]
        assert row["correct"] == (rec["verdict"] == "correct")
    # the metrics of summary.json, recomputed from the table
    summary = json.loads((run_dir / "summary.json").read_text())["variants"]
    scored = df[df.verdict != "error"]
    for variant, acc in scored.groupby("variant").correct.mean().items():
        assert acc == pytest.approx(summary[variant]["accuracy"])
    refuse = scored[scored.should_call == False]  # noqa: E712
    assert refuse.groupby("variant").hallucinated.mean().to_dict() == {"base": 1.0, "ft": 1.0}
    msft = df[(df.case_id == "msft") & (df.variant == "ft")].iloc[0]
    assert (msft.called, msft.expected_calls, msft.tags, msft.functions) == ("get_price", "get_price", "real", "short")
    assert msft.trial_n_epochs == 3 and msft.trial_learning_rate_multiplier == 0.5
    assert msft.prompt_tokens == 42 and msft.latency_s > 0
    assert df[df.case_id == "boom"].error.str.startswith("HTTP 500").all()
    assert list(df.columns[:4]) == ["case_id", "variant", "repeat", "verdict"]


def test_export_csv_and_jsonl(run_dir, cli, tmp_path):
    df = evalkit.load(run_dir)
    code, out, err = cli("export", run_dir, "--format", "csv", "-o", tmp_path / "r.csv")
    assert code == 0, err and out.strip() == str(tmp_path / "r.csv")
    back = pandas.read_csv(tmp_path / "r.csv", keep_default_na=False)
    assert back[["case_id", "variant", "repeat", "verdict"]].astype(str).values.tolist() == \
        df[["case_id", "variant", "repeat", "verdict"]].astype(str).values.tolist()
    code, _, err = cli("export", run_dir, "--format", "jsonl")
    assert code == 0, err
    lines = [json.loads(line) for line in (run_dir / "tidy.jsonl").read_text().splitlines()]
    assert [r["verdict"] for r in lines] == df.verdict.tolist() and lines[0]["case_id"] == df.case_id[0]


def test_export_parquet(run_dir, cli, tmp_path):
    code, _, err = cli("export", run_dir, "--format", "parquet", "-o", tmp_path / "r.parquet")
    if importlib.util.find_spec("pyarrow") is None and importlib.util.find_spec("fastparquet") is None:
        assert code == 2 and err.strip() == ("evalkit: error: parquet export needs pyarrow: "
                                             "pip install 'evalkit[parquet]' (or pip install pyarrow)")
        return
    assert code == 0, err
    back = pandas.read_parquet(tmp_path / "r.parquet")
    assert back.verdict.tolist() == evalkit.load(run_dir).verdict.tolist()


def test_bad_run_dir_is_one_line(cli, tmp_path):
    code, _, err = cli("export", tmp_path, "--format", "csv")
    assert code == 2 and "no results.jsonl here" in err and len(err.strip().splitlines()) == 1


def test_import_evalkit_does_not_import_pandas():
    code = "import sys, evalkit; print('pandas' in sys.modules, callable(evalkit.load))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
