"""`evalkit view`: a loopback server over a results directory; the index lists every run (a broken
one with its reason), serves each report as it is, renders comparisons on demand, escapes every
run's text, stays inside the directory, and stops cleanly."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser

import pytest
from test_report import HOSTILE, hostile_run, record, seed_records, write_run

from evalkit.cli.view import has_browser
from evalkit.report.serve import serve
from evalkit.rundir.results import write_json


def get(url: str, host: str | None = None) -> tuple[int, str, dict]:
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8"), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8"), dict(e.headers)


class Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict]]:
    p = Tags()
    p.feed(html)
    return p.tags


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    old = write_run(root / "stocks" / "old", seed_records())
    write_json(old / "run.json", {"suite": "stocks", "created": "2026-01-02T03:04:05+00:00",
                                  "cases": sorted({r["case_id"] for r in seed_records()})})
    (old / "report.html").write_text("<!doctype html><p>the report on disk</p>")
    new = write_run(root / "stocks" / "new", [{**r, "verdict": "correct"} for r in seed_records()])
    write_json(new / "run.json", {"suite": "stocks", "created": "2026-02-03T04:05:06+00:00"})
    killed = write_run(root / "killed", [record("c1", "solo", "correct"), record("c2", "solo", "over_refusal")])
    (killed / "summary.json").unlink()
    write_json(killed / "run.json", {"suite": "killed", "created": "2025-01-01T00:00:00+00:00",
                                     "cases": ["c1", "c2", "c3"], "variants": {"solo": {"model": "m"}}})
    stopped = write_run(root / "stopped", [record("c1", "solo", "correct")])  # summary says 1 of 4
    summary = json.loads((stopped / "summary.json").read_text())
    write_json(stopped / "summary.json", {**summary, "planned": 4, "recorded": 1})
    hostile_run(root / "<i>hostile</i>")
    broken = root / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    (broken / "results.jsonl").write_text("")
    (root / "not-a-run" / "deeper").mkdir(parents=True)
    server = serve(root, 0)
    yield root, server.url
    server.stop()


def test_index_lists_runs_newest_first_and_broken_ones_with_a_reason(results):
    _root, url = results
    code, html, headers = get(url)
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]  # nothing on the page can fetch
    rows = [a["data-path"] for t, a in tags(html) if t == "tr" and "data-path" in a]
    assert set(rows) == {"stocks/old", "stocks/new", "killed", "stopped", "<i>hostile</i>", "broken"}
    assert rows.index("stocks/new") < rows.index("stocks/old")  # run.json dates, newest first
    assert "2026-02-03 04:05 UTC" in html
    assert "unreadable: broken/summary.json:1: corrupt summary.json" in html
    assert "ft <b>90.0%</b>" in html and "base <b>50.0%</b>" in html  # stocks/old's accuracy headline
    assert "solo <b>50.0%</b>" in html and "no summary.json" in html  # the killed run, summarised
    # a run with fewer results than planned says so, from its records or from its summary
    assert "incomplete: 2 of 3 planned results recorded" in html
    assert "incomplete: 1 of 4 planned results recorded" in html
    assert html.count("planned results recorded") == 2  # and only those
    assert "not-a-run" not in html
    # every run's text is escaped: the hostile suite and names never become markup
    assert not any(t in ("script", "img", "i", "svg") for t, _ in tags(html))
    assert not any(k.startswith("on") for _, a in tags(html) for k in a)
    assert "&lt;i&gt;hostile&lt;/i&gt;" in html
    # the two newest readable runs are preselected as A (before) and B (after)
    checked = [(a["name"], a["value"]) for t, a in tags(html) if t == "input" and "checked" in a]
    readable = [r for r in rows if r != "broken"]
    assert sorted(checked) == [("a", readable[1]), ("b", readable[0])]


def test_reports_are_served_as_they_are_or_rendered(results):
    root, url = results
    code, html, _ = get(url + "runs/stocks/old/report.html")
    assert code == 200 and html == "<!doctype html><p>the report on disk</p>"
    code, html, _ = get(url + "runs/killed/report.html")  # no report.html: rendered on demand
    assert code == 200 and 'id="evalkit-data"' in html and "solo" in html
    code, html, _ = get(url + "runs/%3Ci%3Ehostile%3C%2Fi%3E/report.html")
    assert code == 200 and HOSTILE not in html.split('id="evalkit-data"')[0]
    assert not (root / "killed" / "report.html").exists()  # viewing never writes into the results


def test_comparison_of_two_runs_is_the_report_comparison(results):
    from urllib.parse import urlencode

    _root, url = results
    code, html, _ = get(url + "compare?" + urlencode({"a": "stocks/old", "b": "stocks/new"}))
    assert code == 200
    assert 'id="changes"' in html and "old</code> → <code>new" in html
    assert 'data-name="base"' in html and 'data-name="ft"' in html
    assert html.count('class="flip fix"') == 6  # base fixes 5 fake companies, ft its one miss
    code, html, _ = get(url + "compare?a=stocks/old")
    assert code == 400 and "pick two runs" in html
    code, html, _ = get(url + "compare?a=stocks/old&b=broken")
    assert code == 422 and "broken/results.jsonl: no results in this run" in html  # one line, the file named


def test_paths_stay_inside_the_results_directory(results, tmp_path):
    _root, url = results
    secret = tmp_path / "outside"
    write_run(secret, seed_records())
    for path in ("runs/../outside/report.html", "runs/%2E%2E/outside/report.html",
                 "compare?a=../outside&b=stocks/old", "runs/not-a-run/report.html", "etc/passwd"):
        code, html, _ = get(url + path)
        assert code == 404, path
    # a page from another site whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing
    code, html, _ = get(url, host="attacker.example:80")
    assert code == 403 and "stocks" not in html


def test_has_browser_follows_the_environment(monkeypatch):
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert not has_browser()
    monkeypatch.setenv("DISPLAY", ":0")
    assert has_browser()
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv("BROWSER", "true")
    assert has_browser()


def test_view_command_prints_the_url_serves_and_stops_on_ctrl_c(results):
    root, _ = results
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    proc = subprocess.Popen([sys.executable, "-c",
                             "import sys; from evalkit.cli import main; sys.exit(main(sys.argv[1:]))",
                             "view", str(root), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("evalkit view: serving ") and "http://127.0.0.1:" in line
        url = line.split(" at ")[1].split()[0]
        code, html, _ = get(url)
        assert code == 200 and "stocks/new" in html
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped" in err


def test_view_of_a_missing_directory_is_one_line(tmp_path, cli):
    code, _out, err = cli("view", tmp_path / "nope", "--no-browser")
    assert code == 2 and err.count("\n") == 1 and "no such results directory" in err
