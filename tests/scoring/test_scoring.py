"""Each verdict and each argument rule, on plain data (no I/O)."""
import json

import pytest

from evalkit.providers.base import Completion, ToolCall
from evalkit.scoring import decide
from evalkit.scoring.arguments import arguments_error, same
from evalkit.suite.model import AnyOf, Expectation, ExpectedCall

FUNCS = [
    {"type": "function", "function": {"name": "get_price", "parameters": {
        "type": "object", "properties": {
            "symbol": {"type": "string"},
            "currency": {"type": "string", "enum": ["USD", "EUR"], "default": "USD"},
            "days": {"type": "integer"},
            "amount": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "live": {"type": "boolean"}},
        "required": ["symbol"]}}},
    {"type": "function", "function": {"name": "get_history", "parameters": {
        "type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}}},
]


def comp(*calls, content=None):
    return Completion(content, tuple(ToolCall(n, a if isinstance(a, str) else json.dumps(a)) for n, a in calls))


def expect(*calls):
    return Expectation(tuple(ExpectedCall(n, a) for n, a in calls))


def verdict(exp, completion, **kw):
    return decide(exp, completion, FUNCS, **kw)


def test_correct_single_call_and_reason():
    v = verdict(expect(("get_price", {"symbol": "MSFT"})), comp(("get_price", {"symbol": "MSFT"})))
    assert v.verdict == "correct"


def test_wrong_value_reason_names_argument():
    v = verdict(expect(("get_price", {"symbol": "MSFT"})), comp(("get_price", {"symbol": "MSF"})))
    assert v.verdict == "wrong_arguments"
    assert v.reason == "argument `symbol`: expected 'MSFT', got 'MSF'"


def test_wrong_function():
    v = verdict(expect(("get_price", {"symbol": "MSFT"})), comp(("get_history", {"symbol": "MSFT"})))
    assert v.verdict == "wrong_function"


def test_undefined_function_is_wrong_function():
    v = verdict(expect(("get_price", {"symbol": "MSFT"})), comp(("buy_stock", {"symbol": "MSFT"})))
    assert v.verdict == "wrong_function"


def test_invalid_arguments_not_json_or_not_object():
    assert verdict(expect(("get_price", {"symbol": "X"})), comp(("get_price", "{symbol: X"))).verdict == "invalid_arguments"
    assert verdict(expect(("get_price", {"symbol": "X"})), comp(("get_price", '["X"]'))).verdict == "invalid_arguments"


def test_wrong_call_count():
    v = verdict(expect(("get_price", {"symbol": "A"})), comp(("get_price", {"symbol": "A"}), ("get_price", {"symbol": "B"})))
    assert v.verdict == "wrong_call_count"


def test_hallucinated_call_and_correct_refusal():
    assert verdict(Expectation(()), comp(("get_price", {"symbol": "TITN"}))).verdict == "hallucinated_call"
    assert verdict(Expectation(()), comp(content="Which company do you mean?")).verdict == "correct"


def test_over_refusal():
    v = verdict(expect(("get_price", {"symbol": "MSFT"})), comp(content="Which company?"))
    assert v.verdict == "over_refusal" and "Which company?" in v.reason


def test_error_verdict():
    v = decide(expect(("get_price", {"symbol": "MSFT"})), None, FUNCS, error="HTTP 500: boom")
    assert v.verdict == "error" and v.reason == "HTTP 500: boom"


def test_missing_required_and_missing_expected():
    assert verdict(expect(("get_price", None)), comp(("get_price", {}))).reason == "missing required argument `symbol`"
    v = verdict(expect(("get_price", {"symbol": "A", "days": 3})), comp(("get_price", {"symbol": "A"})))
    assert v.verdict == "wrong_arguments" and "missing argument `days`" in v.reason


def test_argument_not_in_schema():
    v = verdict(expect(("get_price", {"symbol": "A"})), comp(("get_price", {"symbol": "A", "exchange": "NYSE"})))
    assert v.verdict == "wrong_arguments" and "not in the schema" in v.reason


def test_types_checked_against_full_schema():
    # "3" is not 3; an integer where a number is expected is fine; bools are not numbers
    assert verdict(expect(("get_price", {"symbol": "A", "days": 3})), comp(("get_price", {"symbol": "A", "days": "3"}))).verdict == "wrong_arguments"
    assert verdict(expect(("get_price", {"symbol": "A", "amount": 250.0})), comp(("get_price", {"symbol": "A", "amount": 250}))).verdict == "correct"
    assert verdict(expect(("get_price", {"symbol": "A", "amount": 1})), comp(("get_price", {"symbol": "A", "amount": True}))).verdict == "wrong_arguments"
    assert verdict(expect(("get_price", {"symbol": "A", "days": 3})), comp(("get_price", {"symbol": "A", "days": 3.5}))).verdict == "wrong_arguments"
    assert verdict(expect(("get_price", {"symbol": "A", "tags": ["x"]})), comp(("get_price", {"symbol": "A", "tags": [1]}))).verdict == "wrong_arguments"


def test_enum_violation():
    v = verdict(expect(("get_price", None)), comp(("get_price", {"symbol": "A", "currency": "GBP"})))
    assert v.verdict == "wrong_arguments" and "not one of" in v.reason


def test_optional_default_accepted_other_value_not():
    assert verdict(expect(("get_price", {"symbol": "A"})), comp(("get_price", {"symbol": "A", "currency": "USD"}))).verdict == "correct"
    assert verdict(expect(("get_price", {"symbol": "A"})), comp(("get_price", {"symbol": "A", "currency": "EUR"}))).verdict == "wrong_arguments"


def test_any_of_and_optional():
    exp = expect(("get_price", {"symbol": AnyOf(("GOOGL", "GOOG"))}))
    assert verdict(exp, comp(("get_price", {"symbol": "GOOG"}))).verdict == "correct"
    assert verdict(exp, comp(("get_price", {"symbol": "ABC"}))).reason == "argument `symbol`: expected 'GOOGL' or 'GOOG', got 'ABC'"
    exp = expect(("get_price", {"symbol": "A", "days": AnyOf((5,), optional=True)}))
    assert verdict(exp, comp(("get_price", {"symbol": "A"}))).verdict == "correct"
    assert verdict(exp, comp(("get_price", {"symbol": "A", "days": 6}))).verdict == "wrong_arguments"


def test_parallel_calls_order_free():
    exp = expect(("get_price", {"symbol": "AAPL"}), ("get_price", {"symbol": "MSFT"}), ("get_history", {"symbol": "X"}))
    got = comp(("get_history", {"symbol": "X"}), ("get_price", {"symbol": "MSFT"}), ("get_price", {"symbol": "AAPL"}))
    assert verdict(exp, got).verdict == "correct"
    bad = comp(("get_history", {"symbol": "X"}), ("get_price", {"symbol": "MSFT"}), ("get_price", {"symbol": "MSFT"}))
    assert verdict(exp, bad).verdict == "wrong_arguments"


def test_key_order_and_nested_equality():
    assert same({"a": 1, "b": [1, 2.0]}, {"b": [1.0, 2], "a": 1.0})
    assert not same([1, 2], [2, 1])
    assert not same("1", 1)
    assert not same(True, 1)


def test_arguments_without_expectation_only_checks_schema():
    assert arguments_error({"symbol": "ZZZ"}, None, FUNCS[0]["function"]["parameters"]) is None


def test_empty_argument_text_is_empty_object():
    v = verdict(expect(("get_price", {"symbol": "A"})), comp(("get_price", "")))
    assert v.verdict == "wrong_arguments" and "missing required" in v.reason


def test_bfcl_string_match():
    exp = expect(("get_price", {"symbol": "New York"}))
    assert verdict(exp, comp(("get_price", {"symbol": "new york"}))).verdict == "wrong_arguments"
    assert verdict(exp, comp(("get_price", {"symbol": "new york"})), string_match="bfcl").verdict == "correct"


@pytest.mark.parametrize("actual,ok", [(250, True), (250.0, True), ("250", False)])
def test_number_spellings(actual, ok):
    v = verdict(expect(("get_price", {"symbol": "A", "amount": 250})), comp(("get_price", {"symbol": "A", "amount": actual})))
    assert (v.verdict == "correct") == ok


# ---- one decider for the whole case -----------------------------------------------------------

def test_every_recorded_verdict_is_in_the_one_enum():
    from evalkit.scoring import VERDICTS, VerdictName

    assert VERDICTS == tuple(v.value for v in VerdictName)
    assert {"not_executed", "wrong_answer", "error", "correct"} <= set(VERDICTS)


def test_score_decides_name_correctness():
    from evalkit.scoring import score

    exp = expect(("get_price", {"symbol": "A"}))
    wrong_args = score(exp, comp(("get_price", {"symbol": "B"})), FUNCS)
    assert (wrong_args.verdict, wrong_args.name_correct) == ("wrong_arguments", True)
    assert score(exp, comp(("get_history", {"symbol": "A"})), FUNCS).name_correct is False
    assert score(exp, None, FUNCS, error="boom").name_correct is None
    assert score(Expectation(()), comp(("get_price", {"symbol": "A"})), FUNCS).name_correct is None


def _e2e(steps, final="It is 1.0"):
    first = steps[0]["calls"][0]
    return Completion(None, (ToolCall(first["name"], first["arguments"]),),
                      raw={"trajectory": steps, "final_answer": final})


def test_later_steps_are_judged_by_scoring_not_by_what_the_tool_loop_wrote():
    from evalkit.scoring import score

    exp = expect(("get_price", {"symbol": "A"}))
    ok = {"step": 1, "calls": [{"name": "get_price", "arguments": '{"symbol": "A"}'}], "results": [{}]}
    undeclared = {"step": 2, "calls": [{"name": "buy", "arguments": "{}"}], "results": [{}], "verdict": "correct"}
    v = score(exp, _e2e([ok, undeclared]), FUNCS)
    assert (v.verdict, v.reason) == ("wrong_function", "step 2: called undeclared function `buy`")
    bad_args = {"step": 2, "calls": [{"name": "get_history", "arguments": '{"symbol": 3}'}], "results": [{}]}
    assert score(exp, _e2e([ok, bad_args]), FUNCS).reason == "step 2: get_history: symbol: expected string, got integer 3"
    fine = {"step": 2, "calls": [{"name": "get_history", "arguments": '{"symbol": "A"}'}], "results": [{}],
            "verdict": "wrong_function"}  # a stale annotation is not a verdict
    assert score(exp, _e2e([ok, fine]), FUNCS).verdict == "correct"
    unrun = {"step": 2, "calls": [{"name": "buy", "arguments": "{}"}], "results": None}
    v = score(exp, _e2e([ok, unrun], final=None), FUNCS)
    assert (v.verdict, v.reason) == ("correct", "called get_price with the expected arguments")  # no answer check asked
