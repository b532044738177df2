"""Attention over a shared batch-1 prefix (evalkit/providers/local_attention.py) is the attention
SDPA computes over that prefix repeated for every row, followed by each row's masked tail."""
from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

HAS_TORCH = all(importlib.util.find_spec(m) for m in ("torch", "transformers"))
pytestmark = pytest.mark.skipif(not HAS_TORCH, reason="needs pip install 'evalkit[local]'")


def reference(query, prefix_keys, prefix_values, keys, values, visible):
    """SDPA over [prefix repeated per row; tail], the prefix visible to every query."""
    import torch

    batch, heads, q_len, _ = query.shape
    group = heads // keys.shape[1]
    full_k = torch.cat([prefix_keys.expand(batch, -1, -1, -1), keys], dim=2).repeat_interleave(group, dim=1)
    full_v = torch.cat([prefix_values.expand(batch, -1, -1, -1), values], dim=2).repeat_interleave(group, dim=1)
    seen = torch.ones(batch, 1, q_len, prefix_keys.shape[2], dtype=torch.bool)
    mask = torch.cat([seen, visible.expand(batch, 1, q_len, -1)], dim=-1)
    out = torch.nn.functional.scaled_dot_product_attention(query, full_k, full_v, attn_mask=mask)
    return out.transpose(1, 2)


@pytest.mark.parametrize("q_len", [1, 5])
def test_shared_prefix_attention_equals_sdpa_over_the_repeated_prefix(q_len):
    import torch

    from evalkit.providers.local_attention import shared_prefix, shared_prefix_attention

    torch.manual_seed(0)
    batch, heads, kv_heads, dim, prefix_len, tail_len = 3, 6, 2, 8, 11, 7
    query = torch.randn(batch, heads, q_len, dim)
    prefix_keys, prefix_values = torch.randn(1, kv_heads, prefix_len, dim), torch.randn(1, kv_heads, prefix_len, dim)
    keys, values = torch.randn(batch, kv_heads, tail_len, dim), torch.randn(batch, kv_heads, tail_len, dim)
    # left padding of 0, 2 and 4 tail positions, causal among the last q_len
    pads = torch.tensor([0, 2, 4])[:, None, None, None]
    cols = torch.arange(tail_len)[None, None, None, :]
    rows = torch.arange(q_len)[None, None, :, None] + tail_len - q_len
    visible = (cols >= pads) & (cols <= rows)
    module = SimpleNamespace(layer_idx=1)
    with shared_prefix([(None, None), (prefix_keys, prefix_values)]):
        got, _ = shared_prefix_attention(module, query, keys, values, visible, scaling=dim ** -0.5)
    expected = reference(query, prefix_keys, prefix_values, keys, values, visible)
    assert got.shape == (batch, q_len, heads, dim)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    if q_len > 1:  # no mask given: causal over the tail
        causal = cols <= rows
        with shared_prefix([(None, None), (prefix_keys, prefix_values)]):
            got, _ = shared_prefix_attention(module, query, keys, values, None, scaling=dim ** -0.5)
        expected = reference(query, prefix_keys, prefix_values, keys, values, causal.expand(batch, 1, -1, -1))
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_without_a_shared_prefix_it_is_sdpa():
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from evalkit.providers.local_attention import shared_prefix_attention

    torch.manual_seed(1)
    query, keys, values = torch.randn(2, 4, 3, 8), torch.randn(2, 2, 3, 8), torch.randn(2, 2, 3, 8)
    module = SimpleNamespace(layer_idx=0, num_key_value_groups=2, is_causal=True)
    got, _ = shared_prefix_attention(module, query, keys, values, None, scaling=0.3)
    expected, _ = sdpa_attention_forward(module, query, keys, values, None, scaling=0.3)
    assert torch.equal(got, expected)
