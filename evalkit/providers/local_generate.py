"""Greedy batched generation for the `local` provider: one micro-batch of prompts in, one
`Generation` per prompt out.

The decoding loop is evalkit's own, not `model.generate`, for one reason: a row that has finished
(end of turn, a stop string, or the end of its grammar) leaves the batch at once, its key/value
cache dropped, so later steps run only the rows still writing. A batch whose answers end at
different lengths (a clarification of 30 tokens next to a call of 70) then costs about the sum of
its rows' work instead of its longest row times its size. Each step is otherwise what `generate`
does greedily: the same forward pass, the same positions (counted from the attention mask, so
left padding is skipped), the same logits masking by the grammar, argmax.

Prompts of one variant share a long start (system message + tool definitions). That shared prefix
is run once (and kept for later batches) and stays one batch-1 cache that every row's attention
reads (`local_attention`), not a copy per row; each prompt's own tail is left-padded after it
(padding sits between prefix and tail, masked out), so prefill costs one prefix plus the tails and
each step reads the prefix once.
"""
from __future__ import annotations

import copy
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .local_attention import full_attention_only, prefix_layers, shared_prefix, use_shared_prefix_attention

# transformers 5 deprecation notices about its own internals (the cache argument this loop, peft
# and training pass); they say nothing to an evalkit user and would fill every run's output.
for _pattern in (r".*`past_key_values` is deprecated", r".*`is_gradient_checkpointing` is deprecated"):
    warnings.filterwarnings("ignore", message=_pattern, category=FutureWarning)

STOP_STRINGS = ("</tool_call>",)
MIN_SHARED_PREFIX = 32
GENERATE_LOCK = threading.Lock()  # one batch at a time in the process: the CPU is shared
_PREFIX_CACHE: dict[tuple[int, tuple[int, ...]], Any] = {}
_PREFIX_CACHE_MAX = 8


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length"
    # Seconds its batch spent generating, once it held the generation lock: time queued behind
    # another variant's batch is not this request's (None: not measured, e.g. a test's stub).
    batch_seconds: float | None = None


def stop_token_ids(tokenizer: Any) -> list[int]:
    return sorted({i for i in (tokenizer.eos_token_id,
                               tokenizer.convert_tokens_to_ids("<|im_end|>"),
                               tokenizer.convert_tokens_to_ids("<|endoftext|>"))
                   if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id})


def latency_shares(seconds: float, generated: list[int]) -> list[float]:
    """Each sequence's share of a batch that took `seconds` and generated `generated[i]` tokens in
    row i: the batch's steps take equal time, and each step is split evenly among the sequences
    still generating in it (a sequence that stopped early pays nothing for later steps). The
    shares add up to `seconds`."""
    steps = max(generated, default=0)
    if steps <= 0:
        return [seconds / max(1, len(generated))] * len(generated)
    per_step = seconds / steps
    active = [sum(1 for g in generated if g > t) for t in range(steps)]
    cost = [0.0]
    for n in active:
        cost.append(cost[-1] + per_step / n)
    return [cost[min(max(g, 1), steps)] if g > 0 else 0.0 for g in generated]


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every sequence shares (the local provider's and training's shared
    prompt prefix)."""
    first, n = sequences[0], min(len(s) for s in sequences)
    for i in range(n):
        if any(s[i] != first[i] for s in sequences):
            return i
    return n


def _prefix_cache(model: Any, prefix: list[int]) -> Any:
    """The key/value cache of `prefix` (batch 1), computed once per model and prefix; read-only."""
    import torch

    key = (id(model), tuple(prefix))
    cache = _PREFIX_CACHE.get(key)
    if cache is None:
        cache = model(input_ids=torch.tensor([prefix]), use_cache=True, logits_to_keep=1).past_key_values
        if len(_PREFIX_CACHE) >= _PREFIX_CACHE_MAX:
            _PREFIX_CACHE.pop(next(iter(_PREFIX_CACHE)))
        _PREFIX_CACHE[key] = cache
    return cache


def stop_string_check(tokenizer: Any) -> Callable[[list[int]], bool]:
    """Has a row just written a stop string (in its last few tokens)?"""
    def stopped(tokens: list[int]) -> bool:
        tail = tokenizer.decode(tokens[-8:], skip_special_tokens=False)
        return any(s in tail for s in STOP_STRINGS)
    return stopped


def greedy_decode(model: Any, input_ids: Any, attention_mask: Any, max_new_tokens: int, eos_ids: Sequence[int], *,
                  prefix: Any = None, guide: Any = None, stopped: Callable[[list[int]], bool] | None = None,
                  cancel: threading.Event | None = None) -> list[list[int]]:
    """The tokens each row generates, greedily, until its end of turn (`eos_ids`, kept as its
    last token), `stopped(tokens)` or `max_new_tokens`. `prefix` is the key/value cache (batch 1)
    of a start every row shares, ahead of `input_ids`; `attention_mask` covers `input_ids` only.
    `guide` (`local_grammar.RowGuide`) masks each row's logits and follows its tokens. A row
    that ends leaves the batch; `cancel`, once set, ends every row at the next step."""
    if prefix is None:
        return _decode(model, input_ids, attention_mask, max_new_tokens, eos_ids, None, guide, stopped, cancel)
    if not full_attention_only(model):
        raise ValueError("a shared prefix needs a model whose layers all use full attention (no sliding window)")
    layers = prefix_layers(prefix)
    if layers is not None and use_shared_prefix_attention(model):
        with shared_prefix(layers):
            return _decode(model, input_ids, attention_mask, max_new_tokens, eos_ids, None, guide, stopped,
                           cancel, offset=prefix.get_seq_length())
    import torch  # a model the shared attention would not be exact for: the prefix repeated per row

    past = copy.deepcopy(prefix)
    past.batch_repeat_interleave(input_ids.shape[0])
    seen = attention_mask.new_ones((input_ids.shape[0], prefix.get_seq_length()))
    return _decode(model, input_ids, torch.cat([seen, attention_mask], dim=1), max_new_tokens, eos_ids, past,
                   guide, stopped, cancel)


def _decode(model: Any, input_ids: Any, attention_mask: Any, max_new_tokens: int, eos_ids: Sequence[int],
            past: Any, guide: Any, stopped: Callable[[list[int]], bool] | None,
            cancel: threading.Event | None, offset: int = 0) -> list[list[int]]:
    """The loop itself. `attention_mask` covers `past` (the rows' own cache) and `input_ids`;
    `offset` counts positions before both (a shared prefix outside the cache)."""
    import torch

    rows = list(range(input_ids.shape[0]))  # the original row of each live one
    out: list[list[int]] = [[] for _ in rows]
    eos = set(eos_ids)
    positions = attention_mask.long().cumsum(-1) - 1 + offset
    positions.masked_fill_(attention_mask == 0, 1)
    step_ids, step_positions = input_ids, positions[:, -input_ids.shape[1]:]
    mask = attention_mask
    for _ in range(max_new_tokens):
        output = model(input_ids=step_ids, attention_mask=mask, position_ids=step_positions,
                       past_key_values=past, use_cache=True, logits_to_keep=1)
        past = output.past_key_values
        scores = output.logits[:, -1, :].float()
        if guide is not None:
            guide.mask(rows, scores)
        tokens = scores.argmax(dim=-1).tolist()
        keep = []
        for j, (row, token) in enumerate(zip(rows, tokens)):
            out[row].append(token)
            if guide is not None:
                guide.accept(row, token)
            done = token in eos or (stopped is not None and stopped(out[row]))
            if not done:
                keep.append(j)
        if not keep or (cancel is not None and cancel.is_set()):
            break
        next_positions = step_positions[:, -1:] + 1
        step_ids = torch.tensor([[tokens[j]] for j in keep])
        if len(keep) < len(rows):  # finished rows leave the batch, their cache with them
            index = torch.tensor(keep)
            past.batch_select_indices(index)
            mask, next_positions = mask[index], next_positions[index]
            rows = [rows[j] for j in keep]
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
        step_positions = next_positions
    return out


def generate_batch(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int,
                   *, share_prefix: bool = True, grammars: list[Any] | None = None,
                   guide: Any = None, cancel: threading.Event | None = None) -> list[Generation]:
    """Greedy batched generation; returns one `Generation` per prompt. `share_prefix=False` (and
    any model with a sliding window) is plain left padding. With `guide` (a `local_grammar.Guide`)
    and one compiled grammar per prompt in `grammars`, each row is constrained by its own grammar
    (which ends every answer, so no stop string is looked for)."""
    import torch

    pad = tokenizer.pad_token_id
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    share_prefix = share_prefix and full_attention_only(model)  # a sliding window: plain left padding
    shared = min(common_prefix_length(ids), min(len(i) for i in ids) - 1) if share_prefix else 0
    eos_ids = stop_token_ids(tokenizer)
    width = max(len(i) for i in ids) - max(shared, 0)
    rows, masks = [], []
    for seq in ids:
        head, tail = (seq[:shared], seq[shared:]) if shared >= MIN_SHARED_PREFIX else ([], seq)
        gap = width - len(tail) if head else max(len(i) for i in ids) - len(seq)
        rows.append([pad] * gap + tail)
        masks.append([0] * gap + [1] * len(tail))
    guided = guide is not None and bool(grammars)
    with GENERATE_LOCK, torch.inference_mode():
        started = time.perf_counter()
        prefix = _prefix_cache(model, ids[0][:shared]) if shared >= MIN_SHARED_PREFIX else None
        generated = greedy_decode(model, torch.tensor(rows), torch.tensor(masks), max_new_tokens, eos_ids,
                                  prefix=prefix, guide=guide.rows(grammars) if guided else None,
                                  stopped=None if guided else stop_string_check(tokenizer), cancel=cancel)
        seconds = time.perf_counter() - started
    results = []
    for tokens, seq in zip(generated, ids):
        finish = "stop" if tokens and tokens[-1] in eos_ids else "length"
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        if finish == "length" and any(s in text for s in STOP_STRINGS):
            finish = "stop"
        results.append(Generation(text, len(seq), len(tokens), finish, seconds))
    return results
