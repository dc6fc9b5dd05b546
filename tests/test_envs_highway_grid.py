"""highway-env's OccupancyGrid through the highway adapter, and the CNN that reads it (Social Attention's baseline)."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import train_rl
from envs.adapters.registry import make_adapted
from policies.grid_cnn import GridCNN

PAPER = {
    "type": "OccupancyGrid",
    "features": ["presence", "x", "y", "vx", "vy", "cos_h", "sin_h"],
    "features_range": {"x": [-100, 100], "y": [-100, 100], "vx": [-20, 20], "vy": [-20, 20]},
    "grid_size": [[-32, 32], [-32, 32]],
    "grid_step": [2, 2],
}


@pytest.fixture(scope="module")
def highway_grid():
    pytest.importorskip("highway_env", reason='needs pip install "attention-rl[highway]"')
    from envs.adapters.highway_grid import HighwayOccupancyGrid

    return HighwayOccupancyGrid


def grid_env(fast_simulation: bool = True) -> gym.Env:
    return make_adapted("intersection-v0", config={"observation": PAPER}, fast_simulation=fast_simulation)


def test_an_occupancy_grid_config_keeps_highway_envs_grid_with_the_adapters_success(highway_grid):
    env = grid_env()
    assert isinstance(env, highway_grid)
    assert env.observation_space == gym.spaces.Box(-1.0, 1.0, (7, 32, 32), np.float32)
    obs, info = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs in env.observation_space and info["is_success"] is False
    assert obs[0].sum() >= 1  # the presence layer has the ego's cell at least
    for _ in range(30):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs in env.observation_space and "is_success" in info and info["mean_speed"] > 0
        if terminated or truncated:
            arrived = bool(env.unwrapped.has_arrived(env.unwrapped.vehicle))
            assert info["is_success"] == (not info["crashed"] and arrived)
            break
    check_env(grid_env(), skip_render_check=True)


def test_the_fast_simulation_gives_highway_envs_own_grids(highway_grid):
    fast, plain = grid_env(True), grid_env(False)
    for seed in range(2):
        a, _ = fast.reset(seed=seed)
        b, _ = plain.reset(seed=seed)
        np.testing.assert_array_equal(a, b)
        for step in range(8):
            a, reward_a, done_a, cut_a, _ = fast.step(step % 3)
            b, reward_b, done_b, cut_b, _ = plain.step(step % 3)
            np.testing.assert_array_equal(a, b)
            assert (reward_a, done_a, cut_a) == (reward_b, done_b, cut_b)
            if done_a or cut_a:
                break


def test_the_grid_wrapper_refuses_another_observation(highway_grid):
    env = gym.make("intersection-v0")
    with pytest.raises(TypeError, match="OccupancyGrid observation; this env observes 'Kinematics'"):
        highway_grid(env)


def test_grid_cnn_halves_the_grid_three_times_and_gives_its_features():
    space = gym.spaces.Box(-1.0, 1.0, (7, 32, 32), np.float32)
    extractor = GridCNN(space)
    assert extractor.features_dim == 20 and extractor.head[0].in_features == 64 * 4 * 4
    features = extractor(torch.zeros(5, 7, 32, 32))
    assert features.shape == (5, 20) and bool((features >= 0).all())


@pytest.mark.parametrize(
    ("space", "kwargs", "error", "match"),
    [
        (gym.spaces.Box(-1.0, 1.0, (15, 7), np.float32), {}, TypeError, r"reads a Box\(C, H, W\) grid"),
        (gym.spaces.Box(-1.0, 1.0, (7, 4, 4), np.float32), {}, ValueError, "A 4 x 4 grid is too small"),
        (gym.spaces.Box(-1.0, 1.0, (7, 32, 32), np.float32), {"channels": []}, ValueError, "channels=()"),
        (gym.spaces.Box(-1.0, 1.0, (7, 32, 32), np.float32), {"features_dim": 0}, ValueError, "features_dim"),
    ],
)
def test_grid_cnn_refuses_what_it_cannot_read(space, kwargs, error, match):
    with pytest.raises(error, match=match):
        GridCNN(space, **kwargs)


def test_the_papers_cnn_arm_is_the_dqn_preset_with_grid_cnn(highway_grid, capsys):
    assert train_rl.main(["--env", "intersection-v0", "--algo", "dqn", "--extractor", "grid_cnn", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "type: OccupancyGrid" in out and "grid_step:" in out and "net_arch: []" in out
    assert "extractor grid_cnn (channels=[16, 32, 64], features_dim=20, kernel_size=2)" in out
    assert "presets configs/dqn.yaml: default, intersection-v0@grid_cnn" in out


def test_envpool_refuses_a_grid_observation(highway_grid, capsys, tmp_path):
    pytest.importorskip("envpool", reason='needs pip install "attention-rl[envpool]"')
    args = ["--env", "highway-fast-v0", "--algo", "dqn", "--extractor", "grid_cnn", "--vec-env", "envpool"]
    args += ["--timesteps", "64", "--run-dir", str(tmp_path)]
    assert train_rl.main([*args, "--set", "env_kwargs.config.observation.type=OccupancyGrid"]) == 2
    assert "gives Kinematics rows only, not the observation type 'OccupancyGrid'" in capsys.readouterr().err


def test_grid_cnn_on_entity_rows_says_how_to_give_it_a_grid(highway_grid, capsys):
    # PPO's default section sets attention settings (head): they are not the CNN's, so the error is the grid's.
    assert train_rl.main(["--env", "intersection-v0", "--algo", "ppo", "--extractor", "grid_cnn", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "GridCNN reads a Box(C, H, W) grid, got a Box of shape (15, 7)" in err
    assert "env_kwargs.config.observation.type=OccupancyGrid" in err
