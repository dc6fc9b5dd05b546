"""End-to-end: train_rl.py trains with a tiny budget, logs attention to tensorboard, and evaluates."""

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import agents
import envs  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--timesteps", "512", "--n-envs", "2", "--eval-episodes", "3", "--no-progress-bar", "--threads", "1"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train_rl.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def cli_in_process(*args: str, cwd: Path, monkeypatch, capsys) -> subprocess.CompletedProcess:
    """``train_rl.main(args)`` in this process (no interpreter start-up): its exit status and output."""
    import train_rl

    monkeypatch.chdir(cwd)
    capsys.readouterr()
    returncode = train_rl.main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["train_rl.py", *args], returncode, out, err)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    cwd = tmp_path_factory.mktemp("cli")
    result = cli(*TINY, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd / "runs" / "attn-FindTarget-v0" / "ppo_attention_s0", result


@pytest.mark.slow
def test_train_writes_the_run_folder(trained_run):
    run_dir, result = trained_run
    for name in ("config.yaml", "command.txt", "model.zip", "eval.json", "progress.csv"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "monitor").glob("*.monitor.csv"))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["env"] == "attn/FindTarget-v0" and config["algo"] == "ppo" and config["timesteps"] == 512
    assert config["extractor_kwargs"]["presence_column"] == -1  # from configs/ppo.yaml
    assert "train_rl.py --timesteps 512" in (run_dir / "command.txt").read_text()
    assert "tensorboard --logdir runs" in result.stdout
    assert "success rate" in result.stdout and "mean return" in result.stdout


@pytest.mark.slow
def test_tensorboard_has_returns_and_attention(trained_run):
    run_dir, _ = trained_run
    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for tag in (
        "rollout/ep_rew_mean",
        "attention/causal/entropy",
        "attention/causal/relevant_mass",
        "attention/rollout/relevant_mass",
        "attention/readout/relevant_mass",
        "attention/causal/top1_mass",
        "attention/causal/focus/entity_0",
        "attention/causal/focus/entity_7",
        "attention/faithfulness/rollout",
        "eval/mean_reward",
        "eval/success_rate",
    ):
        assert tag in tags, f"{tag} missing from {sorted(tags)}"
    for tag in ("attention/causal/entropy", "attention/causal/relevant_mass", "attention/readout/relevant_mass"):
        values = [e.value for e in events.Scalars(tag)]
        assert values and all(0.0 <= v <= 1.0 + 1e-6 for v in values)


@pytest.mark.slow
def test_eval_cli_and_agents_load_give_identical_actions(trained_run):
    run_dir, _ = trained_run
    training_eval = (run_dir / "eval.json").read_text()
    result = cli("eval", str(run_dir), "--episodes", "3", "--seed", "7", cwd=run_dir)
    assert result.returncode == 0, result.stderr
    assert "mean return" in result.stdout and "±" in result.stdout and "mean focus per part" in result.stdout
    assert (run_dir / "eval.json").read_text() == training_eval  # training's final evaluation is kept
    report = json.loads((run_dir / "eval_last.json").read_text())
    assert report["episodes"] == 3 and len(report["returns"]) == 3 and report["seed"] == 7
    assert set(report["attention"]["focus"]) == {f"entity_{i}" for i in range(8)}
    assert 0.0 <= report["success_rate"] <= 1.0

    # Replay the same seeded episodes with the policy loaded in this process.
    model = agents.load(run_dir)
    env = gym.make("attn/FindTarget-v0")
    obs, _ = env.reset(seed=7)
    for expected in report["actions_sha256"]:
        actions, done = [], False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            actions.append(np.asarray(action).reshape(1))
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        assert agents.action_digest(actions) == expected
        obs, _ = env.reset()


@pytest.mark.slow
def test_eval_on_a_model_file_and_stochastic(trained_run, monkeypatch, capsys):
    run_dir, _ = trained_run
    args = ("eval", str(run_dir / "model.zip"), "--episodes", "2", "--stochastic")
    result = cli_in_process(*args, cwd=run_dir, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 0, result.stderr
    assert "stochastic" in result.stdout
    assert json.loads((run_dir / "eval_last.json").read_text())["deterministic"] is False


@pytest.mark.slow
def test_mlp_extractor_trains_without_attention_logs(tmp_path, monkeypatch, capsys):
    result = cli_in_process(*TINY, "--extractor", "mlp", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "runs" / "attn-FindTarget-v0" / "ppo_mlp_s0"
    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert "rollout/ep_rew_mean" in tags and not any(t.startswith("attention/") for t in tags)
    assert "mean focus" not in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--env", "attn/FindTarget-v1"],
            "Unknown env id 'attn/FindTarget-v1'. Did you mean 'attn/FindTarget-v0'?",
        ),
        (["--env", "CartPol-v1"], "Did you mean 'CartPole-v1'?"),
        (["--algo", "ppp"], "Unknown algorithm 'ppp'. Did you mean 'ppo'?"),
        (["--extractor", "attenton"], "Unknown extractor 'attenton'. Did you mean 'attention'?"),
        (["--timesteps", "0"], "timesteps=0 is invalid"),
        (["--algo", "sac"], "Algorithm 'sac' does not support the action space Discrete(5)"),
    ],
)
def test_bad_names_exit_nonzero_with_one_line(tmp_path, args, expected, monkeypatch, capsys):
    if args[0] == "--env" and args[1] == "attn/FindTarget-v1":  # one case as a real process: its exit status
        result = cli(*args, cwd=tmp_path)
    else:  # the others through main(), as the process runs it, without the interpreter's start-up
        result = cli_in_process(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not (tmp_path / "runs").exists()  # nothing half-made


@pytest.mark.slow
def test_eval_without_a_model_says_so(tmp_path, monkeypatch, capsys):
    result = cli("eval", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"train_rl.py eval: error: No model in {tmp_path}: expected model.zip there. Pass a run folder made by "
        "train_rl.py or the path of a saved .zip model."
    ]
    result = cli_in_process("eval", str(tmp_path / "nope"), cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 2 and "the path does not exist" in result.stderr


def test_eval_on_a_file_that_is_not_a_model(tmp_path, monkeypatch, capsys):
    bogus = tmp_path / "model.zip"
    bogus.write_text("not a zip")
    args = ("eval", str(bogus), "--algo", "ppo", "--env", "attn/FindTarget-v0")
    result = cli_in_process(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 2 and "is not a Stable-Baselines3 model zip" in result.stderr


def test_help_and_resume_message_come_from_the_registries(capsys):
    import train_rl
    from agents.setup.algorithms import ALGORITHMS
    from agents.training.train import RESUME_SETTINGS
    from policies import EXTRACTORS

    helps = {a.dest: " ".join((a.help or "").split()) for a in train_rl.train_parser()._actions}
    assert all(name in helps["algo"] for name in ALGORITHMS.names())
    assert all(name in helps["extractor"] for name in EXTRACTORS.names())
    sweep_help = {a.dest: a.help for a in train_rl.sweep_parser()._actions}
    assert all(name in sweep_help["algo"] for name in ALGORITHMS.names())
    # every setting --resume may change has a flag, named in the refusal
    assert set(RESUME_SETTINGS) <= set(train_rl._CONFIG_FLAGS.values())
    assert train_rl.main(["--resume", "runs/x", "--seed", "3"]) == 2
    err = capsys.readouterr().err
    assert "cannot change seed" in err
    taken = err.split("It takes ")[1].split(" (")[0].split(", ")
    assert taken == [f"--{flag.replace('_', '-')}" for setting in RESUME_SETTINGS
                     for flag, field in train_rl._CONFIG_FLAGS.items() if field == setting]  # fmt: skip
