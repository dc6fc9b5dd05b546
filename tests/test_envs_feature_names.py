"""Named parts for Gymnasium's classic flat-vector envs: the focus table says feature:pole_angle, not feature:2."""

import gymnasium as gym
import pytest

import agents
from agents.setup.build import checked_model
from envs.feature_names import part_names_of
from policies import find_attention_extractor


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1"])
def test_names_match_the_envs_observation(env_id):
    size = gym.make(env_id).observation_space.shape[0]
    names = part_names_of(env_id, size)
    assert names is not None and len(names) == size == len(set(names))


def test_lookup_ignores_version_and_module_and_checks_the_size():
    assert part_names_of("gymnasium:CartPole-v0", 4)[2] == "feature:pole_angle"
    assert len(part_names_of("BipedalWalker-v3", 24)) == 24
    assert part_names_of("CartPole-v1", 5) is None  # a different observation: no names
    assert part_names_of("MyEnv-v0", 4) is None


def part_names(**config):
    model = checked_model(agents.resolve(agents.RunConfig(n_envs=1, **config)))
    return find_attention_extractor(model).part_names


def test_feature_tokens_of_a_classic_env_get_its_names():
    assert part_names(env="CartPole-v1", extractor="attention")[2] == "feature:pole_angle"
    assert part_names(env="Acrobot-v1", extractor="features")[4] == "feature:theta1_velocity"


def test_the_runs_own_names_win():
    names = part_names(env="CartPole-v1", extractor="attention", extractor_kwargs={"feature_names": list("abcd")})
    assert names == ["feature:a", "feature:b", "feature:c", "feature:d"]
