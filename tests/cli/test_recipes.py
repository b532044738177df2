"""The recipes in suites/recipes/ and docs/recipes.md, run as written against loopback servers:
each suite loads and counts, the OpenAI and Azure recipes reach the paths and headers their
services expect, every served-model recipe sends what its server needs (llama.cpp and vLLM render
tools only with `tool_choice`), the Batch API recipe round-trips, and every command the doc shows
parses and names files that exist."""
import json
import re
import shlex

import pytest
import yaml
from conftest import ROOT
from fakeserver import FakeServer, last_user, text_reply, tool_reply

from evalkit.suite import AnyOf, load_suite

RECIPES = ROOT / "suites" / "recipes"
DOC = ROOT / "docs" / "recipes.md"
SERVED = {  # recipe -> (port in the recipe, whether the server needs tool_choice sent)
    "llamacpp.yaml": (8080, True),
    "vllm.yaml": (8000, True),
    "ollama.yaml": (11434, False),
    "lmstudio.yaml": (1234, True),
}
ALL = sorted(p.name for p in RECIPES.glob("*.yaml"))


def _value(v):
    return v.values[0] if isinstance(v, AnyOf) else v


def hallucinating_model(suite_path):
    """A scripted model that calls correctly whenever a call is expected and invents a ticker for
    every made-up company: the seed's base model, so the scores have a known shape."""
    by_user = {c.messages[-1]["content"]: c for c in load_suite(suite_path).cases}

    def reply(body, path):
        case = by_user.get(last_user(body))
        if case is None:
            return {"status": 400, "body": {"error": {"message": "unknown prompt"}}}
        if case.expect.refuse:
            return tool_reply(("get_current_stock_price", {"symbol": "ZZZZ"}))
        return tool_reply(*[(c.name, {k: _value(v) for k, v in (c.arguments or {}).items()
                                      if not (isinstance(v, AnyOf) and v.optional)})
                            for c in case.expect.calls])
    return reply


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())["variants"]


FEW = ("-k", "msft or titan")  # msft-now, msft-hist-day, par-aapl-msft, titan: a call of each kind and a fake


def assert_seed_shape(run_dir, calls=28, fakes=18, variants=("base+full", "base+short")):
    """One result per case and variant: every real company called correctly, every fake one
    hallucinated (the whole suite has 28 should-call and 18 should-refuse cases)."""
    recorded = rows(run_dir)
    assert sorted({r["variant"] for r in recorded}) == sorted(variants)
    for name in variants:
        mine = [r for r in recorded if r["variant"] == name]
        assert len(mine) == calls + fakes and len({r["case_id"] for r in mine}) == calls + fakes
        s = summary(run_dir)[name]
        assert (s["call_accuracy_k"], s["call_accuracy_n"]) == (calls, calls)
        assert (s["hallucination_rate_k"], s["hallucination_rate_n"]) == (fakes, fakes)
        assert s["refusal_accuracy"] == 0.0 and s["errors"] == 0


# ---- every recipe loads -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_recipe_loads_and_counts_without_a_model(name, cli):
    suite = load_suite(RECIPES / name)
    assert len(suite.cases) == 46 and {v.functions for v in suite.variants} == {"full", "short"}
    code, out, err = cli("tokens", RECIPES / name, "--json")
    assert code == 0, err
    assert out.strip()


def test_recipes_send_the_stocks_suites_definitions():
    """Token and accuracy figures compare across recipes only if the functions are the same."""
    stocks = load_suite(ROOT / "suites" / "stocks.yaml")
    for name in ALL:
        suite = load_suite(RECIPES / name)
        assert suite.functions == stocks.functions, name
        assert suite.spec.system == stocks.spec.system, name
        assert [c.id for c in suite.cases] == [c.id for c in stocks.cases], name


def test_hosted_recipes_count_with_the_models_tokenizer(cli):
    for name in ("openai.yaml", "azure.yaml"):
        code, out, err = cli("tokens", RECIPES / name, "--json")
        assert code == 0, err
        assert "o200k_base" in out  # gpt-4o-mini, also behind the Azure deployment name


# ---- hosted APIs ---------------------------------------------------------------------------------

def test_openai_recipe_as_written(tmp_path, cli, monkeypatch):
    with FakeServer(hallucinating_model(RECIPES / "openai.yaml")) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-recipe")
        code, _, err = cli("run", RECIPES / "openai.yaml", "--out", tmp_path / "r", "--no-progress")
    assert code == 0, err
    assert_seed_shape(tmp_path / "r")
    assert {r["path"] for r in server.requests} == {"/v1/chat/completions"}
    assert {r["headers"]["authorization"] for r in server.requests} == {"Bearer sk-recipe"}
    bodies = [r["body"] for r in server.requests]
    assert {b["model"] for b in bodies} == {"gpt-4o-mini-2024-07-18"}
    short = [b for b in bodies if b.get("seed") == 0]
    full = [b for b in bodies if "seed" not in b]
    assert len(short) == len(full) == 46
    assert all(t["function"]["parameters"]["properties"] == {} for b in short for t in b["tools"])
    assert all("description" in t["function"] for b in full for t in b["tools"])


def test_openai_recipe_without_a_key_stops_before_any_request(tmp_path, cli):
    code, _, err = cli("run", RECIPES / "openai.yaml", "--out", tmp_path / "r", "--no-progress")
    assert code == 2 and err.count("\n") == 1
    assert "no API key: set the environment variable OPENAI_API_KEY" in err


def test_azure_recipe_as_written(tmp_path, cli, monkeypatch):
    with FakeServer(hallucinating_model(RECIPES / "azure.yaml")) as server:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-recipe")
        code, _, err = cli("run", RECIPES / "azure.yaml", "--out", tmp_path / "r", "--no-progress")
    assert code == 0, err
    assert_seed_shape(tmp_path / "r")
    assert {r["path"] for r in server.requests} == {
        "/openai/deployments/my-gpt-4o-mini/chat/completions?api-version=2024-10-21"}
    assert {r["headers"]["api-key"] for r in server.requests} == {"az-recipe"}
    assert all("authorization" not in r["headers"] for r in server.requests)


def test_azure_recipe_without_an_endpoint_is_one_line(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-recipe")
    code, _, err = cli("run", RECIPES / "azure.yaml", "--out", tmp_path / "r", "--no-progress")
    assert code == 2 and err.count("\n") == 1
    assert "Azure needs an endpoint" in err and "AZURE_OPENAI_ENDPOINT" in err


def test_batch_recipe_round_trip(tmp_path, cli, monkeypatch):
    from batchfake import FakeBatchAPI  # the loopback files + batches endpoints

    reply = hallucinating_model(RECIPES / "openai.yaml")
    monkeypatch.setenv("EVALKIT_BATCH_POLL_S", "0.01")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-recipe")
    with FakeBatchAPI(lambda body: reply(body, "")) as api:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{api.url}/v1")
        code, _, err = cli("run", RECIPES / "openai.yaml", "--batch", "--out", tmp_path / "r", "--no-progress")
    assert code == 0, err
    assert_seed_shape(tmp_path / "r")
    assert all(r.get("batch") is True for r in rows(tmp_path / "r"))
    assert len(api.batches) == 2  # one batch per variant
    saved = json.loads((tmp_path / "r" / "batches.json").read_text())
    assert sorted(saved) == ["base+full", "base+short"]


# ---- OpenAI-compatible servers -------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SERVED))
def test_served_model_recipe_sends_what_its_server_needs(name, tmp_path, cli):
    port, needs_tool_choice = SERVED[name]
    suite = load_suite(RECIPES / name)
    assert {v.base_url for v in suite.variants} == {f"http://127.0.0.1:{port}/v1"}
    with FakeServer(hallucinating_model(RECIPES / name)) as server:
        code, _, err = cli("run", RECIPES / name, "--set", f"*.base_url={server.url}/v1", *FEW,
                           "--out", tmp_path / "r", "--no-progress")
    assert code == 0, err
    assert_seed_shape(tmp_path / "r", calls=3, fakes=1)
    bodies = [r["body"] for r in server.requests]
    assert len(bodies) == 8 and {b["model"] for b in bodies} == {suite.variants[0].model}
    if needs_tool_choice:
        assert {b.get("tool_choice") for b in bodies} == {"auto"}
    assert all(len(b["tools"]) == 2 for b in bodies)


def test_served_model_recipe_against_a_server_that_is_not_there(tmp_path, cli):
    """The usual first mistake: the server is not started. Every request fails, and the run
    says so with the URL rather than reporting an accuracy."""
    code, out, err = cli("run", RECIPES / "llamacpp.yaml", "--set", "*.base_url=http://127.0.0.1:9/v1",
                         "--set", "*.options.max_retries=0", "-k", "msft", "--out", tmp_path / "r",
                         "--no-progress")
    assert code == 3, out + err
    recorded = rows(tmp_path / "r")
    assert recorded and {r["verdict"] for r in recorded} == {"error"}
    assert "127.0.0.1:9" in recorded[0]["error"]


def test_server_that_answers_in_plain_text_is_scored_not_crashed(tmp_path, cli):
    """A server started without its function-calling chat format answers every prompt in prose:
    the should-call cases become over-refusals, the fakes look perfect. The recipe warns of this."""
    with FakeServer(lambda body, path: text_reply("The price is $42.")) as server:
        code, _, err = cli("run", RECIPES / "llamacpp.yaml", "--set", f"*.base_url={server.url}/v1", *FEW,
                           "--out", tmp_path / "r", "--no-progress")
    assert code == 0, err
    s = summary(tmp_path / "r")["base+full"]
    assert s["call_accuracy"] == 0.0 and s["refusal_accuracy"] == 1.0
    assert s["verdicts"]["over_refusal"] == 3


# ---- the doc: every command parses, every file it names exists -------------------------------------

def _doc_commands() -> list[list[str]]:
    text = DOC.read_text()
    blocks = re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.S)
    joined = [line for b in blocks for line in b.replace("\\\n", " ").splitlines()]
    return [shlex.split(line.strip(), comments=True) for line in joined if line.strip().startswith("evalkit ")]


def test_doc_commands_parse_and_name_real_files():
    from evalkit.cli import build_parser

    commands = _doc_commands()
    assert len(commands) >= 8
    seen = set()
    for argv in commands:
        build_parser().parse_args(argv[1:])  # argparse exits on an unknown flag
        for arg in argv:
            if arg.startswith(("suites/", "docs/")):
                assert (ROOT / arg).exists(), arg
                seen.add(arg)
    assert {f"suites/recipes/{n}" for n in ALL} <= seen  # every recipe is shown being run


def test_doc_links_the_workflow_and_every_recipe_file():
    text = DOC.read_text()
    assert "docs/github-actions.yml" in text and (ROOT / "docs" / "github-actions.yml").is_file()
    for name in ALL:
        assert f"suites/recipes/{name}" in text
    for target in re.findall(r"\]\(([^)#]+)\)", text):  # relative links resolve
        if not target.startswith("http"):
            assert (DOC.parent / target).exists(), target


def test_doc_vllm_recipe_enables_tool_choice():
    """vLLM answers `tool_choice: auto` with HTTP 400 unless both flags are given."""
    serve = [line for line in DOC.read_text().replace("\\\n", " ").splitlines()
             if line.strip().startswith("vllm serve")]
    assert serve and all("--enable-auto-tool-choice" in s and "--tool-call-parser" in s for s in serve)
    assert any("--tensor-parallel-size" in s for s in serve)


def test_readme_links_the_recipes():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Recipes\n", 1)[1].split("\n## ", 1)[0]
    assert "docs/recipes.md" in section


def test_workflow_in_the_doc_is_the_shipped_one():
    """The doc shows the workflow's evalkit steps; they must be the ones the file runs."""
    steps = yaml.safe_load((ROOT / "docs" / "github-actions.yml").read_text())["jobs"]["eval"]["steps"]
    shipped = [" ".join(s["run"].split()) for s in steps if s.get("run", "").strip().startswith("evalkit")]
    shown = {" ".join(argv) for argv in _doc_commands()}
    assert shipped and all(" ".join(shlex.split(c)) in shown for c in shipped)
