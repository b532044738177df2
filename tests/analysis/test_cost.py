"""Cost arithmetic, price tables and the break-even, checked against hand-worked examples."""
from __future__ import annotations

import json

import pytest

from evalkit.analysis.cost import (
    BreakEven,
    PricesSpec,
    UnitPrice,
    VariantCost,
    break_even,
    default_prices,
    merge_prices,
    requests_grid,
    tco_series,
    unit_price,
)
from evalkit.cli import main
from evalkit.errors import SuiteError
from evalkit.suite.model import VariantSpec


def _cost(name, prompt, completion, inp, out, training=0.0, hosting=0.0, training_tokens=0.0,
          hours=24.0, days=30.0):
    price = UnitPrice(name, inp, out, training, hosting, fine_tuned=bool(training or hosting))
    return VariantCost(name, price, prompt, completion, training_tokens, hours, days)


def test_per_request_and_per_1k():
    # 230 prompt tokens at $1.50/1M + 20 completion tokens at $2.00/1M
    # = 0.000345 + 0.000040 = $0.000385 per request, $0.385 per 1,000.
    c = _cost("base+full", 230, 20, 1.50, 2.00)
    assert c.per_request == pytest.approx(0.000385)
    assert c.per_1k_requests == pytest.approx(0.385)
    assert c.fixed_per_day == 0


def test_break_even_above_hand_worked():
    # The seed's shape on Azure: base+full 230 tokens, fine-tuned+short 108 tokens, same
    # per-token price $1.50/1M in, $2/1M out, 20 tokens out.
    # Saving per request: (230 - 108) * 1.5e-6 = $0.000183.
    # Fine-tune fixed per day: hosting 1.70 * 24 = 40.80, training 1,000,000 tokens * $8/1M = $8
    # over 30 days = 0.2667; total 41.0667/day.
    # Break-even R* = 41.0667 / 0.000183 = 224,408.5 requests/day.
    base = _cost("base+full", 230, 20, 1.50, 2.00)
    ft = _cost("ft+short", 108, 20, 1.50, 2.00, training=8.0, hosting=1.70, training_tokens=1_000_000)
    assert ft.fixed_per_day == pytest.approx(40.80 + 8 / 30)
    be = break_even(base, ft)
    assert be.kind == "above"
    assert be.requests_per_day == pytest.approx(41.0666667 / 0.000183, rel=1e-6)
    assert round(be.requests_per_day) == 224_408
    r = be.requests_per_day
    assert base.daily(r) == pytest.approx(ft.daily(r))
    assert ft.daily(r * 1.01) < base.daily(r * 1.01)
    assert ft.daily(r * 0.99) > base.daily(r * 0.99)
    assert "above 224,408 requests/day" in be.describe("ft+short", "base+full")


def test_break_even_never_when_fine_tuned_tokens_cost_more():
    # OpenAI prices: base gpt-3.5-turbo-0613 $1.50/$2.00, fine-tuned $3.00/$6.00 per 1M.
    # base+full: 230*1.5 + 20*2 = 385e-6; ft+short: 108*3 + 20*6 = 444e-6 per request.
    # The fine-tune costs more per request *and* has a training cost: never cheaper.
    base = _cost("base+full", 230, 20, 1.50, 2.00)
    ft = _cost("ft+short", 108, 20, 3.00, 6.00, training=8.0, training_tokens=500_000)
    assert ft.per_request == pytest.approx(0.000444)
    be = break_even(base, ft)
    assert be == BreakEven("never")
    assert "never cheaper" in be.describe("ft+short", "base+full")


def test_break_even_always_and_below():
    base = _cost("base", 230, 0, 1.0, 1.0)
    free_ft = _cost("ft", 108, 0, 1.0, 1.0)  # shorter prompt, no fixed cost
    assert break_even(base, free_ft).kind == "always"
    # Cheaper fixed cost but dearer per request: cheaper only below the crossing.
    # base fixed 10/day, 100e-6/request; cand fixed 0, 200e-6/request -> R* = 10 / 100e-6 = 100,000.
    hosted = _cost("base", 100, 0, 1.0, 0.0, hosting=10 / 24)
    cheap_fixed = _cost("cand", 200, 0, 1.0, 0.0)
    be = break_even(hosted, cheap_fixed)
    assert be.kind == "below" and be.requests_per_day == pytest.approx(100_000)


def test_tco_series_is_chart_data():
    base = _cost("base+full", 230, 20, 1.50, 2.00)
    ft = _cost("ft+short", 108, 20, 1.50, 2.00, training=8.0, hosting=1.70, training_tokens=1_000_000)
    data = tco_series([base, ft], [0, 1000, 1_000_000], "base+full", "ft+short")
    assert data["requests_per_day"] == [0, 1000, 1_000_000]
    assert data["series"]["base+full"] == pytest.approx([0, 0.385, 385.0])
    assert data["series"]["ft+short"][0] == pytest.approx(ft.fixed_per_day)
    assert data["break_even"]["kind"] == "above"
    json.dumps(data)  # plain data for the report


def test_requests_grid_includes_break_even():
    grid = requests_grid([224_408.5])
    assert grid[0] == 10 and grid[-1] == 1e6 and 224_408.5 in grid and grid == sorted(grid)


def test_shipped_prices_have_source_and_date():
    table = default_prices()
    assert table.source and table.date and table.currency == "USD"
    assert table.models["gpt-4o"].fine_tuned.training > 0


@pytest.mark.parametrize("variant, key, fine", [
    (VariantSpec(name="a", model="gpt-35-turbo-0613"), "gpt-3.5-turbo-0613", False),
    (VariantSpec(name="b", model="ft:gpt-35-turbo-0613:acme::abc123"), "gpt-3.5-turbo-0613 (fine-tuned)", True),
    (VariantSpec(name="c", model="gpt-4o-mini-2024-07-18"), "gpt-4o-mini", False),
    (VariantSpec(name="d", model="gpt-4o-2024-08-06"), "gpt-4o", False),
    (VariantSpec(name="e", provider="azure", model="prod", base_model="gpt-35-turbo-0613"),
     "azure/gpt-35-turbo-0613", False),
    (VariantSpec(name="f", provider="azure", model="gpt-35-turbo-0613.ft-abc"),
     "azure/gpt-35-turbo-0613 (fine-tuned)", True),
    # an Azure deployment whose name does not say it is fine-tuned: its trial: block does
    (VariantSpec(name="g", provider="azure", model="ft-stocks", base_model="gpt-35-turbo-0613",
                 trial={"n_epochs": 3}), "azure/gpt-35-turbo-0613 (fine-tuned)", True),
])
def test_unit_price_lookup(variant, key, fine):
    price = unit_price(default_prices(), variant)
    assert (price.key, price.fine_tuned) == (key, fine)


def test_unknown_model_has_no_price():
    assert unit_price(default_prices(), VariantSpec(name="x", provider="local", model="tiny")) is None


def test_suite_overrides_merge_field_by_field():
    spec = PricesSpec(models={"gpt-4o": {"input": 2.0, "fine_tuned": {"hosting_per_hour": 3.0}},
                              "prod-chat": {"input": 1.0, "output": 2.0}})
    table = merge_prices(default_prices(), spec)
    assert table.models["gpt-4o"].input == 2.0 and table.models["gpt-4o"].output == 10.0
    assert table.models["gpt-4o"].fine_tuned.hosting_per_hour == 3.0
    assert table.models["gpt-4o"].fine_tuned.training == 25.0
    assert table.models["prod-chat"].output == 2.0


def test_new_model_without_prices_is_a_suite_error():
    with pytest.raises(SuiteError, match="prices.models.mystery"):
        merge_prices(default_prices(), PricesSpec(models={"mystery": {"input": 1.0}}), "s.yaml")


SUITE = """\
name: t
system: "You are a bot."
functions:
  - {type: function, function: {name: f, description: "Do f", parameters: {type: object,
     properties: {x: {type: string, description: "the x"}}, required: [x]}}}
prices:
  models:
    azure/gpt-35-turbo-0613: {fine_tuned: {hosting_per_hour: 1.70}}
tco: {training_file: train.jsonl, n_epochs: 2, completion_tokens: 10}
variants:
  - {name: base+full, provider: azure, model: prod-35, base_model: gpt-35-turbo-0613}
  - {name: ft+short, provider: azure, model: gpt-35-turbo-0613.ft-abc, functions: short}
  - {name: local, provider: local, model: tiny}
cases:
  - {id: a, user: "call f with x=1", expect: {call: f, arguments: {x: "1"}}}
"""


def test_cli_tokens_and_cost(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(SUITE)
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    (tmp_path / "train.jsonl").write_text(json.dumps(line) + "\n")
    assert main(["tokens", str(tmp_path / "s.yaml"), "--json"]) == 0
    tokens = json.loads(capsys.readouterr().out)
    assert tokens["reference"] == "base+full"
    assert tokens["variants"]["base+full"]["cases"] == {"a": 56}
    assert tokens["variants"]["ft+short"]["prompt_mean"] < 56
    assert tokens["variants"]["local"]["encoding"] is None
    assert main(["cost", str(tmp_path / "s.yaml"), "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)
    # train.jsonl: 3 + 1 ("user") + 1 ("hi") + 3 + 1 + 1 ("hello") + 3 priming = 13 tokens x 2 epochs
    assert cost["variants"]["ft+short"]["training_tokens"] == 26
    assert cost["variants"]["base+full"]["completion_tokens"] == 10
    assert cost["tco"]["break_even"]["kind"] == "above"
    assert "local" in cost["unpriced"]
    assert main(["cost", str(tmp_path / "s.yaml")]) == 0
    text = capsys.readouterr().out
    assert "break-even: ft+short is cheaper than base+full above" in text and "prices:" in text


def test_bad_tco_key_is_one_line_error(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(SUITE.replace("n_epochs: 2", "epochs: 2"))
    assert main(["cost", str(tmp_path / "s.yaml")]) == 2
    assert "epochs" in capsys.readouterr().err
