"""Suite loading (BRIEF §3) and every class of malformed input: one line, file:line, field, exit 2."""
import json
import textwrap

import pytest
from conftest import ROOT

from evalkit.errors import SuiteError
from evalkit.suite import AnyOf, load_suite

FUNCS = """\
functions:
  - type: function
    function:
      name: get_price
      description: Price of a stock.
      parameters:
        type: object
        properties:
          symbol: {type: string, description: Ticker.}
        required: [symbol]
"""


def write(tmp_path, body, name="suite.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def suite_text(cases="", variants=None, extra=""):
    variants = variants or "variants:\n  - {name: v1, provider: openai, model: m, base_url: 'http://127.0.0.1:1/v1'}\n"
    return f"name: t\nsystem: Be careful.\n{FUNCS}{variants}{extra}{cases}"


CASES = """\
cases:
  - id: a
    user: "Price of MSFT?"
    expect: {call: get_price, arguments: {symbol: MSFT}}
  - id: b
    user: "Price of Titan Robotics?"
    expect: refuse
"""


def test_loads_inline_cases_with_system(tmp_path):
    s = load_suite(write(tmp_path, suite_text(CASES)))
    assert [c.id for c in s.cases] == ["a", "b"]
    assert s.cases[0].messages[0] == {"role": "system", "content": "Be careful."}
    assert s.cases[0].expect.calls[0].arguments == {"symbol": "MSFT"}
    assert s.cases[1].expect.refuse


def test_expect_forms(tmp_path):
    cases = """\
cases:
  - {id: a, user: x, expect: {refuse: true}}
  - id: b
    user: y
    expect: [{call: get_price, arguments: {symbol: A}}, {call: get_price, arguments: {symbol: B}}]
  - id: c
    user: z
    expect: {calls: [{call: get_price, arguments: {symbol: {any_of: [GOOG, GOOGL]}}}]}
  - {id: d, user: w, expect: {call: get_price}}
"""
    s = load_suite(write(tmp_path, suite_text(cases)))
    assert s.cases[0].expect.refuse
    assert len(s.cases[1].expect.calls) == 2
    assert s.cases[2].expect.calls[0].arguments["symbol"] == AnyOf(("GOOG", "GOOGL"))
    assert s.cases[3].expect.calls[0].arguments is None


def test_cases_from_jsonl(tmp_path):
    (tmp_path / "data").mkdir()
    lines = [
        {"messages": [{"role": "system", "content": "Own system."}, {"role": "user", "content": "MSFT?"},
                      {"role": "assistant", "tool_calls": [{"id": "1", "type": "function", "function": {
                          "name": "get_price", "arguments": "{\"symbol\": \"MSFT\"}"}}]}]},
        {"messages": [{"role": "user", "content": "Titan?"}, {"role": "assistant", "content": "Which one?"}]},
        {"messages": [{"role": "user", "content": "Old"}, {"role": "assistant", "function_call": {
            "name": "lookup", "arguments": "{\"q\": 1}"}}],
         "functions": [{"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}}}]},
    ]
    (tmp_path / "data" / "cases.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    s = load_suite(write(tmp_path, suite_text(extra="cases_from: data/cases.jsonl\n")))
    a, b, c = s.cases
    assert a.id == "cases-1" and a.messages[0]["content"] == "Own system."
    assert a.expect.calls[0].arguments == {"symbol": "MSFT"}
    assert b.expect.refuse and b.messages[0]["content"] == "Be careful."
    assert c.functions[0]["function"]["name"] == "lookup" and c.expect.calls[0].name == "lookup"


def test_legacy_functions_list_accepted(tmp_path):
    body = "name: t\nfunctions:\n  - {name: get_price, parameters: {type: object, properties: {symbol: {type: string}}}}\n" \
           "variants: [{name: v, model: m}]\n" + CASES
    s = load_suite(write(tmp_path, body))
    assert s.functions[0] == {"type": "function", "function": {"name": "get_price", "parameters": {
        "type": "object", "properties": {"symbol": {"type": "string"}}}}}


BAD = [
    ("bad yaml", "name: t\nvariants: [\n", r"suite.yaml:3: invalid YAML"),
    ("unknown top key", suite_text(CASES, extra="colour: red\n"), r"suite.yaml:\d+: field 'colour': unknown key 'colour'"),
    ("unknown variant key", suite_text(CASES, variants="variants:\n  - {name: v1, modle: x}\n"),
     r"suite.yaml:14: field 'variants\[0\].modle': unknown key 'modle'"),
    ("wrong type", suite_text(CASES, variants="variants:\n  - {name: v1, temperature: hot}\n"),
     r"suite.yaml:14: field 'variants\[0\].temperature'"),
    ("bad api", suite_text(CASES, variants="variants:\n  - {name: v1, api: soap}\n"), r"field 'variants\[0\].api'"),
    ("no variants", f"name: t\n{FUNCS}{CASES}", r"field 'variants': required field is missing"),
    ("undefined function", suite_text("cases:\n  - {id: a, user: x, expect: {call: get_prize}}\n"),
     r"suite.yaml:\d+: field 'expect.call': expects a call to 'get_prize', which is not defined"),
    ("arg not in schema", suite_text("cases:\n  - {id: a, user: x, expect: {call: get_price, arguments: {sym: A}}}\n"),
     r"field 'expect.arguments.sym'"),
    ("bad expect", suite_text("cases:\n  - {id: a, user: x, expect: maybe}\n"), r"suite.yaml:16: field 'cases\[0\].expect'"),
    ("unknown expect key", suite_text("cases:\n  - {id: a, user: x, expect: {call: get_price, argz: {}}}\n"),
     r"field 'cases\[0\].expect.argz': unknown key"),
    ("user and messages", suite_text("cases:\n  - {id: a, expect: refuse}\n"), r"give exactly one of `user` or `messages`"),
    ("duplicate ids", suite_text("cases:\n  - {id: a, user: x, expect: refuse}\n  - {id: a, user: y, expect: refuse}\n"),
     r"duplicate case id 'a'"),
    ("missing cases file", suite_text(extra="cases_from: nope.jsonl\n"), r"field 'cases_from': cases file 'nope.jsonl' not found"),
    ("no cases", suite_text(), r"the suite has no cases"),
    ("unknown transform", suite_text(CASES, variants="variants:\n  - {name: v1, model: m, functions: tiny}\n"),
     r"field 'variants\[0\].functions': unknown functions transform 'tiny'"),
    ("duplicate variant", suite_text(CASES, variants="variants:\n  - {name: v, model: m}\n  - {name: v, model: m}\n"), r"duplicate variant name 'v'"),
    ("not a mapping", "- 1\n- 2\n", r"a suite must be a YAML mapping"),
]


@pytest.mark.parametrize("label,body,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_suites_one_line_exit_2(tmp_path, cli, label, body, pattern):
    path = write(tmp_path, body)
    with pytest.raises(SuiteError):
        load_suite(path)
    code, out, err = cli("run", path)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    import re
    assert re.search(pattern, err), err


BAD_JSONL = [
    ("not json", "{oops\n", r"cases.jsonl:1: not valid JSON"),
    ("not object", "[1]\n", r"cases.jsonl:1: each line must be a JSON object"),
    ("no assistant", json.dumps({"messages": [{"role": "user", "content": "x"}]}) + "\n",
     r"cases.jsonl:1: field 'messages': no assistant message"),
    ("bad role", json.dumps({"messages": [{"role": "robot", "content": "x"}]}) + "\n", r"field 'messages\[0\].role'"),
    ("unknown key", json.dumps({"messages": [], "weight": 1}) + "\n", r"unknown key 'weight'"),
    ("bad args", "\n" + json.dumps({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "get_price", "arguments": "{bad"}}]}]}) + "\n",
     r"cases.jsonl:2: field 'messages\[1\].tool_calls\[0\].function.arguments': arguments are not valid JSON"),
    ("undefined fn", json.dumps({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"type": "function", "function": {"name": "nope", "arguments": "{}"}}]}]}) + "\n",
     r"cases.jsonl:1: field 'expect.call': expects a call to 'nope'"),
]


@pytest.mark.parametrize("label,content,pattern", BAD_JSONL, ids=[b[0] for b in BAD_JSONL])
def test_bad_jsonl_one_line_exit_2(tmp_path, cli, label, content, pattern):
    (tmp_path / "cases.jsonl").write_text(content)
    path = write(tmp_path, suite_text(extra="cases_from: cases.jsonl\n"))
    code, out, err = cli("run", path)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    import re
    assert re.search(pattern, err), err


def test_missing_suite_file(cli, tmp_path):
    code, _, err = cli("run", tmp_path / "nope.yaml")
    assert code == 2 and "nope.yaml: suite file not found" in err


def test_shipped_stocks_suite_loads():
    s = load_suite(ROOT / "suites" / "stocks.yaml")
    assert len(s.cases) >= 40
    assert sum(c.expect.refuse for c in s.cases) >= 15
    assert any(len(c.expect.calls) > 1 for c in s.cases)
