"""Settings the observation space implies: a memory algorithm on a flat Box with no preset section gets one
token per step (SB3's Flatten), said on the console; a user's choice or a preset section wins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

from agents import RunConfig
from agents.setup.automatic import memory_token_choices
from agents.setup.dry_run import dry_run
from agents.setup.resolution import resolve_with_choices

FLAT = spaces.Box(-1.0, 1.0, (4,), np.float32)


@pytest.mark.parametrize("algo", ["ppo_trxl", "ppo_lstm"])
def test_a_memory_algorithm_on_a_flat_box_gets_one_token_per_step(algo: str) -> None:
    (choice,) = memory_token_choices(algo, FLAT)
    assert (choice.key, choice.value) == ("extractor", "mlp")
    assert choice.line.startswith("automatic: extractor mlp (one token per step") and "Box(4,)" in choice.line


@pytest.mark.parametrize(
    ("algo", "space"),
    [
        ("ppo", FLAT),  # no memory: attention over the features stays the default
        ("ppo_trxl", spaces.Box(0.0, 1.0, (16, 5), np.float32)),  # rows: the extractor's own choice
        ("ppo_lstm", spaces.Dict({"a": FLAT})),
    ],
)
def test_nothing_is_implied_elsewhere(algo: str, space: spaces.Space) -> None:
    assert memory_token_choices(algo, space) == []


def test_an_env_without_a_section_resolves_to_flatten_and_says_it() -> None:
    config, choices = resolve_with_choices(RunConfig(env="Pendulum-v1", algo="ppo_trxl"))  # no ppo_trxl section
    assert config.extractor == "mlp" and [c.key for c in choices] == ["extractor"]


@pytest.mark.parametrize(
    ("config", "extractor"),
    [
        (RunConfig(env="Pendulum-v1", algo="ppo_trxl", extractor="attention"), "attention"),  # the user's
        (RunConfig(env="CartPole-v1", algo="ppo_lstm"), "attention"),  # CartPole-v1 has a ppo_lstm section
        (RunConfig(env="Pendulum-v1", algo="ppo"), "attention"),
    ],
)
def test_a_user_or_a_section_choice_is_kept_and_nothing_is_said(config: RunConfig, extractor: str) -> None:
    resolved, choices = resolve_with_choices(config)
    assert resolved.extractor == extractor and choices == []


def test_a_preset_file_section_for_the_env_counts_as_a_choice(tmp_path: Path) -> None:
    preset = tmp_path / "mine.yaml"
    preset.write_text("Pendulum-v1:\n  hyperparams: {n_steps: 64}\n")
    resolved, choices = resolve_with_choices(RunConfig(env="Pendulum-v1", algo="ppo_trxl", config_file=str(preset)))
    assert resolved.extractor == "attention" and choices == []


def test_dry_run_shows_the_automatic_choice() -> None:
    text = dry_run(RunConfig(env="Pendulum-v1", algo="ppo_trxl", n_envs=2)).format()
    assert "run: ppo_trxl on Pendulum-v1: extractor mlp;" in text
    assert "\nautomatic: extractor mlp (one token per step" in text
