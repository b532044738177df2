"""Guided decoding's grammar (reply or schema-valid calls), checked character by character with
xgrammar's matcher over a byte-level toy vocabulary: no model needed."""
from __future__ import annotations

import importlib.util
import json

import pytest

from evalkit.providers import local_grammar as lg
from evalkit.providers.local_parse import parse_calls
from evalkit.providers.local_prompt import assistant_text, format_call, format_reply

FULL = [{"type": "function", "function": {
    "name": "get_historical_stock_price", "description": "History.",
    "parameters": {"type": "object", "required": ["symbol"], "properties": {
        "symbol": {"type": "string"}, "start_date": {"type": "string"}, "end_date": {"type": "string"},
        "period": {"type": "string", "enum": ["1d", "5d", "1mo"]}}}}},
    {"type": "function", "function": {"name": "get_current_stock_price", "parameters": {
        "type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}}}]
SHORT = [{"type": "function", "function": {"name": f["function"]["name"],
                                           "parameters": {"type": "object", "properties": {}}}} for f in FULL]

needs_xgrammar = pytest.mark.skipif(importlib.util.find_spec("xgrammar") is None, reason="needs xgrammar")


def accepts(tools, text: str) -> bool:
    import xgrammar as xgr

    vocab = [chr(i) for i in range(32, 127)] + ["\n", "</s>"]
    info = xgr.TokenizerInfo(vocab, stop_token_ids=[len(vocab) - 1])
    matcher = xgr.GrammarMatcher(xgr.GrammarCompiler(info).compile_grammar(lg.build_grammar(tools)))
    return matcher.accept_string(text) and matcher.accept_token(len(vocab) - 1)


def test_argument_schema_closes_declared_properties_and_opens_empty_ones():
    assert lg.argument_schema({"type": "object", "properties": {}}) == ({"type": "object"}, False)
    assert lg.argument_schema(None) == ({"type": "object"}, False)
    schema, strict = lg.argument_schema(FULL[1]["function"]["parameters"])
    assert strict and schema["required"] == ["symbol"]


def test_call_prefix_is_what_format_call_writes():
    text = format_call("get_current_stock_price", {"symbol": "MSFT"})
    assert text.startswith("<tool_call>\n" + lg.call_prefix("get_current_stock_price"))


@needs_xgrammar
def test_full_schema_calls_follow_the_schema():
    ok = format_call("get_historical_stock_price", {"symbol": "KO", "period": "1mo"})
    assert accepts(FULL, ok)
    assert accepts(FULL, ok + "\n" + format_call("get_current_stock_price", {"symbol": "PEP"}))  # parallel
    assert not accepts(FULL, format_call("get_historical_stock_price", {"symbol": "KO", "period": "2w"}))
    assert not accepts(FULL, format_call("get_current_stock_price", {}))  # required symbol missing
    assert not accepts(FULL, format_call("get_current_stock_price", {"symbol": "KO", "x": 1}))
    assert not accepts(FULL, format_call("get_stock", {"symbol": "KO"}))  # undeclared function
    assert not accepts(FULL, '<tool_call>\n{"name":"get_current_stock_price","arguments":{}}\n</tool_call>')


@needs_xgrammar
def test_short_schema_takes_any_object_and_replies_stay_replies():
    assert accepts(SHORT, format_call("get_current_stock_price", {}))
    assert accepts(SHORT, format_call("get_current_stock_price", {"company": "Microsoft", "n": [1, 2]}))
    assert not accepts(SHORT, format_call("get_current_stock_price", {"symbol": "KO"})[:-1])  # unclosed
    assert accepts(SHORT, format_reply("Which company do you mean? Please give me its ticker."))
    assert not accepts(SHORT, "Which company do you mean?")  # the answer says which form it takes
    assert not accepts(SHORT, format_reply("Sure. <tool_call>"))  # a reply cannot turn into a call
    assert not accepts(SHORT, "")
    assert accepts([], "Hello there.")  # no tools offered: plain text
    assert json.loads(lg.grammar_key(SHORT)) == [t["function"] for t in SHORT]


def test_reply_block_round_trips_through_prompt_and_parser():
    text = assistant_text({"role": "assistant", "content": "Which company?"})
    assert text == "<reply>\nWhich company?"
    assert parse_calls(text, ["f"]).calls == () and parse_calls(text, ["f"]).content == "Which company?"
    assert assistant_text({"role": "assistant", "content": "Hi"}, tools=False) == "Hi"
