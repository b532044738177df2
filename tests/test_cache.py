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
