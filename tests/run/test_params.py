"""Request parameters: a variant's `params:` reach the server verbatim (any body key), a cases_from
line's `parallel_tool_calls` is sent, the variant's own value wins, keys evalkit builds itself are
refused at load time with file:line."""
import json

import pytest
from fakeserver import FakeServer, last_user, price_suite, tool_reply

PARAMS = {"tool_choice": "auto", "parallel_tool_calls": False, "seed": 1, "top_p": 0.9, "stop": ["\n\n", "END"],
          "response_format": {"type": "json_object"}, "reasoning_effort": "low",
          "vendor_extension": {"nested": [1, {"deep": True}]}}


def answer(body, path):
    i = last_user(body).split()[1].rstrip("?")
    return tool_reply(("get_price", {"symbol": f"S{i}"}))


def bodies(server):
    return [r["body"] for r in server.requests]


def test_params_reach_the_server_verbatim(tmp_path, cli):
    with FakeServer(answer) as server:
        suite = price_suite(tmp_path, "params", [
            f'{{name: p, model: m, base_url: "{server.url}/v1", params: {json.dumps(PARAMS)}}}',
            f'{{name: plain, model: m, base_url: "{server.url}/v1"}}'], 2)
        code, out, err = cli("run", suite, "--out", tmp_path / "run", "--no-progress")
        assert code == 0, err
    by_model = {}
    for body in bodies(server):
        by_model.setdefault("p" if "seed" in body else "plain", []).append(body)
    assert len(by_model["p"]) == 2 and len(by_model["plain"]) == 2
    for body in by_model["p"]:
        assert {k: body[k] for k in PARAMS} == PARAMS
        assert body["tools"] and body["temperature"] == 0
    for body in by_model["plain"]:
        assert not set(PARAMS) & set(body)


def cases_file(tmp_path, parallel):
    line = {"messages": [{"role": "user", "content": "price 1?"},
                         {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
                             "name": "get_price", "arguments": '{"symbol": "S1"}'}}]}],
            "parallel_tool_calls": parallel}
    (tmp_path / "cases.jsonl").write_text(json.dumps(line) + "\n")


@pytest.mark.parametrize("variant, sent", [
    ("", False),  # the line's own value is sent
    (", params: {parallel_tool_calls: true}", True),  # the variant's explicit value wins
    (", api: functions", None),  # the legacy wire format has no parallel calls: not sent
])
def test_cases_from_parallel_tool_calls_is_sent(tmp_path, cli, variant, sent):
    cases_file(tmp_path, False)
    with FakeServer(answer) as server:
        suite = price_suite(tmp_path, "params", [f'{{name: v, model: m, base_url: "{server.url}/v1"{variant}}}'], 1)
        suite.write_text(suite.read_text() + "cases_from: cases.jsonl\n")
        code, _, err = cli("run", suite, "--out", tmp_path / "run", "--no-progress", "--no-cache")
        assert code == 0, err
    from_file = [b for b in bodies(server) if last_user(b) == "price 1?" and "tool_choice" not in b]
    inline = [b for b in bodies(server) if last_user(b) == "price 0?"]
    assert len(from_file) == 2 - len(inline) == 1
    assert from_file[0].get("parallel_tool_calls") == sent
    assert inline[0].get("parallel_tool_calls") == (True if sent else None)  # inline cases set nothing


@pytest.mark.parametrize("key", ["model", "messages", "tools", "temperature", "max_tokens", "stream"])
def test_params_evalkit_builds_are_refused_with_a_line(tmp_path, cli, key):
    suite = price_suite(tmp_path, "params", ["{name: v, model: m, base_url: 'http://127.0.0.1:9/v1', "
                                             f"params: {{{key}: 1}}}}"], 1)
    code, _, err = cli("run", suite, "--out", tmp_path / "run")
    assert code == 2 and err.count("\n") == 1
    assert f"{suite}:6: field 'variants[0].params.{key}': `{key}` cannot be a request parameter" in err


def test_bad_parallel_tool_calls_in_cases_file(tmp_path, cli):
    cases_file(tmp_path, "yes")
    suite = price_suite(tmp_path, "params", ["{name: v, model: m, base_url: 'http://127.0.0.1:9/v1'}"], 1)
    suite.write_text(suite.read_text() + "cases_from: cases.jsonl\n")
    code, _, err = cli("run", suite, "--out", tmp_path / "run")
    assert code == 2
    assert f"{tmp_path / 'cases.jsonl'}:1: field 'parallel_tool_calls': expected true or false" in err
