"""`evalkit run` end to end through the real CLI against a loopback OpenAI-compatible server."""
import json
import textwrap

import pytest
from fakeserver import FakeServer, function_reply, scripted, text_reply, tool_reply

FUNCS = """\
functions:
  - type: function
    function:
      name: get_price
      description: Current price of a stock.
      parameters:
        type: object
        properties:
          symbol: {type: string, description: Exact ticker symbol.}
          days: {type: integer, description: Lookback in days.}
        required: [symbol]
  - type: function
    function:
      name: get_history
      description: Historical prices.
      parameters:
        type: object
        properties:
          symbol: {type: string}
        required: [symbol]
"""

CASES = """\
cases:
  - {id: ok, user: "MSFT now?", expect: {call: get_price, arguments: {symbol: MSFT}}}
  - {id: wrongfn, user: "AAPL now?", expect: {call: get_price, arguments: {symbol: AAPL}}}
  - {id: wrongarg, user: "Tesla now?", expect: {call: get_price, arguments: {symbol: TSLA}}}
  - {id: invalid, user: "NVDA now?", expect: {call: get_price, arguments: {symbol: NVDA}}}
  - {id: count, user: "IBM now?", expect: {call: get_price, arguments: {symbol: IBM}}}
  - {id: halluc, user: "Titan Robotics?", expect: refuse}
  - {id: refused, user: "Zephyr Biotech?", expect: refuse}
  - {id: overref, user: "Netflix now?", expect: {call: get_price, arguments: {symbol: NFLX}}}
  - {id: types, user: "KO 3 days?", expect: {call: get_price, arguments: {symbol: KO, days: 3}}}
  - id: parallel
    user: "AAPL and MSFT?"
    expect: [{call: get_price, arguments: {symbol: AAPL}}, {call: get_price, arguments: {symbol: MSFT}}]
  - {id: boom, user: "Server error please", expect: {call: get_price, arguments: {symbol: X}}}
"""

SCRIPT = {
    "MSFT now?": tool_reply(("get_price", {"symbol": "MSFT"})),
    "AAPL now?": tool_reply(("get_history", {"symbol": "AAPL"})),
    "Tesla now?": tool_reply(("get_price", {"symbol": "TSL"})),
    "NVDA now?": tool_reply(("get_price", '{"symbol": NVDA')),
    "IBM now?": tool_reply(("get_price", {"symbol": "IBM"}), ("get_price", {"symbol": "IBM"})),
    "Titan Robotics?": tool_reply(("get_price", {"symbol": "TITN"})),
    "Zephyr Biotech?": text_reply("I could not find that company. Which ticker do you mean?"),
    "Netflix now?": text_reply("Which Netflix?"),
    "KO 3 days?": tool_reply(("get_price", {"symbol": "KO", "days": "3"})),
    "AAPL and MSFT?": tool_reply(("get_price", {"symbol": "MSFT"}), ("get_price", {"symbol": "AAPL"})),
    "Server error please": {"status": 500},
}

EXPECTED = {"ok": "correct", "wrongfn": "wrong_function", "wrongarg": "wrong_arguments",
            "invalid": "invalid_arguments", "count": "wrong_call_count", "halluc": "hallucinated_call",
            "refused": "correct", "overref": "over_refusal", "types": "wrong_arguments",
            "parallel": "correct", "boom": "error"}


def make_suite(tmp_path, variants):
    p = tmp_path / "suite.yaml"
    p.write_text("name: demo\nsystem: Ask when unsure.\n" + FUNCS + textwrap.dedent(variants) + CASES)
    return p


def results(run_dir):
    return [json.loads(l) for l in (run_dir / "results.jsonl").read_text().splitlines()]


@pytest.fixture
def server():
    with FakeServer(scripted(SCRIPT)) as s:
        yield s


def test_every_verdict_and_hand_counted_summary(tmp_path, server, cli, monkeypatch):
    monkeypatch.setenv("DEMO_KEY", "sk-secret-123")
    suite = make_suite(tmp_path, f"""\
variants:
  - {{name: full, model: m1, base_url: "{server.url}/v1", api_key_env: DEMO_KEY, options: {{max_retries: 0}}}}
""")
    out_dir = tmp_path / "run"
    code, out, err = cli("run", suite, "--out", out_dir)
    assert code == 0, err
    rows = results(out_dir)
    assert {r["case_id"]: r["verdict"] for r in rows} == EXPECTED
    m = json.loads((out_dir / "summary.json").read_text())["variants"]["full"]
    # hand count: 10 scored (boom is an error); correct: ok, refused, parallel
    assert (m["n"], m["n_scored"], m["errors"]) == (11, 10, 1)
    assert m["accuracy"] == pytest.approx(3 / 10)
    assert (m["call_accuracy_k"], m["call_accuracy_n"]) == (2, 8)
    assert (m["refusal_accuracy_k"], m["refusal_accuracy_n"]) == (1, 2)
    assert m["hallucination_rate"] == pytest.approx(0.5)
    assert m["over_refusal_rate"] == pytest.approx(1 / 8)
    # name right: ok, wrongarg, invalid, types, parallel (count has 2 calls, overref none, wrongfn wrong)
    assert m["name_accuracy"] == pytest.approx(5 / 8)
    assert m["verdicts"]["wrong_arguments"] == 2 and m["verdicts"]["error"] == 1
    lo, hi = m["accuracy_ci"]
    assert lo < 0.3 < hi
    assert "full" in out and "run directory:" in out
    by_id = {r["case_id"]: r for r in rows}
    assert by_id["wrongarg"]["reason"] == "argument `symbol`: expected 'TSLA', got 'TSL'"
    assert by_id["boom"]["error"].startswith("HTTP 500")
    assert by_id["ok"]["usage"]["prompt_tokens"] == 42 and by_id["ok"]["latency_s"] > 0
    # the secret never lands in the run directory
    for f in out_dir.iterdir():
        assert "sk-secret-123" not in f.read_text()
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-secret-123"
    html = (out_dir / "report.html").read_text()
    assert "wrong_call_count" in html


def test_short_variant_sends_short_definitions_but_scores_against_full(tmp_path, server, cli):
    suite = make_suite(tmp_path, f"""\
variants:
  - {{name: short, model: m, base_url: "{server.url}/v1", functions: short, options: {{max_retries: 0}}}}
""")
    code, _, err = cli("run", suite, "--out", tmp_path / "r")
    assert code == 0, err
    sent = server.requests[0]["body"]["tools"]
    assert sent[0] == {"type": "function", "function": {"name": "get_price", "parameters": {"type": "object", "properties": {}}}}
    # types are still checked against the full schema: "3" for an integer is wrong
    assert {r["case_id"]: r["verdict"] for r in results(tmp_path / "r")}["types"] == "wrong_arguments"


def test_legacy_functions_wire_format(tmp_path, cli):
    def responder(body, path):
        assert "tools" not in body and body["functions"][0]["name"] == "get_price"
        if "Titan" in json.dumps(body["messages"]):
            return text_reply("Which company?")
        return function_reply("get_price", {"symbol": "MSFT"})

    with FakeServer(responder) as server:
        suite = make_suite(tmp_path, f"""\
variants:
  - {{name: legacy, model: gpt-35-turbo-0613, base_url: "{server.url}/v1", api: functions, options: {{max_retries: 0}}}}
""")
        code, _, err = cli("run", suite, "--out", tmp_path / "r")
    assert code == 0, err
    verdicts = {r["case_id"]: r["verdict"] for r in results(tmp_path / "r")}
    assert verdicts["ok"] == "correct" and verdicts["halluc"] == "correct"
    assert verdicts["wrongarg"] == "wrong_arguments" and verdicts["parallel"] == "wrong_call_count"


def test_azure_deployment_path_and_key_header(tmp_path, server, cli, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-secret")
    suite = make_suite(tmp_path, f"""\
variants:
  - {{name: az, provider: azure, model: my-gpt35-deployment, azure_endpoint: "{server.url}", api_version: "2024-02-01", options: {{max_retries: 0}}}}
""")
    code, _, err = cli("run", suite, "--out", tmp_path / "r", "--limit", "2")
    assert code == 0, err
    req = server.requests[0]
    assert req["path"].startswith("/openai/deployments/my-gpt35-deployment/chat/completions")
    assert "api-version=2024-02-01" in req["path"]
    assert req["headers"]["api-key"] == "az-secret"
    assert len(results(tmp_path / "r")) == 2


def test_env_connection_defaults(tmp_path, server, cli, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    suite = make_suite(tmp_path, "variants:\n  - {name: v, model: m, options: {max_retries: 0}}\n")
    code, _, err = cli("run", suite, "--out", tmp_path / "r", "--limit", "1")
    assert code == 0, err
    assert server.requests[0]["headers"]["authorization"] == "Bearer env-key"


def test_missing_key_is_one_line_before_any_request(tmp_path, server, cli):
    suite = make_suite(tmp_path, "variants:\n  - {name: v, model: gpt-4o}\n")
    code, _, err = cli("run", suite, "--out", tmp_path / "r")
    assert code == 2 and err.count("\n") == 1
    assert "variant 'v': no API key: set the environment variable OPENAI_API_KEY" in err
    assert server.requests == []


def test_missing_azure_version(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
    suite = make_suite(tmp_path, "variants:\n  - {name: v, provider: azure, model: d, azure_endpoint: 'http://127.0.0.1:9'}\n")
    code, _, err = cli("run", suite)
    assert code == 2 and "Azure needs an API version" in err


def test_unknown_provider_and_variant_selection(tmp_path, server, cli):
    suite = make_suite(tmp_path, f"""\
variants:
  - {{name: a, model: m, base_url: "{server.url}/v1", options: {{max_retries: 0}}}}
  - {{name: b, provider: nosuch, model: m}}
""")
    code, _, err = cli("run", suite, "--out", tmp_path / "r1")
    assert code == 2 and "unknown provider 'nosuch'" in err and "field 'variants[1].provider'" in err
    assert not (tmp_path / "r1").exists()  # a load error: nothing was started
    suite = make_suite(tmp_path, f"""\
variants:
  - {{name: a, model: m, base_url: "{server.url}/v1", options: {{max_retries: 0}}}}
  - {{name: b, model: m, base_url: "{server.url}/v1"}}
""")
    code, out, err = cli("run", suite, "--out", tmp_path / "r2", "--variant", "a", "--limit", "3")
    assert code == 0, err
    assert {r["variant"] for r in results(tmp_path / "r2")} == {"a"} and len(results(tmp_path / "r2")) == 3
    code, _, err = cli("run", suite, "--variant", "zzz")
    assert code == 2 and "no variant named 'zzz'" in err


def test_two_variants_pairwise_and_report_command(tmp_path, server, cli):
    suite = make_suite(tmp_path, f"""\
variants:
  - {{name: full, model: m, base_url: "{server.url}/v1", options: {{max_retries: 0}}}}
  - {{name: short, model: m, base_url: "{server.url}/v1", functions: short, options: {{max_retries: 0}}}}
""")
    code, _, err = cli("run", suite, "--out", tmp_path / "r")
    assert code == 0, err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert list(summary["variants"]) == ["full", "short"]
    pair = summary["pairs"][0]
    assert (pair["a"], pair["b"], pair["a_only_correct"], pair["b_only_correct"], pair["p_value"]) == ("full", "short", 0, 0, 1.0)
    (tmp_path / "r" / "report.html").unlink()
    code, out, _ = cli("report", tmp_path / "r")
    assert code == 0 and (tmp_path / "r" / "report.html").exists()


def test_repeats(tmp_path, server, cli):
    suite = make_suite(tmp_path, f"variants:\n  - {{name: v, model: m, base_url: '{server.url}/v1', options: {{max_retries: 0}}}}\n")
    code, _, err = cli("run", suite, "--out", tmp_path / "r", "--limit", "2", "--repeats", "3")
    assert code == 0, err
    rows = results(tmp_path / "r")
    assert sorted((r["case_id"], r["repeat"]) for r in rows) == sorted((c, k) for c in ("ok", "wrongfn") for k in range(3))
