"""Crash-safe runs: SIGKILL at random points and --resume, several times over, ends with every
case x variant x repeat exactly once and no request repeated for a finished case; Ctrl-C saves and
says how to resume; a torn last line is cut before appending."""
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

from conftest import ROOT
from fakeserver import FakeServer, last_user, price_suite, tool_reply

N = 60


def suite_file(tmp_path, url, n=N):
    return price_suite(tmp_path, "resumable", [
        f'{{name: a, model: model-a, base_url: "{url}/v1", options: {{max_retries: 0}}}}',
        f'{{name: b, model: model-b, base_url: "{url}/v1", functions: short, options: {{max_retries: 0}}}}'], n)


class Recording:
    """Answers after a short delay and logs (phase, variant model, case) for every request."""

    def __init__(self, delay=0.04):
        self.delay, self.phase, self.log, self.lock = delay, 0, [], threading.Lock()

    def __call__(self, body, path):
        user = last_user(body)
        with self.lock:
            self.log.append((self.phase, body["model"], user))
        time.sleep(self.delay)
        i = user.split()[1].rstrip("?")
        return tool_reply(("get_price", {"symbol": f"S{i}"}))


def evalkit(*args):
    return subprocess.Popen([sys.executable, "-m", "evalkit", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def keys(run_dir):
    path = run_dir / "results.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue  # a torn last line
        out.append((r["case_id"], r["variant"], r["repeat"]))
    return out


def wait_for(path, timeout=60):
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_sigkill_at_random_points_then_resume_each_result_exactly_once(tmp_path):
    rng = random.Random(2026)
    rec = Recording()
    run_dir = tmp_path / "run"
    saved_before: dict[int, Counter] = {}
    partial_kills = 0
    with FakeServer(rec) as server:
        suite = suite_file(tmp_path, server.url)
        for phase in range(1, 7):
            saved_before[phase] = Counter((c, v) for c, v, _ in keys(run_dir))
            rec.phase = phase
            if phase == 1:
                proc = evalkit("run", suite, "--out", run_dir, "--no-cache", "--no-progress", "--concurrency", "6",
                               "--repeats", "2")
                wait_for(run_dir / "results.jsonl")
            else:
                proc = evalkit("run", "--resume", run_dir, "--no-progress", "--concurrency", "6")
                with rec.lock:
                    n0 = len(rec.log)
                while proc.poll() is None and len(rec.log) == n0:  # killed after it starts sending
                    time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.6))
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            partial_kills += 0 < len(keys(run_dir)) < 4 * N
        rec.phase = 99
        saved_before[99] = Counter((c, v) for c, v, _ in keys(run_dir))
        proc = evalkit("run", "--resume", run_dir, "--no-progress")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    got = keys(run_dir)
    expected = {(f"c{i}", v, r) for i in range(N) for v in "ab" for r in range(2)}
    assert len(got) == len(expected) and set(got) == expected  # each exactly once
    assert partial_kills >= 2, partial_kills  # the kills really landed mid-run
    # a phase never asks again for a repeat that was saved before it started
    names = {"model-a": "a", "model-b": "b"}
    asked = Counter((phase, "c" + user.split()[1].rstrip("?"), names[model]) for phase, model, user in rec.log)
    for (phase, case, variant), n in asked.items():
        assert n <= 2 - saved_before[phase][(case, variant)], (phase, case, variant)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["variants"]["a"]["n"] == 2 * N and summary["variants"]["b"]["n"] == 2 * N


def test_ctrl_c_saves_and_prints_how_to_resume(tmp_path):
    rec = Recording(delay=0.2)
    run_dir = tmp_path / "run"
    with FakeServer(rec) as server:
        suite = suite_file(tmp_path, server.url)
        proc = evalkit("run", suite, "--out", run_dir, "--no-cache", "--no-progress", "--concurrency", "4")
        deadline = time.monotonic() + 30
        while len(keys(run_dir)) < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert f"evalkit run --resume {run_dir}" in err and "Traceback" not in err
        saved = keys(run_dir)
        assert 8 <= len(saved) < 2 * N
        proc = evalkit("run", "--resume", run_dir, "--no-progress", "--concurrency", "16")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert sorted(keys(run_dir)) == sorted({(f"c{i}", v, 0) for i in range(N) for v in "ab"})
    asked = [(m, u) for _, m, u in rec.log]
    assert len(asked) - len(set(asked)) <= 4  # only the requests in flight at Ctrl-C are asked again


def test_resume_cuts_a_torn_line_and_rejects_bad_use(tmp_path, cli):
    rec = Recording(delay=0)
    run_dir = tmp_path / "run"
    with FakeServer(rec) as server:
        suite = suite_file(tmp_path, server.url, n=5)
        assert cli("run", suite, "--out", run_dir, "--no-cache", "--no-progress")[0] == 0
        lines = (run_dir / "results.jsonl").read_text().splitlines(keepends=True)
        (run_dir / "results.jsonl").write_text("".join(lines[:6]) + lines[6][:40])  # killed mid-write
        code, out, err = cli("run", "--resume", run_dir, "--no-cache", "--no-progress")
        assert code == 0, err
        assert len(rec.log) == 10 + 4  # lines 7..10 again (the torn one included), nothing else
        assert sorted(keys(run_dir)) == sorted((f"c{i}", v, 0) for i in range(5) for v in "ab")
        code, _, err = cli("run", suite, "--out", run_dir)
        assert code == 2 and f"--resume {run_dir}" in err
        code, _, err = cli("run", suite, "--resume", run_dir)
        assert code == 2 and "give only RUN_DIR" in err
        code, _, err = cli("run", "--resume", tmp_path)
        assert code == 2 and "run.json" in err
        suite.write_text(suite.read_text().replace("resumable", "changed"))
        code, _, err = cli("run", "--resume", run_dir)
        assert code == 2 and "the suite file changed" in err


# ---- run identity: resume refuses to mix two suites ---------------------------------------------

def cases_suite(tmp_path, url):
    (tmp_path / "cases.jsonl").write_text("".join(
        json.dumps({"id": f"j{i}", "messages": [
            {"role": "user", "content": f"price {i}?"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
                "name": "get_price", "arguments": json.dumps({"symbol": f"S{i}"})}}]}]}) + "\n" for i in range(6)))
    p = suite_file(tmp_path, url, n=2)
    p.write_text(p.read_text() + "cases_from: cases.jsonl\n")
    return p


def test_resume_refuses_an_edited_cases_file_and_names_it(tmp_path, cli):
    rec = Recording(delay=0)
    run_dir = tmp_path / "run"
    with FakeServer(rec) as server:
        suite = cases_suite(tmp_path, server.url)
        assert cli("run", suite, "--out", run_dir, "--no-cache", "--no-progress")[0] == 0
        lines = (run_dir / "results.jsonl").read_text().splitlines(keepends=True)
        (run_dir / "results.jsonl").write_text("".join(lines[:5]))  # as if killed after 5 of 16
        original = (tmp_path / "cases.jsonl").read_text()
        (tmp_path / "cases.jsonl").write_text(original.replace('price 5?', 'price 55?'))
        code, out, err = cli("run", "--resume", run_dir, "--no-progress")
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert err == (f"evalkit: error: {suite.resolve()}: the cases file 'cases.jsonl' changed since {run_dir} "
                       "started; resuming would mix two suites: start a new run instead\n")
        assert len(keys(run_dir)) == 5  # nothing written
        (tmp_path / "cases.jsonl").write_text(original)
        code, out, err = cli("run", "--resume", run_dir, "--no-progress", "--no-cache")
        assert code == 0, err
    assert len(set(keys(run_dir))) == len(keys(run_dir)) == 16


def identity_suite(tmp_path):
    adapter = tmp_path / "lora"
    adapter.mkdir(exist_ok=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    (adapter / "adapter_model.safetensors").write_bytes(b"weights-1")
    (adapter / "TRIALS.md").write_text("notes")
    (tmp_path / "tools.py").write_text("def get_price(symbol):\n    return 1\n")
    p = cases_suite(tmp_path, "http://127.0.0.1:9")
    p.write_text(p.read_text().replace("variants:\n", "variants:\n  - {name: ft, provider: local, model: m.gguf, "
                                       "adapter: lora, functions: short}\n")
                 + "tools_module: tools.py\nexecute: true\nfunctions_from: more_tools.json\n")
    (tmp_path / "more_tools.json").write_text(json.dumps([{"type": "function", "function": {
        "name": "get_news", "parameters": {"type": "object", "properties": {}}}}]))
    (tmp_path / "tools.py").write_text("def get_price(symbol):\n    return 1\n\ndef get_news():\n    return []\n")
    return p


def identity_of(path):
    from evalkit.run.prepare import prepare
    from evalkit.run.resume import run_identity_of
    from evalkit.suite import load_suite

    suite = load_suite(path)
    return run_identity_of(suite, list(suite.variants), prepare(suite, list(suite.variants), list(suite.cases)))


def test_identity_covers_every_input_and_names_what_changed(tmp_path):
    from evalkit.rundir.identity import changes, describe

    suite = identity_suite(tmp_path)
    before = identity_of(suite)
    assert set(before) == {"suite", "cases_from:cases.jsonl", "functions_from:more_tools.json",
                           "tools_module:tools.py", "adapter:ft", "variant:ft",
                           "variant:a", "variant:b", "functions:ft", "functions:a", "functions:b"}
    edits = [
        (lambda: (tmp_path / "cases.jsonl").write_text((tmp_path / "cases.jsonl").read_text() + "\n"),
         "the cases file 'cases.jsonl'"),
        (lambda: (tmp_path / "tools.py").write_text("def get_price(symbol):\n    return 2\n"),
         "the tools module 'tools.py'"),
        (lambda: (tmp_path / "lora" / "adapter_model.safetensors").write_bytes(b"weights-2"),
         "the adapter files of variant 'ft'"),
    ]
    for edit, what in edits:
        edit()
        after = identity_of(suite)
        assert [describe(k) for k in changes(before, after)] == [what]
        before = after
    (tmp_path / "more_tools.json").write_text((tmp_path / "more_tools.json").read_text().replace("{}}", '{"n": {}}}'))
    after = identity_of(suite)
    assert [describe(k) for k in changes(before, after)] == [  # b and ft send short definitions: unchanged
        "the tool definitions file 'more_tools.json'", "the functions variant 'a' sends"]
    before = after
    (tmp_path / "lora" / "TRIALS.md").write_text("more notes")  # beside the adapter, not part of it
    assert identity_of(suite) == before
    suite.write_text(suite.read_text().replace("functions: short}", "functions: full}"))
    changed = changes(before, identity_of(suite))
    assert [describe(k) for k in changed] == ["the suite file", "the functions variant 'ft' sends",
                                              "the settings of variant 'ft'"]


def test_a_run_started_before_identities_still_checks_its_suite(tmp_path):
    import pytest

    from evalkit.errors import InputError
    from evalkit.run.resume import check_identity, suite_sha

    suite = identity_suite(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text(json.dumps({"suite": "resumable", "suite_sha": suite_sha(suite)}))
    check_identity(tmp_path / "run", suite, identity_of(suite))  # same suite file: fine
    suite.write_text(suite.read_text() + "# edited\n")
    with pytest.raises(InputError, match="the suite file changed since"):
        check_identity(tmp_path / "run", suite, identity_of(suite))
