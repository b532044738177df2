"""The local provider's call parser, on every call format a small model writes (fast, no model)."""
import json

import pytest

from evalkit.providers.local_parse import parse_calls
from evalkit.providers.local_prompt import (
    assistant_text,
    format_call,
    plain_messages,
    tools_block,
)

NAMES = ("get_current_stock_price", "get_historical_stock_price")


def calls(text, names=NAMES):
    r = parse_calls(text, names)
    return [(c.name, json.loads(c.arguments) if c.arguments.startswith("{") else c.arguments) for c in r.calls]


def test_tool_call_tag():
    text = '<tool_call>\n{"name": "get_current_stock_price", "arguments": {"symbol": "MSFT"}}\n</tool_call>'
    assert calls(text) == [("get_current_stock_price", {"symbol": "MSFT"})]
    assert parse_calls(text, NAMES).content is None


def test_several_tags_and_surrounding_text():
    text = ('Sure.\n<tool_call>{"name": "get_current_stock_price", "arguments": {"symbol": "AAPL"}}</tool_call>\n'
            '<tool_call>{"name": "get_current_stock_price", "arguments": {"symbol": "MSFT"}}</tool_call>')
    r = parse_calls(text, NAMES)
    assert [json.loads(c.arguments)["symbol"] for c in r.calls] == ["AAPL", "MSFT"]
    assert r.content == "Sure."


def test_unclosed_tag_at_token_cap():
    text = '<tool_call>\n{"name": "get_current_stock_price", "arguments": {"symbol": "KO"}}'
    assert calls(text) == [("get_current_stock_price", {"symbol": "KO"})]


def test_list_inside_tag():
    text = ('<tool_call>[{"name": "get_current_stock_price", "arguments": {"symbol": "A"}}, '
            '{"name": "get_current_stock_price", "arguments": {"symbol": "B"}}]</tool_call>')
    assert [a["symbol"] for _, a in calls(text)] == ["A", "B"]


def test_broken_json_in_tag_is_still_a_call_with_raw_arguments():
    text = '<tool_call>{"name": "get_current_stock_price", "arguments": {"symbol": "MSFT"</tool_call>'
    r = parse_calls(text, NAMES)
    assert len(r.calls) == 1 and r.calls[0].name == "get_current_stock_price"
    with pytest.raises(ValueError):
        json.loads(r.calls[0].arguments)


def test_fenced_json():
    text = 'Here you go:\n```json\n{"name": "get_historical_stock_price", "arguments": {"symbol": "BA", "period": "1y"}}\n```'
    assert calls(text) == [("get_historical_stock_price", {"symbol": "BA", "period": "1y"})]


def test_bare_json_and_arguments_as_string():
    text = '{"name": "get_current_stock_price", "arguments": "{\\"symbol\\": \\"IBM\\"}"}'
    assert calls(text) == [("get_current_stock_price", {"symbol": "IBM"})]


@pytest.mark.parametrize("obj", [
    {"name": "get_current_stock_price", "parameters": {"symbol": "X"}},
    {"name": "get_current_stock_price", "args": {"symbol": "X"}},
    {"function": {"name": "get_current_stock_price", "arguments": {"symbol": "X"}}},
    {"type": "function", "function": {"name": "get_current_stock_price", "arguments": "{\"symbol\": \"X\"}"}},
    {"function": "get_current_stock_price", "arguments": {"symbol": "X"}},
    {"function_call": {"name": "get_current_stock_price", "arguments": "{\"symbol\": \"X\"}"}},
    {"tool_calls": [{"id": "c1", "type": "function",
                     "function": {"name": "get_current_stock_price", "arguments": "{\"symbol\": \"X\"}"}}]},
    {"get_current_stock_price": {"symbol": "X"}},
])
def test_object_variants(obj):
    assert calls("Result: " + json.dumps(obj)) == [("get_current_stock_price", {"symbol": "X"})]


def test_python_literal_and_trailing_comma():
    text = "<tool_call>{'name': 'get_current_stock_price', 'arguments': {'symbol': 'NKE',},}</tool_call>"
    assert calls(text) == [("get_current_stock_price", {"symbol": "NKE"})]


def test_python_call_syntax_for_offered_function():
    text = 'I will call get_historical_stock_price(symbol="PFE", period="5d") now.'
    assert calls(text) == [("get_historical_stock_price", {"symbol": "PFE", "period": "5d"})]
    assert calls('call unknown_fn(symbol="PFE")') == []


def test_plain_text_is_no_call():
    r = parse_calls("I couldn't find that company. Could you give me its ticker symbol?", NAMES)
    assert r.calls == () and r.content.startswith("I couldn't")


def test_json_that_is_not_a_call_is_no_call():
    assert calls('The data: {"symbol": "NVIDIA", "price": 1.25}') == []
    assert calls('{"stock_history": {"2023-01-01": 1}}') == []


def test_echoed_definition_is_no_call():
    echoed = json.dumps({"name": "get_current_stock_price", "description": "d",
                         "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}}})
    assert calls(echoed) == []
    assert calls(json.dumps({"name": "get_current_stock_price",
                             "parameters": {"type": "object", "properties": {}}})) == []


def test_empty_arguments():
    assert calls('<tool_call>{"name": "get_current_stock_price"}</tool_call>') == [("get_current_stock_price", {})]
    assert calls('<tool_call>{"name": "get_current_stock_price", "arguments": {}}</tool_call>') == \
        [("get_current_stock_price", {})]


def test_round_trip_with_training_format():
    msg = {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "get_current_stock_price", "arguments": '{"symbol": "AAPL"}'}},
        {"id": "b", "type": "function", "function": {"name": "get_current_stock_price", "arguments": '{"symbol": "MSFT"}'}}]}
    assert calls(assistant_text(msg)) == [("get_current_stock_price", {"symbol": "AAPL"}),
                                          ("get_current_stock_price", {"symbol": "MSFT"})]
    assert format_call("f", '{"a": 1}') == '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>'


def test_tools_go_into_the_system_message():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    out = plain_messages([{"role": "system", "content": "Be careful."}, {"role": "user", "content": "hi"}], tools)
    assert out[0]["content"].startswith("Be careful.\n\n# Tools")
    assert '{"name": "f", "parameters": {"type": "object", "properties": {}}}' in out[0]["content"]
    assert plain_messages([{"role": "user", "content": "hi"}], tools)[0] == {"role": "system",
                                                                              "content": tools_block(tools)}
    tool_turn = plain_messages([{"role": "tool", "content": '{"price": 1}'}], ())
    assert tool_turn == [{"role": "tool", "content": '<tool_response>\n{"price": 1}\n</tool_response>'}]
