"""summary.json is computed in one pass over results.jsonl keeping only what the summary reads of
each result, and equals `summarise` over the full records byte for byte."""
from __future__ import annotations

import json
import random
import threading

import pytest
from fakeserver import FakeServer, last_user, price_suite, text_reply, tool_reply

from evalkit.analysis.metrics import SUMMARY_FIELDS, SummaryRecords, summarise
from evalkit.errors import InputError
from evalkit.rundir.results import iter_results, read_results

ATTEMPTS: dict[tuple, int] = {}
LOCK = threading.Lock()


def mixed_model(body, path):
    """Right, wrong, refused, failing and malformed answers, varying by case, variant and attempt."""
    i = int(last_user(body).split()[1].rstrip("?"))
    model = body.get("model")
    with LOCK:
        attempt = ATTEMPTS[(model, i)] = ATTEMPTS.get((model, i), -1) + 1
    if i % 7 == 3 and (model == "a" or attempt == 1):
        return {"status": 400, "body": {"error": {"message": "bad request"}}}
    roll = random.Random(f"{model}-{i}-{attempt}").random()
    if roll < 0.55:
        return tool_reply(("get_price", {"symbol": f"S{i}"}))
    if roll < 0.7:
        return tool_reply(("get_price", {"symbol": "WRONG"}))
    if roll < 0.8:
        return tool_reply(("get_quote", {"symbol": f"S{i}"}))
    if roll < 0.9:
        return tool_reply(("get_price", "{not json"))
    return text_reply("Which company?")


def strip_counts(summary):
    out = json.loads(json.dumps(summary))
    for key in ("planned", "recorded"):
        out.pop(key, None)
    for metrics in out["variants"].values():
        metrics.pop("planned", None)
        metrics.pop("recorded", None)
    return out


@pytest.mark.parametrize("repeats", [1, 3])
def test_the_streamed_summary_equals_summarise_over_the_full_records(tmp_path, cli, repeats):
    ATTEMPTS.clear()
    with FakeServer(mixed_model) as server:
        variants = [f'{{name: {name}, model: {name}, base_url: "{server.url}/v1"}}'
                    for name in ("a", "b", "c")]
        path = price_suite(tmp_path, "stream", variants, 24)
        code, _, err = cli("run", path, "--out", tmp_path / "r", "--no-cache", "--no-progress",
                           "--repeats", repeats, "--max-error-rate", "1")
    assert code == 0, err
    written = json.loads((tmp_path / "r" / "summary.json").read_text())
    records = read_results(tmp_path / "r")
    assert {r["verdict"] for r in records} >= {"correct", "wrong_arguments", "error"}
    info = {name: {k: v for k, v in written["variants"][name].items()
                   if k in ("provider", "model", "functions", "api")} for name in ("a", "b", "c")}
    expected = summarise(records, info, ["a", "b", "c"])
    assert json.dumps(strip_counts(written)) == json.dumps(expected)
    assert written["recorded"] == written["planned"] == 3 * 24 * repeats
    # the streaming path by itself, on the same records, in the file's order
    slim = SummaryRecords()
    for record in iter_results(tmp_path / "r"):
        slim.add(record)
    assert json.dumps(slim.summarise(info, ["a", "b", "c"])) == json.dumps(expected)


def test_a_summary_record_holds_only_what_the_summary_reads():
    slim = SummaryRecords()
    slim.add({"case_id": "c1", "variant": "v", "repeat": 0, "verdict": "correct", "should_call": True,
              "usage": None, "messages": [{"role": "user", "content": "x" * 10_000}], "raw": {"big": "y" * 10_000}})
    r = slim.records[0]
    assert r["case_id"] == "c1" and r.get("usage") is None and r.get("usage", {}) is None  # null, not absent
    assert r.get("tokens", "absent") == "absent" and r.get("latency_s") is None  # absent
    with pytest.raises(KeyError):
        r["tokens"]  # absent, as in the record
    with pytest.raises(KeyError):
        r.get("messages")  # never kept: a metric reading it would fail loudly, not read a None
    assert not hasattr(r, "__dict__") and set(type(r).__slots__) == set(SUMMARY_FIELDS)


def test_repeated_strings_and_small_dicts_are_shared_but_not_confused():
    slim = SummaryRecords()
    for i in range(3):
        slim.add(json.loads(json.dumps({"case_id": "c", "variant": "v", "repeat": i, "verdict": "correct",
                                        "usage": {"prompt_tokens": 10, "completion_tokens": 7}})))
    slim.add({"case_id": "c", "variant": "v", "repeat": 3, "verdict": "correct",
              "usage": {"prompt_tokens": 10.0, "completion_tokens": 7}})
    usages = [r["usage"] for r in slim.records]
    assert usages[0] is usages[1] is usages[2]
    assert usages[3] is not usages[0] and isinstance(usages[3]["prompt_tokens"], float)
    assert slim.records[0]["variant"] is slim.records[2]["variant"]


def test_a_torn_last_line_is_skipped_and_a_corrupt_middle_line_is_an_error(tmp_path):
    line = json.dumps({"case_id": "c", "variant": "v", "repeat": 0, "verdict": "correct", "should_call": True})
    (tmp_path / "results.jsonl").write_text(line + "\n" + line[:20])
    assert [r["case_id"] for r in iter_results(tmp_path)] == ["c"]
    (tmp_path / "results.jsonl").write_text(line[:20] + "\n" + line + "\n")
    with pytest.raises(InputError) as e:
        list(iter_results(tmp_path))
    assert ":1:" in str(e.value) and "corrupt result line" in str(e.value)
