"""MiniGrid's egocentric view as pixels (as ``RGBImgPartialObsWrapper`` draws it), with relevant view cells.

MiniGrid is an optional dependency: ``pip install "attention-rl[minigrid]"``; it is imported only when an env is
built.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.adapters.minigrid import _import_minigrid, mission_match, parse_mission

#: Pixels per view cell by default (MiniGrid's ``RGBImgPartialObsWrapper`` default): a 7x7 view is 56x56 pixels.
TILE_SIZE = 8


class MiniGridPixels(gym.Wrapper[np.ndarray, Any, dict[str, Any], Any], gym.utils.RecordConstructorArgs):
    """MiniGrid's ``V x V`` egocentric view as an RGB picture ``Box(V*t, V*t, 3)`` uint8, with relevant cells.

    ## Description
    The picture is MiniGrid's own rendering of the agent's view (``env.get_frame(tile_size, agent_pov=True)``,
    what ``minigrid.wrappers.RGBImgPartialObsWrapper`` gives): the agent at the bottom centre facing up, cells it
    cannot see drawn black. The mission text is dropped (in DoorKey and Empty it is always "get to the goal").
    A policy must read objects from pixels: this is the pixel counterpart of ``MiniGridCells``.

    ## Observation space
    ``Box(0, 255, (V * tile_size, V * tile_size, 3), uint8)``, channel-last RGB; view cell ``(r, c)`` (row 0
    farthest ahead, the agent at row ``V - 1``, column ``V // 2``) covers pixels ``[r * t, (r + 1) * t) x [c * t,
    (c + 1) * t)``. As parts, the view cells in row-major order, named ``cell_r{r}c{c}`` (``part_names``,
    ``grid``): part ``r * V + c``. A conv stem with a total stride of ``tile_size`` whose cells are centred on
    the tiles (``stem="small"`` at ``tile_size=8``) has exactly these parts.

    ## Action space, rewards, episode end
    The wrapped env's, unchanged (``Discrete(7)``; ``1 - 0.9 * steps / max_steps`` on success, else 0).

    ## Info
    The wrapped env's info, plus ``relevant_parts`` (``int64`` view cells holding the mission's object, as
    ``MiniGridCells`` names them: the goal square for "get to the goal"; empty when out of view) and
    ``is_success`` (a terminating step with a positive reward).

    ## Arguments
    - ``env``: a MiniGrid env with the default ``Dict`` observation (``image`` and ``mission`` keys).
    - ``tile_size`` (int, default 8): pixels per view cell.

    ## Version history
    - v0: first version.
    """

    def __init__(self, env: gym.Env, tile_size: int = TILE_SIZE) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, tile_size=tile_size)
        gym.Wrapper.__init__(self, env)
        _import_minigrid()
        image = env.observation_space.spaces.get("image") if isinstance(env.observation_space, spaces.Dict) else None
        if not (isinstance(image, spaces.Box) and len(image.shape) == 3 and image.shape[0] == image.shape[1] >= 3):
            raise TypeError(
                f"MiniGridPixels needs a MiniGrid Dict observation with an 'image' Box(V, V, 3), got "
                f"{env.observation_space}; do not apply MiniGrid's own observation wrappers before it."
            )
        if isinstance(tile_size, bool) or not isinstance(tile_size, int) or not 1 <= tile_size <= 32:
            raise ValueError(f"tile_size={tile_size!r} is invalid: use an integer in [1, 32] (pixels per view cell).")
        self.view_size = int(image.shape[0])
        self.tile_size = tile_size
        side = self.view_size * tile_size
        self.observation_space = spaces.Box(0, 255, (side, side, 3), dtype=np.uint8)
        #: ``(rows, cols)`` of the view cells, and their names (row-major).
        self.grid = (self.view_size, self.view_size)
        self.part_names = [f"cell_r{r}c{c}" for r in range(self.view_size) for c in range(self.view_size)]
        self._target: tuple[int, int | None] | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the wrapped env, parse its mission and draw the view."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._target = parse_mission(str(obs.get("mission", "")))
        return self._picture(), {**info, "relevant_parts": self._relevant(obs["image"]), "is_success": False}

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the wrapped env and draw the view."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        success = bool(terminated and float(reward) > 0)
        info = {**info, "relevant_parts": self._relevant(obs["image"]), "is_success": success}
        return self._picture(), reward, terminated, truncated, info

    def _picture(self) -> np.ndarray:
        return np.asarray(self.env.unwrapped.get_frame(tile_size=self.tile_size, agent_pov=True), dtype=np.uint8)

    def _relevant(self, image: np.ndarray) -> np.ndarray:
        cells = np.asarray(image).transpose(1, 0, 2).reshape(-1, 3).astype(np.int64)  # [x, y] -> row-major (y, x)
        return np.flatnonzero(mission_match(cells, self._target)).astype(np.int64)


def make_minigrid_pixels_env(
    env_id: str = "MiniGrid-DoorKey-5x5-v0", tile_size: int = TILE_SIZE, render_mode: str | None = None, **kwargs: Any
) -> gym.Env:
    """Make a MiniGrid env whose observation is its egocentric view in pixels (a :class:`MiniGridPixels`).

    The entry point of ``attn/MiniGridPixels-v0``: ``gymnasium.make("attn/MiniGridPixels-v0",
    env_id="MiniGrid-Empty-5x5-v0")`` passes its keyword arguments here.

    Args:
        env_id: a MiniGrid id (default ``MiniGrid-DoorKey-5x5-v0``).
        tile_size: pixels per view cell (default 8: a 56x56 picture of the 7x7 view).
        render_mode: ``"rgb_array"``, ``"human"`` or None (the full grid, as MiniGrid renders it).
        **kwargs: passed to the MiniGrid env (e.g. ``max_steps=100``).

    Raises:
        ImportError: MiniGrid is not installed (the message has the pip command).
    """
    _import_minigrid()
    return MiniGridPixels(gym.make(env_id, render_mode=render_mode, **kwargs), tile_size=tile_size)
