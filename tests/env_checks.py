"""Checks every env test file runs: ``check_env`` without warnings and same seed, same rollout."""

import warnings

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env


def flat(obs):
    """Observations as one array (Dict observations concatenated in key order)."""
    return np.concatenate([np.ravel(v) for v in obs.values()]) if isinstance(obs, dict) else obs


def rollout(env: gym.Env, seed: int, steps: int = 60) -> list:
    """Random actions from a seeded reset: observations, rewards, ends, relevant parts and successes."""
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    trace = [(flat(obs), info["relevant_parts"])]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        trace.append((flat(obs), reward, terminated, truncated, info["relevant_parts"], info["is_success"]))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append((flat(obs), info["relevant_parts"]))
    return trace


def assert_check_env_clean(env_id: str, **kwargs) -> None:
    """Gymnasium's ``check_env`` (render included) passes and warns about nothing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = gym.make(env_id, render_mode="rgb_array", **kwargs)
        check_env(env.unwrapped, skip_render_check=False)
    assert [str(w.message) for w in caught] == []


def assert_same_seed_same_rollout(env_id: str, **kwargs) -> None:
    """Two runs from seed 3 match step for step; seed 4 starts elsewhere."""
    a, b = rollout(gym.make(env_id, **kwargs), seed=3), rollout(gym.make(env_id, **kwargs), seed=3)
    assert len(a) == len(b)
    for step_a, step_b in zip(a, b, strict=True):
        for x, y in zip(step_a, step_b, strict=True):
            np.testing.assert_array_equal(x, y)
    c = rollout(gym.make(env_id, **kwargs), seed=4)
    assert not np.array_equal(a[0][0], c[0][0])
