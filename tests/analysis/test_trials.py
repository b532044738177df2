"""Trials table: three fine-tuning trials run end to end against a loopback server, then compared."""
import json
import shutil

import pytest
from fakeserver import FakeServer, last_user, text_reply, tool_reply

from evalkit.analysis.metrics import case_outcomes
from evalkit.analysis.trials import by_hyperparameter, trials_table
from evalkit.cli import main
from evalkit.rundir.results import SUMMARY, read_json, read_results
from evalkit.rundir.run import open_run

REAL = {"Microsoft now?": "MSFT", "Apple now?": "AAPL", "Tesla now?": "TSLA", "Nvidia now?": "NVDA",
        "IBM now?": "IBM"}
FAKE = ["Titan Robotics?", "Zephyr Biotech?", "Quantum Ferns?", "Blue Lemur Corp?", "Orbitex?"]

# Per model: which fake companies it hallucinates a call for, and which real ones it refuses.
BEHAVIOUR = {
    "ft:gpt-3.5-turbo-0613:acme::e2": {"halluc": FAKE[:2], "refuse": []},     # 8/10
    "ft:gpt-3.5-turbo-0613:acme::e3": {"halluc": [], "refuse": []},           # 10/10
    "ft:gpt-3.5-turbo-0613:acme::e4": {"halluc": FAKE[:3], "refuse": list(REAL)[:3]},  # 4/10
    "gpt-3.5-turbo-0613": {"halluc": FAKE, "refuse": []},                     # 5/10
}


def responder(body, path):
    user, behaviour = last_user(body), BEHAVIOUR[body["model"]]
    if user in REAL and user not in behaviour["refuse"]:
        return tool_reply(("get_price", {"symbol": REAL[user]}))
    if user in behaviour["halluc"]:
        return tool_reply(("get_price", {"symbol": "TITN"}))
    return text_reply("Which company do you mean exactly?")


SUITE = """\
name: trials-demo
system: Ask when unsure.
functions:
  - {type: function, function: {name: get_price, parameters: {type: object, properties: {symbol: {type: string}}, required: [symbol]}}}
variants:
  - {name: base, model: gpt-3.5-turbo-0613, base_url: "URL"}
  - name: e2
    model: "ft:gpt-3.5-turbo-0613:acme::e2"
    base_url: "URL"
    functions: short
    trial: {base_model: gpt-3.5-turbo-0613, n_epochs: 2, learning_rate_multiplier: 1.0, batch_size: 1,
            trained_tokens: 20000, job_id: ftjob-e2, suffix: acme}
  - name: e3
    model: "ft:gpt-3.5-turbo-0613:acme::e3"
    base_url: "URL"
    functions: short
    trial: {base_model: gpt-3.5-turbo-0613, n_epochs: 3, learning_rate_multiplier: 1.0, batch_size: 1,
            trained_tokens: 30000, job_id: ftjob-e3,
            train_curve: {train_loss: [[1, 1.5], [2, 0.8], [3, 0.2]], valid_loss: [[2, 0.9], [3, 0.4]]}}
  - name: e4
    model: "ft:gpt-3.5-turbo-0613:acme::e4"
    base_url: "URL"
    functions: short
    trial: {base_model: gpt-3.5-turbo-0613, n_epochs: 4, learning_rate_multiplier: 2.0, batch_size: 1,
            job_id: ftjob-e4}
cases:
"""


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("trials")
    with FakeServer(responder) as server:
        cases = [f'  - {{id: r{i}, user: "{u}", expect: {{call: get_price, arguments: {{symbol: {s}}}}}}}'
                 for i, (u, s) in enumerate(REAL.items())]
        cases += [f'  - {{id: f{i}, user: "{u}", expect: refuse}}' for i, u in enumerate(FAKE)]
        suite = tmp_path / "suite.yaml"
        suite.write_text(SUITE.replace("URL", server.url + "/v1") + "\n".join(cases) + "\n")
        out = tmp_path / "run"
        assert main(["run", str(suite), "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture
def run_dir(shared_run, tmp_path):
    """A private copy: some tests edit the run."""
    shutil.copytree(shared_run, tmp_path / "run")
    return tmp_path / "run"


def load(run_dir):
    return open_run(run_dir)


def test_three_trials_sorted_with_paired_tests(run_dir):
    rows = trials_table([load(run_dir)], "accuracy")
    assert [r.variant for r in rows] == ["e3", "e2", "e4"]  # base has no trial: left out
    e3, e2, e4 = rows
    assert e3.best and e3.vs_best is None
    assert (e3.rate.k, e3.rate.n) == (10, 10)
    assert (e2.rate.k, e4.rate.k) == (8, 4)
    # e2 differs from e3 on 2 cases, both e3's: exact McNemar p = 2 * 0.5**2 = 0.5, not significant
    assert (e2.vs_best.b, e2.vs_best.c) == (2, 0)
    assert e2.vs_best.p_value == pytest.approx(0.5) and e2.significant is False
    # e4 loses 6 cases: p = 2 * 0.5**6 = 0.03125, significant at 5%
    assert e4.vs_best.p_value == pytest.approx(0.03125) and e4.significant is True
    assert e3.refusal_accuracy.k == 5 and e2.refusal_accuracy.k == 3
    assert e3.rate.low == pytest.approx(0.7225, abs=1e-4)  # Wilson 95% lower bound for 10/10
    # training cost: 30,000 tokens x $8.00 per 1M (gpt-3.5-turbo-0613 fine-tuned) = $0.24
    assert e3.training_cost == pytest.approx(0.24) and e2.training_cost == pytest.approx(0.16)
    assert e4.training_cost is None  # no trained_tokens known
    assert list(e2.hyperparameters) == ["base_model", "n_epochs", "learning_rate_multiplier", "batch_size",
                                        "trained_tokens", "job_id", "suffix"]
    assert e3.curve["train_loss"] == [[1, 1.5], [2, 0.8], [3, 0.2]] and "train_curve" not in e3.hyperparameters


def test_metric_direction_and_outcomes(run_dir):
    rows = trials_table([load(run_dir)], "hallucination_rate", include_all=True)
    assert [r.variant for r in rows] == ["e3", "e2", "e4", "base"]  # lower is better
    # 5/5 hallucinated against 0/5: the seed's contrast, and still not significant (p = 2 * 0.5**5)
    assert rows[-1].rate.k == 5 and rows[-1].vs_best.p_value == pytest.approx(0.0625)
    assert rows[-1].significant is False
    records = read_results(run_dir)
    outcomes = case_outcomes([r for r in records if r["variant"] == "base"], "hallucination_rate")
    assert set(outcomes) == {f"f{i}" for i in range(5)} and all(outcomes.values())


def test_chart_data_per_hyperparameter(run_dir):
    chart = by_hyperparameter(trials_table([load(run_dir)], "accuracy"))
    assert set(chart) == {"n_epochs", "learning_rate_multiplier"}  # suffix: set by one trial only
    assert [(p["value"], p["metric"]) for p in chart["n_epochs"]] == [(2, 0.8), (3, 1.0), (4, 0.4)]


def test_cli_table_and_json(run_dir, cli):
    code, out, _ = cli("trials", run_dir)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["trial", "base_model", "n_epochs", "learning_rate_multiplier"]
    assert lines[2].startswith("e3") and "best" in lines[2] and "$0.24" in lines[2]
    assert "p=0.50 ns" in lines[3] and "p=0.03 *" in lines[4]
    assert "100% (10/10) [72–100]" in lines[2]
    assert "e3: train_loss 1.500 (step 1) -> 0.200 (step 3), valid_loss 0.900 (step 2) -> 0.400 (step 3)" in out
    code, out, _ = cli("trials", run_dir, "--metric", "refusal_accuracy", "--json")
    data = json.loads(out)
    assert [r["variant"] for r in data["rows"]] == ["e3", "e2", "e4"]
    assert data["rows"][1]["vs_best"] == {"best_only": 2, "this_only": 0, "n": 5, "p_value": 0.5,
                                          "significant": False}
    assert data["rows"][0]["curve"]["valid_loss"] == [[2, 0.9], [3, 0.4]]


def test_two_runs_same_names_are_labelled(run_dir, tmp_path, cli):
    shutil.copytree(run_dir, tmp_path / "again")
    rows = trials_table([load(run_dir), load(tmp_path / "again")])
    assert {r.label for r in rows} == {"run:e2", "run:e3", "run:e4", "again:e2", "again:e3", "again:e4"}
    assert rows[1].vs_best.p_value == 1.0  # the same trial in two runs: no difference


def test_errors_are_one_line(run_dir, tmp_path, cli):
    code, _, err = cli("trials", run_dir, "--metric", "speed")
    assert code == 2 and "unknown metric 'speed'" in err and len(err.splitlines()) == 1
    code, _, err = cli("trials", tmp_path / "nope")
    assert code == 2 and "run directory not found" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cli("trials", tmp_path / "empty")
    assert code == 2 and "results.jsonl" in err and len(err.splitlines()) == 1
    summary = read_json(run_dir / SUMMARY, "summary")
    for m in summary["variants"].values():
        m.pop("trial", None)
    (run_dir / SUMMARY).write_text(json.dumps(summary))
    code, _, err = cli("trials", run_dir)
    assert code == 2 and "no variant with a `trial:` block" in err
    code, _, err = cli("trials", run_dir, "--suite", "x.yaml")
    assert code == 2 and "only applies to `evalkit trials import`" in err


def test_list_settings_are_shown_joined_and_structures_are_not():
    from evalkit.analysis.trials import is_setting, setting

    modules = ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert is_setting(modules) and setting(modules) == "q_proj,k_proj,v_proj,o_proj"
    assert is_setting(2) and setting(2) == 2 and is_setting(None)
    assert not is_setting({"train_loss": []}) and not is_setting([[1, 0.5]]) and not is_setting([])

