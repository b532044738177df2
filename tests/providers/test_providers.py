"""The provider protocol: every capability the runner, cache, batch path, token accounting and cost
rely on is declared (with a default) and honoured, for providers registered through the registry
the way plugins are; each provider's own settings model turns a mistyped provider or option, or a
missing model, into a load error with file, line and field."""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap

import pytest
from pydantic import BaseModel, ConfigDict

from evalkit import providers
from evalkit.errors import ConfigError, SuiteError
from evalkit.providers.base import Provider
from evalkit.suite import load_suite
from evalkit.suite.model import VariantSpec
from evalkit.suite.plugins import (
    LocalOptions,
    OpenAIOptions,
    ProviderPlugin,
    ProviderTraits,
    provider_traits,
)
from evalkit.types import Completion, ToolCall, Usage

HEAD = """\
name: p
functions:
  - {name: get_price, description: Price of a stock, parameters: {type: object, properties: {symbol: {type: string}}}}
cases:
  - {id: msft, user: "Price of MSFT? please", expect: {call: get_price, arguments: {symbol: MSFT}}}
  - {id: aapl, user: "Price of AAPL?", expect: {call: get_price, arguments: {symbol: AAPL}}}
"""
SENT: list[str] = []  # case texts the test providers were asked, across a test


def suite(tmp_path, variants: str):
    path = tmp_path / "suite.yaml"
    path.write_text(HEAD + "variants:\n" + textwrap.indent(textwrap.dedent(variants), "  "))
    return path


def results(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def answer(request) -> Completion:
    SENT.append(request.messages[-1]["content"])
    return Completion(None, (ToolCall("get_price", '{"symbol": "MSFT"}', "c1"),), Usage(11, 5))


class Declared(Provider):
    """A provider deriving from Provider; the variant's `options` say what it declares."""

    def __init__(self, options):
        self.delay = float(options.get("delay", 0))
        self.handles_timeout = bool(options.get("handles_timeout", False))
        if options.get("counts"):
            self.count_prompt_tokens = self.count_words
        self.endpoint = options.get("endpoint")
        self.supports_batch = bool(options.get("batch", False))
        self.batches: dict[str, list[dict]] = {}

    @staticmethod
    def count_words(request) -> int:
        return sum(len(str(m.get("content") or "").split()) for m in request.messages) + 3 * len(request.tools)

    async def complete(self, request):
        await asyncio.sleep(self.delay)
        return answer(request)

    @property
    def batch_url(self) -> str:
        return "/v1/chat/completions"

    async def submit_batch(self, name, data):
        self.batches[name] = [json.loads(line) for line in data.decode().splitlines()]
        return {"batch_id": name, "input_file_id": "in-" + name}

    async def batch_status(self, batch_id):
        return {"status": "completed", "done": len(self.batches[batch_id]), "total": len(self.batches[batch_id]),
                "errors": "", "output_file_id": batch_id, "error_file_id": None}

    async def file_text(self, file_id):
        if not file_id:
            return ""
        lines = []
        for line in self.batches[file_id]:
            SENT.append(line["body"]["messages"][-1]["content"])
            body = {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_price", "arguments": '{"symbol": "MSFT"}'}}]},
                "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 11, "completion_tokens": 5}}
            lines.append(json.dumps({"custom_id": line["custom_id"], "response": {"status_code": 200, "body": body}}))
        return "\n".join(lines)


def create_declared(variant, *, base_dir=None):
    return Declared(variant.options)


class Plain:
    """A plugin object that does not derive from Provider: it still declares by attribute."""

    handles_timeout = True

    def count_prompt_tokens(self, request):
        return 100

    async def complete(self, request):
        await asyncio.sleep(0.3)
        return answer(request)

    async def aclose(self):
        pass


class Bare:
    """A plugin object declaring nothing: every capability takes its default."""

    async def complete(self, request):
        await asyncio.sleep(0.3)
        return answer(request)

    async def aclose(self):
        pass


def create_plain(variant, *, base_dir=None):
    return Plain()


def create_bare(variant, *, base_dir=None):
    return Bare()


def create_nothing(variant, *, base_dir=None):
    return object()


class ColourSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        colour: str = "red"

    options: Options = Options()


@pytest.fixture
def registered(monkeypatch):
    """Providers registered the way plugins are: by name, as a declaration or a "module:attr"."""
    SENT.clear()
    monkeypatch.setenv("EVALKIT_BATCH_POLL_S", "0")
    for name, target in {
        "declared": ProviderPlugin(create_declared),
        "batching": ProviderPlugin(create_declared, traits=ProviderTraits(batch_api=True)),
        "onsite": ProviderPlugin(create_declared, traits=ProviderTraits(local=True)),
        "coloured": ProviderPlugin(create_declared, ColourSettings, ProviderTraits(needs_model=True)),
        "plain": "test_providers:create_plain",
        "bare": "test_providers:create_bare",
        "nothing": "test_providers:create_nothing",
    }.items():
        monkeypatch.setitem(providers.BUILTIN, name, target)


# ---- each capability honoured -------------------------------------------------------------

def test_handles_timeout_decides_whether_the_runner_bounds_a_call(tmp_path, registered, cli):
    path = suite(tmp_path, """\
        - {name: bounded, provider: declared, timeout: 0.1, options: {delay: 0.4}}
        - {name: own, provider: declared, timeout: 0.1, options: {delay: 0.4, handles_timeout: true}}
        - {name: bare, provider: bare, timeout: 0.1}
        - {name: plain, provider: plain, timeout: 0.1}
    """)
    code, _, err = cli("run", path, "--out", tmp_path / "r", "--no-cache", "--no-progress")
    by = {(r["variant"], r["case_id"]): r for r in results(tmp_path / "r")}
    assert by[("bounded", "msft")]["verdict"] == "error" and "timed out after 0.1 s" in by[("bounded", "msft")]["error"]
    assert by[("bare", "msft")]["verdict"] == "error"  # the default: the runner's timeout applies
    assert by[("own", "msft")]["verdict"] == "correct"  # it handles its own: no runner deadline
    assert by[("plain", "msft")]["verdict"] == "correct"  # declared by attribute, without deriving
    assert code == 3, err  # half the results are errors


def test_count_prompt_tokens_is_the_recorded_count_unless_a_tokenizer_is_named(tmp_path, registered, cli):
    path = suite(tmp_path, """\
        - {name: own, provider: declared, options: {counts: true}}
        - {name: named, provider: declared, tokenizer: cl100k_base, options: {counts: true}}
        - {name: none, provider: declared, model: gpt-4o-mini}
        - {name: plain, provider: plain}
    """)
    code, _, err = cli("run", path, "--out", tmp_path / "r", "--no-cache", "--no-progress")
    assert code == 0, err
    tokens = {(r["variant"], r["case_id"]): r["tokens"] for r in results(tmp_path / "r")}
    # "Price of MSFT? please": 4 words, plus 3 for the one function
    assert tokens[("own", "msft")] == {"prompt": 7, "functions": 3, "counter": "model"}
    assert tokens[("named", "msft")]["counter"] == "cl100k_base"
    assert tokens[("none", "msft")]["counter"] == "o200k_base"  # the default: tiktoken by model name
    assert tokens[("plain", "msft")] == {"prompt": 100, "functions": 0, "counter": "model"}


def test_a_declared_endpoint_identifies_the_responder_in_the_cache(tmp_path, registered, cli):
    def run(out, variant):
        SENT.clear()
        code, _, err = cli("run", suite(tmp_path, variant), "--out", tmp_path / out, "--no-progress")
        assert code == 0, err
        return len(SENT)

    assert run("a", "- {name: v, provider: declared, options: {endpoint: here}}\n") == 2
    # same declared endpoint: replayed, though the settings differ (the endpoint stands for them)
    assert run("b", "- {name: v, provider: declared, options: {endpoint: here, delay: 0.01}}\n") == 0
    assert run("c", "- {name: v, provider: declared, options: {endpoint: there}}\n") == 2
    # no endpoint declared: the variant's settings stand in, so changing them is a miss
    assert run("d", "- {name: v, provider: declared, options: {delay: 0}}\n") == 2
    assert run("e", "- {name: v, provider: declared, options: {delay: 0.01}}\n") == 2
    assert run("f", "- {name: v, provider: declared, options: {delay: 0.01}}\n") == 0


def test_endpoint_query_and_credential_are_the_declared_ones():
    from evalkit.run.cache import endpoint_of

    class Keyed(Declared):
        credential_id = "sha256:abc"

        def __init__(self, options):
            super().__init__(options)
            self.request_query = {"api-version": "2024-06-01"}

    variant = VariantSpec(name="v", provider="declared")
    keyed = json.loads(endpoint_of(Keyed({"endpoint": "e"}), variant))
    assert keyed == {"endpoint": "e", "query": {"api-version": "2024-06-01"}, "credential": "sha256:abc",
                     "execute": None}
    default = json.loads(endpoint_of(Declared({}), variant))
    assert default["endpoint"]["provider"] == "declared" and default["query"] is None and default["credential"] is None


def test_the_batch_api_is_used_through_the_declared_members(tmp_path, registered, cli):
    path = suite(tmp_path, "- {name: v, provider: batching, options: {batch: true}}\n")
    code, _, err = cli("run", path, "--out", tmp_path / "r", "--batch", "--no-progress")
    assert code == 0, err
    got = results(tmp_path / "r")
    assert {r["case_id"]: r["verdict"] for r in got} == {"msft": "correct", "aapl": "wrong_arguments"}
    assert all(r["batch"] for r in got) and sorted(SENT) == ["Price of AAPL?", "Price of MSFT? please"]


def test_batch_is_refused_for_providers_that_do_not_speak_it(tmp_path, registered, cli):
    code, _, err = cli("run", suite(tmp_path, "- {name: v, provider: declared}\n"), "--out", tmp_path / "a",
                       "--batch", "--no-progress")
    assert code == 2 and "'v' (declared)" in err and "Batch API" in err
    # the name says it can, the provider it creates says it cannot: its declaration wins
    code, _, err = cli("run", suite(tmp_path, "- {name: v, provider: batching}\n"), "--out", tmp_path / "b",
                       "--batch", "--no-progress")
    assert code == 2 and "--batch needs" in err and not SENT
    assert len(err.strip().splitlines()) == 1


def test_a_plugin_object_without_complete_is_a_config_error(tmp_path, registered, cli):
    code, _, err = cli("run", suite(tmp_path, "- {name: v, provider: nothing}\n"), "--out", tmp_path / "r")
    assert code == 2 and "provider 'nothing' created a object, which has no complete()" in err


def test_plain_plugins_get_the_defaults_and_what_they_set():
    made = providers.PluginProvider(Bare(), "bare")
    assert (made.handles_timeout, made.count_prompt_tokens, made.endpoint, made.supports_batch) == \
        (False, None, None, False)
    plain = providers.PluginProvider(Plain(), "plain")
    assert plain.handles_timeout and plain.count_prompt_tokens(None) == 100 and not plain.supports_batch


def test_traits_by_name_without_creating_a_provider(tmp_path, registered):
    from evalkit.analysis.cost import suite_costs

    assert provider_traits("openai") == provider_traits("azure") == ProviderTraits(
        needs_model=True, batch_api=True, fine_tuning_api=True)
    assert provider_traits("local") == ProviderTraits(local=True)
    assert provider_traits("not-installed-here") == ProviderTraits()
    s = load_suite(suite(tmp_path, """\
        - {name: here, provider: onsite, model: my-weights}
        - {name: there, provider: declared, model: my-weights}
    """))
    report = suite_costs(s, {"here": 10.0, "there": 10.0})
    assert "runs on this machine" in report.unpriced["here"]
    assert "no price for model 'my-weights'" in report.unpriced["there"]


# ---- each provider's settings, checked at load --------------------------------------------

BAD = [
    ("openai without model", "- name: v\n  provider: openai\n", "variants[0].model", "- name: v",
     "provider 'openai' needs a `model`"),
    ("default provider without model", "- name: v\n  functions: full\n", "variants[0].model", "- name: v",
     "provider 'openai' needs a `model`"),
    ("azure without model", "- name: v\n  provider: azure\n  api_version: '2024-06-01'\n", "variants[0].model",
     "- name: v", "provider 'azure' needs a `model`"),
    ("mistyped provider", "- name: v\n  model: m\n  provider: opnai\n", "variants[0].provider", "  provider: opnai",
     ("unknown provider 'opnai' (known: azure, bare, batching, coloured, declared, local, nothing, onsite, openai, "
      "plain); did you mean 'openai'?")),
    ("mistyped option", "- name: v\n  model: m\n  options:\n    max_retrys: 3\n", "variants[0].options.max_retrys",
     "    max_retrys: 3", ("unknown option 'max_retrys' for provider 'openai' (its options: http_client, max_retries, "
                          "retry_budget, retry_budget_ratio)")),
    ("negative option", "- name: v\n  model: m\n  options: {max_retries: -1}\n", "variants[0].options.max_retries",
     "  options:", "greater than or equal to 0"),
    ("unknown http client", "- name: v\n  model: m\n  options: {http_client: fast}\n",
     "variants[0].options.http_client", "  options:", "Input should be 'lean' or 'default'"),
    ("a local setting on openai", "- name: v\n  model: m\n  adapter: models/lora\n", "variants[0].adapter",
     "  adapter:", ("`adapter` is not a setting of provider 'openai' (its settings: base_url, api_key_env, "
                   "azure_endpoint, api_version, options)")),
    ("a connection key on local", "- name: ok\n  model: m\n- name: v\n  provider: local\n  base_url: http://x\n",
     "variants[1].base_url", "  base_url:", "`base_url` is not a setting of provider 'local'"),
    ("mistyped local option", "- name: v\n  provider: local\n  options:\n    batchsize: 4\n",
     "variants[0].options.batchsize", "    batchsize:", "unknown option 'batchsize' for provider 'local'"),
    ("local option of the wrong type", "- name: v\n  provider: local\n  options: {guided: 'yes'}\n",
     "variants[0].options.guided", "  options:", "Input should be a valid boolean"),
    ("a plugin's own option model", "- name: v\n  provider: coloured\n  model: m\n  options: {color: blue}\n",
     "variants[0].options.color", "  options:", "unknown option 'color' for provider 'coloured' (its options: colour)"),
    ("a plugin's own needs_model", "- name: v\n  provider: coloured\n", "variants[0].model", "- name: v",
     "provider 'coloured' needs a `model`"),
]


@pytest.mark.parametrize("variants,field,line_text,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_settings_errors_name_file_line_and_field(tmp_path, registered, cli, variants, field, line_text, message):
    path = suite(tmp_path, variants)
    lines = path.read_text().splitlines()
    line = next(i + 1 for i, text in enumerate(lines) if text.startswith("  " + line_text)
                and i >= lines.index("variants:"))
    with pytest.raises(SuiteError) as e:
        load_suite(path)
    assert (e.value.line, e.value.field) == (line, field)
    assert message in str(e.value)
    code, out, err = cli("run", path, "--out", tmp_path / "r")
    assert code == 2 and not out and not (tmp_path / "r").exists()
    assert err.strip().splitlines() == [f"evalkit: error: {path}:{line}: field '{field}': {e.value.message}"]


def test_valid_settings_load(tmp_path, registered):
    s = load_suite(suite(tmp_path, """\
        - {name: hosted, model: m, base_url: "http://127.0.0.1:1/v1", api_key_env: K,
           options: {max_retries: 0, http_client: default, retry_budget: 5, retry_budget_ratio: 0.2}}
        - {name: az, provider: azure, model: dep, azure_endpoint: "https://x.example", api_version: "2024-06-01"}
        - {name: here, provider: local, adapter: models/lora, options: {guided: true, batch_size: 4, threads: 1}}
        - {name: plugin, provider: declared, base_url: "http://y", options: {anything: [1, 2]}}
        - {name: coloured, provider: coloured, model: m, options: {colour: blue}}
    """))
    assert [v.name for v in s.variants] == ["hosted", "az", "here", "plugin", "coloured"]
    assert s.variants[3].options == {"anything": [1, 2]}  # a plugin without a settings model: as given


def test_a_variant_built_in_code_is_checked_by_its_provider():
    from evalkit.providers.openai_compat import create

    with pytest.raises(ConfigError, match=r"variant 'v': options.max_retrys: Extra inputs are not permitted"):
        create(VariantSpec(name="v", model="m", base_url="http://127.0.0.1:1/v1", options={"max_retrys": 3}))


def test_the_settings_models_match_what_the_providers_read():
    from evalkit.providers import local

    assert set(LocalOptions.model_fields) == set(local.OPTIONS)
    assert set(OpenAIOptions.model_fields) == {"http_client", "max_retries", "retry_budget", "retry_budget_ratio"}


def test_checking_a_suite_imports_neither_openai_nor_torch(tmp_path):
    path = suite(tmp_path, """\
        - {name: hosted, model: m}
        - {name: here, provider: local, options: {batch_size: 2}}
        - {name: wrong, provider: local, options: {batch_size: 0}}
    """)
    script = ("import sys\nfrom evalkit.suite import load_suite\nfrom evalkit.errors import SuiteError\n"
              f"try:\n    load_suite({str(path)!r})\nexcept SuiteError as e:\n    print(e.field)\n"
              "print(sorted(m for m in ('openai', 'torch', 'transformers', 'httpx') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["variants[2].options.batch_size", "[]"]


def test_the_registry_builtins_keep_their_declarations_over_entry_points():
    table = providers.registry()
    assert all(isinstance(table[n], ProviderPlugin) for n in ("openai", "azure", "local"))
    assert re.fullmatch(r"evalkit\.providers\.\w+:create", table["local"].create)
