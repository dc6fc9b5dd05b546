"""``attn/MiniGridPixels-v0``: MiniGrid's egocentric view in pixels, with the view cells that hold the goal."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers attn/MiniGridPixels-v0)

pytest.importorskip("minigrid")

from envs.adapters.minigrid import make_minigrid_env
from envs.adapters.minigrid_pixels import make_minigrid_pixels_env


def test_spaces_grid_and_check_env():
    env = gym.make("attn/MiniGridPixels-v0")
    assert env.observation_space.shape == (56, 56, 3) and env.observation_space.dtype == np.uint8
    names = env.get_wrapper_attr("part_names")
    assert names[0] == "cell_r0c0" and len(names) == 49 and env.get_wrapper_attr("grid") == (7, 7)
    check_env(make_minigrid_pixels_env("MiniGrid-Empty-5x5-v0", tile_size=4).unwrapped, skip_render_check=True)
    assert make_minigrid_pixels_env(tile_size=4).observation_space.shape == (28, 28, 3)
    with pytest.raises(ValueError, match=r"tile_size=0 is invalid"):
        make_minigrid_pixels_env(tile_size=0)


def test_same_relevant_cells_as_the_cell_adapter_and_same_seed_same_pictures():
    pixels, cells = make_minigrid_pixels_env("MiniGrid-Empty-5x5-v0"), make_minigrid_env("MiniGrid-Empty-5x5-v0")
    (a, info_p), (_, info_c) = pixels.reset(seed=3), cells.reset(seed=3)
    seen = 0
    for action in [2, 2, 1, 2, 2, 0, 2]:
        np.testing.assert_array_equal(info_p["relevant_parts"], info_c["relevant_parts"])
        seen += len(info_p["relevant_parts"])
        for part in info_p["relevant_parts"]:  # the goal (green) is drawn in its view cell's 8 x 8 tile
            r, c = divmod(int(part), 7)
            tile = a[8 * r : 8 * r + 8, 8 * c : 8 * c + 8].reshape(-1, 3)
            assert ((tile[:, 1] > 200) & (tile[:, 0] < 100)).any()
        a, _, terminated, _, info_p = pixels.step(action)
        _, _, _, _, info_c = cells.step(action)
        if terminated:
            break
    assert seen > 0
    again, _ = make_minigrid_pixels_env("MiniGrid-Empty-5x5-v0").reset(seed=3)
    np.testing.assert_array_equal(again, pixels.reset(seed=3)[0])
