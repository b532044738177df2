"""The response cache: a rerun of an unchanged suite makes no request; what changes the request
changes the key; temperature > 0 is never cached; --no-cache and `evalkit cache clear`."""
import json

from fakeserver import FakeServer, last_user, price_suite, tool_reply

from evalkit.providers.base import ChatRequest, Completion, ToolCall, Usage
from evalkit.run.cache import ResponseCache, request_key


def answer(body, path):
    i = last_user(body).split()[1].rstrip("?")
    return tool_reply(("get_price", {"symbol": f"S{i}"}))


def suite_file(tmp_path, url, temperature=0.0, n=12, functions="full"):
    return price_suite(tmp_path, "cached", [
        f'{{name: v, model: m, base_url: "{url}/v1", temperature: {temperature}, functions: {functions}}}'], n,
        description="Price now.")


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_rerun_is_request_free_and_identical(tmp_path, cli):
    with FakeServer(answer) as server:
        suite = suite_file(tmp_path, server.url)
        assert cli("run", suite, "--out", tmp_path / "a", "--repeats", "2")[0] == 0
        assert len(server.requests) == 24
        code, _, err = cli("run", suite, "--out", tmp_path / "b", "--repeats", "2")
        assert code == 0, err
        assert len(server.requests) == 24  # nothing new
    a, b = rows(tmp_path / "a"), rows(tmp_path / "b")
    key = lambda r: (r["case_id"], r["repeat"])  # noqa: E731
    assert {key(r): r["verdict"] for r in a} == {key(r): r["verdict"] for r in b}
    assert all(r["cached"] for r in b) and not any(r["cached"] for r in a)
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["variants"]["v"]["accuracy"] == 1.0


def test_no_cache_flag_changed_request_and_temperature(tmp_path, cli):
    with FakeServer(answer) as server:
        suite = suite_file(tmp_path, server.url)
        cli("run", suite, "--out", tmp_path / "a")
        cli("run", suite, "--out", tmp_path / "b", "--no-cache")
        assert len(server.requests) == 24
        short = suite_file(tmp_path, server.url, functions="short")  # different tools sent: new key
        cli("run", short, "--out", tmp_path / "c")
        assert len(server.requests) == 36
        warm = suite_file(tmp_path, server.url, temperature=0.7)  # not deterministic: never cached
        cli("run", warm, "--out", tmp_path / "d")
        cli("run", warm, "--out", tmp_path / "e")
        assert len(server.requests) == 60


def test_cache_clear_and_info(tmp_path, cli):
    with FakeServer(answer) as server:
        suite = suite_file(tmp_path, server.url, n=3)
        cli("run", suite, "--out", tmp_path / "a")
        code, out, _ = cli("cache", "info")
        assert code == 0 and "3 cached responses" in out
        code, out, _ = cli("cache", "clear")
        assert code == 0 and "removed 3" in out
        cli("run", suite, "--out", tmp_path / "b")
        assert len(server.requests) == 6


def test_key_covers_the_exact_request_and_round_trips(tmp_path):
    req = ChatRequest(model="m", messages=({"role": "user", "content": "hi"},), tools=())
    k = request_key(req, "http://a/v1", 0)
    assert k == request_key(ChatRequest(model="m", messages=({"content": "hi", "role": "user"},)), "http://a/v1", 0)
    assert len({k, request_key(req, "http://b/v1", 0), request_key(req, "http://a/v1", 1),
                request_key(ChatRequest(model="m2", messages=req.messages), "http://a/v1", 0),
                request_key(ChatRequest(model="m", messages=req.messages, max_tokens=5), "http://a/v1", 0)}) == 5
    cache = ResponseCache(tmp_path / "c.sqlite")
    c = Completion(None, (ToolCall("f", '{"a": 1}', "call_0"),), Usage(10, 2, None), {"id": "x"}, "tool_calls")
    cache.put_many([(k, c, 0.25)])
    assert cache.get_many([k, "missing"]) == {k: (c, 0.25)}
    cache.close()


# ---- every request-shaping input is in the key ----------------------------------------------------

TOOLS_V1 = "def get_price(symbol):\n    return {'symbol': symbol, 'price': 1.0}\n"


def e2e_suite(tmp_path, url, execute, extra_variant="", tools=TOOLS_V1):
    (tmp_path / "tools.py").write_text(tools)
    p = price_suite(tmp_path, "cached", [
        f'{{name: v, model: m, base_url: "{url}/v1", options: {{max_retries: 0}}{extra_variant}}}'], 3)
    p.write_text(p.read_text() + f"tools_module: tools.py\nexecute: {'true' if execute else 'false'}\n")
    return p


def e2e_answer(body, path):
    if body["messages"][-1]["role"] == "tool":
        return {"content": "price: " + body["messages"][-1]["content"]}
    return answer(body, path)


def final_answers(run_dir):
    return sorted(str((r.get("raw") or {}).get("final_answer")) for r in rows(run_dir))


def test_execute_mode_and_the_tools_module_are_in_the_key(tmp_path, cli):
    with FakeServer(e2e_answer) as server:
        plain = e2e_suite(tmp_path, server.url, execute=False)
        assert cli("run", plain, "--out", tmp_path / "a", "--no-progress")[0] == 0
        assert len(server.requests) == 3
        executing = e2e_suite(tmp_path, server.url, execute=True)  # same requests, now executed: a miss
        assert cli("run", executing, "--out", tmp_path / "b", "--no-progress")[0] == 0
        assert len(server.requests) == 3 + 6  # first step + final answer per case
        assert all("1.0" in a for a in final_answers(tmp_path / "b"))
        assert cli("run", executing, "--out", tmp_path / "c", "--no-progress")[0] == 0
        assert len(server.requests) == 9  # unchanged: replayed
        e2e_suite(tmp_path, server.url, execute=True, tools=TOOLS_V1.replace("1.0", "2.0"))  # edited tools
        assert cli("run", executing, "--out", tmp_path / "d", "--no-progress")[0] == 0
        assert len(server.requests) == 15
        assert all("2.0" in a for a in final_answers(tmp_path / "d"))  # not the old tool's answers


def test_the_credential_is_in_the_key_but_never_the_key_itself(tmp_path, cli, monkeypatch):
    with FakeServer(answer) as server:
        suite = price_suite(tmp_path, "cached", [
            f'{{name: v, model: m, base_url: "{server.url}/v1", api_key_env: MY_KEY}}'], 2)
        monkeypatch.setenv("MY_KEY", "sk-first-secret")
        assert cli("run", suite, "--out", tmp_path / "a", "--no-progress")[0] == 0
        monkeypatch.setenv("MY_KEY", "sk-second-secret")
        assert cli("run", suite, "--out", tmp_path / "b", "--no-progress")[0] == 0
        assert len(server.requests) == 4  # another key may reach another deployment: a miss
        monkeypatch.setenv("MY_KEY", "sk-first-secret")
        assert cli("run", suite, "--out", tmp_path / "c", "--no-progress")[0] == 0
        assert len(server.requests) == 4
    import os
    from pathlib import Path
    stored = [p for d in (tmp_path, Path(os.environ["EVALKIT_CACHE_DIR"])) for p in d.rglob("*") if p.is_file()]
    assert any(p.name == "responses.sqlite" for p in stored)
    for path in stored:  # run files and the cache itself
        assert b"first-secret" not in path.read_bytes(), path


def test_api_version_params_and_wire_format_are_in_the_key(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("AZ_KEY", "k")
    with FakeServer(answer) as server:
        def azure(version, extra=""):
            return price_suite(tmp_path, "cached", [
                f'{{name: az, provider: azure, model: dep, azure_endpoint: "{server.url}", api_version: "{version}", '
                f'api_key_env: AZ_KEY{extra}}}'], 2)
        assert cli("run", azure("2024-02-01"), "--out", tmp_path / "a", "--no-progress")[0] == 0
        assert cli("run", azure("2024-06-01"), "--out", tmp_path / "b", "--no-progress")[0] == 0
        assert len(server.requests) == 4
        assert {r["path"].split("api-version=")[1] for r in server.requests} == {"2024-02-01", "2024-06-01"}
        assert cli("run", azure("2024-06-01", ", params: {seed: 1}"), "--out", tmp_path / "c",
                   "--no-progress")[0] == 0
        assert cli("run", azure("2024-06-01", ", params: {seed: 2}"), "--out", tmp_path / "d",
                   "--no-progress")[0] == 0
        assert cli("run", azure("2024-06-01", ", api: functions"), "--out", tmp_path / "e",
                   "--no-progress")[0] == 0
        assert len(server.requests) == 10
        assert cli("run", azure("2024-06-01", ", params: {seed: 2}"), "--out", tmp_path / "f",
                   "--no-progress")[0] == 0
        assert len(server.requests) == 10  # the same again: replayed


def test_endpoint_of_each_input_changes_the_key(monkeypatch):
    from evalkit.providers.base import credential_fingerprint
    from evalkit.providers.openai_compat import create
    from evalkit.run.cache import endpoint_of
    from evalkit.suite.model import VariantSpec

    def key(tools_sha=None, **variant):
        spec = VariantSpec(name="v", model="m", **variant)
        return request_key(ChatRequest(model="m", messages=({"role": "user", "content": "hi"},)),
                           endpoint_of(create(spec), spec, tools_sha), 0)

    monkeypatch.setenv("K1", "sk-one")
    monkeypatch.setenv("K2", "sk-two")
    az = dict(provider="azure", azure_endpoint="https://x.example", api_key_env="K1")
    keys = [key(**az, api_version="2024-02-01"), key(**az, api_version="2024-06-01"),
            key(**{**az, "api_key_env": "K2"}, api_version="2024-02-01"),
            key(base_url="http://a/v1", api_key_env="K1"), key(base_url="http://b/v1", api_key_env="K1"),
            key(base_url="http://a/v1", api_key_env="K1", tools_sha="abc")]
    assert len(set(keys)) == len(keys)
    spec = VariantSpec(name="v", model="m", base_url="http://a/v1", api_key_env="K1")
    text = endpoint_of(create(spec), spec)
    assert "sk-one" not in text and credential_fingerprint("sk-one") in text
    assert credential_fingerprint("sk-one") != credential_fingerprint("sk-two")
