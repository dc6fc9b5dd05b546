"""Before training, the console says what trains: extractor, memory settings, budget, and the presets applied."""

from __future__ import annotations

from pathlib import Path

import pytest

import train_rl
from agents import RunConfig, resolve
from agents.setup.summary import run_summary


def test_the_summary_names_the_extractor_the_memory_and_the_preset_sections() -> None:
    line = run_summary(resolve(RunConfig(env="attn/CueMemory-v0", algo="ppo_trxl")))
    assert line.startswith("ppo_trxl on attn/CueMemory-v0: extractor attention (")
    assert "tokenizer=time" in line and "memory 64 steps x 2 layers (dim 64, 2 heads)" in line
    assert "presets configs/ppo_trxl.yaml: default, attn/CueMemory-v0" in line


def test_an_env_without_a_section_says_so() -> None:
    line = run_summary(resolve(RunConfig(env="Acrobot-v1", algo="a2c")))
    assert "presets configs/a2c.yaml: default" in line and "Acrobot-v1" not in line.split("presets")[1]


def test_training_prints_it_before_it_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--env", "CartPole-v1", "--timesteps", "64", "--n-envs", "1", "--eval-episodes", "0"]
    argv += ["--run-dir", str(tmp_path), "--set", "hyperparams.n_steps=64", "hyperparams.batch_size=64"]
    assert train_rl.main(argv) == 0
    out = capsys.readouterr().out
    assert "ppo on CartPole-v1: extractor attention (" in out
    assert "presets configs/ppo.yaml: default, CartPole-v1" in out
    assert out.index("ppo on CartPole-v1") < out.index("trained 64 steps")


def test_a_popgym_env_without_a_section_trains_with_the_defaults_and_says_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("popgym", reason="POPGym is an extra: pip install 'attention-rl[popgym]'")
    argv = ["--env", "popgym-RepeatFirstEasy-v0", "--algo", "ppo_trxl", "--timesteps", "64", "--n-envs", "2"]
    argv += ["--eval-episodes", "1", "--run-dir", str(tmp_path), "--no-attention-log"]
    argv += ["--set", "hyperparams.n_steps=32", "hyperparams.batch_size=64"]
    assert train_rl.main(argv) == 0
    out = capsys.readouterr().out
    assert "ppo_trxl on popgym-RepeatFirstEasy-v0: extractor mlp;" in out
    assert "memory 64 steps x 2 layers (dim 64, 2 heads)" in out
    assert "presets configs/ppo_trxl.yaml: default;" not in out  # the line ends with the sections it used
    assert "presets configs/ppo_trxl.yaml: default" in out
    automatic = "automatic: extractor mlp (one token per step, SB3's Flatten of the flat observation Box(4,)"
    assert automatic in out
    assert out.index("ppo_trxl on popgym") < out.index(automatic) < out.index("trained 64 steps")
    assert (tmp_path / "popgym-RepeatFirstEasy-v0" / "ppo_trxl_mlp_s0" / "model.zip").is_file()


def test_the_lstm_baseline_says_its_memory_and_its_automatic_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("popgym", reason="POPGym is an extra: pip install 'attention-rl[popgym]'")
    argv = ["--env", "popgym-RepeatFirstEasy-v0", "--algo", "ppo_lstm", "--timesteps", "64", "--n-envs", "2"]
    argv += ["--eval-episodes", "1", "--run-dir", str(tmp_path), "--no-attention-log"]
    argv += ["--set", "hyperparams.n_steps=32", "hyperparams.batch_size=64"]
    assert train_rl.main(argv) == 0
    out = capsys.readouterr().out
    assert "ppo_lstm on popgym-RepeatFirstEasy-v0: extractor mlp; memory LSTM 64 units x 1 layer;" in out
    assert "automatic: extractor mlp (" in out
