"""The recording path under a hostile endpoint (tests/faultserver.py): every planned key ends as
exactly one result, whatever the body; what is written is standard JSON any parser reads; a
failure to score or write stops the run loudly (exit 4) and stays resumable; deadlines hold
whatever the HTTP client; credentials never reach a stored or printed text."""
import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
from conftest import ROOT
from fakeserver import FakeServer, last_user, text_reply, tool_reply
from faultserver import BODIES, FaultServer, fault_suite

FAST = "timeout: 2, options: {max_retries: 0}"


def _reject(constant):
    raise ValueError(f"non-standard JSON constant {constant}")


def strict_rows(path):
    """results.jsonl read the way a strict parser would: UTF-8, no NaN/Infinity, no lone surrogates."""
    text = path.read_bytes().decode("utf-8")  # strict: a lone surrogate cannot be encoded, so never here
    return [json.loads(line, parse_constant=_reject) for line in text.splitlines()]


def js_parse_all(path):
    """Every line through JavaScript's JSON.parse (what the report's grid uses)."""
    script = ("const lines = require('fs').readFileSync(process.argv[1], 'utf8').split('\\n').filter(Boolean);"
              "let n = 0; for (const l of lines) { JSON.parse(l); n++; } console.log(n);")
    out = subprocess.run(["node", "-e", script, str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


def assert_one_result_per_key(run_dir, faults, variants=("v",), repeats=1):
    got = strict_rows(run_dir / "results.jsonl")
    keys = Counter((r["case_id"], r["variant"], r["repeat"]) for r in got)
    planned = {(f"c{i}", v, k) for i in range(len(faults)) for v in variants for k in range(repeats)}
    assert set(keys) == planned and set(keys.values()) == {1}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["planned"] == summary["recorded"] == len(planned)
    for v in variants:
        assert summary["variants"][v]["planned"] == summary["variants"][v]["recorded"] == len(faults) * repeats
    for r in got:
        assert "\n" not in r["reason"] and (r["error"] is None or "\n" not in r["error"])
    return {(r["case_id"], r["variant"]): r for r in got}


EXPECTED = {  # fault -> (verdict, words of the reason)
    "ok": ("correct", ""),
    "surrogate": ("correct", ""),
    "surrogate_args": ("wrong_arguments", "S\ufffd"),
    "content_object": ("error", "choices[0].message.content is an object, expected a string or null"),
    "name_number": ("error", "tool_calls[0].function.name is a number, expected a string"),
    "args_object": ("correct", ""),
    "args_number": ("invalid_arguments", "not an object"),
    "deep_args": ("invalid_arguments", "nest too deep"),
    "deep_body": ("error", "nests too deep"),
    "message_string": ("error", "choices[0].message is a string, expected an object"),
    "no_message": ("error", "choices[0].message is missing or null"),
    "no_choices": ("error", "response has no choices"),
    "tool_calls_string": ("error", "tool_calls is a string, expected a list"),
    "usage_text": ("correct", ""),
    "nan_args": ("invalid_arguments", "NaN is not a JSON value"),
    "nan_body": ("correct", ""),
    "not_json": ("error", "response is not JSON"),
    "array_body": ("error", "the response is a list, expected a JSON object"),
    "error_200": ("error", "model overloaded"),
    "echo_200": ("correct", ""),
}


def test_every_malformed_body_becomes_one_result_and_every_file_is_standard_json(tmp_path, cli):
    faults = list(BODIES)
    assert set(faults) == set(EXPECTED)
    with FaultServer() as server:
        suite = fault_suite(tmp_path, server.url, faults, FAST)
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--no-progress", "--max-error-rate", "1")
    assert code == 0, err
    assert "Traceback" not in err
    by = assert_one_result_per_key(tmp_path / "r", faults)
    for i, fault in enumerate(faults):
        verdict, words = EXPECTED[fault]
        r = by[f"c{i}", "v"]
        assert r["verdict"] == verdict, (fault, r["reason"], r["error"])
        assert words in (r["error"] or r["reason"]), (fault, r["error"], r["reason"])
    ix = {f: by[f"c{i}", "v"] for i, f in enumerate(faults)}
    assert ix["surrogate"]["content"] == "odd \ufffd text"  # a lone surrogate is replaced, not fatal
    assert ix["usage_text"]["usage"]["prompt_tokens"] is None  # a garbled count is dropped
    assert ix["nan_body"]["raw"]["usage"]["prompt_tokens"] == "NaN"  # non-finite numbers kept as strings
    assert ix["content_object"]["raw"]["choices"][0]["message"]["content"] == {"text": "hi"}  # body kept
    assert js_parse_all(tmp_path / "r" / "results.jsonl") == len(faults)
    for name in ("summary.json", "run.json", "functions.json"):
        json.loads((tmp_path / "r" / name).read_text(encoding="utf-8"), parse_constant=_reject)
    # the commands that read a run directory read this one
    assert cli("run", "--resume", tmp_path / "r", "--no-progress", "--max-error-rate", "1")[0] == 0
    assert len(strict_rows(tmp_path / "r" / "results.jsonl")) == len(faults)
    code, _, err = cli("report", tmp_path / "r")
    assert code == 0, err


def test_transport_faults_hit_a_hard_deadline_with_either_http_client(tmp_path, cli):
    faults = ["hang", "trickle", "close_mid_body", "close_before", "ok"]
    opts = "timeout: 0.5, options: {max_retries: 1, http_client: %s}"
    with FaultServer(trickle_s=0.05) as server:  # the trickled body takes ~30x the timeout
        suite = fault_suite(tmp_path, server.url, faults,
                            variants={"lean": opts % "lean", "dflt": opts % "default"})
        t0 = time.monotonic()
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--no-progress", "--max-error-rate", "1")
        elapsed = time.monotonic() - t0
    assert code == 0, err
    by = assert_one_result_per_key(tmp_path / "r", faults, variants=("lean", "dflt"))
    assert elapsed < 12  # two 0.5 s attempts (and one backoff) per request, not the trickle's ~15 s
    for v in ("lean", "dflt"):
        assert by["c4", v]["verdict"] == "correct"
        for i in range(2):  # hang and trickle: the deadline, the URL, the attempts
            e = by[f"c{i}", v]["error"]
            assert e.startswith("Timeout: POST http://127.0.0.1:") and "/v1/chat/completions" in e, e
            assert "no complete response within 0.5 s" in e or "timed out" in e.lower(), e
            assert e.endswith("(2 attempts)"), e
        for i in (2, 3):  # closed connections: the URL and the cause
            e = by[f"c{i}", v]["error"]
            assert e.startswith("Connection error: POST http://127.0.0.1:") and "(2 attempts)" in e, e


def test_retry_budget_covers_timeouts_and_refused_connections(tmp_path, cli):
    n = 12
    with FaultServer() as server:
        suite = fault_suite(tmp_path, server.url, ["hang"] * n,
                            "timeout: 0.3, options: {max_retries: 5, retry_budget: 3, retry_budget_ratio: 0.0}")
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--no-progress")
    assert code == 3
    assert_one_result_per_key(tmp_path / "r", ["hang"] * n)
    assert len(server.requests) <= n + 3  # without the budget: n x 6 attempts
    assert "most common" in err and "Timeout: POST" in err  # the exit-3 line says what went wrong
    # a refused connection: nobody listens on this port
    with socket_port() as port:
        pass
    suite = fault_suite(tmp_path, "", ["ok"] * 4, name="refused.yaml", variants={
        "v": f'base_url: "http://127.0.0.1:{port}/v1", options: {{max_retries: 5, retry_budget: 0, '
             f'retry_budget_ratio: 0.0}}'})
    t0 = time.monotonic()
    code, _, err = cli("run", suite, "--out", tmp_path / "refused", "--no-progress")
    assert code == 3 and time.monotonic() - t0 < 5  # no backoff ladder: the budget said no
    by = assert_one_result_per_key(tmp_path / "refused", ["ok"] * 4)
    e = by["c0", "v"]["error"]
    assert e.startswith(f"Connection error: POST http://127.0.0.1:{port}/v1/chat/completions: ConnectError"), e
    assert "retry budget is spent" in e


class socket_port:
    """A loopback port that was free a moment ago (bound, then released)."""

    def __enter__(self):
        import socket

        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return self.s.getsockname()[1]

    def __exit__(self, *a):
        self.s.close()


def test_429_and_5xx_with_and_without_retry_after_are_retried_then_scored_once(tmp_path, cli):
    faults = ["r429*1", "r429_bare*1", "r500*2", "r500_bare*1", "r503"]
    with FaultServer() as server:
        suite = fault_suite(tmp_path, server.url, faults, "options: {max_retries: 2}")
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--no-progress", "--max-error-rate", "1")
    assert code == 0, err
    by = assert_one_result_per_key(tmp_path / "r", faults)
    assert [by[f"c{i}", "v"]["verdict"] for i in range(4)] == ["correct"] * 4
    assert by["c4", "v"]["error"] == "HTTP 503: scripted 503"
    assert by["c4", "v"]["raw"] == {"error": {"message": "scripted 503"}}  # the error body is kept
    assert Counter(r["user"] for r in server.requests)["r503 4"] == 3  # 1 + max_retries


KEY = "sk-live-0123456789abcdefSECRET"


def test_credentials_are_scrubbed_from_every_stored_and_printed_text(tmp_path, cli, monkeypatch, capsys):
    monkeypatch.setenv("FAULT_KEY", KEY)
    faults = ["echo_401", "echo_200", "ok"]
    with FaultServer() as server:
        suite = fault_suite(tmp_path, server.url, faults, variants={
            "oai": "api_key_env: FAULT_KEY, options: {max_retries: 0}",
            "az": f'provider: azure, base_url: "{server.url}/openai/deployments/m", api_version: "2024-06-01", '
                  "api_key_env: FAULT_KEY, options: {max_retries: 0}"})
        code, out, err = cli("run", suite, "--out", tmp_path / "r", "--no-progress")
        sent = {r["headers"].get("authorization") or r["headers"].get("api-key") for r in server.requests}
    assert code == 3  # 2 of 6 are errors
    assert sent == {f"Bearer {KEY}", KEY}  # both header styles really carried the key
    by = assert_one_result_per_key(tmp_path / "r", faults, variants=("oai", "az"))
    assert "Incorrect API key provided: Bearer [redacted]" in by["c0", "oai"]["error"]
    assert "api-key: [redacted]" in by["c0", "az"]["error"]
    assert "[redacted]" in by["c1", "oai"]["content"]
    texts = [out, err]
    code, o, e = cli("export", tmp_path / "r", "-f", "csv", "-o", tmp_path / "tidy.csv")
    assert code == 0, e
    code, o2, e2 = cli("gate", tmp_path / "r", "--baseline", tmp_path / "r", "--junit", tmp_path / "junit.xml")
    texts += [o, e, o2, e2]
    files = [tmp_path / "r" / n for n in os.listdir(tmp_path / "r")] + [tmp_path / "tidy.csv", tmp_path / "junit.xml"]
    assert any(f.name == "report.html" for f in files)
    for f in files:
        texts.append(f.read_text(encoding="utf-8", errors="replace"))
    leaks = [t[:80] for t in texts if KEY in t or KEY[:16] in t]
    assert not leaks


def test_recorder_failure_stops_the_run_names_the_result_and_keeps_the_rest(tmp_path):
    """The background writer cannot die silently: a result that fails to score stops dispatch
    promptly, the results scored before it are on disk, and the reason names the result."""
    import asyncio

    from evalkit.providers.openai_compat import create as create_openai
    from evalkit.run.dispatch import Job
    from evalkit.run.prepare import prepare
    from evalkit.run.runner import Recorder, RecordingFailed, _send
    from evalkit.rundir.results import ResultsWriter
    from evalkit.suite import load_suite

    n = 40
    with FaultServer() as server:
        suite = load_suite(fault_suite(tmp_path, server.url, ["ok"] * n, "options: {max_retries: 0}"))
        variant = suite.variants[0]
        jobs = [Job(p, 0) for p in prepare(suite, [variant], list(suite.cases))]

        def counter(request):  # a token counter that breaks on one request, as a bug would
            if request.messages[-1]["content"] == "ok 5":
                raise KeyError("tokenizer table")

        writer = ResultsWriter(tmp_path / "results.jsonl")
        recorder = Recorder(suite, writer, {variant.name: counter}, None, None)
        with pytest.raises(RecordingFailed) as failed:
            asyncio.run(_send(jobs, [variant], {variant.name: create_openai(variant)}, recorder, 2))
        writer.close()
    assert "cannot score case 'c5' of variant 'v' (repeat 0): KeyError" in str(failed.value)
    rows = strict_rows(tmp_path / "results.jsonl")
    assert "c5" not in {r["case_id"] for r in rows} and len(rows) == recorder.written >= 1
    assert len(server.requests) < n  # stopped sending instead of finishing the run blind
    with pytest.raises(RecordingFailed):  # and it stays stopped
        recorder.flush()


def test_write_failure_is_fatal_exit_4_and_resume_finishes(tmp_path, cli):
    """results.jsonl cannot grow (a file-size limit stands in for a full disk): the run stops
    with exit 4 and one line, the lines before it stay, and --resume completes the run."""
    n = 30
    with FaultServer() as server:
        suite = fault_suite(tmp_path, server.url, ["ok"] * n, "options: {max_retries: 0}")
        script = textwrap.dedent(f"""
            import resource, signal, sys
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (12000, 12000))
            from evalkit.cli import main
            sys.exit(main(["run", {str(suite)!r}, "--out", {str(tmp_path / "r")!r}, "--no-cache",
                           "--no-progress", "--concurrency", "2"]))
        """)
        env = {**os.environ, "EVALKIT_CACHE_DIR": str(tmp_path / "cache")}
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                              cwd=ROOT, env=env)
        assert proc.returncode == 4, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "cannot write" in lines[0] and "results.jsonl" in lines[0]
        assert f"evalkit run --resume {tmp_path / 'r'}" in lines[0]
        assert not (tmp_path / "r" / "summary.json").exists()
        code, _, err = cli("run", "--resume", tmp_path / "r", "--no-progress")
        assert code == 0, err
    assert_one_result_per_key(tmp_path / "r", ["ok"] * n)


def test_a_tool_that_never_returns_cannot_keep_the_process_alive(tmp_path):
    (tmp_path / "tools.py").write_text("import time\nTIMEOUT = 0.3\n\ndef get_price(symbol):\n"
                                       "    time.sleep(3600)\n")

    def model(body, path):
        if body["messages"][-1]["role"] == "user":
            return tool_reply(("get_price", {"symbol": "S" + last_user(body).split()[1]}))
        return text_reply("The quote service did not answer.")

    with FakeServer(model) as server:
        suite = fault_suite(tmp_path, server.url, ["ok"] * 3, "options: {max_retries: 0}")
        suite.write_text(suite.read_text().replace("name: faults\n", "name: faults\nexecute: true\n"
                                                                     "tools_module: tools.py\n"))
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "evalkit", "run", str(suite), "--out", str(tmp_path / "r"),
                               "--no-progress"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                              env={**os.environ, "EVALKIT_CACHE_DIR": str(tmp_path / "cache")})
        elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 30  # 3 tools abandoned at 0.3 s; the interpreter did not wait for them
    by = assert_one_result_per_key(tmp_path / "r", ["ok"] * 3)
    step = by["c0", "v"]["raw"]["trajectory"][0]
    assert step["results"] == [{"error": "get_price timed out after 0.3 s"}]
