"""Shared fixtures: a random generator, and the tiny run config every training test starts from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agents import RunConfig

torch.set_num_threads(1)

#: The smallest PPO that trains: one 32-step rollout per env, one epoch.
TINY_PPO = {"n_steps": 32, "batch_size": 32, "n_epochs": 1}


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., RunConfig]:
    """``tiny_config(run_root, **changes)``: a run of 32 steps on one env (the default env, FindTarget) with
    ``TINY_PPO``, no evaluation, no checkpoints between, no progress bar; ``changes`` are ``RunConfig`` fields."""

    def make(run_root: str | Path, **changes: Any) -> RunConfig:
        values: dict[str, Any] = dict(
            run_root=str(run_root),
            timesteps=32,
            n_envs=1,
            eval_episodes=0,
            eval_freq=0,
            progress_bar=False,
            hyperparams=dict(TINY_PPO),
        )
        return RunConfig(**{**values, **changes})

    return make


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
