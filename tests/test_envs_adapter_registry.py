"""Third-party env ids are wrapped by their adapter everywhere: the CLI's --dry-run, training envs, names."""

import gymnasium as gym
import numpy as np
import pytest

import train_rl
from agents import RunConfig, build_model, make_env, resolve
from agents.setup.vec_envs import make_single_env
from envs.adapters.registry import adapter_for, describe_adapter

THIRD_PARTY = [
    ("MiniGrid-DoorKey-5x5-v0", "minigrid", "MiniGridCells", "minigrid"),
    ("MiniGrid-Empty-5x5-v0", "minigrid", "MiniGridCells", "minigrid"),
    ("MiniGrid-FourRooms-v0", "minigrid", "MiniGridCells", "minigrid"),
    ("intersection-v2", "highway", "HighwayEntities", "highway_env"),
    ("highway-fast-v0", "highway", "HighwayEntities", "highway_env"),
    ("roundabout-v0", "highway", "HighwayEntities", "highway_env"),
    ("merge-v0", "highway", "HighwayEntities", "highway_env"),
]


def wrappers(env: gym.Env) -> list[str]:
    names = []
    while isinstance(env, gym.Wrapper):
        names.append(type(env).__name__)
        env = env.env
    return names


@pytest.mark.slow
@pytest.mark.parametrize(("env_id", "adapter", "wrapper", "package"), THIRD_PARTY)
def test_third_party_id_builds_through_the_cli_with_its_adapter(env_id, adapter, wrapper, package, capsys):
    pytest.importorskip(package)
    assert train_rl.main(["--env", env_id, "--dry-run", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert f"adapter: {adapter} (" in out, out[-400:]
    env = make_single_env(env_id, {}, (package,))
    try:
        assert wrapper in wrappers(env)
        obs, info = env.reset(seed=0)
        assert env.observation_space.contains(obs) and "relevant_parts" in info and "is_success" in info
    finally:
        env.close()


def test_ids_without_an_adapter_are_made_as_they_are():
    assert adapter_for("CartPole-v1") is None and describe_adapter("attn/FindTarget-v0") == ""
    assert adapter_for("intersection-multi-agent-v0") is None  # several agents: tuples, not one entity set
    assert adapter_for("parking-v0") is None  # a goal Dict: the dict tokenizer reads it as it is
    assert adapter_for("my_pkg:MiniGrid-Custom-v0").name == "minigrid"


def test_minigrid_parts_take_the_adapters_cell_names():
    pytest.importorskip("minigrid")
    config = resolve(RunConfig(env="MiniGrid-DoorKey-5x5-v0", n_envs=1, threads=1))
    env = make_env(config, 1, 0)
    try:
        model = build_model(config, env)
    finally:
        env.close()
    names = model.policy.features_extractor.part_names
    assert names[0] == "cell_r0c0" and names[-1] == "cell_r6c6" and len(names) == 49


def test_classic_envs_name_their_features():
    config = resolve(RunConfig(env="Acrobot-v1", n_envs=1, threads=1))
    env = make_env(config, 1, 0)
    try:
        model = build_model(config, env)
    finally:
        env.close()
    assert model.policy.features_extractor.part_names[4] == "feature:theta1_velocity"


def intersection_alone() -> gym.Env:
    pytest.importorskip("highway_env")
    config = {"initial_vehicle_count": 0, "spawn_probability": 0.0}
    return make_single_env("intersection-v2", {"config": config}, ("highway_env",))


def test_intersection_counts_an_arrival_as_a_success():
    env = intersection_alone()
    try:
        env.reset(seed=0)
        terminated = truncated = False
        while not (terminated or truncated):  # FASTER, alone on the road: the ego crosses and leaves
            _, _, terminated, truncated, info = env.step(2)
        assert terminated and not info["crashed"] and info["rewards"]["arrived_reward"]
        assert info["is_success"] is True
    finally:
        env.close()


def test_intersection_counts_no_crash_by_time_as_no_success():
    env = intersection_alone()
    try:
        env.reset(seed=0)
        highway = env.get_wrapper_attr("succeeded")
        assert highway(False, True, {"crashed": False, "rewards": {"arrived_reward": 0.0}}) is False
        assert highway(True, False, {"crashed": True, "rewards": {"arrived_reward": 1.0}}) is False
        assert highway(True, False, {"crashed": False, "rewards": {"arrived_reward": 1.0}}) is True
    finally:
        env.close()


def test_relevant_parts_of_an_adapted_env_index_its_parts():
    pytest.importorskip("minigrid")
    env = make_single_env("MiniGrid-Empty-5x5-v0", {}, ("minigrid",))
    try:
        _, info = env.reset(seed=0)
        assert np.all(info["relevant_parts"] < len(env.get_wrapper_attr("part_names")))
    finally:
        env.close()
