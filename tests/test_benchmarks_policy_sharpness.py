"""``benchmarks/policy_sharpness.py``: the figures of a trained run's policy, on a tiny run."""

from __future__ import annotations

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
    assert s == policy_sharpness.measure(tiny_run, episodes=2, env_seed=3)  # same seeds, same figures


def test_main_prints_one_row_per_run(tiny_run, capsys):
    policy_sharpness.main([str(tiny_run), "--episodes", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and str(tiny_run) in lines[2]
