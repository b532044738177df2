"""Attention over one shared prefix, read once per step instead of once per row.

The prompts of a local batch share a long start (system message and tool definitions: ~500 tokens
with the stocks suite's full definitions). Repeating that prefix's key/value cache for every row
made each decoding step copy and read it once per row: at 46 rows that is about a gigabyte a step,
and it was most of what a long-prefix batch cost beyond its matmuls. Here the prefix's keys and
values stay a batch-1 tensor per layer; every row's queries meet them in one matrix product, and
only each row's own tail (padding, its question, what it has generated) lives in the per-row
cache, which the model manages as usual.

The softmax runs over prefix and tail scores together, so this is the same attention as before,
up to floating-point rounding; `use_shared_prefix_attention` registers it with transformers under
`ATTENTION_NAME` (with the SDPA mask builder), and it falls back to SDPA whenever no prefix is set,
so a model switched to it behaves as before outside `shared_prefix`. Models it would not be exact
for are not switched: with a sliding window or mixed layer types no prefix is shared at all (the
padding between prefix and tail would move the window), and where transformers cannot switch
the attention the decoding loop repeats the prefix per row as before.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator, Sequence

ATTENTION_NAME = "evalkit_shared_prefix"
# Per layer: (keys, values) of the shared prefix, each (1, kv_heads, prefix_length, head_dim).
_PREFIX: contextvars.ContextVar[Sequence[tuple[Any, Any]] | None] = contextvars.ContextVar(
    "evalkit_shared_prefix", default=None)
_REGISTERED = False


def prefix_layers(cache: Any) -> list[tuple[Any, Any]] | None:
    """(keys, values) per layer of a transformers cache of batch size 1; None for a cache not laid
    out in layers (the caller then repeats the prefix instead)."""
    try:
        return [(layer.keys, layer.values) for layer in cache.layers]
    except (AttributeError, TypeError):
        return None


@contextlib.contextmanager
def shared_prefix(layers: Sequence[tuple[Any, Any]] | None) -> Iterator[None]:
    """Within the block, attention of a model switched by `use_shared_prefix_attention` also
    attends to `layers` (one prefix seen in full by every row and query), ahead of its cache."""
    token = _PREFIX.set(layers)
    try:
        yield
    finally:
        _PREFIX.reset(token)


def full_attention_only(model: Any) -> bool:
    """Every layer attends to every earlier position (no sliding window): a prompt prefix can then
    be shared across rows with padding between it and each row's tail, which changes nothing."""
    config = model.config
    layer_types = set(getattr(config, "layer_types", None) or ["full_attention"])
    sliding = getattr(config, "sliding_window", None) if getattr(config, "use_sliding_window", True) else None
    return layer_types == {"full_attention"} and not sliding


def use_shared_prefix_attention(model: Any) -> bool:
    """Switch `model` to the shared-prefix attention (registered with transformers once); False,
    and the model left as it was, when that would not be the same attention: not
    `full_attention_only` (the prefix would be seen past a window), or a model whose attention
    transformers cannot switch (the prefix would not be seen at all)."""
    global _REGISTERED
    config = model.config
    if not full_attention_only(model):
        return False
    try:
        if not _REGISTERED:
            from transformers import AttentionInterface
            from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

            AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)
            ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, sdpa_mask)
            _REGISTERED = True
        if config._attn_implementation != ATTENTION_NAME:
            model.set_attn_implementation(ATTENTION_NAME)
    except Exception:  # noqa: BLE001 - not switchable here: the caller repeats the prefix instead
        return False
    return bool(config._attn_implementation == ATTENTION_NAME)


def shared_prefix_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                            scaling: float | None = None, dropout: float = 0.0, **kwargs: Any) -> tuple[Any, None]:
    """transformers' attention-function contract: query (B, H, q, D), key/value (B, Hkv, T, D)
    of the rows' own cache, a boolean mask (B, 1, q, T) or None (causal); returns (B, q, H, D)."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    layers = _PREFIX.get()
    if layers is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    prefix_keys, prefix_values = layers[module.layer_idx]
    batch, heads, q_len, dim = query.shape
    kv_heads, tail_len, prefix_len = key.shape[1], key.shape[2], prefix_keys.shape[2]
    group = heads // kv_heads
    scale = scaling if scaling is not None else dim ** -0.5
    # query head h reads key/value head h // group: (B, Hkv, group*q, D)
    grouped = query.reshape(batch, kv_heads, group * q_len, dim)
    # the prefix: every row's queries against one (Hkv, P, D) in one product per head
    flat = grouped.transpose(0, 1).reshape(kv_heads, batch * group * q_len, dim)
    prefix_scores = torch.matmul(flat, prefix_keys[0].transpose(-1, -2)).mul_(scale)
    prefix_scores = prefix_scores.view(kv_heads, batch, group * q_len, prefix_len).transpose(0, 1)
    tail_scores = torch.matmul(grouped, key.transpose(-1, -2)).mul_(scale)
    visible = attention_mask
    if visible is None and q_len > 1:  # causal, queries at the end of the tail
        visible = (torch.arange(q_len)[:, None] + (tail_len - q_len) >= torch.arange(tail_len)[None, :])
    if visible is not None:
        visible = visible.reshape(-1, 1, 1, q_len, tail_len) if visible.dim() == 4 else visible
        tail_scores = tail_scores.view(batch, kv_heads, group, q_len, tail_len).masked_fill(
            ~visible, float("-inf")).view(batch, kv_heads, group * q_len, tail_len)
    probs = torch.softmax(torch.cat([prefix_scores, tail_scores], dim=-1), dim=-1)
    prefix_probs = probs[..., :prefix_len].transpose(0, 1).reshape(kv_heads, batch * group * q_len, prefix_len)
    out = torch.matmul(prefix_probs, prefix_values[0]).view(kv_heads, batch, group * q_len, dim).transpose(0, 1)
    out = out + torch.matmul(probs[..., prefix_len:], value)
    return out.reshape(batch, heads, q_len, dim).transpose(1, 2).contiguous(), None
