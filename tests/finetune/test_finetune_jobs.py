"""Fine-tuning jobs through openai-python against a loopback fake of the files and fine-tuning
endpoints: import a recorded job (events, checkpoints, base64 result file) as trial variants,
launch a grid, wait for it."""
import asyncio
import base64
import json

import pytest
import yaml
from finetune_fake import DATA, JOB_ID, FineTuningFake, training_file

from evalkit.finetune.openai_jobs import (
    client_for,
    downsample,
    launch,
    parse_grid,
    parse_result_file,
    read_job,
    wait,
)
from evalkit.finetune.trial_variants import add_variants
from evalkit.suite import load_suite

@pytest.fixture
def fake(monkeypatch):
    server = FineTuningFake()
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    yield server
    server.close()


SUITE = """\
# The stock suite, abridged. This comment must survive edits.
name: ft-demo
system: Ask when unsure.
functions:
  - type: function
    function: {name: get_price, parameters: {type: object, properties: {symbol: {type: string}}, required: [symbol]}}
variants:
  - name: base
    model: gpt-3.5-turbo-0613   # the base model
  - name: ft-old
    model: "ft:gpt-3.5-turbo-0613:acme::old"
    functions: short
    trial: {n_epochs: 2}

# cases after a blank line and a comment
cases:
  - {id: a, user: "MSFT?", expect: {call: get_price, arguments: {symbol: MSFT}}}
"""


@pytest.fixture
def suite_path(tmp_path):
    p = tmp_path / "suite.yaml"
    p.write_text(SUITE)
    return p


def test_result_file_plain_or_base64():
    b64 = (DATA / "result_file_ftjob-e3.b64").read_bytes()
    curve = parse_result_file(b64)
    assert list(curve) == ["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"]
    assert len(curve["step"]) == 300 and curve["step"][:2] == [1, 2]
    assert curve["valid_loss"][0] is None and curve["valid_loss"][9] is not None  # validation every 10 steps
    assert parse_result_file(base64.b64decode(b64)) == curve
    small = downsample(curve, 50)
    assert len(small["train_loss"]) == 50 and small["train_loss"][0][0] == 1 and small["train_loss"][-1][0] == 300
    assert small["train_loss"][0][1] == round(curve["train_loss"][0], 4)
    assert len(small["valid_loss"]) == 30 and small["valid_loss"][0][0] == 10  # its own 30 points, kept whole
    assert downsample(curve, 50, until_step=100)["valid_loss"][-1][0] == 100


def test_read_recorded_job(fake):
    async def go():
        client = client_for("openai")
        try:
            return await read_job(client, JOB_ID)
        finally:
            await client.close()

    job = asyncio.run(go())
    assert job.status == "succeeded" and job.fine_tuned_model == "ft:gpt-3.5-turbo-0613:acme::8Kq2e3Xb"
    assert job.hyperparameters == {"n_epochs": 3, "learning_rate_multiplier": 2.0, "batch_size": 1}
    assert [c.step for c in job.checkpoints] == [100, 200, 300]
    assert job.checkpoints[0].metrics["full_valid_loss"] == 0.5312
    assert job.last_event == "The job has successfully completed"
    paths = [r["path"] for r in fake.requests]
    assert paths[:2] == [f"/v1/fine_tuning/jobs/{JOB_ID}", f"/v1/fine_tuning/jobs/{JOB_ID}/events?limit=100"]
    assert f"/v1/fine_tuning/jobs/{JOB_ID}/checkpoints?limit=100" in paths
    assert "/v1/files/file-result-e3/content" in paths


def test_import_writes_trial_variants_into_the_suite(fake, suite_path, cli):
    code, out, err = cli("trials", "import", JOB_ID, "--suite", suite_path, "--checkpoints")
    assert code == 0, err
    assert f"{JOB_ID}: succeeded, gpt-3.5-turbo-0613 -> ft:gpt-3.5-turbo-0613:acme::8Kq2e3Xb" in out
    assert "3 checkpoint(s), 300 metric rows" in out
    text = suite_path.read_text()
    assert text.startswith("# The stock suite, abridged. This comment must survive edits.")
    assert "# cases after a blank line and a comment" in text and "# the base model" in text
    suite = load_suite(suite_path)
    names = [v.name for v in suite.variants]
    assert names == ["base", "ft-old", "ft-e3-lr2-b1-2e3Xb7@100",
                     "ft-e3-lr2-b1-2e3Xb7@200", "ft-e3-lr2-b1-2e3Xb7"]
    final = suite.variants[-1]
    assert final.model == "ft:gpt-3.5-turbo-0613:acme::8Kq2e3Xb" and final.base_model == "gpt-3.5-turbo-0613"
    assert final.functions == "short"  # inherited from the suite's previous trial variant
    trial = final.trial
    assert {k: trial[k] for k in ("base_model", "training_file", "n_epochs", "learning_rate_multiplier",
                                  "batch_size", "seed", "trained_tokens", "job_id")} == {
        "base_model": "gpt-3.5-turbo-0613", "training_file": "file-train-1", "n_epochs": 3,
        "learning_rate_multiplier": 2.0, "batch_size": 1, "seed": 42, "trained_tokens": 31452, "job_id": JOB_ID}
    assert len(trial["train_curve"]["train_loss"]) == 50 and trial["train_curve"]["train_loss"][-1][0] == 300
    assert trial["final_train_loss"] == trial["train_curve"]["train_loss"][-1][1]
    assert trial["final_valid_loss"] == trial["train_curve"]["valid_loss"][-1][1]
    ckpt = suite.variants[2].trial
    assert ckpt["checkpoint_step"] == 100 and ckpt["final_full_valid_loss"] == 0.5312
    assert ckpt["train_curve"]["train_loss"][-1][0] == 100
    assert suite.variants[2].model.endswith(":ckpt-step-100")
    # importing again replaces the same-named variants instead of duplicating them
    code, out, _ = cli("trials", "import", JOB_ID, "--suite", suite_path)
    assert code == 0 and "replaced variant ft-e3-lr2-b1-2e3Xb7" in out
    assert [v.name for v in load_suite(suite_path).variants] == names


def test_import_without_suite_prints_yaml(fake, cli):
    code, out, _ = cli("trials", "import", JOB_ID)
    assert code == 0
    variants = yaml.safe_load(out[out.index("variants:"):])["variants"]
    assert [v["name"] for v in variants] == ["ft-e3-lr2-b1-2e3Xb7"] and variants[0]["provider"] == "openai"


def test_import_errors_are_one_line(fake, suite_path, cli):
    code, _, err = cli("trials", "import", "ftjob-missing", "--suite", suite_path)
    assert code == 2 and err.strip() == "evalkit: error: fine-tuning job 'ftjob-missing' not found"
    code, _, err = cli("trials", "import")
    assert code == 2 and "at least one fine-tuning job id" in err
    assert "sk-test" not in err


def test_import_needs_a_key(suite_path, cli, monkeypatch):
    code, _, err = cli("trials", "import", JOB_ID)
    assert code == 2 and "OPENAI_API_KEY" in err


def test_azure_paths(fake, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake.url)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")

    async def go():
        client = client_for("azure")
        try:
            return await read_job(client, JOB_ID)
        finally:
            await client.close()

    assert asyncio.run(go()).trained_tokens == 31452
    assert fake.requests[0]["path"] == f"/openai/fine_tuning/jobs/{JOB_ID}?api-version=2024-10-21"


def test_grid():
    grid = parse_grid(["n_epochs=2,3", "learning_rate_multiplier=0.5,1,2"])
    assert len(grid) == 6 and grid[0] == {"n_epochs": 2, "learning_rate_multiplier": 0.5}
    assert grid[-1] == {"n_epochs": 3, "learning_rate_multiplier": 2}
    assert parse_grid(["batch_size=auto,4"]) == [{"batch_size": "auto"}, {"batch_size": 4}]
    for bad, message in ((["epochs=2"], "unknown hyperparameter 'epochs'"), (["n_epochs"], "expected KEY=V1,V2"),
                         (["n_epochs=2.5"], "not a valid value"), (["learning_rate_multiplier=-1"], "not a valid value")):
        with pytest.raises(Exception, match=message):
            parse_grid(bad)


def test_launch_grid_and_wait(fake, tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text('{"messages": []}\n')
    valid = tmp_path / "valid.jsonl"
    valid.write_text('{"messages": []}\n')
    seen = []

    async def go():
        client = client_for("openai")
        try:
            record = await launch(client, "gpt-3.5-turbo-0613", train, valid,
                                  parse_grid(["n_epochs=2,3", "learning_rate_multiplier=0.5,2"]), suffix="stocks", seed=1)
            status = await wait(client, [j["id"] for j in record["jobs"]], poll=0, report=seen.append,
                                sleep=lambda s: asyncio.sleep(0))
            return record, status
        finally:
            await client.close()

    record, status = asyncio.run(go())
    assert [f["purpose"] for f in fake.files.values()] == ["fine-tune", "fine-tune"]
    assert [f["name"] for f in fake.files.values()] == ["train.jsonl", "valid.jsonl"]
    creates = [json.loads(r["body"]) for r in fake.requests if r["method"] == "POST" and r["path"] == "/v1/fine_tuning/jobs"]
    assert len(creates) == 4
    assert creates[0] == {"model": "gpt-3.5-turbo-0613", "training_file": "file-1", "validation_file": "file-2",
                          "suffix": "stocks", "seed": 1,
                          "method": {"type": "supervised", "supervised": {"hyperparameters": {
                              "n_epochs": 2, "learning_rate_multiplier": 0.5}}}}
    assert record["training_file"]["id"] == "file-1" and len(record["training_file"]["sha256"]) == 64
    assert set(status.values()) == {"succeeded"}
    assert f"{record['jobs'][0]['id']}: running" in seen and any(": succeeded (ft:" in s for s in seen)


def test_add_variants_rejects_a_result_that_would_not_load(suite_path):
    before = suite_path.read_text()
    with pytest.raises(Exception, match="would not load"):
        add_variants(suite_path, [{"name": "bad", "model": "x", "functions": "no-such-transform"}])
    assert suite_path.read_text() == before and not list(suite_path.parent.glob("*.new.yaml"))


def test_finetune_grid_cli_waits_and_adds_variants(fake, suite_path, tmp_path, cli):
    train = training_file(tmp_path)
    code, out, err = cli("finetune", suite_path, "--train", train, "--grid", "n_epochs=2,3",
                         "learning_rate_multiplier=0.5,2", "--suffix", "stocks", "--wait", "--poll", "0")
    assert code == 0, err
    assert "4 job(s) on gpt-3.5-turbo-0613 recorded in" in out  # base model taken from the suite
    trials = json.loads((tmp_path / "suite.trials.json").read_text())
    launch_record = trials["launches"][0]
    assert launch_record["training_file"]["path"] == "data/train.jsonl"  # relative to the suite
    assert [j["hyperparameters"] for j in launch_record["jobs"]] == [
        {"n_epochs": 2, "learning_rate_multiplier": 0.5}, {"n_epochs": 2, "learning_rate_multiplier": 2},
        {"n_epochs": 3, "learning_rate_multiplier": 0.5}, {"n_epochs": 3, "learning_rate_multiplier": 2}]
    suite = load_suite(suite_path)
    added = [v for v in suite.variants if v.name.startswith("ft-e")]
    assert [v.name for v in added] == ["ft-e2-lr0.5-b1-grid1", "ft-e2-lr2-b1-grid2", "ft-e3-lr0.5-b1-grid3",
                                       "ft-e3-lr2-b1-grid4"]
    assert added[0].trial["training_file"] == "data/train.jsonl" and added[0].trial["trained_tokens"] == 20_000
    assert added[0].functions == "short" and "running" in err


def test_finetune_refuses_data_that_does_not_match_the_suite(fake, suite_path, tmp_path, cli):
    full = [{"type": "function", "function": {"name": "get_price", "description": "Price.",
                                              "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}}}}]
    train = training_file(tmp_path, functions=full)
    code, _, err = cli("finetune", suite_path, "--train", train, "--grid", "n_epochs=2")
    assert code == 2 and "differ from the ones variant 'ft-old' sends" in err and len(err.splitlines()) == 1
    assert not any(r["method"] == "POST" for r in fake.requests)  # nothing uploaded, nothing paid
    code, _, err = cli("finetune", suite_path, "--train", train, "--grid", "epochs=2")
    assert code == 2 and "unknown hyperparameter 'epochs'" in err
