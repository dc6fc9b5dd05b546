"""agents: config resolution, presets, run folders, atomic writes, the attention callback, train/evaluate."""

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from subprocesses import default_sigint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import agents
from agents.setup.config import RunConfig
from agents.setup.presets import load_preset
from agents.setup.resolution import resolve
from agents.storage.runs import find_model, new_run_dir, save_model_atomic, write_atomic
from envs.observations import observations_with_relevance

ROOT = Path(__file__).resolve().parent.parent


def test_resolve_merges_preset_then_overrides():
    config = resolve(RunConfig(hyperparams={"n_epochs": 3}, extractor_kwargs={"embed_dim": 32}))
    assert config.timesteps == 100_000 and config.n_envs == 8
    assert config.hyperparams["n_epochs"] == 3 and config.hyperparams["n_steps"] == 256
    assert config.extractor_kwargs == {
        "head": "relu",
        "presence_column": -1,
        "num_layers": 0,
        "lean": True,
        "embed_dim": 32,
    }
    # names are normalised, so that run folders and config.yaml use the registry spelling
    assert resolve(RunConfig(algo="PPO", extractor="MLP")).algo == "ppo"


def test_preset_default_section_applies_to_other_envs(tmp_path):
    preset = load_preset("ppo", "Acrobot-v1")
    assert (
        preset["n_envs"] == 8
        and preset["hyperparams"]["n_steps"] == 256
        and preset["extractor_kwargs"] == {"head": "layernorm_tanh"}
    )
    assert load_preset("ppo", "Acrobot-v1", config_dir=tmp_path) == {}  # no preset file: SB3's defaults


def test_preset_with_unknown_key_is_rejected(tmp_path):
    (tmp_path / "ppo.yaml").write_text(yaml.safe_dump({"default": {"n_env": 4}}))
    with pytest.raises(ValueError, match=r"unknown key 'n_env' in section 'default'\. Did you mean 'n_envs'"):
        load_preset("ppo", "CartPole-v1", config_dir=tmp_path)


def test_config_round_trips_and_rejects_unknown_keys():
    config = resolve(RunConfig(seed=3))
    assert RunConfig.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict()))) == config
    with pytest.raises(ValueError, match=r"Unknown config key 'sed'\. Did you mean 'seed'"):
        RunConfig.from_dict({"sed": 1})


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"env": "attn/FindTarge-v0"}, "Did you mean 'attn/FindTarget-v0'"),
        ({"algo": "dqm"}, "Did you mean 'dqn'"),
        ({"extractor": "mpl"}, "Did you mean 'mlp'"),
        ({"n_envs": 0}, "n_envs=0 is invalid"),
        ({"eval_episodes": -1}, "eval_episodes=-1 is invalid"),
    ],
)
def test_resolve_rejects_bad_values(change, match):
    with pytest.raises(ValueError, match=match):
        resolve(dataclasses.replace(RunConfig(), **change))


def test_unknown_hyperparameter_is_named(tmp_path):
    config = RunConfig(run_root=str(tmp_path), hyperparams={"n_step": 64}, timesteps=64)
    with pytest.raises(ValueError, match=r"PPO has no hyperparameter 'n_step'\. Did you mean 'n_steps'"):
        agents.train(config)
    assert not (tmp_path / "attn-FindTarget-v0").exists()


def test_run_folders_are_numbered(tmp_path):
    first = new_run_dir(tmp_path, "attn/FindTarget-v0", "ppo", "attention", 0)
    second = new_run_dir(tmp_path, "attn/FindTarget-v0", "ppo", "attention", 0)
    assert first == tmp_path / "attn-FindTarget-v0" / "ppo_attention_s0"
    assert second.name == "ppo_attention_s0_1"


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "eval.json"
    write_atomic(path, "good")

    def broken_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "half")
    assert path.read_text() == "good"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_model_save_is_atomic(tmp_path, monkeypatch):
    model = agents.build_model(resolve(RunConfig(n_envs=1)), agents.make_env(resolve(RunConfig()), 1, 0))
    save_model_atomic(model, tmp_path / "model.zip")
    before = (tmp_path / "model.zip").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(model), "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model_atomic(model, tmp_path / "model.zip")
    assert (tmp_path / "model.zip").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]


def test_find_model_accepts_dirs_and_files(tmp_path):
    (tmp_path / "model.zip").write_bytes(b"x")
    assert find_model(tmp_path) == (tmp_path / "model.zip", tmp_path)
    assert find_model(tmp_path / "model") == (tmp_path / "model.zip", None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"No model in .*empty: expected model\.zip there"):
        find_model(empty)
    with pytest.raises(FileNotFoundError, match="the path does not exist"):
        find_model(tmp_path / "nothing")


def test_terminal_observation_goes_with_its_info():
    new_obs = np.arange(6, dtype=np.float32).reshape(2, 3)
    terminal = np.full(3, -1.0, dtype=np.float32)
    infos = [
        {"relevant_parts": np.array([1])},
        {"terminal_observation": terminal, "relevant_parts": [2]},
    ]
    pairs = list(observations_with_relevance(new_obs, infos, np.array([False, True])))
    np.testing.assert_array_equal(pairs[0][0], new_obs[0])
    np.testing.assert_array_equal(pairs[1][0], terminal)
    assert pairs[0][1].tolist() == [1] and pairs[1][1].tolist() == [2]
    assert next(observations_with_relevance(new_obs, [{}, {}], np.zeros(2, bool)))[1] is None


@pytest.mark.slow
def test_train_and_evaluate_from_python(tmp_path, tiny_config):
    config = tiny_config(tmp_path, timesteps=256, n_envs=2, eval_episodes=2, eval_freq=10_000,
                         hyperparams={"n_steps": 128, "batch_size": 64, "n_epochs": 1})  # fmt: skip
    run = agents.train(config)
    assert run.path.is_dir() and run.model_path.is_file() and not run.interrupted
    assert run.evaluation.episodes == 2 and 0.0 <= run.evaluation.attention["relevant_mass"] <= 1.0
    again = agents.evaluate(run.path, episodes=2, seed=run.config.seed + 10_000)
    assert again.returns == run.evaluation.returns and again.actions_sha256 == run.evaluation.actions_sha256


@pytest.mark.slow
def test_sigint_saves_a_loadable_model(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "train_rl.py"),
            "--timesteps",
            "1000000",
            "--n-envs",
            "2",
            "--eval-episodes",
            "1",
            "--no-progress-bar",
            "--threads",
            "1",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    run_dir = tmp_path / "runs" / "attn-FindTarget-v0" / "ppo_attention_s0"

    def episodes_done() -> int:  # SB3's Monitor writes (and flushes) a row per finished episode, after 2 header lines
        return sum(max(len(f.read_text().splitlines()) - 2, 0) for f in run_dir.glob("monitor/*.monitor.csv"))

    deadline = time.time() + 120
    while episodes_done() < 2 and time.time() < deadline:  # into training, however loaded the machine is
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()  # never leave a runaway trainer behind a failed test
    assert proc.returncode == 0, err
    assert "interrupted (Ctrl-C)" in out
    model = agents.load(run_dir)
    assert 0 < model.num_timesteps < 1_000_000
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert "attention/overlay/causal" in events.Tags()["images"]  # the final pictures, on Ctrl-C too


@pytest.mark.slow
def test_image_env_with_reward_normalisation_evaluates_during_training(tmp_path, tiny_config):
    # The periodic evaluation syncs VecNormalize statistics through the same wrappers as training, and SB3 wraps
    # the training images in VecTransposeImage: the evaluation env must get it too, in the same place.
    config = tiny_config(
        tmp_path, env="attn/PatchFind-v0", timesteps=64, eval_freq=32, eval_freq_episodes=1,
        normalize={"norm_obs": False},
    )  # fmt: skip
    run = agents.train(config)
    assert (run.path / "evaluations.npz").is_file() and (run.path / "best_model.zip").is_file()


@pytest.mark.slow
def test_image_env_trains_evaluates_and_reloads(tmp_path, tiny_config):
    # SB3 trains image envs through VecTransposeImage: the model holds Box(3, 48, 48) while the env gives
    # Box(48, 48, 3); evaluation must accept that (and still reject a real mismatch).
    config = tiny_config(tmp_path, env="attn/PatchFind-v0", timesteps=64, eval_episodes=1, eval_deterministic=False)
    run = agents.train(config)
    assert run.evaluation is not None and run.evaluation.deterministic is False
    assert agents.evaluate(run.path, episodes=1, write=False).episodes == 1
    with pytest.raises(ValueError, match=r"trained on Box\(3, 48, 48\), this env gives Box\(40, 40, 3\)"):
        agents.evaluate(run.path, episodes=1, write=False, env_kwargs={"size": 40})
