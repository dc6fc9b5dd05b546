"""The part-env contract: every shipped env and adapter keeps it, and ``check_part_env`` names each broken promise."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import envs  # noqa: F401  (registers the attn/ ids)
from envs import PartEnv, check_part_env
from envs.adapters.registry import make_adapted
from envs.contract import part_names_of

OWN = sorted(env_id for env_id in gym.registry if env_id.startswith("attn/"))
# (env id, extra that provides it, env kwargs, steps): the third-party envs through their adapters.
ADAPTED = [
    ("MiniGrid-Empty-5x5-v0", "minigrid", {}, 50),
    ("highway-fast-v0", "highway_env", {}, 5),
    ("intersection-v0", "highway_env", {}, 5),
    ("popgym-RepeatPreviousEasy-v0", "popgym", {"window": 4}, 50),
]


def test_the_own_envs_are_listed():
    assert {"attn/FindTarget-v0", "attn/CollectAvoid-v0", "attn/Sensors-v0"} <= set(OWN)


@pytest.mark.parametrize(
    "env_id", [pytest.param(i, marks=pytest.mark.slow if i == "attn/Highway-v0" else ()) for i in OWN]
)  # highway-env's simulation: the slow tier
def test_every_own_env_keeps_the_contract(env_id):
    try:
        env = gym.make(env_id, render_mode="rgb_array")
    except ImportError as error:  # attn/Highway-v0, attn/MiniGrid*-v0 wrap a third-party env (an extra)
        pytest.skip(str(error))
    check_part_env(env, steps=100)
    assert isinstance(env.unwrapped, PartEnv) or part_names_of(env)


@pytest.mark.parametrize(("env_id", "extra", "kwargs", "steps"), ADAPTED, ids=[a[0] for a in ADAPTED])
def test_every_adapter_keeps_the_contract(env_id, extra, kwargs, steps):
    pytest.importorskip(extra, reason=f"{env_id} needs the {extra} package (its extra)")
    env = make_adapted(env_id, **kwargs)
    check_part_env(env, steps=steps)


class ToyPartEnv(gym.Env):
    """Three parts; which promises it breaks is set by the test."""

    observation_space = spaces.Box(-1.0, 1.0, (3, 2), np.float32)
    action_space = spaces.Discrete(2)
    part_names = ("a", "b", "c")

    def __init__(self, relevant=(0,), success=None, marker=None):
        self.relevant, self.success, self.t = relevant, success, 0
        if marker is not None:
            self.part_marker = marker

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros((3, 2), np.float32), {"relevant_parts": np.asarray(self.relevant)}

    def step(self, action):
        self.t += 1
        info = {
            "relevant_parts": np.asarray(self.relevant),
            "is_success": self.t == 5 if self.success is None else self.success,
        }
        return np.zeros((3, 2), np.float32), 0.0, self.t == 5, False, info


def test_a_toy_env_that_keeps_it_passes():
    check_part_env(ToyPartEnv(), steps=12)


@pytest.mark.parametrize(
    ("env", "match"),
    [
        (ToyPartEnv(relevant=(3,)), r"indices outside \[0, 3\)"),
        (ToyPartEnv(relevant=(1, 1)), "repeats a part"),
        (ToyPartEnv(relevant=(0.5,)), "1-D array of int part indices"),
        (ToyPartEnv(success="yes"), "it must be a bool"),
        (ToyPartEnv(marker="star"), "part_marker='star'"),
    ],
)
def test_each_broken_promise_is_named(env, match):
    with pytest.raises(ValueError, match=match):
        check_part_env(env, steps=12)


@pytest.mark.parametrize(
    ("names", "match"),
    [(None, "has no part_names"), ("abc", "must be a list"), (["a", ""], "non-empty"), (["a", "a"], "distinct")],
)
def test_malformed_part_names_are_refused(names, match):
    env = gym.make("CartPole-v1") if names is None else ToyPartEnv()
    if names is not None:
        env.part_names = names
    with pytest.raises(ValueError, match=match):
        check_part_env(env)


def test_steps_must_be_positive():
    with pytest.raises(ValueError, match="steps=0"):
        check_part_env(ToyPartEnv(), steps=0)
