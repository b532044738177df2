"""LoRA fine-tuning of a local chat model on the CPU, from an OpenAI chat fine-tuning JSONL.

Input: one JSON object a line with ``messages`` (system, user, ..., and a final assistant turn with
``tool_calls``, a legacy ``function_call``, or plain ``content`` such as a clarification) and
optionally ``tools`` (or legacy ``functions``): the definitions sent with that example, normally
the suite's *short* ones. Each example is rendered exactly as the `local` provider renders a request
(`evalkit.providers.local_prompt`), so a model trained here sees at inference the prompt it was
trained on, token for token. The loss covers only the final assistant turn (plus its end-of-turn
token); everything before it is context.

Hyperparameters, named as in OpenAI fine-tuning jobs:

- ``n_epochs``: passes over the training file.
- ``learning_rate_multiplier``: multiplies ``BASE_LEARNING_RATE`` (2e-4, a usual LoRA rate), so
  1.0 means AdamW at 2e-4 with linear decay to 0 after a warm-up of 5% of the steps.
- ``batch_size``: examples per optimizer step.
- ``seed``: LoRA initialisation, dropout and the per-epoch shuffle. Same seed, data, settings and
  thread count give the same adapter.

evalkit's own, for tool use (the answer opens with ``<reply>`` or ``<tool_call>``, so its opening
tag is the decision to ask or to call):

- ``decision_weight``: the loss weight of that opening tag within the answer (default 1).
- ``decision_epochs``: after the ``n_epochs``, this many passes over the examples with each target
  cut to its opening tag, so the loss is the decision alone (default 0). The phase restarts the
  learning-rate schedule (warm-up, then linear decay) and runs the shared prompt prefix without
  gradients: with their short targets, t12's decision steps took 4.3 s against 8.6 s for whole
  answers (batch 8).
- ``decision_modules``: whose LoRA weights the decision phase moves (default all seven; the
  shipped adapter's are the attention projections, so the MLPs keep what the answers taught).
- ``rehearsal``: whole answers replayed with each decision step (default 0): their loss is added
  to the decision's, so what the decision phase moves keeps fitting the answers (the tickers that
  t11 and t12 cut). They cycle through the examples in a seeded order, prefix without gradients.

LoRA: rank ``lora_r`` (default 16), alpha = 2 x rank, dropout 0.05, on every linear layer of the
transformer blocks (q, k, v, o, gate, up, down projections).

Output directory: ``adapter_config.json`` + ``adapter_model.safetensors`` (peft format, weights
stored in fp16), ``training_log.jsonl`` (one line per step: step, epoch, loss, lr, seconds) and
``trial.json`` (the `trial:` metadata a suite variant can carry: base_model, training_file and its
sha256, the hyperparameters, steps, trained_tokens, wall time, final and validation loss).
"""
from __future__ import annotations

import copy
import json
import math
import os
import pathlib
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

from ..errors import ConfigError, InputError
from ..providers.local import (
    ModelSource,
    load_model,
    load_tokenizer,
    require_extra,
    resolve_model,
    sha256_file,
)
from ..providers.local_generate import MIN_SHARED_PREFIX, common_prefix_length
from ..providers.local_prompt import CALL_TAG, REPLY_TAG, assistant_text, render_prompt

BASE_LEARNING_RATE = 2e-4
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Hyperparameters:
    n_epochs: int = 3
    learning_rate_multiplier: float = 1.0
    batch_size: int = 4
    seed: int = 0
    lora_r: int = 16
    lora_alpha: int | None = None  # default 2 x lora_r
    lora_dropout: float = 0.05
    warmup_fraction: float = 0.05
    max_steps: int | None = None  # stop early (tests, quick looks)
    decision_weight: float = 1.0  # loss weight of the answer's opening tag (see Example.decision)
    decision_epochs: int = 0  # extra passes on the opening tag alone (see decision_examples)
    decision_modules: tuple[str, ...] = TARGET_MODULES  # whose LoRA weights the decision phase trains
    rehearsal: int = 0  # whole answers replayed with each decision step (see Phase.replay)

    @property
    def learning_rate(self) -> float:
        return BASE_LEARNING_RATE * self.learning_rate_multiplier

    def validate(self) -> None:
        if self.n_epochs < 1 or self.batch_size < 1 or self.lora_r < 1:
            raise ConfigError("n_epochs, batch_size and lora_r must be positive integers")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError("lora_dropout must be >= 0 and < 1")
        if not self.learning_rate_multiplier > 0:
            raise ConfigError("learning_rate_multiplier must be > 0")
        if not self.decision_weight >= 1:
            raise ConfigError("decision_weight must be >= 1")
        if self.decision_epochs < 0:
            raise ConfigError("decision_epochs must be >= 0")
        if self.rehearsal < 0 or (self.rehearsal and not self.decision_epochs):
            raise ConfigError("rehearsal must be >= 0, and it needs decision_epochs (it replays whole "
                              "answers during the decision phase)")
        unknown = sorted(set(self.decision_modules) - set(TARGET_MODULES))
        if unknown or not self.decision_modules:
            raise ConfigError(f"decision_modules must be some of {', '.join(TARGET_MODULES)}"
                              + (f" (not {', '.join(unknown)})" if unknown else ""))


@dataclass
class Example:
    prompt_ids: list[int]
    target_ids: list[int]
    line: int
    # How many leading target tokens are the answer's opening tag (`<reply>` or `<tool_call>`):
    # the tokens that decide between asking and calling, 1 of ~40 in a plain mean over target
    # tokens. Hyperparameters.decision_weight weighs them (TRIALS.md: t8, t9).
    decision: int = 0


@dataclass
class TrainResult:
    output_dir: str
    steps: int
    trained_tokens: int
    wall_time_s: float
    final_loss: float | None
    validation_loss: float | None
    trial: dict[str, Any] = field(default_factory=dict)


# ---- data ------------------------------------------------------------------------------------

def read_examples(path: str | os.PathLike[str]) -> list[tuple[int, list[dict[str, Any]], list[dict[str, Any]]]]:
    """(line number, messages, tools) per non-empty line; a one-line error for malformed input."""
    out = []
    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(str(path), "training file not found")
    with p.open(encoding="utf-8") as f:
        for lineno, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except ValueError as e:
                raise InputError(str(path), f"not JSON: {e.msg}", line=lineno) from None
            messages = obj.get("messages") if isinstance(obj, dict) else None
            if not isinstance(messages, list) or not messages:
                raise InputError(str(path), "expected a non-empty list", line=lineno, field="messages")
            if messages[-1].get("role") != "assistant":
                raise InputError(str(path), "the last message must be the assistant's", line=lineno,
                                 field="messages")
            tools = obj.get("tools")
            if tools is None and obj.get("functions") is not None:
                tools = [{"type": "function", "function": f} for f in obj["functions"]]
            out.append((lineno, messages, list(tools or [])))
    if not out:
        raise InputError(str(path), "no examples")
    return out


def encode_examples(tokenizer: Any, rows: Sequence[tuple[int, list[dict[str, Any]], list[dict[str, Any]]]]
                    ) -> list[Example]:
    end = "<|im_end|>" if "<|im_end|>" in tokenizer.get_vocab() else (tokenizer.eos_token or "")
    tags = [tokenizer(tag, add_special_tokens=False)["input_ids"] for tag in (REPLY_TAG, CALL_TAG)]
    examples = []
    for lineno, messages, tools in rows:
        prompt = render_prompt(tokenizer, messages[:-1], tools)
        target = tokenizer(assistant_text(messages[-1], tools=bool(tools)) + end,
                           add_special_tokens=False)["input_ids"]
        decision = next((len(t) for t in tags if tools and target[:len(t)] == t), 0)
        examples.append(Example(tokenizer(prompt, add_special_tokens=False)["input_ids"], target, lineno,
                                decision))
    return examples


def decision_examples(examples: Sequence[Example]) -> list[Example]:
    """Each example with its target cut to the answer's opening tag: the loss is then only the
    choice between asking (`<reply>`) and calling (`<tool_call>`). Examples without tools have no
    such choice and are left out. TRIALS.md (t10, t11): inside a full answer that one token is not
    learned, even weighted 30x, while trained alone it is, from a frozen model's features that
    already separate the cases."""
    return [Example(e.prompt_ids, e.target_ids[:e.decision], e.line, e.decision) for e in examples if e.decision]


def _batch_tensors(batch: Sequence[Example], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(e.prompt_ids) + len(e.target_ids) for e in batch)
    ids, mask, labels = [], [], []
    for e in batch:
        seq = e.prompt_ids + e.target_ids
        pad = width - len(seq)
        ids.append(seq + [pad_id] * pad)
        mask.append([1] * len(seq) + [0] * pad)
        labels.append([-100] * len(e.prompt_ids) + e.target_ids + [-100] * pad)
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask),
            "labels": torch.tensor(labels)}



def weighted_loss(logits: Any, labels: Any, weights: Any) -> Any:
    """Cross-entropy of next-token predictions, weighted per label token (-100: not a target)."""
    logits, labels, weights = logits[:, :-1], labels[:, 1:], weights[:, 1:]
    keep = labels != -100
    return _mean_cross_entropy(logits[keep], labels[keep], weights[keep])


def _mean_cross_entropy(logits: Any, targets: Any, weights: Any) -> Any:
    import torch

    losses = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none")
    return (losses * weights).sum() / weights.sum()


def _weights(batch: Sequence[Example], labels: Any, decision_weight: float) -> Any:
    """Per label position: `decision_weight` on each example's opening tag, 1 elsewhere."""
    import torch

    weights = torch.ones(labels.shape, dtype=torch.float32)
    for row, e in enumerate(batch):  # rows are prompt + target + padding (_batch_tensors)
        start = len(e.prompt_ids)
        weights[row, start:start + e.decision] = decision_weight
    return weights


def batch_loss(net: Any, batch: Sequence[Example], pad_id: int, decision_weight: float = 1.0,
               train_prefix: bool = True) -> Any:
    """Mean loss over the batch's target tokens, the opening tags weighing `decision_weight`.

    Every example of a suite shares its prompt's start (system message + tool definitions, most
    of the tokens), so the shared prefix is run once per batch and its key/value cache repeated
    for each example; only the differing suffixes (user turn + target) run per example. The
    result is the same loss as running each full sequence (gradients flow through the shared
    prefix too), at a fraction of the compute. With `train_prefix` off the prefix is run without
    gradients, which costs less: the adapter then learns only from the differing suffixes, as
    the decision phase does.
    """
    import torch

    shared = common_prefix_length([e.prompt_ids for e in batch])
    shared = min(shared, min(len(e.prompt_ids) for e in batch) - 1)
    if shared < MIN_SHARED_PREFIX:
        t = _batch_tensors(batch, pad_id)
        return _loss(net, batch, t["labels"], decision_weight,
                     input_ids=t["input_ids"], attention_mask=t["attention_mask"])
    prefix = torch.tensor([batch[0].prompt_ids[:shared]])
    with torch.set_grad_enabled(train_prefix and torch.is_grad_enabled()):
        cache = net(input_ids=prefix, use_cache=True, logits_to_keep=1).past_key_values
    cache.batch_repeat_interleave(len(batch))
    tails = [Example(e.prompt_ids[shared:], e.target_ids, e.line, e.decision) for e in batch]
    t = _batch_tensors(tails, pad_id)
    mask = torch.cat([torch.ones(len(batch), shared, dtype=t["attention_mask"].dtype), t["attention_mask"]], 1)
    return _loss(net, tails, t["labels"], decision_weight,
                 input_ids=t["input_ids"], attention_mask=mask, past_key_values=cache, use_cache=True)


def _loss(net: Any, batch: Sequence[Example], labels: Any, decision_weight: float, **inputs: Any) -> Any:
    """`weighted_loss`, with the vocabulary projection (lm_head) run only at the positions that
    predict a target token: a decision example has 2 of ~35, and projecting every position onto
    the 49k-token vocabulary was a fifth of its step."""
    causal = net.get_base_model() if hasattr(net, "get_base_model") else net
    hidden = causal.model(**inputs).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != -100
    weights = _weights(batch, labels, decision_weight)[:, 1:]
    return _mean_cross_entropy(causal.lm_head(hidden[:, :-1][keep]), targets[keep], weights[keep])


# ---- training --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Phase:
    name: str  # "answers" (whole answers) or "decision" (the opening tag alone)
    examples: Sequence[Example]
    epochs: int
    steps: int
    train_prefix: bool  # gradients through the shared prompt prefix (batch_loss)
    modules: tuple[str, ...] = TARGET_MODULES  # whose LoRA weights this phase trains
    replay: Sequence[Example] = ()  # whole answers rehearsed alongside, `replay_per_step` a step
    replay_per_step: int = 0

    def trains(self, name: str) -> bool:
        """Does this phase train the LoRA parameter called `name`?"""
        return any(f".{m}." in name for m in self.modules)


def training_phases(examples: Sequence[Example], hp: Hyperparameters) -> list[Phase]:
    """`n_epochs` over the whole answers, then `decision_epochs` over their opening tags."""
    def steps(n: int, epochs: int) -> int:
        return epochs * math.ceil(n / hp.batch_size)

    phases = [Phase("answers", examples, hp.n_epochs, steps(len(examples), hp.n_epochs), True)]
    if hp.decision_epochs:
        tagged = decision_examples(examples)
        if not tagged:
            raise ConfigError("decision_epochs needs examples sent with tools: the decision phase trains "
                              "the choice between <reply> and <tool_call>")
        phases.append(Phase("decision", tagged, hp.decision_epochs, steps(len(tagged), hp.decision_epochs),
                            False, tuple(hp.decision_modules), tuple(examples) if hp.rehearsal else (),
                            hp.rehearsal))
    return phases


def replay_order(examples: Sequence[Example], seed: int) -> Iterator[Example]:
    """The examples over and over, each pass in a fresh seeded order (its own generator, so the
    phases' shuffles stay those of a run without rehearsal)."""
    rng = random.Random(f"replay-{seed}")
    while examples:
        order = list(range(len(examples)))
        rng.shuffle(order)
        yield from (examples[i] for i in order)


def learning_rate_at(hp: Hyperparameters, step: int, total: int) -> float:
    """Linear warm-up over `warmup_fraction` of `total` steps, then linear decay to 0 (step is
    1-based within its phase)."""
    warmup = max(1, round(hp.warmup_fraction * total)) if hp.warmup_fraction > 0 else 0
    if warmup and step <= warmup:
        return hp.learning_rate * step / warmup
    return hp.learning_rate * max(0.0, (total - step + 1) / max(1, total - warmup + 1))


def train_lora(train_file: str | os.PathLike[str], output_dir: str | os.PathLike[str], *,
               model: str | None = None, base_dir: str | os.PathLike[str] = ".",
               hyperparameters: Hyperparameters = Hyperparameters(),
               validation_file: str | os.PathLike[str] | None = None,
               progress: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train a LoRA adapter and write it with its log and trial metadata into `output_dir`."""
    hp = hyperparameters
    hp.validate()
    require_extra(adapter=True, gguf=not model or str(model).lower().endswith(".gguf"))
    source = resolve_model(model, base_dir)
    rows = read_examples(train_file)
    val_rows = read_examples(validation_file) if validation_file else []

    import torch
    from peft import LoraConfig, get_peft_model

    started = time.perf_counter()
    tokenizer = load_tokenizer(source)
    examples = encode_examples(tokenizer, rows)
    val_examples = encode_examples(tokenizer, val_rows)

    random.seed(hp.seed)
    torch.manual_seed(hp.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    base = copy.deepcopy(load_model(source))  # the cached copy stays untouched for inference
    config = LoraConfig(r=hp.lora_r, lora_alpha=hp.lora_alpha or 2 * hp.lora_r, lora_dropout=hp.lora_dropout,
                        target_modules=list(TARGET_MODULES), bias="none", task_type="CAUSAL_LM")
    net = get_peft_model(base, config)
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=hp.learning_rate, weight_decay=0.0)
    phases = training_phases(examples, hp)
    total = sum(phase.steps for phase in phases)
    if hp.max_steps:
        total = min(total, hp.max_steps)

    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "training_log.jsonl"
    shuffler = random.Random(hp.seed)
    step, epoch, trained_tokens, last_loss = 0, 0, 0, None
    val_loss: float | None = None
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with log_path.open("w", encoding="utf-8") as log:
        for phase in phases:
            if step >= total:  # max_steps ended an earlier phase
                break
            for name, param in net.named_parameters():  # the other LoRA weights stay as they are
                if "lora_" in name:
                    param.requires_grad_(phase.trains(name))
            first = step  # each phase warms up and decays on its own (a warm restart)
            length = min(phase.steps, total - step)
            replay = replay_order(phase.replay, hp.seed)
            for _ in range(phase.epochs):
                epoch += 1
                order = list(range(len(phase.examples)))
                shuffler.shuffle(order)
                for start in range(0, len(order), hp.batch_size):
                    if step >= total:
                        break
                    step += 1
                    batch = [phase.examples[i] for i in order[start:start + hp.batch_size]]
                    lr = learning_rate_at(hp, step - first, length)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    loss = batch_loss(net, batch, pad_id, hp.decision_weight, train_prefix=phase.train_prefix)
                    if phase.replay_per_step:
                        rehearsed = [next(replay) for _ in range(phase.replay_per_step)]
                        loss = loss + batch_loss(net, rehearsed, pad_id, train_prefix=False)
                        batch = batch + rehearsed
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    last_loss = float(loss.detach())
                    trained_tokens += sum(len(e.prompt_ids) + len(e.target_ids) for e in batch)
                    entry = {"step": step, "epoch": epoch, "loss": round(last_loss, 5),
                             "lr": lr, "seconds": round(time.perf_counter() - started, 2)}
                    if phase.name != "answers":
                        entry["phase"] = phase.name
                    log.write(json.dumps(entry) + "\n")
                    log.flush()
                    if progress:
                        progress({**entry, "total_steps": total})
                if val_examples:
                    val_loss = evaluate_loss(net, val_examples, pad_id, hp.batch_size)
                    entry = {"epoch": epoch, "validation_loss": round(val_loss, 5), "step": step}
                    log.write(json.dumps(entry) + "\n")
                    if progress:
                        progress({**entry, "total_steps": total})
                if step >= total:
                    break

    net.eval()
    save_adapter_fp16(net, out)
    config_path = out / "adapter_config.json"  # name the base model, not this machine's path
    adapter_config = json.loads(config_path.read_text(encoding="utf-8"))
    adapter_config["base_model_name_or_path"] = source.label or source.key
    config_path.write_text(json.dumps(adapter_config, indent=2) + "\n", encoding="utf-8")
    wall = time.perf_counter() - started
    trial = {
        "base_model": source.label or source.key,
        "base_model_sha256": source.sha256,
        "training_file": str(train_file),
        "training_file_sha256": sha256_file(train_file),
        "validation_file": str(validation_file) if validation_file else None,
        "validation_file_sha256": sha256_file(validation_file) if validation_file else None,
        "n_examples": len(examples),
        "n_epochs": hp.n_epochs,
        "learning_rate_multiplier": hp.learning_rate_multiplier,
        "learning_rate": hp.learning_rate,
        "base_learning_rate": BASE_LEARNING_RATE,
        "batch_size": hp.batch_size,
        "seed": hp.seed,
        "lora": {"r": hp.lora_r, "alpha": hp.lora_alpha or 2 * hp.lora_r, "dropout": hp.lora_dropout,
                 "target_modules": list(TARGET_MODULES)},
        "steps": step,
        "decision_steps": max(0, step - phases[0].steps),
        "trained_tokens": trained_tokens,
        "final_loss": round(last_loss, 5) if last_loss is not None else None,
        "validation_loss": round(val_loss, 5) if val_loss is not None else None,
        "wall_time_s": round(wall, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "hyperparameters": asdict(hp),
    }
    (out / "trial.json").write_text(json.dumps(trial, indent=2) + "\n", encoding="utf-8")
    return TrainResult(str(out), step, trained_tokens, wall, last_loss, val_loss, trial)


def evaluate_loss(net: Any, examples: Sequence[Example], pad_id: int, batch_size: int) -> float:
    import torch

    was_training = net.training
    net.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            batch = examples[start:start + batch_size]
            n = sum(len(e.target_ids) for e in batch)
            total += float(batch_loss(net, batch, pad_id)) * n
            count += n
    if was_training:
        net.train()
    return total / max(1, count)


def save_adapter_fp16(net: Any, out: pathlib.Path) -> None:
    """peft's own format, with the LoRA weights stored as fp16 (half the size; loads into fp32)."""
    from safetensors.torch import load_file, save_file

    net.save_pretrained(str(out))
    (out / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
    weights = out / "adapter_model.safetensors"
    tensors = {k: v.half().contiguous() for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights), metadata={"format": "pt"})


def print_progress(stream: Any = sys.stderr) -> Callable[[dict[str, Any]], None]:
    """A one-line progress bar with the loss (tqdm when available, plain lines otherwise)."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    bar: list[Any] = []

    def show(entry: dict[str, Any]) -> None:
        if "validation_loss" in entry:
            msg = f"epoch {entry['epoch']}: validation loss {entry['validation_loss']:.4f}"
            (bar[0].write(msg) if bar else print(msg, file=stream))
            return
        if tqdm is not None:
            if not bar:
                bar.append(tqdm(total=entry["total_steps"], desc="LoRA", unit="step", file=stream,
                                dynamic_ncols=True))
            bar[0].update(1)
            bar[0].set_postfix(epoch=entry["epoch"], loss=f"{entry['loss']:.4f}")
            if entry["step"] >= entry["total_steps"]:
                bar[0].close()
        else:
            print(f"step {entry['step']}/{entry['total_steps']} epoch {entry['epoch']} "
                  f"loss {entry['loss']:.4f}", file=stream)

    return show


__all__ = ["BASE_LEARNING_RATE", "Hyperparameters", "ModelSource", "TrainResult", "train_lora",
           "read_examples", "encode_examples", "print_progress"]
