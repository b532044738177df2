"""The decision to ask or to call, measured on its own (TRIALS.md, t10-t12).

    pip install scikit-learn   # for probe
    python suites/models/stocks-lora/diagnostics/decision.py probe [ADAPTER]
    python suites/models/stocks-lora/diagnostics/decision.py train [--steps 150] [--lr 1e-3] [--bs 16]

probe: does the frozen model tell "call" from "ask" before it answers? Fits a logistic regression (C=1) on the hidden states at the decision point (the prompt plus the
opening `<`, just before `reply` or `tool`) of the 370 training examples, per layer, and prints its
accuracy on the training examples and on the 46 test cases, rendered with the training file's
system message and short definitions. About 6 minutes on 2 cores (full forward passes).
Measured on the base model: 93-96% on the test set from layer 6 on.

train: can LoRA learn that decision when trained on it alone? Trains a fresh adapter (r=16, all
linear layers) on the training examples' opening tags only, at a constant learning rate, and every
50 steps prints how many test and dev cases it would call or ask on (the sign of the margin between
`reply` and `tool` after `<`). Measured: refusals 0/18 -> 6/18 (step 50) -> 17/18 (step 100) on the
test set, 12/12 on dev, calls 28/28 throughout; ~7.4 s a step at batch 16 on 2 cores.
"""
from __future__ import annotations

import argparse
import copy
import json
import pathlib
import random

import numpy as np
import torch

from evalkit.finetune.local import (
    TARGET_MODULES,
    Example,
    _batch_tensors,
    batch_loss,
    encode_examples,
    read_examples,
)
from evalkit.providers.local import load_model, load_tokenizer, resolve_model
from evalkit.providers.local_generate import common_prefix_length

ROOT = pathlib.Path(__file__).resolve().parents[4]
TRAIN = ROOT / "suites/data/stocks_train.jsonl"
TEST = ROOT / "suites/data/stocks_test.jsonl"
DEV = ROOT / "suites/data/stocks_dev.jsonl"
CLARIFY = "Which company do you mean?"  # any reply: only the opening tag is read


def case_rows(path: pathlib.Path = TEST) -> list[tuple[int, list, list]]:
    """Suite cases as training rows: the training file's system message and tools."""
    first = json.loads(TRAIN.open(encoding="utf-8").readline())
    system, tools = first["messages"][0], first["tools"]
    rows = []
    for n, line in enumerate(path.open(encoding="utf-8"), 1):
        case = json.loads(line)
        msgs = [m for m in case["messages"] if m["role"] != "assistant"]
        answer = next((m for m in case["messages"] if m["role"] == "assistant" and m.get("tool_calls")),
                      {"role": "assistant", "content": CLARIFY})
        rows.append((n, [system, *msgs, answer], tools))
    return rows


def features(net, tokenizer, rows, reply_id: int):
    xs, ys = [], []
    for e in encode_examples(tokenizer, rows):
        with torch.no_grad():
            hs = net(input_ids=torch.tensor([e.prompt_ids + e.target_ids[:1]]), output_hidden_states=True).hidden_states
        xs.append(torch.stack([h[0, -1] for h in hs]).numpy())
        ys.append(0 if e.target_ids[1] == reply_id else 1)
    return np.array(xs), np.array(ys)


def probe(adapter: str | None) -> None:
    from sklearn.linear_model import LogisticRegression

    source = resolve_model(None)
    tokenizer = load_tokenizer(source)
    net = load_model(source, adapter)
    reply_id = tokenizer("<reply>", add_special_tokens=False)["input_ids"][1]
    x_train, y_train = features(net, tokenizer, read_examples(TRAIN), reply_id)
    x_test, y_test = features(net, tokenizer, case_rows(TEST), reply_id)
    for layer in range(0, x_train.shape[1], 3):
        clf = LogisticRegression(C=1.0, max_iter=2000).fit(x_train[:, layer], y_train)
        refused = int(((clf.predict(x_test[:, layer]) == 0) & (y_test == 0)).sum())
        print(f"layer {layer:2}: train {clf.score(x_train[:, layer], y_train):.3f}  "
              f"test {clf.score(x_test[:, layer], y_test):.3f}  refusals {refused}/{int((y_test == 0).sum())}")


def margins(net, examples: list[Example], reply_id: int, tool_id: int) -> list[tuple[float, bool]]:
    """(log p(reply) - log p(tool) after `<`, should ask) per example, the shared prefix run once."""
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(examples), 16):
            batch = examples[i:i + 16]
            shared = min(common_prefix_length([e.prompt_ids for e in batch]), min(len(e.prompt_ids) for e in batch) - 1)
            cache = net(input_ids=torch.tensor([batch[0].prompt_ids[:shared]]), use_cache=True,
                        logits_to_keep=1).past_key_values
            cache.batch_repeat_interleave(len(batch))
            tails = [Example(e.prompt_ids[shared:], e.target_ids, e.line) for e in batch]
            t = _batch_tensors(tails, 0)
            mask = torch.cat([torch.ones(len(batch), shared, dtype=t["attention_mask"].dtype), t["attention_mask"]], 1)
            logits = net(input_ids=t["input_ids"], attention_mask=mask, past_key_values=cache, use_cache=True).logits
            for row, e in enumerate(tails):
                lp = logits[row, len(e.prompt_ids)]
                out.append((float(lp[reply_id] - lp[tool_id]), e.target_ids[1] == reply_id))
    net.train()
    return out


def train(steps: int, lr: float, batch_size: int) -> None:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    rng = random.Random(0)
    source = resolve_model(None)
    tokenizer = load_tokenizer(source)
    reply_id, tool_id = (tokenizer(t, add_special_tokens=False)["input_ids"][1] for t in ("<reply>", "<tool_call>"))
    def tags(rows) -> list[Example]:  # the target cut to `<` and the decision token
        return [Example(e.prompt_ids, e.target_ids[:2], e.line) for e in encode_examples(tokenizer, rows)]

    train_set = tags(read_examples(TRAIN))
    checks = {"test": tags(case_rows(TEST)), "dev": tags(case_rows(DEV))}
    net = get_peft_model(copy.deepcopy(load_model(source)), LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.05, target_modules=list(TARGET_MODULES), bias="none",
        task_type="CAUSAL_LM"))
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)

    def report(step: int) -> None:
        parts = []
        for name, examples in checks.items():
            m = margins(net, examples, reply_id, tool_id)
            calls = sum(1 for d, ask in m if not ask and d < 0)
            asks = sum(1 for d, ask in m if ask and d > 0)
            parts.append(f"{name}: calls {calls}/{sum(not a for _, a in m)}, asks {asks}/{sum(a for _, a in m)}")
        print(f"step {step}: " + " | ".join(parts), flush=True)

    report(0)
    order: list[int] = []
    for step in range(1, steps + 1):
        if not order:
            order = list(range(len(train_set)))
            rng.shuffle(order)
        picked, order = order[:batch_size], order[batch_size:]
        loss = batch_loss(net, [train_set[i] for i in picked], 0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 50 == 0:
            report(step)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("probe")
    p.add_argument("adapter", nargs="?")
    t = sub.add_parser("train")
    t.add_argument("--steps", type=int, default=150)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--bs", type=int, default=16)
    args = ap.parse_args()
    if args.command == "probe":
        probe(args.adapter)
    else:
        train(args.steps, args.lr, args.bs)


if __name__ == "__main__":
    main()
