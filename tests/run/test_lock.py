"""One writer per run directory: a second `run --out` or `--resume` on a directory in use is refused
with exit 2 and one line naming the holder's pid; a holder killed with SIGKILL leaves a lock the
next writer simply takes (the kernel releases it), and the run then finishes each result once."""
import json
import signal
import subprocess
import sys
import time

from conftest import ROOT
from fakeserver import FakeServer, last_user, price_suite, tool_reply

from evalkit.rundir.lock import LOCK, PID, RunDirInUse, writer_lock

HOLD = """
import sys, time
from evalkit.rundir.lock import writer_lock
with writer_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def hold(run_dir):
    """A separate process holding the lock, as another evalkit would."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def slow_answer(body, path, delay=0.05):
    time.sleep(delay)
    i = last_user(body).split()[1].rstrip("?")
    return tool_reply(("get_price", {"symbol": f"S{i}"}))


def keys(run_dir):
    return [(r["case_id"], r["variant"], r["repeat"]) for r in
            map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())]


def test_second_writer_is_refused_then_a_killed_holder_is_recovered(tmp_path, cli):
    run_dir = tmp_path / "run"
    holder = hold(run_dir)
    try:
        with FakeServer(slow_answer) as server:
            suite = price_suite(tmp_path, "locked", [f'{{name: v, model: m, base_url: "{server.url}/v1"}}'], 4)
            code, out, err = cli("run", suite, "--out", run_dir, "--no-progress")
            assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
            assert err == (f"evalkit: error: run directory {run_dir} is in use by another evalkit process "
                           f"(pid {holder.pid}); wait for it to finish, or stop it first\n")
            assert not server.requests and not (run_dir / "results.jsonl").exists()
            holder.send_signal(signal.SIGKILL)  # no cleanup runs: the lock file and the pid file stay
            holder.wait()
            assert (run_dir / LOCK).exists() and (run_dir / PID).read_text().strip() == str(holder.pid)
            code, out, err = cli("run", suite, "--out", run_dir, "--no-progress")
            assert code == 0, err
            assert len(keys(run_dir)) == 4
            assert not (run_dir / PID).exists()  # released on the way out
    finally:
        holder.kill()
        holder.wait()


def test_resume_is_refused_while_a_run_writes_and_finishes_after_kill_9(tmp_path, cli):
    run_dir = tmp_path / "run"
    delay = [0.2]  # 40 cases take 8 s while the first writer runs; then no delay
    with FakeServer(lambda body, path: slow_answer(body, path, delay[0])) as server:
        suite = price_suite(tmp_path, "locked", [
            f'{{name: v, model: m, base_url: "{server.url}/v1", options: {{max_retries: 0}}}}'], 40)
        first = subprocess.Popen([sys.executable, "-m", "evalkit", "run", str(suite), "--out", str(run_dir),
                                  "--no-progress", "--no-cache", "--concurrency", "1"],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not (run_dir / "results.jsonl").exists() or not keys(run_dir):
                assert time.monotonic() < deadline and first.poll() is None, first.stderr and first.stderr.read()
                time.sleep(0.02)
            code, out, err = cli("run", "--resume", run_dir, "--no-progress")
            assert code == 2 and f"is in use by another evalkit process (pid {first.pid})" in err
            assert err.count("\n") == 1
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        saved = len(keys(run_dir))
        assert 0 < saved < 40
        delay[0] = 0
        code, out, err = cli("run", "--resume", run_dir, "--no-progress", "--no-cache")
        assert code == 0, err
    got = keys(run_dir)
    assert sorted(got) == sorted((f"c{i}", "v", 0) for i in range(40))  # each exactly once


def test_in_process_contention_and_no_empty_directory_left(tmp_path, cli):
    run_dir = tmp_path / "run"
    with writer_lock(run_dir):
        try:
            with writer_lock(run_dir):
                raise AssertionError("a second holder got the lock")
        except RunDirInUse as e:
            assert e.exit_code == 2 and "is in use by another evalkit process" in str(e)
    assert not run_dir.exists()  # created for the lock only: removed again
    # a run that fails on its configuration leaves no empty run directory behind either
    suite = price_suite(tmp_path, "locked", ["{name: v, model: m, api_key_env: NO_SUCH_KEY}"], 1)
    code, _, err = cli("run", suite, "--out", run_dir, "--no-progress")
    assert code == 2 and "NO_SUCH_KEY" in err
    assert not run_dir.exists()
