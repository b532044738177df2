"""The HTML report: its numbers are summary.json's, hostile text stays text, significance marks
appear only where a paired test supports them, runs compare, and a real browser shows it cleanly."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from fakeserver import FakeServer, last_user, text_reply, tool_reply

from evalkit.analysis.metrics import summarise
from evalkit.cli import main
from evalkit.report import pct, render_report
from evalkit.report.cases import read_detail
from evalkit.rundir.results import write_json
from evalkit.rundir.run import open_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


# ---- a plausible stocks run against a loopback server -------------------------------------

def stocks_responder(jsonl: Path):
    """Scripted answers shaped like the seed's findings: full definitions call well but invent
    tickers for fake companies; short definitions call with empty arguments; the fine-tune mostly
    asks for clarification. Deterministic per prompt."""
    answers = {}
    for line in jsonl.read_text().splitlines():
        rec = json.loads(line)
        user = [m for m in rec["messages"] if m["role"] == "user"][-1]["content"]
        answers[user] = rec["messages"][-1]

    def respond(body, path):
        user = last_user(body)
        answer = answers.get(user, {"content": "?"})
        h = int(hashlib.sha256(user.encode()).hexdigest(), 16)
        described = any("description" in (t.get("function") or {}) for t in body.get("tools") or [])
        ft = body.get("model", "").startswith("ft:")
        calls = [(c["function"]["name"], json.loads(c["function"]["arguments"]))
                 for c in answer.get("tool_calls") or []]
        if calls:
            if not (ft or described):
                return tool_reply(*[(name, {}) for name, _ in calls])
            if h % 9 == 0:
                name, args = calls[0]
                return tool_reply((name, {**args, "symbol": args["symbol"][:-1] or "X"}))
            if h % 13 == 0 and not ft:
                return text_reply("Which company do you mean exactly?")
            return tool_reply(*calls)
        if ft and h % 5:
            return text_reply("I couldn't find a listed company by that name. What is its exact ticker symbol?")
        guess = "".join(ch for ch in user.split("'")[0].split()[-1].upper() if ch.isalpha())[:4] or "ZZZ"
        return tool_reply(("get_current_stock_price", {"symbol": guess} if (described or ft) else {}))
    return respond


@pytest.fixture(scope="module")
def stocks_run(tmp_path_factory):
    """The shipped stocks suite with the seed's three OpenAI variants instead of the local model."""
    tmp = tmp_path_factory.mktemp("stocks")
    out = tmp / "run"
    spec = yaml.safe_load((ROOT / "suites/stocks.yaml").read_text())
    spec["cases_from"] = str(ROOT / "suites" / spec["cases_from"])
    spec["variants"] = [
        {"name": "base+full", "model": "gpt-35-turbo-0613", "functions": "full"},
        {"name": "base+short", "model": "gpt-35-turbo-0613", "functions": "short"},
        {"name": "ft+short", "model": "ft:gpt-35-turbo-0613:acme::abc123", "functions": "short",
         "trial": {"n_epochs": 3, "learning_rate_multiplier": 1.0, "batch_size": 1}}]
    (tmp / "stocks.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    with FakeServer(stocks_responder(ROOT / "suites/data/stocks_test.jsonl")) as server, \
            pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_BASE_URL", server.url + "/v1")
        mp.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")
        code = main(["run", str(tmp / "stocks.yaml"), "--out", str(out), "--concurrency", "8"])
    assert code == 0
    return out


# ---- reading a report back ----------------------------------------------------------------

class ReportParser(HTMLParser):
    """Collects metric cells per variant row, pair cells, tags seen and the embedded data."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.metrics: dict[str, dict[str, dict]] = {}
        self.pairs: list[dict] = []
        self.tags: list[tuple[str, dict]] = []
        self.data_json = None
        self._variant = None
        self._cell = None
        self._in_data = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "tr" and "data-variant" in a:
            self._variant = a["data-variant"]
            self.metrics[self._variant] = {}
        if tag == "td" and self._variant and "data-metric" in a:
            self._cell = {"attrs": a, "text": ""}
            self.metrics[self._variant][a["data-metric"]] = self._cell
        if tag == "td" and "data-p" in a:
            self.pairs.append(a)
        if tag == "script" and a.get("id") == "evalkit-data":
            self._in_data = "data"
        if tag == "script" and a.get("id") == "evalkit-detail":
            self._in_data = "detail"

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        if tag == "tr":
            self._variant = None
        if tag == "script":
            self._in_data = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._in_data:
            self._pieces[self._in_data] = self._pieces.get(self._in_data, "") + data


def expand(grid: dict, blob: str) -> dict:
    """The page's two compact pieces as one object per case and per result (what report.js
    builds from them), so that tests read cases[i]["cells"][v] and results[j]["verdict"]."""
    detail = read_detail(blob)
    c, r, x = grid["cases"], grid["results"], detail["results"]
    cases = [{"id": cid, "prompt": c["prompt"][i], "tags": c["tags"][i] or [], "call": bool(c["call"][i]),
              "expected": detail["cases"]["expected"][i], "full": detail["cases"]["full"][i],
              "cells": [[] for _ in grid["variants"]]} for i, cid in enumerate(c["id"])]
    results = []
    for j in range(len(r["v"])):
        cases[r["case"][j]]["cells"][r["v"][j]].append(j)
        reason = r["reason"][j]
        results.append({"v": r["v"][j], "r": r["r"][j], "verdict": grid["verdict_names"][r["verdict"][j]],
                        "reason": None if reason < 0 else grid["reasons"][reason], "raw": detail["raw"][j],
                        **{k: col[j] for k, col in x.items()}})
    return {**{k: v for k, v in grid.items() if k not in ("cases", "results", "reasons")},
            "cases": cases, "results": results, "messages": detail["messages"],
            "functions": detail["functions"], "fn_tokens": detail["fn_tokens"]}


def parse(html: str) -> ReportParser:
    p = ReportParser()
    p._pieces = {}
    p.feed(html)
    p.close()
    if "data" in p._pieces:
        p.data_json = expand(json.loads(p._pieces["data"]), p._pieces.get("detail", ""))
    return p


RATES = ("accuracy", "call_accuracy", "refusal_accuracy", "hallucination_rate", "over_refusal_rate")


def test_report_numbers_equal_summary(stocks_run):
    summary = json.loads((stocks_run / "summary.json").read_text())
    report = parse((stocks_run / "report.html").read_text())
    assert list(report.metrics) == list(summary["variants"])
    for name, m in summary["variants"].items():
        cells = report.metrics[name]
        assert int(cells["n_scored"]["attrs"]["data-value"]) == m["n_scored"]
        for rate in RATES:
            cell = cells[rate]
            assert float(cell["attrs"]["data-value"]) == m[rate]
            text = " ".join(cell["text"].split())
            assert pct(m[rate]) in text and f"{m[rate + '_k']}/{m[rate + '_n']}" in text
            lo, hi = (float(x) for x in cell["attrs"]["data-ci"].split(","))
            assert [lo, hi] == m[rate + "_ci"]
            assert f"[{pct(lo, 0)}–{pct(hi, 0)}]" in text
        assert float(cells["prompt_tokens"]["attrs"]["data-value"]) == m["prompt_tokens"]
        assert cells["cost_per_1k"]["text"].strip() not in ("", "–")  # priced from the shipped table
    by_pair = {(p["a"], p["b"]): p for p in summary["pairs"]}
    assert len(report.pairs) == 2 * len(by_pair)
    for (a, b), p in by_pair.items():
        cells = [c for c in report.pairs if c["title"].startswith(f"{a} right and {b} wrong")]
        assert len(cells) == 1
        assert float(cells[0]["data-p"]) == p["p_value"]
        assert (int(cells[0]["data-wins"]), int(cells[0]["data-losses"])) == (p["a_only_correct"], p["b_only_correct"])


def test_report_embeds_every_result(stocks_run):
    summary = json.loads((stocks_run / "summary.json").read_text())
    lines = (stocks_run / "results.jsonl").read_text().splitlines()
    data = parse((stocks_run / "report.html").read_text()).data_json
    assert len(data["results"]) == len(lines)
    assert data["variants"] == list(summary["variants"])
    for i, name in enumerate(data["variants"]):
        counts = {}
        for r in data["results"]:
            if r["v"] == i:
                counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        assert counts == {k: v for k, v in summary["variants"][name]["verdicts"].items() if v}
    # the detail panel can show sent and full definitions with their token counts
    case = next(c for c in data["cases"] if c["id"] == "msft-now")
    assert case["full"] in data["functions"]
    short = data["results"][case["cells"][1][0]]
    assert short["fn"] in data["functions"] and "full:" + short["fn"] != case["full"]
    assert data["fn_tokens"][case["full"]] > data["fn_tokens"][short["fn"]]


def test_no_secret_in_report(stocks_run):
    assert "sk-test-not-a-secret" not in (stocks_run / "report.html").read_text()


# ---- synthetic runs -----------------------------------------------------------------------

def record(case_id, variant, verdict, should_call=True, repeat=0, **extra):
    calls = [] if verdict in ("over_refusal", "correct") and not should_call else \
        [{"name": "get_price", "arguments": {"symbol": "X"}, "raw_arguments": '{"symbol": "X"}'}]
    base = {"case_id": case_id, "variant": variant, "repeat": repeat, "verdict": verdict,
            "reason": f"{verdict} on {case_id}", "should_call": should_call,
            "expected": {"refuse": not should_call,
                         "calls": [{"name": "get_price", "arguments": {"symbol": "X"}}] if should_call else []},
            "calls": calls, "content": None, "messages": [{"role": "user", "content": f"question {case_id}"}],
            "functions_sha": "abc", "model": "m", "api": "tools", "usage": None,
            "tokens": {"prompt": 50, "functions": 20}, "latency_s": 0.1, "error": None, "raw": None,
            "tags": [], "name_correct": None}
    return {**base, **extra}


def write_run(run_dir: Path, records, info=None, functions=None) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = summarise(records, info or {})
    write_json(run_dir / "summary.json", summary)
    if functions is not None:
        write_json(run_dir / "functions.json", functions)
    return run_dir


def seed_records():
    """The seed's scenario 1: 5 real and 5 fake companies; base refuses none, ft detects 4/5."""
    out = []
    for i in range(5):
        out += [record(f"real{i}", "base", "correct"), record(f"real{i}", "ft", "correct")]
        out += [record(f"fake{i}", "base", "hallucinated_call", should_call=False),
                record(f"fake{i}", "ft", "hallucinated_call" if i == 0 else "correct", should_call=False)]
    return out


def test_small_difference_is_not_marked_best(tmp_path):
    run = write_run(tmp_path / "seed", seed_records())
    html = render_report([open_run(run, summary=json.loads((run / "summary.json").read_text()), records=seed_records())])
    report = parse(html)
    assert report.metrics["ft"]["accuracy"]["attrs"]["data-value"] == "0.9"
    assert "best" not in report.metrics["ft"]["accuracy"]["attrs"]["class"]
    assert "★" not in report.metrics["ft"]["accuracy"]["text"]
    assert "Not significantly better than base" in html
    assert "could be chance" in html


def test_large_difference_is_marked_best(tmp_path):
    records = []
    for i in range(30):
        records.append(record(f"c{i}", "good", "correct"))
        records.append(record(f"c{i}", "weak", "correct" if i < 10 else "wrong_arguments"))
    run = write_run(tmp_path / "big", records)
    report = parse(render_report([open_run(run, summary=json.loads((run / "summary.json").read_text()), records=records)]))
    assert "best" in report.metrics["good"]["accuracy"]["attrs"]["class"]
    assert "★" in report.metrics["good"]["accuracy"]["text"]
    assert "best" not in report.metrics["weak"]["accuracy"]["attrs"]["class"]
    # over-refusal: both 0%, a tie: nobody is best
    assert all("best" not in report.metrics[v]["over_refusal_rate"]["attrs"]["class"] for v in ("good", "weak"))


HOSTILE = '<script>console.log("pwned-script")</script>'
HOSTILE_IMG = '</script><img src=x onerror="console.log(\'pwned-img\')">'


def hostile_run(run_dir: Path) -> Path:
    records = [
        record(HOSTILE, "<b>v&1</b>", "wrong_arguments", reason=HOSTILE_IMG, tags=["<i>t</i>"],
               messages=[{"role": "system", "content": HOSTILE_IMG}, {"role": "user", "content": HOSTILE}],
               content=HOSTILE, raw={"choices": [{"message": {"content": HOSTILE_IMG}}]},
               model='"><svg onload="console.log(\'pwned-model\')">'),
        record("ok", "<b>v&1</b>", "correct"),
    ]
    functions = {"abc": [{"type": "function", "function": {"name": "get_price", "description": HOSTILE_IMG}}]}
    info = {"<b>v&1</b>": {"provider": HOSTILE, "model": HOSTILE_IMG, "functions": "short",
                           "trial": {"<script>": HOSTILE}}}
    run = write_run(run_dir, records, info, functions)
    write_json(run / "run.json", {"suite": HOSTILE, "cases": [HOSTILE, "ok"]})
    return run


def test_hostile_text_is_inert(tmp_path, cli):
    run = hostile_run(tmp_path / "hostile")
    code, out, err = cli("report", run)
    assert code == 0, err
    html = (run / "report.html").read_text()
    report = parse(html)
    scripts = [a for t, a in report.tags if t == "script"]
    assert len(scripts) == 3 and scripts[0] == {"type": "application/json", "id": "evalkit-data"}
    assert scripts[1] == {"type": "text/plain", "id": "evalkit-detail"}  # inert: base64 only
    detail = html.split('id="evalkit-detail">')[1].split("</script>")[0]
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", detail)
    assert not any(t == "img" for t, _ in report.tags)
    assert not any(k.startswith("on") for _, attrs in report.tags for k in attrs)
    data = report.data_json
    assert data["cases"][0]["id"] == HOSTILE and data["cases"][0]["prompt"] == HOSTILE
    assert data["results"][0]["reason"] == HOSTILE_IMG
    assert data["functions"]["abc"][0]["function"]["description"] == HOSTILE_IMG
    assert "<" not in html.split('id="evalkit-data">')[1].split("</script>")[0]
    assert "&lt;b&gt;v&amp;1&lt;/b&gt;" in html  # the variant name, escaped in the tables



def test_page_data_is_standard_json_whatever_the_records_hold():
    """A lone surrogate, a non-finite number, a non-string key and a huge int in a record (a run
    written by hand, or records handed over in memory) still give data JSON.parse reads."""
    from evalkit.report.cases import case_payload, script_json

    rec = {"case_id": "c\udc00", "variant": "v", "repeat": 0, "verdict": "correct", "reason": "r",
           "messages": [{"role": "user", "content": "q\ud800"}], "should_call": True,
           "calls": [{"name": "f", "arguments": {"x": float("nan"), "big": 2 ** 80}}],
           "raw": {"usage": {1: float("inf")}}, "tokens": None}
    grid, blob = case_payload(["v"], [rec], {}, ["c\udc00"], ["correct"])
    text = str(script_json(grid))
    text.encode("utf-8")  # encodable: no lone surrogate left
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in the page data"))
    assert data["cases"]["id"] == ["c\ufffd"]
    detail = json.loads(zlib.decompress(base64.b64decode(blob)).decode("utf-8"),
                        parse_constant=lambda c: pytest.fail(f"bare {c} in the detail"))
    assert detail["results"]["calls"][0][0]["arguments"] == {"x": "NaN", "big": 2 ** 80}
    assert detail["raw"][0] == {"usage": {"1": "Infinity"}}

# ---- comparing runs, the CLI --------------------------------------------------------------

def test_report_compares_runs(tmp_path, cli):
    before = write_run(tmp_path / "before", seed_records())
    after_records = [{**r, "verdict": "correct"} for r in seed_records() if r["variant"] == "ft"]
    after = write_run(tmp_path / "after", after_records)
    out = tmp_path / "cmp.html"
    code, stdout, err = cli("report", before, after, "-o", out)
    assert code == 0, err
    assert stdout.strip() == str(out)
    report = parse(out.read_text())
    assert list(report.metrics) == ["before/base", "before/ft", "after/ft"]
    assert float(report.metrics["after/ft"]["accuracy"]["attrs"]["data-value"]) == 1.0
    cell = next(c for c in report.pairs if c["title"].startswith("after/ft right and before/ft wrong"))
    assert (cell["data-wins"], cell["data-losses"]) == ("1", "0")
    data = report.data_json
    assert len(data["cases"]) == 10 and all(len(c["cells"]) == 3 for c in data["cases"])


def test_report_of_a_missing_run_is_one_line(tmp_path, cli):
    code, out, err = cli("report", tmp_path / "nope")
    assert code == 2
    assert err.count("\n") == 1 and "run directory not found" in err
    (tmp_path / "empty").mkdir()
    code, out, err = cli("report", tmp_path / "empty")
    assert code == 2 and err.count("\n") == 1 and "no results.jsonl" in err


def test_report_without_summary_is_summarised(tmp_path, cli):
    run = write_run(tmp_path / "killed", seed_records())
    (run / "summary.json").unlink()
    code, out, err = cli("report", run)
    assert code == 0, err
    report = parse((run / "report.html").read_text())
    assert float(report.metrics["ft"]["accuracy"]["attrs"]["data-value"]) == 0.9


def test_repeats_and_trials_sections(tmp_path):
    records = [record(f"c{i}", "ft", "correct" if (i + r) % 3 else "wrong_arguments", repeat=r)
               for i in range(6) for r in range(3)]
    curve = {"train_loss": [[1, 2.0], [2, 1.2], [3, 0.7]], "valid_loss": [[1, 2.1], [3, 0.9]]}
    run = write_run(tmp_path / "rep", records, {"ft": {"trial": {"n_epochs": 3, "learning_rate_multiplier": 2,
                                                                 "train_curve": curve}}})
    html = render_report([open_run(run, summary=json.loads((run / "summary.json").read_text()), records=records)])
    assert 'id="repeats"' in html and "pass^k" in html
    assert 'id="trials"' in html and "learning_rate_multiplier" in html
    assert 'class="loss"' in html and "train_loss 0.700" in html


def test_trials_chart_metric_against_each_hyperparameter(tmp_path):
    """Three trials differing in epochs: one chart for n_epochs with a dot per trial; settings
    that do not vary get no chart."""
    records = [record(f"c{i}", v, "correct" if i < k else "wrong_arguments")
               for v, k in (("t2", 4), ("t3", 8), ("t4", 6)) for i in range(10)]
    info = {v: {"trial": {"n_epochs": e, "batch_size": 8}} for v, e in (("t2", 2), ("t3", 3), ("t4", 4))}
    run = write_run(tmp_path / "grid", records, info)
    html = render_report([open_run(run, summary=json.loads((run / "summary.json").read_text()), records=records)])
    assert "accuracy by n_epochs" in html and "accuracy by batch_size" not in html
    assert html.count('class="hpmark"') == 3
    assert "t3: n_epochs = 3, accuracy 80.0%" in html


# ---- a real browser -----------------------------------------------------------------------

def chromium(url: str, *args: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="evalkit-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", "--hide-scrollbars", *args, url],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def console_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """Chromium logs every console message and uncaught exception as a CONSOLE line; the report
    itself never logs, so any such line is a failure."""
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


browser = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="headless Chromium not installed")


@browser
@pytest.mark.browser
def test_console_detector_catches_errors(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    assert any("undefinedFunction" in line for line in console_lines(chromium(page.as_uri(), "--dump-dom")))


@browser
@pytest.mark.browser
def test_report_in_headless_chromium(stocks_run, tmp_path):
    url = (stocks_run / "report.html").as_uri() + "#case=par-aapl-msft&variant=base%2Bshort"
    dom = chromium(url, "--dump-dom")
    assert console_lines(dom) == []
    assert 'data-ready="1"' in dom.stdout  # the script ran to its end
    assert "Arguments: expected vs got" in dom.stdout  # the deep link opened the detail panel
    assert dom.stdout.count('class="cell ') == 46 * 3
    shot = tmp_path / "report.png"
    proc = chromium((stocks_run / "report.html").as_uri(), f"--screenshot={shot}", "--window-size=1400,2400")
    assert console_lines(proc) == []
    assert shot.stat().st_size > 50_000


@browser
@pytest.mark.browser
def test_hostile_report_runs_no_injected_code(tmp_path):
    run = hostile_run(tmp_path / "hostile")
    (run / "report.html").write_text(render_report([open_run(run)]))
    from urllib.parse import quote
    dom = chromium((run / "report.html").as_uri() + "#case=" + quote(HOSTILE) + "&variant=" + quote("<b>v&1</b>"),
                   "--dump-dom")
    assert console_lines(dom) == []
    assert 'data-ready="1"' in dom.stdout and "Arguments: expected vs got" in dom.stdout


# ---- chart geometry -----------------------------------------------------------------------

def test_tco_chart_marks_break_even():
    from evalkit.analysis.cost import UnitPrice, VariantCost, requests_grid, tco_series
    from evalkit.report.charts import tco_chart

    base = VariantCost("base+full", UnitPrice("gpt-3.5", 0.5, 1.5), prompt_tokens=230, completion_tokens=20)
    ft = VariantCost("ft+short", UnitPrice("gpt-3.5 (fine-tuned)", 0.5, 1.5, 0.0, 1.7, True),
                     prompt_tokens=108, completion_tokens=20, hosting_hours_per_day=24)
    tco = tco_series([base, ft], requests_grid(), "base+full", "ft+short")
    point = tco["break_even"]["requests_per_day"]
    assert point == pytest.approx(1.7 * 24 / ((230 - 108) * 0.5 / 1e6))
    chart = tco_chart(tco)
    assert chart["left"] < chart["break_even"]["x"] < chart["right"]
    assert "break-even" in chart["break_even"]["label"]
    assert [line["name"] for line in chart["lines"]] == ["base+full", "ft+short"]
    # x is log-scaled: 1,000/day sits halfway between 10 and 100,000
    ticks = {t["label"]: t["x"] for t in chart["xticks"]}
    assert ticks["1k"] == pytest.approx((ticks["10"] + ticks["100k"]) / 2)
    never = {**tco, "break_even": {**tco["break_even"], "kind": "never", "requests_per_day": None}}
    assert tco_chart(never)["break_even"] is None


def test_verdict_bars_split_each_row_by_count():
    from evalkit.report.charts import verdict_bars

    bars = verdict_bars({"a": {"verdicts": {"correct": 3, "hallucinated_call": 1, "error": 0}},
                         "b": {"verdicts": {"correct": 0, "over_refusal": 4}}}, width=400)
    a, b = bars["rows"]
    assert [(s["verdict"], s["w"]) for s in a["segments"]] == [("correct", 300.0), ("hallucinated_call", 100.0)]
    assert [(s["verdict"], s["w"]) for s in b["segments"]] == [("over_refusal", 400.0)]
    assert bars["verdicts"] == ["correct", "hallucinated_call", "over_refusal"]


@browser
@pytest.mark.browser
def test_grid_filters_in_headless_chromium(stocks_run, tmp_path):
    """Drive the filters the way a user would (select, change events) and read the counts back."""
    driver = """<script>
    function set(id, value) { var e = document.getElementById(id); e.value = value; e.dispatchEvent(new Event("change")); }
    var out = [];
    set("f-verdict", "hallucinated_call"); out.push(document.getElementById("f-count").textContent);
    set("f-variant", "2"); out.push(document.getElementById("f-count").textContent);
    set("f-verdict", ""); set("f-variant", "");
    var d = document.getElementById("f-disagree"); d.checked = true; d.dispatchEvent(new Event("change"));
    out.push(document.getElementById("f-count").textContent);
    document.querySelector("#grid tbody td.cell").click();
    out.push(document.querySelector("#detail h3").textContent);
    document.body.setAttribute("data-driver", out.join("|"));
    </script></body>"""
    page = tmp_path / "driven.html"
    page.write_text((stocks_run / "report.html").read_text().replace("</body>", driver))
    dom = chromium(page.as_uri(), "--dump-dom")
    assert console_lines(dom) == []
    results = [json.loads(l) for l in (stocks_run / "results.jsonl").read_text().splitlines()]
    halluc = {r["case_id"] for r in results if r["verdict"] == "hallucinated_call"}
    ft_halluc = {r["case_id"] for r in results if r["verdict"] == "hallucinated_call" and r["variant"] == "ft+short"}
    by_case = {}
    for r in results:
        by_case.setdefault(r["case_id"], set()).add(r["verdict"] == "correct")
    order = json.loads((stocks_run / "run.json").read_text())["cases"]
    disagree = [c for c in order if len(by_case[c]) == 2]
    counts = dom.stdout.split('data-driver="')[1].split('"')[0].split("|")
    assert counts[:3] == [f"{len(halluc)} of 46 cases", f"{len(ft_halluc)} of 46 cases", f"{len(disagree)} of 46 cases"]
    assert counts[3] == disagree[0]


# ---- what changed between two runs --------------------------------------------------------

def test_paired_difference_is_newcombes_interval():
    from evalkit.analysis.stats import paired_difference

    # Newcombe (1998), paired data, example (a): 36 both, 12 / 2 discordant, 0 neither; method 10
    up = paired_difference(36, 2, 12, 0)
    assert up.delta == pytest.approx(0.2)
    assert (up.low, up.high) == (pytest.approx(0.0569, abs=1e-4), pytest.approx(0.3404, abs=1e-4))
    assert (up.test.b, up.test.c, up.test.n) == (2, 12, 50)
    down = paired_difference(36, 12, 2, 0)
    assert (down.low, down.high) == (pytest.approx(-up.high), pytest.approx(-up.low))
    # nothing changed on 20 cases: zero, but not a zero-width certainty
    same = paired_difference(10, 0, 0, 10)
    assert same.delta == 0 and same.low < -0.05 and same.high > 0.05 and same.test.p_value == 1.0
    everything = paired_difference(0, 10, 0, 0)
    assert everything.low == -1.0 and everything.high < -0.5
    assert paired_difference(0, 0, 0, 0).delta is None


class ChangesParser(HTMLParser):
    """The 'What changed' rows (data-* attributes) and the flips table, in page order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.flips, self.links = [], [], []
        self._flip = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "chg" in a.get("class", ""):
            self.rows.append(a)
        if tag == "tr" and a.get("class", "").startswith("flip "):
            self._flip = {**a, "text": ""}
            self.flips.append(self._flip)
        if tag == "a" and self._flip is not None:
            self.links.append(a["href"])

    def handle_endtag(self, tag):
        if tag == "tr":
            self._flip = None

    def handle_data(self, data):
        if self._flip is not None:
            self._flip["text"] += data


def before_after(tmp_path):
    """Before: the seed's scenario. After: base fixes every fake company; ft breaks two real ones
    and fixes its one miss."""
    before = write_run(tmp_path / "before", seed_records())
    after_records = []
    for r in seed_records():
        if r["variant"] == "base":
            after_records.append({**r, "verdict": "correct", "reason": None})
        elif r["case_id"] in ("real3", "real1"):
            after_records.append({**r, "verdict": "wrong_arguments", "reason": f"symbol differs on {r['case_id']}"})
        elif r["case_id"] == "fake0":
            after_records.append({**r, "verdict": "correct", "reason": None})
        else:
            after_records.append(r)
    after = write_run(tmp_path / "after", after_records)
    return before, after


def test_comparison_headline_says_what_changed(tmp_path, cli):
    from evalkit.analysis.stats import mcnemar_exact

    before, after = before_after(tmp_path)
    out = tmp_path / "cmp.html"
    code, stdout, err = cli("report", before, after, "-o", out)
    assert code == 0, err
    html = out.read_text()
    page = ChangesParser()
    page.feed(html)
    rows = {r["data-name"]: r for r in page.rows}
    assert list(rows) == ["base", "ft"]
    base, ft = rows["base"], rows["ft"]
    assert float(base["data-delta"]) == pytest.approx(0.5)  # 5/10 -> 10/10
    assert float(base["data-p"]) == pytest.approx(mcnemar_exact(0, 5).p_value)  # 0.0625: not significant
    assert (base["data-regressions"], base["data-fixes"]) == ("0", "5")
    assert float(base["data-low"]) < 0.5 < float(base["data-high"]) <= 1.0
    assert float(ft["data-delta"]) == pytest.approx(-0.1)  # 9/10 -> 8/10
    assert float(ft["data-p"]) == pytest.approx(1.0)
    assert (ft["data-regressions"], ft["data-fixes"]) == ("2", "1")
    assert "same" in base["class"] and "same" in ft["class"]  # neither change is significant
    assert "No variant changed significantly" in html
    # flips: correct -> wrong first (in case order), then the fixes
    order = [(f["data-case"], f["data-name"], f["class"].split()[1]) for f in page.flips]
    assert order == [("real1", "ft", "regression"), ("real3", "ft", "regression"),
                     ("fake0", "base", "fix"), ("fake1", "base", "fix"), ("fake2", "base", "fix"),
                     ("fake3", "base", "fix"), ("fake4", "base", "fix"), ("fake0", "ft", "fix")]
    first = " ".join(page.flips[0]["text"].split())
    assert "correct" in first and "wrong arguments" in first and "symbol differs on real1" in first
    assert page.links[0] == "#case=real1&variant=after/ft"
    data = parse(html).data_json
    assert sorted(data["flipped"]) == ["fake0", "fake1", "fake2", "fake3", "fake4", "real1", "real3"]


def test_comparison_calls_a_real_change_significant(tmp_path):
    records_a = [record(f"c{i}", "m", "correct") for i in range(30)]
    records_b = [record(f"c{i}", "m", "correct" if i < 20 else "hallucinated_call") for i in range(30)]
    a, b = write_run(tmp_path / "a", records_a), write_run(tmp_path / "b", records_b)
    html = render_report([open_run(a), open_run(b)])
    page = ChangesParser()
    page.feed(html)
    (row,) = page.rows
    assert "worse" in row["class"] and float(row["data-p"]) < 0.01
    assert float(row["data-high"]) < 0  # the whole interval is below zero
    assert "m got significantly worse (−33.3 pp, exact McNemar p = 0.002)" in html
    assert len(page.flips) == 10 and all("regression" in f["class"] for f in page.flips)


def test_comparison_pairs_runs_by_variant_name_and_lists_the_rest(tmp_path):
    a = write_run(tmp_path / "a", [record("c1", "x", "correct"), record("c1", "only-a", "correct")])
    b = write_run(tmp_path / "b", [record("c1", "x", "wrong_function"), record("c2", "x", "correct"),
                                   record("c1", "only-b", "correct")])
    html = render_report([open_run(a), open_run(b)])
    page = ChangesParser()
    page.feed(html)
    assert [r["data-name"] for r in page.rows] == ["x"]
    assert "Only in a: only-a." in html and "Only in b: only-b." in html
    assert "the row above uses only the 1 cases both scored" in html  # b scored c2 too


def test_comparison_of_hostile_runs_stays_text(tmp_path):
    a = hostile_run(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    lines = [json.loads(l) for l in (b / "results.jsonl").read_text().splitlines()]
    lines = [{**r, "verdict": "correct" if r["verdict"] != "correct" else "wrong_arguments"} for r in lines]
    (b / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (b / "summary.json").unlink()
    html = render_report([open_run(a), open_run(b)])
    report = parse(html)
    assert not any(t == "img" for t, _ in report.tags)
    assert not any(k.startswith("on") for _, attrs in report.tags for k in attrs)
    assert [a for t, a in report.tags if t == "script"][0] == {"type": "application/json", "id": "evalkit-data"}
    page = ChangesParser()
    page.feed(html)
    assert {f["data-case"] for f in page.flips} == {HOSTILE, "ok"}


def six_column_comparison(stocks_run: Path, tmp_path: Path) -> Path:
    """The stocks run against a copy where every fifth result flipped: 46 cases x 6 variants."""
    after = tmp_path / "after"
    shutil.copytree(stocks_run, after)
    lines = [json.loads(l) for l in (after / "results.jsonl").read_text().splitlines()]
    for i, r in enumerate(lines):
        if i % 5 == 0:
            r["verdict"] = "wrong_arguments" if r["verdict"] == "correct" else "correct"
    (after / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (after / "summary.json").unlink()
    out = tmp_path / "cmp.html"
    out.write_text(render_report([open_run(stocks_run), open_run(after)]))
    return out


GRID_DRIVER = """<script>
function set(id, value) { var e = document.getElementById(id); e.value = value; e.dispatchEvent(new Event("change")); }
function check(id, on) { var e = document.getElementById(id); e.checked = on; e.dispatchEvent(new Event("change")); }
function fits() {
  var wrap = document.querySelector("#grid").parentNode, box = wrap.getBoundingClientRect(), ok = true;
  document.querySelectorAll("#grid th.vcol").forEach(function (th) {
    var r = th.getBoundingClientRect(); if (r.left < box.left - 1 || r.right > box.right + 1 || r.right > window.innerWidth) ok = false;
  });
  return ok && wrap.scrollWidth <= wrap.clientWidth + 1;
}
function rows() {
  return Array.prototype.map.call(document.querySelectorAll("#grid tbody tr"), function (tr) {
    return Array.prototype.map.call(tr.querySelectorAll("td.cell"), function (td) {
      return (td.classList.contains("dim") ? "dim:" : "") + (td.className.match(/c-(\\w+)/) || ["", "none"])[1];
    });
  });
}
var out = {width: window.innerWidth, panelHidden: getComputedStyle(document.getElementById("detail")).display === "none",
           fitsClosed: fits()};
document.querySelector("#grid tbody td.cell").click();
out.fitsOpen = fits();
out.panel = document.querySelector("#detail h3").textContent;
set("f-verdict", "!correct"); out.notCorrect = rows(); out.notCorrectCount = document.getElementById("f-count").textContent;
set("f-verdict", ""); check("f-disagree", true); out.disagree = rows();
check("f-disagree", false); check("f-flipped", true); out.flipped = document.getElementById("f-count").textContent;
document.body.setAttribute("data-driver", JSON.stringify(out));
</script></body>"""


def driver_result(dom: str) -> dict:
    from html import unescape
    return json.loads(unescape(dom.split('data-driver="')[1].split('"')[0]))


@browser
@pytest.mark.browser
def test_comparison_grid_fits_and_filters_filter(stocks_run, tmp_path):
    page = six_column_comparison(stocks_run, tmp_path)
    page.write_text(page.read_text().replace("</body>", GRID_DRIVER))
    dom = chromium(page.as_uri(), "--dump-dom", "--window-size=1280,900")
    assert console_lines(dom) == []
    out = driver_result(dom.stdout)
    assert out["width"] == 1280
    assert out["panelHidden"]  # nothing selected: no empty panel beside the grid
    assert out["fitsClosed"] and out["fitsOpen"]  # all six variant columns visible, panel open or not
    assert out["panel"]
    data = parse(page.read_text()).data_json
    # "not correct": every row shown has a wrong cell, and only wrong cells stay bright
    assert out["notCorrect"] and all(len(row) == 6 for row in out["notCorrect"])
    for row in out["notCorrect"]:
        bright = [c for c in row if not c.startswith("dim:")]
        assert bright and all(c != "correct" for c in bright)
    wrong_cases = sum(any(data["results"][ids[0]]["verdict"] != "correct" for ids in c["cells"] if ids)
                      for c in data["cases"])
    assert out["notCorrectCount"] == f"{wrong_cases} of 46 cases"
    # "variants disagree": every row shown has a correct and a wrong cell
    assert out["disagree"]
    for row in out["disagree"]:
        kinds = {c == "correct" for c in row if c not in ("error", "none")}
        assert kinds == {True, False}
    assert out["flipped"] == f"{len(data['flipped'])} of 46 cases"


@browser
@pytest.mark.browser
def test_comparison_screenshot_at_1280(stocks_run, tmp_path):
    page = six_column_comparison(stocks_run, tmp_path)
    shot = tmp_path / "cmp.png"
    proc = chromium(page.as_uri(), f"--screenshot={shot}", "--window-size=1280,1600")
    assert console_lines(proc) == []
    assert shot.stat().st_size > 50_000


VIRTUAL_DRIVER = """<script>
// Runs after the page's own scripts; polls (in Chromium's virtual time) instead of trusting one
// fixed delay, so a loaded machine cannot make the window look empty.
window.addEventListener("load", function () {
var box = document.getElementById("grid-scroll");
var out = {top: document.querySelectorAll("#grid tbody tr").length};
box.scrollTop = box.scrollHeight / 2;
box.dispatchEvent(new Event("scroll"));
var tries = 0;
function visible() {
  var trs = document.querySelectorAll("#grid tbody tr");
  var seen = box.getBoundingClientRect(), inView = [];
  trs.forEach(function (tr) { var r = tr.getBoundingClientRect(); if (r.top >= seen.top && r.bottom <= seen.bottom) inView.push(tr.querySelector("td.cid").textContent); });
  return {trs: trs, inView: inView};
}
function measure() {
  var v = visible();
  var first = v.trs.length ? parseInt(v.trs[0].querySelector("td.cid").textContent.slice(1), 10) : 0;
  if ((!v.inView.length || first < 1000) && ++tries < 40) {
    // the scroll may have landed before the grid had its full height: scroll again, then look
    box.scrollTop = box.scrollHeight / 2;
    box.dispatchEvent(new Event("scroll"));
    setTimeout(measure, 100);
    return;
  }
  var trs = v.trs;
  out.mid = trs.length;
  out.ids = Array.prototype.map.call(trs, function (tr) { return tr.querySelector("td.cid").textContent; });
  out.inView = v.inView;
  out.scrollTop = box.scrollTop;
  trs[Math.floor(trs.length / 2)].querySelector("td.cell").click();
  out.panel = document.querySelector("#detail h3").textContent;
  setTimeout(function () {
    out.filled = document.getElementById("detail").textContent.indexOf("Arguments: expected vs got") >= 0;
    document.body.setAttribute("data-driver", JSON.stringify(out));
  }, 500);
}
setTimeout(measure, 100);
});
</script></body>"""


@browser
@pytest.mark.browser
def test_large_grid_draws_only_the_rows_in_view(tmp_path):
    """3,000 cases: the grid holds a window of rows, scrolling midway shows the middle cases,
    and a cell's details are unpacked from the compressed table on demand."""
    ids = [f"c{i:04d}" for i in range(3000)]
    records = [record(c, v, "correct" if (i + j) % 3 else "wrong_arguments")
               for i, c in enumerate(ids) for j, v in enumerate(["a", "b"])]
    run = write_run(tmp_path / "big", records, {"a": {}, "b": {}}, {"abc": []})
    write_json(run / "run.json", {"suite": "big", "cases": ids})
    page = tmp_path / "big.html"
    page.write_text(render_report([open_run(run)]).replace("</body>", VIRTUAL_DRIVER))
    dom = chromium(page.as_uri(), "--dump-dom", "--window-size=1280,900", "--virtual-time-budget=10000")
    assert console_lines(dom) == []
    out = driver_result(dom.stdout)
    assert 0 < out["top"] < 100 and 0 < out["mid"] < 100  # a window, not 3,000 rows
    # the rows in the DOM after scrolling midway are a contiguous window from the middle; which of
    # them the viewport shows depends on when Chromium lays out on a loaded machine, so the
    # viewport check applies only when layout reported one
    window = [int(c[1:]) for c in out["ids"]]
    assert window == list(range(window[0], window[0] + len(window))), window
    assert out["scrollTop"] > 0 and window[0] < 1500 < window[-1], (out["scrollTop"], window)
    middle = [int(c[1:]) for c in out["inView"]]
    assert not middle or (1300 < middle[0] < 1700 and set(middle) <= set(window)), middle
    assert out["panel"] in out["ids"] and out["filled"]


def test_compiled_templates_are_cached_and_an_unusable_cache_is_ignored(tmp_path, stocks_run):
    """The second process loads the report template compiled; a cache directory that cannot
    be created (a file in the way) leaves rendering as it was."""
    code = ("import sys, time; from evalkit.report import render_report, _ENV; from evalkit.rundir.run import open_run; "
            "t = time.process_time(); _ENV.get_template('report.html.j2'); dt = time.process_time() - t; "
            "html = render_report([open_run(sys.argv[1])]); "
            "print(len(html.split('generated')[0]), file=sys.stderr); print(round(dt, 4))")
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    outs = []
    for cache in (tmp_path / "cache", tmp_path / "cache", blocked / "sub"):
        env = {**os.environ, "EVALKIT_CACHE_DIR": str(cache)}
        done = subprocess.run([sys.executable, "-c", code, str(stocks_run)], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outs.append(done.stderr.strip())
    assert len(set(outs)) == 1  # the same page from a fresh compile, the cache, and no cache
    assert any(p.name.endswith(".cache") for p in (tmp_path / "cache" / "templates").iterdir())


@pytest.mark.parametrize("n_variants,pairs", [(12, 66), (13, 12)])
def test_pairwise_work_is_bounded_past_twelve_variants(tmp_path, n_variants, pairs):
    """Up to 12 variants every pair is tested; past that each against the first, in summary.json
    and in the report's matrix (one column), which says so."""
    names = [f"v{i:02d}" for i in range(n_variants)]
    records = [record(f"c{k}", v, "correct" if (k + j) % 4 else "wrong_arguments")
               for k in range(8) for j, v in enumerate(names)]
    run = write_run(tmp_path / "many", records, {v: {} for v in names}, {"abc": []})
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["pairs"]) == pairs
    report = parse(render_report([open_run(run)]))
    assert len(report.pairs) == 2 * pairs if n_variants <= 12 else len(report.pairs) == pairs
    if n_variants > 12:
        assert {p["a"] for p in summary["pairs"]} == {"v00"}
        assert all(c["title"].split(" right and ")[1].startswith("v00 wrong") for c in report.pairs)
    html = render_report([open_run(run)])
    assert ("each is tested against the first, v00" in html) == (n_variants > 12)


def test_an_incomplete_run_says_so_at_the_top_of_its_report(tmp_path):
    """A report of fewer results than the run planned says how many, whichever file says what:
    counted from the records, not from summary.json's own claim."""
    records = seed_records()
    cases = sorted({r["case_id"] for r in records})
    done = write_run(tmp_path / "done", records)
    info = {"suite": "s", "cases": cases, "variants": {"base": {"model": "m"}, "ft": {"model": "m"}}}
    write_json(done / "run.json", info)
    assert "Incomplete run" not in render_report([open_run(done)])
    short = write_run(tmp_path / "short", records[:-3])  # killed: 17 of 20 results
    write_json(short / "run.json", info)
    (short / "summary.json").unlink()
    html = render_report([open_run(short)])
    assert "Incomplete run:</b> 17 of 20 planned results are recorded" in html
    assert f"evalkit run --resume {short}" in html
    # a stale summary.json that claims the run is whole does not hide it
    write_json(short / "summary.json", {**summarise(records, {}), "planned": 20, "recorded": 20})
    assert "17 of 20 planned results" in render_report([open_run(short)])
    both = render_report([open_run(done), open_run(short)])
    assert both.count("Incomplete run") == 1 and "Incomplete run short:" in both


def test_report_command_notes_an_incomplete_run(tmp_path, cli):
    records = seed_records()
    info = {"suite": "s", "cases": sorted({r["case_id"] for r in records}),
            "variants": {"base": {"model": "m"}, "ft": {"model": "m"}}}
    whole = write_run(tmp_path / "whole", records)
    write_json(whole / "run.json", info)
    code, out, err = cli("report", whole)
    assert code == 0 and "incomplete" not in err
    short = write_run(tmp_path / "short", records[:-1])
    write_json(short / "run.json", info)
    code, out, err = cli("report", short)
    assert code == 0 and out.strip() == str(short / "report.html")
    assert err.strip() == (f"evalkit report: note: {short}: incomplete run: 19 of 20 planned results are "
                           f"recorded (finish with: evalkit run --resume {short})")
