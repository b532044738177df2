"""Run identity: a fingerprint of every input that determines a run's results.

One entry per input, so a mismatch can say which input changed:
  suite                  the suite YAML's bytes
  cases_from:<path>      each cases file it names (path as written in the suite)
  functions_from:<path>  each tool-definition file it names
  tools_module:<path>    the Python tools module, when the suite executes calls (`execute: true`)
  variant:<name>         the variant's resolved settings (model, provider, params, ...), defaults
                         left out so a new optional setting does not change old runs
  adapter:<name>         the variant's LoRA adapter files (config, weights, tokenizer)
  functions:<name>       the exact function definitions the variant sends
Each value is a truncated sha256 (16 hex digits). Stored in run.json under "identity"; `--resume`
recomputes it and refuses to mix two suites in one run directory.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..suite.model import Suite, VariantSpec

DIGITS = 16
# The files of a peft adapter directory that change what the model answers; notes, logs and
# trial metadata kept beside them do not.
ADAPTER_FILES = ("adapter_", "tokenizer", "special_tokens_map", "added_tokens", "chat_template")


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGITS]


def json_sha(value: Any) -> str:
    return text_sha(json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str))


def file_sha(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return "missing"
    return h.hexdigest()[:DIGITS]


def adapter_sha(path: Path) -> str:
    """The adapter files' names and contents, in name order (sub-directories are checkpoints)."""
    if not path.is_dir():
        return "missing"
    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file() and p.name.startswith(ADAPTER_FILES)):
        h.update(f.name.encode() + b"\0" + file_sha(f).encode() + b"\0")
    return h.hexdigest()[:DIGITS]


def _under(base: Path, rel: str) -> Path:
    p = Path(rel).expanduser()
    return p if p.is_absolute() else base / p


def run_identity(suite: Suite, variants: Sequence[VariantSpec],
                 sent: Mapping[str, Iterable[Sequence[Mapping[str, Any]]]]) -> dict[str, str]:
    """The identity of a run of `variants` over `suite`; `sent` maps each variant to the function
    definition sets its requests carry."""
    base = Path(suite.path).parent
    out = {"suite": file_sha(Path(suite.path))}
    for key in ("cases_from", "functions_from"):
        sources = getattr(suite.spec, key, None)
        for rel in [sources] if isinstance(sources, str) else (sources or []):
            out[f"{key}:{rel}"] = file_sha(_under(base, rel))
    if suite.spec.execute and suite.spec.tools_module:
        out[f"tools_module:{suite.spec.tools_module}"] = file_sha(_under(base, suite.spec.tools_module))
    for v in variants:
        out[f"variant:{v.name}"] = json_sha(v.model_dump(mode="json", exclude_defaults=True))
        if v.adapter:
            out[f"adapter:{v.name}"] = adapter_sha(_under(base, v.adapter))
        definitions = {json_sha(list(tools)) for tools in sent.get(v.name, ())}
        out[f"functions:{v.name}"] = json_sha(sorted(definitions))
    return out


def tools_fingerprint(identity: Mapping[str, str]) -> str | None:
    """The executed tools module's fingerprint, or None when the run does not execute calls."""
    return next((v for k, v in identity.items() if k.startswith("tools_module:")), None)


def describe(entry: str) -> str:
    kind, _, name = entry.partition(":")
    return {"suite": "the suite file",
            "cases_from": f"the cases file '{name}'",
            "functions_from": f"the tool definitions file '{name}'",
            "tools_module": f"the tools module '{name}'",
            "variant": f"the settings of variant '{name}'",
            "adapter": f"the adapter files of variant '{name}'",
            "functions": f"the functions variant '{name}' sends"}.get(kind, entry)


def changes(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """The entries that differ (added, removed or changed), in a stable order: the suite file
    first, as it is the usual cause of everything else."""
    keys = [k for k in dict.fromkeys([*recorded, *current]) if recorded.get(k) != current.get(k)]
    return sorted(keys, key=lambda k: (k != "suite", k.startswith(("variant:", "functions:")), k))
