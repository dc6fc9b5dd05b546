"""envs/adapters/highway_kinematics.py: the NumPy Kinematics observation equals highway-env's, step for step."""

import os
import warnings

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip(
    "highway_env", reason="the NumPy Kinematics observation copies highway-env's (pip install highway-env)"
)

from envs.adapters.highway import HighwayEntities
from envs.adapters.highway_kinematics import FastKinematics, install_fast_kinematics

#: Seeded intersection episodes compared step by step (raise it for a longer check: the suite keeps it small).
EPISODES = int(os.environ.get("HIGHWAY_EQUALITY_EPISODES", "3"))


def _make(env_id: str, config: dict) -> gym.Env:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "intersection-v0 is out of date"
        return gym.make(env_id, config=config)


def _same(a: object, b: object) -> bool:
    """Exact equality of what an env returns: arrays by value and dtype, containers item by item."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _compare(slow: gym.Env, fast: gym.Env, episodes: int, max_steps: int, reinstall: bool) -> int:
    """Step both envs with the same seeds and actions; fail at the first difference; return the steps taken."""
    rng = np.random.default_rng(0)
    steps = 0
    for episode in range(episodes):
        reset_slow, reset_fast = slow.reset(seed=episode), fast.reset(seed=episode)
        if reinstall:
            assert install_fast_kinematics(fast)
        # reset's info["action"] is a fresh unseeded action_space.sample() in highway-env: random in both paths
        (obs_slow, info_slow), (obs_fast, info_fast) = reset_slow, reset_fast
        info_slow, info_fast = dict(info_slow), dict(info_fast)
        assert "action" in info_slow and info_slow.pop("action") is not None and info_fast.pop("action") is not None
        assert _same((obs_slow, info_slow), (obs_fast, info_fast))
        for _ in range(max_steps):
            action = int(rng.integers(slow.action_space.n))
            out_slow, out_fast = slow.step(action), fast.step(action)
            assert isinstance(fast.unwrapped.observation_type, FastKinematics)
            assert not isinstance(slow.unwrapped.observation_type, FastKinematics)
            # exact equality, rewards and infos (rewards dicts, agents' rewards, relevant parts) included
            assert _same(out_slow, out_fast), f"episode {episode}, step {steps}: {out_slow} != {out_fast}"
            steps += 1
            if out_slow[2] or out_slow[3]:
                break
    return steps


@pytest.mark.slow
def test_adapter_observation_equals_highway_envs_on_intersection():
    # the project's path: make_adapted("intersection-v0") (relative rows); the same seeds and actions
    slow = HighwayEntities(_make("intersection-v0", {}), fast_observation=False)
    fast = HighwayEntities(_make("intersection-v0", {}))
    assert fast.fast_observation and not slow.fast_observation
    assert _compare(slow, fast, episodes=EPISODES, max_steps=13, reinstall=False) > 10


def test_raw_absolute_shuffled_observation_equals_highway_envs():
    # highway-env's default intersection observation (absolute rows), shuffled rows: the env's RNG is used alike
    observation = {
        "type": "Kinematics",
        "vehicles_count": 15,
        "absolute": True,
        "order": "shuffled",
        "features": ["presence", "x", "y", "vx", "vy", "cos_h", "sin_h", "cos_d", "sin_d"],
        "features_range": {"x": [-100, 100], "y": [-100, 100], "vx": [-20, 20], "vy": [-20, 20]},
    }
    slow, fast = (
        _make("intersection-v0", {"observation": observation}),
        _make("intersection-v0", {"observation": observation}),
    )
    assert _compare(slow, fast, episodes=1, max_steps=6, reinstall=True) > 0


def test_unset_features_range_falls_back_once_then_matches():
    # highway-fast-v0's Kinematics has no features_range: highway-env derives it on the first observe
    slow = HighwayEntities(_make("highway-fast-v0", {}), vehicles_count=6, fast_observation=False)
    fast = HighwayEntities(_make("highway-fast-v0", {}), vehicles_count=6)
    assert _compare(slow, fast, episodes=1, max_steps=8, reinstall=False) > 0
    assert fast.unwrapped.observation_type.features_range is not None


def test_install_leaves_other_observation_types_alone():
    env = _make("intersection-v0", {"observation": {"type": "TimeToCollision"}})
    env.reset(seed=0)
    assert install_fast_kinematics(env) is False
    assert not isinstance(env.unwrapped.observation_type, FastKinematics)
