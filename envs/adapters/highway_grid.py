"""highway-env's ``OccupancyGrid`` observation, with the adapter's success flag and fast simulation.

The highway adapter gives entity rows (Kinematics) unless the env is configured with highway-env's own
``OccupancyGrid`` observation: then :class:`HighwayOccupancyGrid` keeps that grid (every setting of it is
highway-env's) and adds what the adapter adds to any highway-env env: ``info["is_success"]`` and the exact fast
simulation. A grid has no parts to name (its cells are not entities), so the attention focus does not apply:
read it with a CNN (``--extractor grid_cnn``), as Social Attention's convolutional baseline does.

Needs highway-env (imported when a wrapper is built).
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.adapters.highway import _import_highway_env
from envs.adapters.highway_info import EpisodeSpeed, highway_success

#: Social Attention's occupancy grid on intersection-v0 (rl-agents' ``IntersectionEnv/env_grid_dense.json``): the
#: Kinematics features of every vehicle in a 64 m x 64 m square around the ego, in 2 m cells (a 7 x 32 x 32 grid).
PAPER_GRID: dict[str, Any] = {
    "type": "OccupancyGrid",
    "vehicles_count": 15,
    "features": ["presence", "x", "y", "vx", "vy", "cos_h", "sin_h"],
    "features_range": {"x": [-100, 100], "y": [-100, 100], "vx": [-20, 20], "vy": [-20, 20]},
    "grid_size": [[-32, 32], [-32, 32]],
    "grid_step": [2, 2],
    "absolute": False,
}


class HighwayOccupancyGrid(gym.Wrapper[np.ndarray, Any, np.ndarray, Any], gym.utils.RecordConstructorArgs):
    """A highway-env env configured with ``observation: {type: OccupancyGrid, ...}``, its grid as it gives it.

    ## Observation space
    highway-env's ``Box(C, W, H)`` float32 (``C`` features, ``W`` x ``H`` cells: ``grid_size`` / ``grid_step``),
    bounded to ``[-1, 1]`` when the grid clips (highway-env's default); a cell without a vehicle is 0.

    ## Info
    The wrapped env's info, plus ``is_success`` and ``mean_speed`` as :class:`~envs.adapters.highway.HighwayEntities`
    sets them (success: without a crash, arrived on ``intersection-*``, else the time ran out; the ego's mean speed
    over the episode so far).

    ## Arguments
    - ``env``: a highway-env env whose ``observation`` config has ``type: OccupancyGrid``.
    - ``fast_simulation`` (bool, default True): highway-env's simulation with the adapter's exact fast road
      queries and vehicle updates (the same episodes, seed by seed); False keeps highway-env's code.

    Raises:
        ImportError: highway-env is not installed (the message has the pip command).
        TypeError: ``env`` is not a highway-env env, or its observation is not an ``OccupancyGrid``.
    """

    def __init__(self, env: gym.Env, fast_simulation: bool = True) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, fast_simulation=fast_simulation)
        gym.Wrapper.__init__(self, env)
        highway_env = _import_highway_env()
        base = env.unwrapped
        if not isinstance(base, highway_env.envs.common.abstract.AbstractEnv):
            raise TypeError(f"HighwayOccupancyGrid needs a highway-env env, got {base!r}.")
        kind = (base.config.get("observation") or {}).get("type")
        if kind != "OccupancyGrid":
            raise TypeError(
                f"HighwayOccupancyGrid reads highway-env's OccupancyGrid observation; this env observes {kind!r}: "
                "configure it with config={'observation': {'type': 'OccupancyGrid', ...}}."
            )
        self.fast_simulation = bool(fast_simulation)
        self._install_fast_simulation()
        space = env.observation_space
        clipped = bool(getattr(base.observation_type, "clip", False))
        if isinstance(space, spaces.Box) and space.dtype == np.float32 and clipped:
            space = spaces.Box(low=-1.0, high=1.0, shape=space.shape, dtype=np.float32)
        self.observation_space = space
        self._speed = EpisodeSpeed()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the wrapped env; ``is_success`` is False and ``mean_speed`` 0.0."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._install_fast_simulation()  # in case this env built its road some other way
        return np.asarray(obs, dtype=self.observation_space.dtype), self._speed.reset({**info, "is_success": False})

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the wrapped env and add ``is_success`` and ``mean_speed`` to its info."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = self._speed.step({**info, "is_success": highway_success(self.env, terminated, truncated, info)})
        return np.asarray(obs, dtype=self.observation_space.dtype), reward, terminated, truncated, info

    def _install_fast_simulation(self) -> None:
        if self.fast_simulation:
            from envs.adapters.highway_fast_road import install_fast_road

            install_fast_road(self.env)
