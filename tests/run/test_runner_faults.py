"""The runner under faults: 429s with retry-after, 500s, timeouts, a dead endpoint and the retry
budget, the error-rate threshold, bounded concurrency and rate limits. Real CLI, loopback server."""
import json
import random
import threading
import time

import pytest
from fakeserver import FakeServer, last_user, price_suite, tool_reply

from evalkit.providers.ratelimit import RateLimiter, RetryBudget

N = 60


def suite_file(tmp_path, url, extra="", n=N):
    return price_suite(tmp_path, "faults", [f'{{name: v, model: m, base_url: "{url}/v1"{extra}}}'], n)


def answer(body):
    i = last_user(body).split()[1].rstrip("?")
    return tool_reply(("get_price", {"symbol": f"S{i}"}))


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_429_with_retry_after_and_500s_every_case_scored_once(tmp_path, cli):
    rng = random.Random(7)
    lock = threading.Lock()

    def flaky(body, path):
        with lock:
            x = rng.random()
        if x < 0.30:
            return {"status": 429, "headers": {"retry-after-ms": "20"},
                    "body": {"error": {"message": "Rate limit reached", "type": "requests"}}}
        if x < 0.35:
            return {"status": 500, "headers": {"retry-after": "0.02"}}
        return answer(body)

    with FakeServer(flaky) as server:
        suite = suite_file(tmp_path, server.url, ", options: {max_retries: 10}")
        t0 = time.monotonic()
        code, out, err = cli("run", suite, "--out", tmp_path / "r", "--no-cache", "--no-progress")
        elapsed = time.monotonic() - t0
    assert code == 0, err
    got = rows(tmp_path / "r")
    assert sorted(r["case_id"] for r in got) == sorted(f"c{i}" for i in range(N))  # each exactly once
    assert all(r["verdict"] == "correct" for r in got)
    retried = [r for r in server.requests if r["headers"].get("x-stainless-retry-count", "0") != "0"]
    assert len(server.requests) > N and retried  # failures were retried by openai-python
    assert elapsed < 20  # retry-after (20 ms) honoured, not the default 0.5 s+ backoff


def test_dead_endpoint_errors_carry_last_message_budget_caps_retries_and_exit_3(tmp_path, cli):
    def dead(body, path):
        return {"status": 503, "headers": {"retry-after-ms": "1"},
                "body": {"error": {"message": "overloaded, try later"}}}

    with FakeServer(dead) as server:
        suite = suite_file(tmp_path, server.url, ", options: {max_retries: 5, retry_budget: 10, "
                                                 "retry_budget_ratio: 0.0}", n=20)
        code, out, err = cli("run", suite, "--out", tmp_path / "r", "--no-progress")
    assert code == 3
    assert "20 of 20 results (100%) are provider errors, above --max-error-rate 0.1" in err
    got = rows(tmp_path / "r")
    assert len(got) == 20 and {r["verdict"] for r in got} == {"error"}
    assert got[0]["error"].startswith("HTTP 503") and got[0]["error"].endswith("overloaded, try later")
    # without the budget: 20 x 6 attempts; with it: 20 first attempts + at most 10 retries (+1 in flight each)
    assert len(server.requests) <= 20 + 10 + 16
    assert "summary" not in err and (tmp_path / "r" / "summary.json").exists()


def test_error_share_at_threshold_passes_and_flag_changes_it(tmp_path, cli):
    def some_fail(body, path):
        return {"status": 400, "body": {"error": {"message": "bad"}}} if last_user(body) == "price 0?" else answer(body)

    with FakeServer(some_fail) as server:
        suite = suite_file(tmp_path, server.url, n=10)
        code, _, err = cli("run", suite, "--out", tmp_path / "a", "--no-progress")  # 1/10 = 10%: not above
        assert code == 0, err
        code, _, err = cli("run", suite, "--out", tmp_path / "b", "--no-progress", "--max-error-rate", "0.05")
        assert code == 3 and "1 of 10 results (10%)" in err
        code, _, err = cli("run", suite, "--max-error-rate", "2")
        assert code == 2 and "between 0 and 1" in err


def test_timeout_becomes_error_verdict(tmp_path, cli):
    def slow(body, path):
        if last_user(body) == "price 1?":
            time.sleep(1.5)
        return answer(body)

    with FakeServer(slow) as server:
        suite = suite_file(tmp_path, server.url, ", timeout: 0.3, options: {max_retries: 0}", n=3)
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--no-progress", "--max-error-rate", "1")
    assert code == 0, err
    by_id = {r["case_id"]: r for r in rows(tmp_path / "r")}
    assert by_id["c1"]["verdict"] == "error" and "Timeout" in by_id["c1"]["error"]
    assert by_id["c0"]["verdict"] == by_id["c2"]["verdict"] == "correct"


def test_in_flight_requests_bounded_by_concurrency(tmp_path, cli):
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def counting(body, path):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return answer(body)

    with FakeServer(counting) as server:
        suite = suite_file(tmp_path, server.url, n=40)
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--no-progress", "--concurrency", "5")
    assert code == 0, err
    assert 2 <= state["max"] <= 5
    assert len(rows(tmp_path / "r")) == 40


def test_requests_per_minute_paces_a_variant(tmp_path, cli):
    with FakeServer(lambda body, path: answer(body)) as server:
        suite = suite_file(tmp_path, server.url, ", requests_per_minute: 600", n=15)  # 10/s, burst ~11
        t0 = time.monotonic()
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--no-progress")
    assert code == 0, err
    stamps = sorted(r["latency_s"] for r in rows(tmp_path / "r"))
    assert time.monotonic() - t0 >= 0.35 and len(stamps) == 15


def test_rate_limiter_buckets_are_pure_given_a_clock():
    lim = RateLimiter(requests_per_minute=60, tokens_per_minute=600)  # 1 request/s, 10 tokens/s
    t = lim._stamp
    assert lim.wait_time(5, t) == 0
    lim._req, lim._tok = 0.0, 0.0
    assert lim.wait_time(5, t) == pytest.approx(1.0)  # the request bucket is the tighter one
    assert lim.wait_time(10, t + 0.5) == pytest.approx(0.5)
    assert RateLimiter().active is False


def test_retry_budget_allows_minimum_plus_ratio():
    b = RetryBudget(minimum=2, ratio=0.5)
    assert [b.allow() for _ in range(3)] == [True, True, False]
    b.requests = 4
    assert b.allow() and b.allow() and not b.allow()
    assert b.refused == 2


def test_repeats_summary_pass_rate_pass_hat_k_consistency(tmp_path, cli):
    seen = {}
    lock = threading.Lock()

    def alternating(body, path):  # case 0: right then wrong then right; others always right
        user = last_user(body)
        with lock:
            seen[user] = seen.get(user, 0) + 1
            n = seen[user]
        if user == "price 0?" and n == 2:
            return tool_reply(("get_price", {"symbol": "WRONG"}))
        return answer(body)

    with FakeServer(alternating) as server:
        suite = suite_file(tmp_path, server.url, ", concurrency: 1", n=4)
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--repeats", "3", "--no-progress")
    assert code == 0, err
    m = json.loads((tmp_path / "r" / "summary.json").read_text())["variants"]["v"]
    assert m["repeats_k"] == 3 and m["case_pass_rates"]["c0"] == pytest.approx(2 / 3)
    assert m["pass_rate"] == pytest.approx((2 / 3 + 3) / 4)
    assert m["pass_hat_k"] == pytest.approx(3 / 4)  # pass^3: all three right, 3 of 4 cases
    assert m["consistency"] == pytest.approx(3 / 4) and m["all_correct_k"] == 3
