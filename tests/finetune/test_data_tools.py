"""`evalkit data check|shorten|estimate`: every check with a bad file, shorten round trip, and the
estimate arithmetic worked by hand."""
import json

import pytest
from conftest import ROOT

from evalkit.data import check_examples, default_epochs, estimate, read_examples
from evalkit.data.estimate import MAX_TOKENS_PER_EXAMPLE
from evalkit.suite import load_suite

SUITE = """\
name: data-demo
system: Ask when unsure.
functions:
  - type: function
    function:
      name: get_price
      description: Current price of a stock.
      parameters:
        type: object
        properties:
          symbol: {type: string, description: Exact ticker symbol.}
          days: {type: integer}
        required: [symbol]
variants:
  - {name: base, model: gpt-3.5-turbo-0613}
  - {name: ft, model: "ft:gpt-3.5-turbo-0613:acme::x1", functions: short, trial: {n_epochs: 3}}
cases:
  - {id: msft, user: "What is Microsoft trading at?", expect: {call: get_price, arguments: {symbol: MSFT}}}
  - {id: titan, user: "How is Titan Robotics doing?", expect: refuse}
"""

SHORT = [{"type": "function", "function": {"name": "get_price", "parameters": {"type": "object", "properties": {}}}}]
FULL_FN = {"name": "get_price", "description": "Current price of a stock.",
           "parameters": {"type": "object", "properties": {"symbol": {"type": "string", "description": "Exact ticker symbol."},
                                                           "days": {"type": "integer"}}, "required": ["symbol"]}}


def call_example(i, symbol=None, arguments=None, name="get_price"):
    args = arguments if arguments is not None else json.dumps({"symbol": symbol or f"T{i}"})
    return {"messages": [{"role": "system", "content": "Ask when unsure."},
                         {"role": "user", "content": f"Price of company number {i}?"},
                         {"role": "assistant", "tool_calls": [{"id": "call_0", "type": "function",
                                                               "function": {"name": name, "arguments": args}}]}],
            "tools": SHORT}


def refuse_example(i):
    return {"messages": [{"role": "system", "content": "Ask when unsure."},
                         {"role": "user", "content": f"Price of made-up firm {i}?"},
                         {"role": "assistant", "content": "I can't find that company. Which ticker do you mean?"}],
            "tools": SHORT}


def good_lines(n=100):
    return [call_example(i) if i % 4 else refuse_example(i) for i in range(n)]


def write(tmp_path, lines, name="train.jsonl"):
    p = tmp_path / name
    p.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines))
    return p


@pytest.fixture
def suite(tmp_path):
    p = tmp_path / "suite.yaml"
    p.write_text(SUITE)
    return load_suite(p)


def problems(tmp_path, lines, suite=None):
    examples, bad = read_examples(write(tmp_path, lines))
    return check_examples(examples, bad, suite)


def test_good_file_has_no_problems(tmp_path, suite):
    report = problems(tmp_path, good_lines(), suite)
    assert report.problems == () and report.n == 100 and report.n_refuse == 25


def with_line(line, at=5):
    lines = good_lines()
    lines[at] = line
    return lines


MSG = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]

BAD = {
    "invalid_json": '{"messages": [',
    "data_type": "[1, 2]",
    "missing_messages_list": {"tools": SHORT},
    "message_missing_key": {"messages": [{"content": "hi"}, MSG[1]]},
    "unrecognized_role": {"messages": [{"role": "robot", "content": "hi"}, MSG[1]]},
    "message_unrecognized_key": {"messages": [{"role": "user", "content": "hi", "mood": "sad"}, MSG[1]]},
    "missing_content": {"messages": [MSG[0], {"role": "assistant", "content": ""}]},
    "invalid_weight": {"messages": [MSG[0], {"role": "assistant", "content": "x", "weight": 2}]},
    "example_missing_assistant_message": {"messages": [MSG[0]], "tools": SHORT},
    "undefined_function": call_example(5, name="get_quote"),
    "invalid_arguments": call_example(5, arguments='{"symbol": MSFT'),
    "unknown_key": {**call_example(5), "comment": "why"},
}


@pytest.mark.parametrize("code", sorted(BAD))
def test_each_format_check_on_a_bad_line(tmp_path, code):
    report = problems(tmp_path, with_line(BAD[code]))
    found = [(p.code, p.line) for p in report.problems]
    assert (code, 6) in found, found  # the bad example sits on line 6


def test_calls_checked_against_the_suite_full_schema(tmp_path, suite):
    report = problems(tmp_path, with_line(call_example(5, arguments='{"symbol": "X", "days": "3"}')), suite)
    assert [(p.code, p.line) for p in report.problems] == [("arguments_schema", 6)]
    assert "expected integer" in report.problems[0].message
    report = problems(tmp_path, with_line(call_example(5, arguments='{"ticker": "X"}')), suite)
    assert "`ticker` is not in the schema" in report.problems[0].message


def test_size_rules(tmp_path):
    assert [p.code for p in problems(tmp_path, good_lines(9)).problems] == ["too_few_examples"]
    report = problems(tmp_path, good_lines(40))
    assert [(p.code, p.level) for p in report.problems] == [("few_examples", "warning")]


def test_refusal_share(tmp_path):
    assert [p.code for p in problems(tmp_path, [call_example(i) for i in range(100)]).problems] == ["no_refusals"]
    assert [p.code for p in problems(tmp_path, [refuse_example(i) for i in range(100)]).problems] == ["only_refusals"]


def test_duplicates(tmp_path):
    lines = good_lines()
    lines[50] = lines[1]
    assert [(p.code, p.line) for p in problems(tmp_path, lines).problems] == [("duplicate", 51)]


def test_test_case_leaking_into_training(tmp_path, suite):
    leak = call_example(7, symbol="MSFT")
    leak["messages"][1]["content"] = "what is  microsoft trading at?"  # spacing and case do not hide it
    report = problems(tmp_path, with_line(leak, at=7), suite)
    assert [(p.code, p.line) for p in report.problems] == [("test_case_in_training", 8)]
    assert "'msft'" in report.problems[0].message


def test_definitions_mismatch_is_an_error_with_a_diff(tmp_path, suite):
    lines = good_lines()
    for i in (3, 4, 5, 9):
        lines[i] = {**lines[i], "tools": [{"type": "function", "function": FULL_FN}]}
    del lines[20]["tools"]
    report = problems(tmp_path, lines, suite)
    assert [(p.code, p.line) for p in report.problems] == [("definitions_mismatch", 4), ("definitions_mismatch", 21)]
    full, none = report.problems
    assert "4 example(s): lines 4-6, 10" in full.message and "--functions short" in full.message
    assert '+      "description": "Current price of a stock.",' in full.detail
    assert '-        "properties": {},' in full.detail
    assert full.detail.startswith("--- suite variant 'ft' (functions: short)\n+++ training lines 4-6, 10")
    assert none.message.startswith("no function definitions")
    # the key order of a definition never matters
    lines = good_lines()
    lines[0] = {**lines[0], "tools": [{"function": {"parameters": {"properties": {}, "type": "object"},
                                                    "name": "get_price"}, "type": "function"}]}
    assert problems(tmp_path, lines, suite).problems == ()


def test_check_cli_output_and_exit_codes(tmp_path, cli):
    (tmp_path / "suite.yaml").write_text(SUITE)
    good = write(tmp_path, good_lines(), "good.jsonl")
    code, out, _ = cli("data", "check", good, "--suite", tmp_path / "suite.yaml")
    assert code == 0 and out.strip() == f"{good}: 100 examples, 25 should-refuse (25%); 0 error(s), 0 warning(s)"
    bad = write(tmp_path, with_line(BAD["unrecognized_role"]), "bad.jsonl")
    code, out, _ = cli("data", "check", bad)
    assert code == 2 and f"{bad}:6: error: messages[0]: unknown role 'robot'" in out
    code, _, err = cli("data", "check", tmp_path / "missing.jsonl")
    assert code == 2 and err.strip() == f"evalkit: error: {tmp_path / 'missing.jsonl'}: training file not found"
    code, _, err = cli("data", "check", good, "--suite", tmp_path / "suite.yaml", "--variant", "nope")
    assert code == 2 and "no variant named 'nope'" in err


def test_shorten_makes_training_match_the_suite(tmp_path, cli, suite):
    lines = [{**l, "tools": [{"type": "function", "function": FULL_FN}]} for l in good_lines()]
    lines[1] = {"messages": lines[1]["messages"], "functions": [FULL_FN]}  # legacy shape stays legacy
    del lines[2]["tools"]  # no definitions: gains the suite's
    src = write(tmp_path, lines, "full.jsonl")
    before = problems(tmp_path, lines, suite).problems
    assert [(p.code, p.line) for p in before] == [("definitions_mismatch", 1), ("undefined_function", 3)]
    assert "99 example(s)" in before[0].message
    (tmp_path / "suite.yaml").write_text(SUITE)
    out = tmp_path / "short.jsonl"
    code, stdout, err = cli("data", "shorten", src, "--suite", tmp_path / "suite.yaml", "--functions", "short", "-o", out)
    assert code == 0, err
    assert "wrote 100 examples" in stdout
    rewritten = [json.loads(l) for l in out.read_text().splitlines()]
    assert rewritten[0]["tools"] == SHORT and rewritten[1]["functions"] == [SHORT[0]["function"]]
    assert rewritten[2]["tools"] == SHORT and rewritten[0]["messages"] == lines[0]["messages"]
    code, _, _ = cli("data", "check", out, "--suite", tmp_path / "suite.yaml")
    assert code == 0
    # a call to a function the suite does not know cannot be rewritten silently
    write(tmp_path, with_line(call_example(5, name="get_quote")), "unknown.jsonl")
    code, _, err = cli("data", "shorten", tmp_path / "unknown.jsonl", "--suite", tmp_path / "suite.yaml", "-o", out)
    assert code == 2 and "unknown.jsonl:6: function 'get_quote' is not defined in the suite" in err


# ---- estimate: hand-worked -------------------------------------------------------------------

def test_default_epochs_rule():
    assert default_epochs(10) == 10  # 10 x 3 < 100: min(25, 100 // 10)
    assert default_epochs(3) == 25  # min(25, 33)
    assert default_epochs(33) == 3  # 99 < 100: min(25, 100 // 33) = 3
    assert default_epochs(34) == 3  # 102 >= 100: the default
    assert default_epochs(100) == 3
    assert default_epochs(8333) == 3  # 24,999 <= 25,000
    assert default_epochs(10_000) == 2  # 30,000 > 25,000: max(1, 25,000 // 10,000)
    assert default_epochs(50_000) == 1


def test_estimate_caps_long_examples():
    est = estimate([100, 20_000, 300], price=("gpt-3.5-turbo-0613 (fine-tuned)", 8.0))
    assert est.epochs == 25  # 3 examples: min(25, 100 // 3 = 33)
    assert est.over_cap == [1]
    assert est.billed_per_epoch == 100 + 16_385 + 300 == 16_785
    assert est.billed_tokens == 25 * 16_785 == 419_625
    assert est.cost == pytest.approx(419_625 * 8.0 / 1e6) == pytest.approx(3.357)
    given = estimate([100, 20_000, 300], epochs=2)
    assert given.billed_tokens == 33_570 and given.cost is None


def test_estimate_cli_counts_with_tiktoken(tmp_path, cli):
    # {"role": "user", "content": "hello"} + {"role": "assistant", "content": "hi"} in cl100k_base:
    # 3 (reply priming) + 3 + 1 ("user") + 1 ("hello") + 3 + 1 ("assistant") + 1 ("hi") = 13 tokens
    small = [{"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]}] * 5
    huge = {"messages": [{"role": "user", "content": "hello " * 17_000}, {"role": "assistant", "content": "hi"}]}
    path = write(tmp_path, [*small, huge])
    code, out, err = cli("data", "estimate", path, "--model", "gpt-35-turbo-0613")
    assert code == 0, err
    assert "min 13," in out and "line 6 (" in out and f"longer than {MAX_TOKENS_PER_EXAMPLE:,} tokens" in out
    # 6 examples: min(25, 100 // 6) = 16 epochs; 5 x 13 + 16,385 (capped) = 16,450 per epoch
    assert "epochs           16 (6 examples x 3 < 100: min(25, 100 // 6) = 16 epochs)" in out
    assert "billed tokens    16 x 16,450 = 263,200" in out
    assert "training cost    $2.11" in out  # 263,200 x $8 / 1M = $2.1056
    code, out, _ = cli("data", "estimate", path, "--model", "gpt-35-turbo-0613", "--epochs", "3")
    assert "epochs           3 (given)" in out and "3 x 16,450 = 49,350" in out
    code, _, err = cli("data", "estimate", path, "--model", "no-such-model")
    assert code == 2 and "no tiktoken encoding known for model 'no-such-model'" in err


def test_stocks_training_set_passes_against_the_stocks_suite(cli):
    train = ROOT / "suites" / "data" / "stocks_train.jsonl"
    if not train.is_file():
        pytest.skip("suites/data/stocks_train.jsonl not written yet")
    code, out, _ = cli("data", "check", train, "--suite", ROOT / "suites" / "stocks.yaml")
    assert code == 0, out
