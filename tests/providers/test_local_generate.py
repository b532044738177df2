"""The local provider's decoding loop (evalkit/providers/local_generate.py): greedy, rows leave
the batch when they end, and every row gets what `model.generate` would have given it. Checked on
a tiny randomly initialised Llama (no weights to download), the embedded model's architecture."""
from __future__ import annotations

import importlib.util
import threading

import pytest

from evalkit.providers import local_generate
from evalkit.providers.local_generate import (
    common_prefix_length,
    generate_batch,
    greedy_decode,
    latency_shares,
)

HAS_TORCH = all(importlib.util.find_spec(m) for m in ("torch", "transformers"))
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs pip install 'evalkit[local]'")
EOS = 1


def test_latency_shares_split_each_step_among_the_rows_still_generating():
    shares = latency_shares(10.0, [10, 5, 5])
    # steps 0-4 shared by three rows, 5-9 by one: the long row pays 5/3 + 5, the short ones 5/3
    assert shares == pytest.approx([5 / 3 + 5, 5 / 3, 5 / 3])
    assert sum(shares) == pytest.approx(10.0)
    assert latency_shares(3.0, [4]) == pytest.approx([3.0])
    assert latency_shares(2.0, [0, 0]) == pytest.approx([1.0, 1.0])



def test_common_prefix_length():
    assert common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix_length([[5], [6]]) == 0


def tiny_llama(seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=0, eos_token_id=EOS, pad_token_id=EOS)
    return LlamaForCausalLM(config).eval()


def left_padded(prompts):
    import torch

    width = max(map(len, prompts))
    ids = [[EOS] * (width - len(p)) + p for p in prompts]
    mask = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
    return torch.tensor(ids), torch.tensor(mask)


def reference(model, prompts, max_new, eos):
    """`model.generate`, greedy, cut at each row's first end-of-turn (kept)."""
    import torch

    ids, mask = left_padded(prompts)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                             eos_token_id=eos, pad_token_id=EOS, temperature=None, top_p=None, top_k=None)
    rows = []
    for row in out[:, ids.shape[1]:].tolist():
        cut = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
        rows.append(row[:cut])
    return rows


@needs_torch
def test_greedy_decode_gives_each_row_what_generate_gives_it():
    import torch

    model = tiny_llama()
    prompts = [[5, 9, 13, 2, 7], [3, 4], [8, 8, 8, 21, 30, 31, 40], [11, 12, 13]]
    # with a greedy choice this small model ends rows at different steps only if some token ends
    # them: take as end-of-turn tokens ones the rows write early, so rows finish apart
    free = reference(model, prompts, 12, [EOS])
    eos = sorted({row[k] for row, k in zip(free, (2, 5)) if len(row) > k})
    expected = reference(model, prompts, 12, eos)
    assert len({len(r) for r in expected}) > 1, expected  # the batch really shrinks
    ids, mask = left_padded(prompts)
    with torch.inference_mode():
        got = greedy_decode(model, ids, mask, 12, eos)
    assert got == expected


def tiny_mistral(seed: int = 0, sliding_window: int = 4):
    """A model the shared-prefix attention would not be exact for (a sliding window)."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(seed)
    config = MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                           sliding_window=sliding_window, bos_token_id=0, eos_token_id=EOS, pad_token_id=EOS)
    return MistralForCausalLM(config).eval()


@needs_torch
def test_greedy_decode_continues_a_shared_prefix_cache(monkeypatch):
    import torch

    from evalkit.providers import local_attention

    calls = []
    real = local_attention.shared_prefix_attention
    monkeypatch.setattr(local_attention, "shared_prefix_attention",
                        lambda *a, **k: calls.append(local_attention._PREFIX.get() is not None) or real(*a, **k))
    monkeypatch.setattr(local_attention, "_REGISTERED", False)  # register the counting function
    model = tiny_llama(1)
    prefix = [5, 6, 7, 8, 9, 10]
    tails = [[20, 21], [22, 23, 24, 25], [26]]
    expected = reference(model, [prefix + t for t in tails], 8, [EOS])
    width = max(map(len, tails))
    ids = torch.tensor([[EOS] * (width - len(t)) + t for t in tails])
    mask = torch.tensor([[0] * (width - len(t)) + [1] * len(t) for t in tails])
    with torch.inference_mode():
        cache = model(input_ids=torch.tensor([prefix]), use_cache=True).past_key_values
        got = greedy_decode(model, ids, mask, 8, [EOS], prefix=cache)
        assert cache.get_seq_length() == len(prefix)  # the shared prefix is read, never written
        again = greedy_decode(model, ids, mask, 8, [EOS], prefix=cache)
    assert [g == e for g, e in zip(got, expected)] == [True] * 3, (got, expected)
    assert again == got
    assert calls and all(calls)  # every attention call of the loop saw the shared prefix
    monkeypatch.setattr(local_attention, "_REGISTERED", False)


@needs_torch
def test_a_model_that_cannot_switch_attention_gets_the_prefix_repeated(monkeypatch):
    import torch

    model = tiny_llama(1)

    def refuse(name):
        raise ValueError(f"{name} is not supported")

    monkeypatch.setattr(model, "set_attn_implementation", refuse)
    prefix, tails = [5, 6, 7, 8, 9, 10], [[20, 21], [26]]
    expected = reference(model, [prefix + t for t in tails], 8, [EOS])
    ids = torch.tensor([[20, 21], [EOS, 26]])
    mask = torch.tensor([[1, 1], [0, 1]])
    with torch.inference_mode():
        cache = model(input_ids=torch.tensor([prefix]), use_cache=True).past_key_values
        got = greedy_decode(model, ids, mask, 8, [EOS], prefix=cache)
    assert got == expected and cache.get_seq_length() == len(prefix)
    assert model.config._attn_implementation == "sdpa"  # left as it was


@needs_torch
def test_a_sliding_window_model_shares_no_prefix():
    """Padding between a shared prefix and a tail would move a sliding window: such a model gets
    plain left padding, and exactly what `generate` gives it."""
    import torch

    model, tokenizer = tiny_mistral(1), ToyTokenizer()
    common = " ".join(f"w{i}" for i in range(local_generate.MIN_SHARED_PREFIX + 8))
    prompts = [common + " i", common + " j k l", common + " m"]
    ids = [tokenizer(p)["input_ids"] for p in prompts]
    expected = reference(model, ids, 8, [EOS])
    got = generate_batch(model, tokenizer, prompts, 8)
    assert [g.text for g in got] == [tokenizer.decode(e) for e in expected]
    cache = model(input_ids=torch.tensor([ids[0][:4]]), use_cache=True).past_key_values
    with pytest.raises(ValueError, match="full attention"):
        greedy_decode(model, torch.tensor([[3]]), torch.tensor([[1]]), 2, [EOS], prefix=cache)


@needs_torch
def test_stop_check_and_cancel_end_rows():
    import torch

    model = tiny_llama(2)
    ids, mask = left_padded([[5, 6, 7], [8, 9]])
    with torch.inference_mode():
        free = greedy_decode(model, ids, mask, 6, [])
        assert [len(r) for r in free] == [6, 6]  # nothing ends them but the cap
        first = free[0][:3]
        got = greedy_decode(model, ids, mask, 6, [], stopped=lambda tokens: tokens == first)
        assert got[0] == first and got[1] == free[1]
        cancel = threading.Event()
        cancel.set()
        assert [len(r) for r in greedy_decode(model, ids, mask, 6, [], cancel=cancel)] == [1, 1]


class ToyTokenizer:
    """Words <-> ids 2..63; 1 ends a turn and pads."""

    pad_token_id = eos_token_id = EOS
    unk_token_id = None

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [2 + sum(map(ord, w)) % 62 for w in text.split()]}

    def convert_tokens_to_ids(self, token):
        return EOS

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(f"t{i}" for i in ids if not (skip_special_tokens and i == EOS))


@needs_torch
def test_generate_batch_times_its_own_generation_not_the_wait_for_the_lock():
    import time

    model, tokenizer = tiny_llama(3), ToyTokenizer()
    prompts = ["a b c", "d e"]
    alone = generate_batch(model, tokenizer, prompts, 4, share_prefix=False)
    holder = threading.Thread(target=lambda: (local_generate.GENERATE_LOCK.acquire(), time.sleep(0.6),
                                              local_generate.GENERATE_LOCK.release()))
    holder.start()
    time.sleep(0.05)
    started = time.perf_counter()
    waited = generate_batch(model, tokenizer, prompts, 4, share_prefix=False)
    wall = time.perf_counter() - started
    holder.join()
    assert [g.text for g in waited] == [g.text for g in alone]
    assert wall >= 0.5 and 0 < waited[0].batch_seconds < wall - 0.4
    assert {g.batch_seconds for g in waited} == {waited[0].batch_seconds}  # one batch, one time
