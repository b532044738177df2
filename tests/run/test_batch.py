"""`evalkit run --batch` round trip against a loopback fake of the files and batches endpoints:
JSONL upload, batch creation, polling, output and error files, scoring, `batch: true`, and a
resume that polls the saved batch instead of submitting again."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from batchfake import FakeBatchAPI
from fakeserver import last_user, price_suite, text_reply, tool_reply


def responder(body):
    user = last_user(body)
    if user == "price 2?":
        return {"status": 400}
    if user == "price 3?":
        return text_reply("Which company?")
    return tool_reply(("get_price", {"symbol": "S" + user.split()[1].rstrip("?")}))


def suite_file(tmp_path, url, n=5):
    return price_suite(tmp_path, "batched", [f'{{name: v, model: gpt-4o-mini, base_url: "{url}/v1", api_key_env: BATCH_KEY}}'], n)


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setenv("EVALKIT_BATCH_POLL_S", "0.01")
    monkeypatch.setenv("BATCH_KEY", "sk-batch")


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_batch_round_trip(tmp_path, cli):
    with FakeBatchAPI(responder) as api:
        suite = suite_file(tmp_path, api.url)
        code, out, err = cli("run", suite, "--out", tmp_path / "r", "--batch", "--max-error-rate", "0.5")
    assert code == 0, err
    lines = api.files["file-in-0"]
    assert [json.loads(l["custom_id"]) for l in lines] == [[f"c{i}", "v", 0] for i in range(5)]
    assert lines[0]["method"] == "POST" and lines[0]["url"] == "/v1/chat/completions"
    assert lines[0]["body"]["model"] == "gpt-4o-mini" and lines[0]["body"]["tools"][0]["function"]["name"] == "get_price"
    assert api.batches["batch_0"]["req"]["endpoint"] == "/v1/chat/completions"
    assert api.batches["batch_0"]["req"]["completion_window"] == "24h"
    assert "batch v: in_progress 0/5" in err and "batch v: completed 5/5" in err
    by_id = {r["case_id"]: r for r in rows(tmp_path / "r")}
    assert {k: r["verdict"] for k, r in by_id.items()} == {
        "c0": "correct", "c1": "correct", "c2": "error", "c3": "over_refusal", "c4": "correct"}
    assert by_id["c2"]["error"] == "batch: HTTP 400: context too long"
    assert all(r["batch"] for r in by_id.values())
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert run["variants"]["v"]["batch"] is True and summary["variants"]["v"]["batch"] is True
    assert not any(p.endswith("/chat/completions") for _, p in api.calls)  # nothing sent one by one


def test_resume_polls_the_saved_batch_instead_of_resubmitting(tmp_path, cli):
    with FakeBatchAPI(responder, final="expired") as api:
        suite = suite_file(tmp_path, api.url, n=3)
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--batch", "--max-error-rate", "1")
        assert code == 0, err
        assert {r["error"] for r in rows(tmp_path / "r")} == {"batch expired before this request ran"}
        saved = json.loads((tmp_path / "r" / "batches.json").read_text())
        assert saved["v"]["batch_id"] == "batch_0"
        # a crash between submitting and scoring: results gone, batches.json kept
        (tmp_path / "r" / "results.jsonl").write_text("")
        api.final = "completed"
        code, _, err = cli("run", "--resume", tmp_path / "r", "--max-error-rate", "1")
        assert code == 0, err
    assert len(api.batches) == 1  # polled batch_0 again, no second submission
    assert [r["verdict"] for r in rows(tmp_path / "r")] == ["correct", "correct", "error"]


def test_failed_batch_becomes_errors_with_its_reason(tmp_path, cli):
    with FakeBatchAPI(responder, final="failed") as api:
        suite = suite_file(tmp_path, api.url, n=2)
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--batch")
    assert code == 3 and "2 of 2 results" in err
    assert rows(tmp_path / "r")[0]["error"] == "batch failed: bad input file"


def test_endpoint_without_the_batch_api_is_one_line_and_exit_2(tmp_path, cli):
    seen = []

    class NotFound(BaseHTTPRequestHandler):  # a chat-only server: no files, no batches
        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            seen.append(self.path)
            data = b'{"error": {"message": "Not Found"}}'
            self.send_response(404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        suite = suite_file(tmp_path, url, n=2)
        code, _, err = cli("run", suite, "--out", tmp_path / "r", "--batch", "--no-progress")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert code == 2, err
    assert err.strip().splitlines() == [
        f"evalkit: error: variant 'v': {url}/v1/ has no Batch API (HTTP 404 on upload the requests "
        "file): run without --batch"]
    assert seen == ["/v1/files"]  # one upload attempt, nothing sent one by one
