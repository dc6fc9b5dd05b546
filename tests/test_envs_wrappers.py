import itertools
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers attn/FindTarget-v0)
from envs.find_target import FEATURES
from envs.wrappers import ShuffleParts

FIND_TARGET = "attn/FindTarget-v0"
IS_TARGET = FEATURES.index("is_target")
# check_env warns whenever it is given a wrapper (it recommends checking env.unwrapped): the only warning allowed.
WRAPPER_WARNING = "is different from the unwrapped version"


def paired_rollout(per: str, seed: int, steps: int = 60, **kwargs):
    """Step a shuffled and a plain FindTarget with the same seed and actions; yield both sides."""
    plain = gym.make(FIND_TARGET, **kwargs)
    shuffled = ShuffleParts(gym.make(FIND_TARGET, **kwargs), per=per)
    obs_p, info_p = plain.reset(seed=seed)
    obs_s, info_s = shuffled.reset(seed=seed)
    yield obs_p, info_p, obs_s, info_s, shuffled
    plain.action_space.seed(seed)
    for _ in range(steps):
        action = plain.action_space.sample()
        obs_p, _, term_p, trunc_p, info_p = plain.step(action)
        obs_s, _, term_s, trunc_s, info_s = shuffled.step(action)
        assert (term_p, trunc_p) == (term_s, trunc_s)
        yield obs_p, info_p, obs_s, info_s, shuffled
        if term_p or trunc_p:
            obs_p, info_p = plain.reset()
            obs_s, info_s = shuffled.reset()
            yield obs_p, info_p, obs_s, info_s, shuffled


@pytest.mark.parametrize("per", ["episode", "step"])
def test_shuffled_obs_is_the_plain_obs_permuted_and_parts_follow(per):
    for obs_p, info_p, obs_s, info_s, wrapper in paired_rollout(per, seed=5, n_entities=6):
        perm, inverse = wrapper.permutation, wrapper.inverse_permutation
        np.testing.assert_array_equal(obs_s, obs_p[perm])
        np.testing.assert_array_equal(obs_s[inverse], obs_p)
        parts = info_s["relevant_parts"]
        assert parts.dtype == np.int64 and parts.ndim == 1
        np.testing.assert_array_equal(parts, inverse[info_p["relevant_parts"]])
        np.testing.assert_array_equal(obs_s[parts], obs_p[info_p["relevant_parts"]])  # same rows, new places
        assert obs_s[parts[0], IS_TARGET] == 1.0
        assert info_s["is_success"] == info_p["is_success"]


def test_per_step_draws_a_new_permutation_every_step():
    env = ShuffleParts(gym.make(FIND_TARGET, n_entities=8), per="step")
    env.reset(seed=0)
    perms = [env.permutation]
    for _ in range(20):
        env.step(0)
        perms.append(env.permutation)
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(perms))
    for perm in perms:
        assert sorted(perm.tolist()) == list(range(8))


def test_per_episode_keeps_the_permutation_until_reset():
    env = ShuffleParts(gym.make(FIND_TARGET, n_entities=8))
    assert env.per == "episode"
    env.reset(seed=0)
    first = env.permutation
    for _ in range(20):
        env.step(0)
        np.testing.assert_array_equal(env.permutation, first)
    env.reset()
    assert not np.array_equal(env.permutation, first)


def test_same_seed_same_permutation_different_seed_differs():
    def perms(seed: int) -> list:
        env = ShuffleParts(gym.make(FIND_TARGET, n_entities=8), per="step")
        env.reset(seed=seed)
        out = [env.permutation]
        for _ in range(5):
            env.step(1)
            out.append(env.permutation)
        env.reset()
        return [*out, env.permutation]

    a, b, c = perms(3), perms(3), perms(4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("per", ["episode", "step"])
def test_same_seed_same_rollout(per):
    def trace(seed: int) -> list:
        env = ShuffleParts(gym.make(FIND_TARGET), per=per)
        obs, info = env.reset(seed=seed)
        env.action_space.seed(seed)
        out = [(obs, info["relevant_parts"])]
        for _ in range(60):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            out.append((obs, reward, terminated, truncated, info["relevant_parts"], info["is_success"]))
            if terminated or truncated:
                obs, info = env.reset()
        return out

    a, b, c = trace(7), trace(7), trace(8)
    for step_a, step_b in zip(a, b, strict=True):
        for x, y in zip(step_a, step_b, strict=True):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0][0], c[0][0])


@pytest.mark.parametrize("per", ["episode", "step"])
def test_check_env_passes_on_wrapped_find_target(per):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = ShuffleParts(gym.make(FIND_TARGET, render_mode="rgb_array"), per=per)
        check_env(env, skip_render_check=False)
    assert [str(w.message) for w in caught if WRAPPER_WARNING not in str(w.message)] == []


def test_flat_box_features_are_shuffled_with_union_bounds():
    inner = gym.make("CartPole-v1")
    env = ShuffleParts(gym.make("CartPole-v1"), per="step")
    low, high = inner.observation_space.low, inner.observation_space.high
    np.testing.assert_array_equal(env.observation_space.low, np.full(4, low.min(), dtype=np.float32))
    np.testing.assert_array_equal(env.observation_space.high, np.full(4, high.max(), dtype=np.float32))
    obs_p, _ = inner.reset(seed=1)
    obs_s, _ = env.reset(seed=1)
    np.testing.assert_array_equal(obs_s, obs_p[env.permutation])
    for i in range(10):
        obs_p, _, terminated, *_ = inner.step(i % 2)
        obs_s, *_ = env.step(i % 2)
        assert not terminated
        np.testing.assert_array_equal(obs_s, obs_p[env.permutation])
        assert env.observation_space.contains(obs_s)
    assert env.part_names == ["part_0", "part_1", "part_2", "part_3"]
    assert env.current_part_names is None  # CartPole names no parts


def test_keep_first_keeps_row_zero_in_place():
    env = ShuffleParts(gym.make(FIND_TARGET, n_entities=6), per="step", keep_first=True)
    env.reset(seed=0)
    for _ in range(10):
        assert env.permutation[0] == 0
        env.step(0)
    assert env.part_names[0] == "entity_0"
    assert env.current_part_names == [f"entity_{i}" for i in env.permutation]


def test_render_passes_through():
    env = ShuffleParts(gym.make(FIND_TARGET, render_mode="rgb_array"))
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8


class _SpaceEnv(gym.Env):
    """A do-nothing env with a given observation space."""

    def __init__(self, observation_space: spaces.Space) -> None:
        self.observation_space = observation_space
        self.action_space = spaces.Discrete(2)


@pytest.mark.parametrize(
    ("space", "match"),
    [
        (spaces.Dict({"a": spaces.Box(-1, 1, (3,))}), "Dict"),
        (spaces.Box(0, 255, (8, 8, 3), dtype=np.uint8), r"Box\(0, 255, \(8, 8, 3\)"),
        (spaces.Discrete(4), "Discrete"),
        (spaces.Box(-1, 1, (1, 3)), "at least 2 parts"),
    ],
)
def test_unsupported_spaces_raise_type_error(space, match):
    with pytest.raises(TypeError, match=match) as error:
        ShuffleParts(_SpaceEnv(space))
    if "parts" not in match:
        assert "2-D Box(N, F)" in str(error.value) and "1-D Box(F,)" in str(error.value)


def test_bad_per_raises_value_error():
    with pytest.raises(ValueError, match=r"per='often' is invalid: use one of \['episode', 'step'\]"):
        ShuffleParts(gym.make(FIND_TARGET), per="often")
