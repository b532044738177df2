"""End-to-end mode: evalkit executes the model's calls with the suite's Python tools, sends the
results back, scores later steps and the final answer. Real CLI, real tools module, a loopback
OpenAI-compatible server playing the model."""
import json
import shutil
import textwrap

import pytest
import yaml
from conftest import ROOT
from fakeserver import FakeServer, function_reply, last_user, text_reply, tool_reply

from evalkit.scoring.answer import answer_error
from evalkit.suite.model import Expectation

ECHO = object()  # reply with every tool result so far, as a model quoting its tools would


def conversation(scripts):
    """Reply by the user message and the number of tool rounds so far."""
    def responder(body, path):
        msgs = body["messages"]
        rounds = sum(1 for m in msgs if m["role"] == "assistant" and (m.get("tool_calls") or m.get("function_call")))
        script = scripts[last_user(body)]
        reply = script[min(rounds, len(script) - 1)]
        if reply is ECHO:
            return text_reply(" ".join(m["content"] for m in msgs if m["role"] in ("tool", "function")))
        return reply
    return responder


def rows(run_dir):
    return {r["case_id"]: r for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}


def test_stocks_e2e_suite_with_fixture_prices(tmp_path, cli):
    scripts = {
        "What is Microsoft's stock price right now?": [tool_reply(("get_current_stock_price", {"symbol": "MSFT"})), ECHO],
        "What were Apple's closing prices from 2024-01-02 to 2024-01-04?": [
            tool_reply(("get_historical_stock_price", {"symbol": "AAPL", "start_date": "2024-01-02",
                                                       "end_date": "2024-01-04"})), ECHO],
        "Get NVIDIA's current price, and if it is above 800 dollars, also get Microsoft's.": [
            tool_reply(("get_current_stock_price", {"symbol": "NVDA"})),
            tool_reply(("get_current_stock_price", {"symbol": "MSFT"})), ECHO],
        "How much is one share of Coca-Cola right now?": [
            tool_reply(("get_current_stock_price", {"symbol": "KO"})), text_reply("One share costs $60.12.")],
        "What was Titan Robotics' closing price last Friday?": [
            text_reply("I could not find a listed company by that name. Which ticker symbol do you mean?")],
    }
    shutil.copy(ROOT / "suites" / "stocks_tools.py", tmp_path)
    with FakeServer(conversation(scripts)) as server:
        data = yaml.safe_load((ROOT / "suites" / "stocks_e2e.yaml").read_text())
        data["variants"][0].update(base_url=f"{server.url}/v1", options={"max_retries": 0})
        (tmp_path / "e2e.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        code, _, err = cli("run", tmp_path / "e2e.yaml", "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    got = rows(tmp_path / "run")
    assert {k: r["verdict"] for k, r in got.items()} == dict.fromkeys(got, "correct")
    steps = got["nvda-then-msft"]["raw"]["trajectory"]
    assert [(s["step"], s["calls"][0]["arguments"]) for s in steps] == [
        (1, '{"symbol": "NVDA"}'), (2, '{"symbol": "MSFT"}')]
    assert not any("verdict" in s for s in steps)  # the tool loop records; scoring decides
    assert steps[0]["results"] == [{"symbol": "NVDA", "price": 875.28, "currency": "USD"}]
    assert "415.26" in got["nvda-then-msft"]["raw"]["final_answer"]
    # what the model was sent: its own call, then the tool result, tied by the call id
    third = [r["body"]["messages"] for r in server.requests if "NVIDIA" in json.dumps(r["body"]["messages"])][-1]
    assert [m["role"] for m in third[-4:]] == ["assistant", "tool", "assistant", "tool"]
    assert third[-1]["tool_call_id"] == third[-2]["tool_calls"][0]["id"]
    assert json.loads(third[-1]["content"])["price"] == 415.26
    # scoring judges the first step: the summary counts five correct cases
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())["variants"]["base+full"]
    assert (summary["accuracy_k"], summary["accuracy_n"]) == (5, 5)


TOOLS = '''\
import time
from pathlib import Path
TIMEOUT = 0.3
def get_price(symbol):
    return {"symbol": symbol, "price": 100.5}
def slow_quote(symbol):
    time.sleep(3)
    return {"price": 1}
def delete_everything():  # defined here but not declared in the suite: must never run
    Path(__file__).with_name("deleted").write_text("oops")
'''

SUITE = """\
name: e2e
functions:
  - {name: get_price, parameters: {type: object, properties: {symbol: {type: string}}, required: [symbol]}}
  - {name: slow_quote, parameters: {type: object, properties: {symbol: {type: string}}, required: [symbol]}}
tools_module: tools.py
execute: true
variants:
  - {name: v, model: m, base_url: "URL/v1", api: API, options: {max_retries: 0}}
cases:
  - {id: wrong-answer, user: "wa", expect: {call: get_price, arguments: {symbol: X}, answer_contains: ["100.5"]}}
  - {id: undeclared, user: "ud", expect: {call: get_price, arguments: {symbol: X}}}
  - {id: bad-args, user: "ba", expect: {call: get_price, arguments: {symbol: X}}}
  - {id: timeout, user: "to", expect: {call: slow_quote, arguments: {symbol: X}, answer_contains: [timed out]}}
  - {id: endless, user: "en", expect: {call: get_price, arguments: {symbol: X}, answer_contains: ["100.5"]}}
"""


def write_suite(tmp_path, url, api="tools", tools=TOOLS, suite=SUITE):
    (tmp_path / "tools.py").write_text(tools)
    path = tmp_path / "suite.yaml"
    path.write_text(suite.replace("URL", url).replace("API", api))
    return path


def test_rules_of_execution_and_step_scoring(tmp_path, cli):
    price = ("get_price", {"symbol": "X"})
    scripts = {
        "wa": [tool_reply(price), text_reply("It is $99.")],
        "ud": [tool_reply(price), tool_reply(("delete_everything", {})), ECHO],
        "ba": [tool_reply(("get_price", {"symbol": 5})), ECHO],
        "to": [tool_reply(("slow_quote", {"symbol": "X"})), ECHO],
        "en": [tool_reply(price)],  # never stops calling
    }
    with FakeServer(conversation(scripts)) as server:
        code, _, err = cli("run", write_suite(tmp_path, server.url), "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    got = rows(tmp_path / "run")
    assert got["wrong-answer"]["verdict"] == "wrong_answer"
    assert got["wrong-answer"]["reason"] == "final answer lacks '100.5': 'It is $99.'"
    assert got["undeclared"]["verdict"] == "wrong_function"
    assert got["undeclared"]["reason"] == "step 2: called undeclared function `delete_everything`"
    assert not (tmp_path / "deleted").exists()
    assert got["undeclared"]["raw"]["trajectory"][1]["results"] == [
        {"error": "called undeclared function `delete_everything`"}]
    bad = got["bad-args"]
    assert bad["verdict"] == "wrong_arguments"  # the first step, judged by the expectation
    assert bad["raw"]["trajectory"][0]["results"][0]["error"].startswith("get_price: symbol: expected string")
    assert got["timeout"]["verdict"] == "correct"
    assert got["timeout"]["raw"]["trajectory"][0]["results"] == [{"error": "slow_quote timed out after 0.3 s"}]
    endless = got["endless"]
    assert endless["verdict"] == "wrong_answer" and endless["reason"] == "no final answer"
    assert [s["results"] is None for s in endless["raw"]["trajectory"]] == [False] * 5 + [True]  # not executed
    assert len([r for r in server.requests if last_user(r["body"]) == "en"]) == 6


def test_legacy_functions_wire_format(tmp_path, cli):
    def responder(body, path):
        if body["messages"][-1]["role"] == "function":
            return text_reply(f"Price: {json.loads(body['messages'][-1]['content'])['price']}")
        return function_reply("get_price", {"symbol": "X"})

    suite = SUITE.split("cases:")[0] + textwrap.dedent("""\
    cases:
      - {id: legacy, user: "lg", expect: {call: get_price, arguments: {symbol: X}, answer_contains: ["100.5"]}}
    """)
    with FakeServer(responder) as server:
        path = write_suite(tmp_path, server.url, api="functions", suite=suite)
        code, _, err = cli("run", path, "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    assert rows(tmp_path / "run")["legacy"]["verdict"] == "correct"
    last = server.requests[-1]["body"]["messages"]
    assert last[-2]["function_call"]["name"] == "get_price" and last[-1]["role"] == "function"


@pytest.mark.parametrize("tools, suite_edit, message", [
    (TOOLS, ("tools_module: tools.py\n", ""), "field 'tools_module': `execute: true` needs `tools_module`"),
    (TOOLS.replace("def slow_quote", "def other"), None, "does not implement slow_quote"),
    ("raise RuntimeError('no network')\n", None, "failed to load: RuntimeError: no network"),
    (TOOLS, ("tools.py", "missing.py"), "tools module"),
])
def test_configuration_errors_are_one_line(tmp_path, cli, tools, suite_edit, message):
    suite = SUITE if suite_edit is None else SUITE.replace(*suite_edit)
    path = write_suite(tmp_path, "http://127.0.0.1:9", tools=tools, suite=suite)
    code, _, err = cli("run", path, "--out", tmp_path / "run", "--no-progress")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_answer_checks():
    expect = Expectation((), answer_contains=("415.26", "msft"), answer_matches=r"\$\d+")
    assert answer_error(expect, "MSFT is at $415.26") is None
    assert answer_error(expect, "MSFT is at 415.26") == "final answer does not match /\\$\\d+/: 'MSFT is at 415.26'"
    assert answer_error(expect, None) == "no final answer"
    assert answer_error(Expectation(()), None) is None
    assert "not a valid regular expression" in answer_error(Expectation((), answer_matches="("), "x")
