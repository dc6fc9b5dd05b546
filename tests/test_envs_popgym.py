"""The POPGym adapter: ``popgym-<Name>-v0`` ids become flat feature vectors (or windows) every algorithm reads.

Skipped without POPGym (``pip install "attention-rl[popgym]"``); the missing-package message is tested always.
"""

import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import train_rl
from envs.adapters import popgym as popgym_adapter
from envs.adapters.registry import adapter_for, make_adapted

PRESET_IDS = [
    "popgym-RepeatPreviousEasy-v0",
    "popgym-CountRecallEasy-v0",
    "popgym-PositionOnlyCartPoleEasy-v0",
    "popgym-AutoencodeEasy-v0",
]


@pytest.fixture
def popgym():
    return pytest.importorskip("popgym", reason='POPGym is not installed: pip install "attention-rl[popgym]"')


@pytest.mark.parametrize("env_id", PRESET_IDS)
def test_each_id_becomes_a_feature_vector_and_passes_check_env(popgym, env_id):
    assert adapter_for(env_id).name == "popgym"
    env = make_adapted(env_id)
    assert isinstance(env, popgym_adapter.PopGymFeatures)
    assert env.observation_space.dtype == np.float32 and env.observation_space.shape == (len(env.part_names),)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    again, _ = make_adapted(env_id).reset(seed=0)
    np.testing.assert_array_equal(obs, again)


def test_discrete_parts_are_one_hot_and_named(popgym):
    env = make_adapted("popgym-AutoencodeEasy-v0")  # Tuple(Discrete(2), Discrete(4))
    assert env.part_names == ["obs0=0", "obs0=1", "obs1=0", "obs1=1", "obs1=2", "obs1=3"]
    vectors = [env.reset(seed=0)[0]] + [env.step(env.action_space.sample())[0] for _ in range(5)]
    for obs in vectors:
        assert obs[:2].sum() == 1 and obs[2:].sum() == 1 and set(np.unique(obs)) == {0.0, 1.0}
    raw = gym.make("popgym-AutoencodeEasy-v0")
    flag, card = raw.reset(seed=0)[0]
    assert vectors[0][int(flag)] == 1 and vectors[0][2 + int(card)] == 1


def test_window_stacks_the_last_vectors_oldest_first(popgym):
    env = make_adapted("popgym-RepeatPreviousEasy-v0", window=3)
    assert env.observation_space.shape == (3, 4) and env.part_names == ["t-2", "t-1", "t-0"]
    first, _ = env.reset(seed=1)
    assert not first[:2].any() and first[2].sum() == 1  # zeros before the episode started
    second, *_ = env.step(env.action_space.sample())
    np.testing.assert_array_equal(second[1], first[2])
    assert env.spec.kwargs["window"] == 3  # a copy made from the spec (eval, probe) has the window too
    assert make_adapted(env.spec.id, **env.spec.kwargs).observation_space.shape == (3, 4)
    with pytest.raises(ValueError, match="window=0 is invalid"):
        make_adapted("popgym-RepeatPreviousEasy-v0", window=0)


def test_ids_train_through_the_cli(popgym, tmp_path, capsys):
    args = ["--env", "popgym-CountRecallEasy-v0", "--algo", "ppo_trxl", "--extractor", "mlp", "--run-dir", tmp_path,
            "--timesteps", "64", "--n-envs", "2", "--eval-episodes", "1", "--eval-freq", "0", "--no-progress-bar",
            "--no-attention-log", "--set", "hyperparams.n_steps=32", "hyperparams.batch_size=32",
            "policy_kwargs.memory_length=4", "focus=[readout]"]  # fmt: skip
    assert train_rl.main([str(a) for a in args]) == 0, capsys.readouterr().err
    assert train_rl.main(["--env", "popgym-AutoencodeEasy-v0", "--dry-run", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "adapter: popgym (" in out and "popgym-AutoencodeEasy-v0" in out


def test_missing_package_gives_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "popgym", None)
    with pytest.raises(ImportError, match=r'pip install "attention-rl\[popgym\]"'):
        popgym_adapter.make_popgym_env("popgym-RepeatPreviousEasy-v0")


def test_unknown_observation_spaces_raise():
    env = gym.make("CartPole-v1")
    env.observation_space = gym.spaces.Dict({"x": gym.spaces.Discrete(2)})
    with pytest.raises(TypeError, match="does not know the observation space"):
        popgym_adapter.PopGymFeatures(env)
