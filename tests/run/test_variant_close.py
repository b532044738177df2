"""A variant's provider is closed as soon as its last request is answered (never while one of its
requests is pending, never before every variant sharing the provider is done), and a run keeps
only a bounded number of variants open, so thousands of variants fit a small open-files limit."""
from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

from evalkit import providers
from evalkit.providers.base import Provider
from evalkit.run.dispatch import OPEN_WORKERS_PER_SLOT
from evalkit.suite.plugins import ProviderPlugin
from evalkit.types import Completion, ToolCall, Usage

EVENTS: list[tuple] = []  # ("start"|"end", variant, provider id) and ("close", provider id)
SHARED: dict[str, Tracking] = {}
DELAYS: dict[str, float] = {}  # per variant (its model name), so a shared provider keeps each one's


class Tracking(Provider):
    """Logs every request and close; a request after close, or a close with requests in flight,
    is logged as a violation (the local provider would fail those requests)."""

    def __init__(self):
        self.in_flight = 0
        self.closed = False

    async def complete(self, request):
        name = request.model
        if self.closed:
            EVENTS.append(("violation", "request after close", name))
        EVENTS.append(("start", name, id(self)))
        self.in_flight += 1
        await asyncio.sleep(DELAYS[name])
        self.in_flight -= 1
        EVENTS.append(("end", name, id(self)))
        return Completion(None, (ToolCall("get_price", '{"symbol": "MSFT"}', "c1"),), Usage(11, 5))

    async def aclose(self):
        if self.in_flight:
            EVENTS.append(("violation", "closed with requests pending", id(self)))
        EVENTS.append(("close", id(self)))
        self.closed = True


def create_tracking(variant, *, base_dir=None):
    DELAYS[variant.model] = float(variant.options.get("delay", 0))
    share = variant.options.get("share")
    if share:  # a plugin handing one client to several variants
        return SHARED.setdefault(share, Tracking())
    return Tracking()


@pytest.fixture
def tracking(monkeypatch):
    EVENTS.clear()
    SHARED.clear()
    DELAYS.clear()
    monkeypatch.setitem(providers.BUILTIN, "tracking", ProviderPlugin(create_tracking))


def suite(tmp_path, variants: str, cases: int = 2, concurrency: int = 4) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: close
        concurrency: {concurrency}
        functions:
          - {{name: get_price, parameters: {{type: object, properties: {{symbol: {{type: string}}}}}}}}
        cases:
        """) + "".join(f"  - {{id: c{i}, user: 'Price of MSFT {i}?', expect: {{call: get_price, "
                       f"arguments: {{symbol: MSFT}}}}}}\n" for i in range(cases))
        + "variants:\n" + textwrap.indent(textwrap.dedent(variants), "  "))
    return path


def position(event) -> int:
    return EVENTS.index(event)


def last_end(variant: str) -> int:
    return max(i for i, e in enumerate(EVENTS) if e[0] == "end" and e[1] == variant)


def closes() -> list[int]:
    return [e[1] for e in EVENTS if e[0] == "close"]


def test_a_finished_variant_is_closed_while_others_still_run(tmp_path, tracking, cli):
    path = suite(tmp_path, """\
        - {name: fast, provider: tracking, model: fast, options: {delay: 0.01}}
        - {name: slow, provider: tracking, model: slow, options: {delay: 0.4}}
    """)
    code, _, err = cli("run", path, "--out", tmp_path / "r", "--no-cache", "--no-progress")
    assert code == 0, err
    assert not [e for e in EVENTS if e[0] == "violation"]
    fast_id = next(e[2] for e in EVENTS if e[:2] == ("start", "fast"))
    slow_id = next(e[2] for e in EVENTS if e[:2] == ("start", "slow"))
    assert sorted(closes()) == sorted([fast_id, slow_id])  # each once
    fast_closed = position(("close", fast_id))
    assert last_end("fast") < fast_closed < last_end("slow")  # released before the run ended
    assert position(("close", slow_id)) > last_end("slow")


def test_a_provider_shared_by_variants_closes_after_the_last_of_them(tmp_path, tracking, cli):
    path = suite(tmp_path, """\
        - {name: a, provider: tracking, model: a, options: {share: one, delay: 0.01}}
        - {name: b, provider: tracking, model: b, options: {share: one, delay: 0.3}}
        - {name: own, provider: tracking, model: own, options: {delay: 0.01}}
    """)
    code, _, err = cli("run", path, "--out", tmp_path / "r", "--no-cache", "--no-progress")
    assert code == 0, err
    assert not [e for e in EVENTS if e[0] == "violation"]
    shared = id(SHARED["one"])
    assert closes().count(shared) == 1
    assert position(("close", shared)) > last_end("b") > last_end("a")
    own = next(e[2] for e in EVENTS if e[:2] == ("start", "own"))
    assert position(("close", own)) < last_end("b")  # not held back by the shared one


def test_variants_answered_from_the_cache_are_closed_once_at_the_end(tmp_path, tracking, cli, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))
    path = suite(tmp_path, """\
        - {name: a, provider: tracking, model: a}
        - {name: b, provider: tracking, model: b}
    """)
    assert cli("run", path, "--out", tmp_path / "r1", "--no-progress")[0] == 0
    EVENTS.clear()
    code, _, err = cli("run", path, "--out", tmp_path / "r2", "--no-progress")
    assert code == 0, err
    assert not [e for e in EVENTS if e[0] in ("start", "violation")]  # all replayed
    assert len(closes()) == 2 == len(set(closes()))


def test_only_a_bounded_number_of_variants_is_open_at_once(tmp_path, tracking, cli):
    concurrency, n = 2, 60
    variants = "".join(f"- {{name: v{i}, provider: tracking, model: v{i}, options: {{delay: 0.005}}}}\n"
                       for i in range(n))
    path = suite(tmp_path, variants, cases=3, concurrency=concurrency)
    code, _, err = cli("run", path, "--out", tmp_path / "r", "--no-cache", "--no-progress")
    assert code == 0, err
    assert not [e for e in EVENTS if e[0] == "violation"]
    opened, open_now, most = set(), set(), 0
    for e in EVENTS:
        if e[0] == "start" and e[2] not in opened:
            opened.add(e[2])
            open_now.add(e[2])
        elif e[0] == "close":
            open_now.discard(e[1])
        most = max(most, len(open_now))
    assert len(opened) == n and len(closes()) == n
    # each variant has `concurrency` workers: at most the budget's worth of variants in progress
    assert most <= OPEN_WORKERS_PER_SLOT * concurrency // concurrency
    results = [json.loads(line) for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()]
    assert len(results) == 3 * n and {r["verdict"] for r in results} == {"correct"}


def test_many_http_variants_complete_under_a_small_open_files_limit(tmp_path):
    """Each variant is its own OpenAI-compatible client against a keep-alive loopback server: with
    every client kept open until the run's end this dies of EMFILE near the limit."""
    n, nofile = 600, 128
    server = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "loopback_server.py"), "--latency", "0"],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().split()[1])
        suite_path = tmp_path / "suite.json"
        suite_path.write_text(json.dumps({
            "name": "many", "concurrency": 16,
            "functions": [{"name": "get_price", "parameters": {"type": "object",
                                                               "properties": {"symbol": {"type": "string"}}}}],
            "variants": [{"name": f"v{i}", "model": "m", "base_url": f"http://127.0.0.1:{port}/v1",
                          "api_key_env": "LOOPBACK_KEY"} for i in range(n)],
            "cases": [{"id": "q", "user": "Price of ACME?", "expect": {"call": "get_price",
                                                                      "arguments": {"symbol": "ACME"}}}]}))

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        proc = subprocess.run([sys.executable, "-m", "evalkit", "run", str(suite_path), "--out", str(tmp_path / "r"),
                               "--no-cache", "--no-progress"], preexec_fn=limit, capture_output=True, text=True, check=False,
                              env=os.environ | {"LOOPBACK_KEY": "sk-loopback"}, timeout=300)
    finally:
        server.terminate()
        server.communicate()
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()]
    assert len(results) == n
    assert {r["verdict"] for r in results} == {"correct"}, {r.get("error") for r in results}
