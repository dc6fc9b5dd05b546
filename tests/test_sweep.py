"""Sweeps on Ray Tune: grid trials as normal runs, skipping finished ones, failures, tuning, bad input."""

import csv
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

import agents
import train_rl
from agents.setup.presets import read_preset_file
from agents.sweep import SweepSpec, make_trial, parse_dimension, parse_grid, run_sweep
from agents.sweep.trials import grid_trials

ROOT = Path(__file__).resolve().parent.parent
# CartPole with one env and 128-step rollouts: a trial trains 256 steps, evaluates at 128 and 256, then 2 episodes;
# episodes end at 50 steps (a greedy policy can balance for CartPole's 500: evaluation would cost more than training).
TINY_SETS = ["n_envs=1", "hyperparams.n_steps=128", "hyperparams.batch_size=64", "hyperparams.n_epochs=1"]
TINY_SETS += ["env_kwargs.max_episode_steps=50"]


def tiny_spec(tmp_path: Path, **changes) -> SweepSpec:
    settings = dict(
        env="CartPole-v1",
        extractors=["attention", "mlp"],
        seeds=1,
        overrides=list(TINY_SETS),
        timesteps=256,
        eval_episodes=2,
        eval_freq=128,
        run_root=str(tmp_path / "runs"),
        name="tiny",
    )
    return SweepSpec(**{**settings, **changes})


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray for the module (starting it costs ~10 s); sweeps reuse an initialised Ray."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("optuna")
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(
        address="local",  # never another process's Ray on this machine
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def grid_sweep(ray_local, tmp_path_factory):
    """Two trials, each saving a checkpoint at 128 steps."""
    spec = tiny_spec(tmp_path_factory.mktemp("grid"), overrides=[*TINY_SETS, "save_freq=128"])
    messages: list[str] = []
    return spec, run_sweep(spec, log=messages.append), messages


@pytest.mark.slow
def test_grid_sweep_runs_each_trial_as_a_normal_run(grid_sweep):
    _, result, _ = grid_sweep
    assert sorted(result.ran) == sorted(row["trial"] for row in result.rows) and len(result.rows) == 2
    for row in result.rows:
        run_dir = Path(row["run_dir"])
        assert row["status"] == "ok", row
        assert run_dir.is_relative_to(result.sweep_dir)
        for name in ("config.yaml", "command.txt", "model.zip", "eval.json"):
            assert (run_dir / name).is_file(), name
        assert list(run_dir.glob("events.out.tfevents.*"))
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["extractor"] == row["extractor"] and config["timesteps"] == 256 and config["seed"] == 0
        assert "train_rl.py --env CartPole-v1" in (run_dir / "command.txt").read_text()
        assert row["mean_return"] == json.loads((run_dir / "eval.json").read_text())["mean_return"]
    assert {row["extractor"] for row in result.rows} == {"attention", "mlp"}
    assert result.table_csv.is_file() and result.table_md.is_file()
    assert result.plot.is_file() and result.plot.stat().st_size > 1000
    with result.table_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "ok"] and all(float(r["mean_return"]) > 0 for r in rows)
    assert "mean [95% bootstrap CI]" in result.table_md.read_text()


@pytest.mark.slow
def test_a_second_invocation_skips_finished_trials_and_resumes_an_interrupted_one(grid_sweep):
    """Runs after the grid test: it changes the mlp trial's run folder."""
    spec, first, _ = grid_sweep
    rows = {row["extractor"]: row for row in first.rows}
    run_dir = Path(rows["mlp"]["run_dir"])
    # As if the mlp trial had been stopped after its first checkpoint: the later files never written.
    for name in ("model.zip", "eval.json", "checkpoints/model_256.zip", "../../trial.json"):
        (run_dir / name).unlink()
    messages: list[str] = []
    again = run_sweep(spec, log=messages.append)
    assert again.skipped == [rows["attention"]["trial"]] and again.ran == [rows["mlp"]["trial"]]
    assert sum(m.startswith("skip ") for m in messages) == 1
    again_rows = {row["extractor"]: row for row in again.rows}
    assert again_rows["attention"]["mean_return"] == rows["attention"]["mean_return"]
    assert again_rows["mlp"]["status"] == "ok" and Path(again_rows["mlp"]["run_dir"]) == run_dir  # not a new run
    assert agents.load(run_dir).num_timesteps == 256
    assert len((run_dir / "command.txt").read_text().splitlines()) == 2  # trained, then resumed


@pytest.mark.slow
def test_a_failing_trial_is_reported_and_the_other_completes(ray_local, tmp_path):
    # embed_dim 64 is not divisible by 3 heads: that trial raises when its extractor is built, inside Ray.
    spec = tiny_spec(tmp_path, extractors=["attention"], grid=["extractor_kwargs.num_heads=2,3"])
    result = run_sweep(spec, log=lambda _: None)
    by_heads = {row["extractor_kwargs.num_heads"]: row for row in result.rows}
    assert by_heads["2"]["status"] == "ok" and by_heads["2"]["error"] is None
    assert by_heads["3"]["status"] == "error" and "num_heads" in by_heads["3"]["error"]
    assert "\n" not in by_heads["3"]["error"]
    table = result.table_md.read_text()
    assert "| error |" in table and "num_heads" in table and result.plot.is_file()
    with result.table_csv.open() as f:
        assert sorted(r["status"] for r in csv.DictReader(f)) == ["error", "ok"]


@pytest.mark.slow
def test_tune_writes_a_best_config_that_config_accepts(ray_local, tmp_path, capsys):
    argv = ["sweep", "--env", "CartPole-v1", "--extractors", "attention,mlp", "--timesteps", "256"]
    argv += ["--eval-episodes", "2", "--eval-freq", "128", "--run-dir", str(tmp_path / "runs"), "--name", "tuned"]
    argv += ["--set", *TINY_SETS, "--grid", "hyperparams.learning_rate=log(1e-4,1e-2)", "--tune", "2"]
    assert train_rl.main(argv) == 0, capsys.readouterr().err
    best = tmp_path / "runs" / "sweeps" / "tuned" / "best.yaml"
    presets = read_preset_file(best)
    section = presets["CartPole-v1"]
    assert section["extractor"] in ("attention", "mlp") and 1e-4 <= section["hyperparams"]["learning_rate"] <= 1e-2
    capsys.readouterr()
    assert train_rl.main(["--env", "CartPole-v1", "--config", str(best), "--dry-run"]) == 0
    assert f"learning_rate: {section['hyperparams']['learning_rate']}" in capsys.readouterr().out
    rows = list(csv.DictReader((best.parent / "results.csv").open()))
    assert len(rows) == 2 and all(r["trial"].startswith("tune-") for r in rows)


def test_parse_grid_values_and_ranges():
    assert parse_dimension("hyperparams.learning_rate=1e-4,3e-4").values == ("1e-4", "3e-4")
    assert parse_dimension("policy_kwargs.net_arch=[64,64],[32]").values == ("[64,64]", "[32]")
    lr = parse_dimension("hyperparams.learning_rate=log(1e-4,1e-2)")
    assert lr.is_range and lr.log and (lr.low, lr.high) == (1e-4, 1e-2)
    assert parse_dimension("hyperparams.n_epochs=range(2,8)").integer
    assert not parse_dimension("hyperparams.gamma=range(0.9,0.999)").integer


def test_trial_ids_follow_the_config(tmp_path):
    spec = tiny_spec(tmp_path)
    a = make_trial(spec, "mlp", 0, {"hyperparams.learning_rate": "1e-3"})
    assert a.trial_id == make_trial(spec, "mlp", 0, {"hyperparams.learning_rate": "1e-3"}).trial_id
    assert a.trial_id.startswith("mlp_learning_rate=1e-3_s0_")
    assert a.trial_id != make_trial(spec, "mlp", 0, {"hyperparams.learning_rate": "2e-3"}).trial_id
    assert a.trial_id != make_trial(spec, "mlp", 1, {"hyperparams.learning_rate": "1e-3"}).trial_id
    assert a.run_dir == tmp_path / "runs" / "sweeps" / "tiny" / a.trial_id / "CartPole-v1" / "ppo_mlp_s0"


def test_first_seed_trains_the_next_seeds_with_the_same_trial_ids(tmp_path):
    first = grid_trials(tiny_spec(tmp_path, seeds=3), [])
    later = grid_trials(tiny_spec(tmp_path, seeds=2, first_seed=1), [])
    assert [(t.extractor, t.seed) for t in later] == [("attention", 1), ("mlp", 1), ("attention", 2), ("mlp", 2)]
    assert [t.trial_id for t in later] == [t.trial_id for t in first[2:]]  # a trial finished by either is skipped


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--extractors", "attention,mpl"], "Unknown extractor 'mpl'. Did you mean 'mlp'?"),
        (["--grid", "hyperparams.learning_rate"], "--grid 'hyperparams.learning_rate': expected KEY=V1,V2"),
        (["--grid", "hyperparams.learning_rate=1e-3,,1e-4"], "an empty value"),
        (["--grid", "hyperparams.learning_rate=log(1e-2,1e-4)"], "must be below HIGH"),
        (["--grid", "hyperparms.gamma=0.9,0.99"], "Did you mean 'hyperparams'?"),
        (["--grid", "hyperparams.gamma=range(0.9,0.99)"], "log()/range() are for --tune"),
        (["--grid", "seed=1,2"], "use --seeds"),
        (["--grid", "hyperparams.gama=0.9,0.99"], "PPO has no hyperparameter 'gama'. Did you mean 'gamma'?"),
        (["--address", "ray://127.0.0.1:1"], "--address ray://127.0.0.1:1: no Ray cluster answers there"),
        (["--address", "nowhere"], "expected ray://HOST:PORT"),
        (["--tune", "2", "--seeds", "3"], "check the best config over seeds afterwards"),
        (["--first-seed", "-1"], "--first-seed -1: seeds are >= 0"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args, match, tmp_path, capsys):
    argv = ["sweep", "--env", "CartPole-v1", "--run-dir", str(tmp_path), "--set", *TINY_SETS, *args]
    assert train_rl.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("train_rl.py sweep: error: ") and match in err, err
    assert not (tmp_path / "sweeps").exists()  # nothing written, Ray not started


def test_without_ray_the_error_gives_the_pip_command(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert train_rl.main(["sweep", "--env", "CartPole-v1", "--run-dir", str(tmp_path)]) == 2
    assert 'pip install "attention-rl[sweep]"' in capsys.readouterr().err
    assert not (tmp_path / "sweeps").exists()


def test_grid_key_given_twice_is_an_error():
    with pytest.raises(ValueError, match="given twice"):
        parse_grid(["hyperparams.gamma=0.9,0.99", "hyperparams.gamma=0.95"])
