"""``benchmarks/policy_sharpness.py``: the figures of a trained run's policy, on a tiny run."""

from __future__ import annotations

import enum
import sys
from pathlib import Path

import numpy as np
import pytest

import agents

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import policy_sharpness


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    config = agents.RunConfig(
        env="attn/FindTarget-v0", run_root=str(tmp_path_factory.mktemp("runs")), timesteps=128, n_envs=1,
        eval_episodes=0, eval_freq=0, progress_bar=False, attention_log_interval=0,
        hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 1},
    )  # fmt: skip
    return agents.train(config).path


def test_figures_are_probabilities_norms_and_episodes(tiny_run):
    s = policy_sharpness.measure(tiny_run, episodes=2, env_seed=3)
    n_actions = 5  # FindTarget: stay + 4 moves
    assert 0.0 <= s.entropy <= np.log(n_actions) + 1e-6
    assert 1.0 / n_actions - 1e-6 <= s.top_prob_p10 <= s.top_prob <= 1.0
    assert s.features_norm > 0 and s.logit_range >= 0
    assert s.sampled_length >= 1 and s.greedy_length >= 1
    assert s.sampled_return_ci >= 0 and 0.0 <= s.hesitant_share <= 1.0
    assert s == policy_sharpness.measure(tiny_run, episodes=2, env_seed=3)  # same seeds, same figures


def test_main_prints_one_row_per_run_in_both_tables(tiny_run, capsys):
    policy_sharpness.main([str(tiny_run), "--episodes", "2"])
    figures, hesitations = capsys.readouterr().out.strip().split("\n\n")
    assert [str(tiny_run) in line for line in figures.splitlines()] == [False, False, True]
    assert "steps above 0.3 nats" in hesitations and str(tiny_run) in hesitations.splitlines()[2]


def test_hesitation_pairs_count_the_two_likeliest_actions():
    probs = np.array([[0.5, 0.4, 0.1], [0.1, 0.3, 0.6], [0.3, 0.6, 0.1], [0.6, 0.3, 0.1]])  # (S, A)
    pairs = policy_sharpness.hesitation_pairs(probs, ["left", "right", "pickup"], top=3)
    assert pairs[0] == ("left/right", 0.5)
    assert sorted(pairs[1:]) == [("pickup/right", 0.25), ("right/left", 0.25)]
    assert policy_sharpness.hesitation_pairs(probs[:0], ["left", "right", "pickup"]) == []


def test_action_names_come_from_the_env_enum_else_indices():
    class Actions(enum.IntEnum):
        left = 0
        pickup = 2

    class Env:
        def __init__(self, actions: object) -> None:
            self.actions = actions

        def get_attr(self, name: str) -> list:
            return [getattr(self, name)]

    assert policy_sharpness.action_names(Env(Actions), 3) == ["left", "1", "pickup"]
    assert policy_sharpness.action_names(Env([0, 1]), 2) == ["0", "1"]


def test_hesitation_and_episodes_must_be_positive(tiny_run, capsys):
    for flag, message in (
        ("--hesitation", "--hesitation 0.0: give a positive entropy"),
        ("--episodes", "--episodes 0: give at least 1"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            policy_sharpness.main([str(tiny_run), flag, "0"])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
