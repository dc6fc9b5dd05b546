"""Adapters that give third-party environments a part axis and ``info["relevant_parts"]``.

Each adapter's third-party package is an optional dependency, imported only when an env is built:

- :mod:`envs.adapters.highway`: highway-env (``pip install "attention-rl[highway]"``).
- :mod:`envs.adapters.minigrid`: MiniGrid (``pip install "attention-rl[minigrid]"``).
- :mod:`envs.adapters.popgym`: POPGym (``pip install "attention-rl[popgym]"``).
"""

from __future__ import annotations

from envs.adapters.highway import HighwayEntities, make_highway_env
from envs.adapters.minigrid import MiniGridCells, make_minigrid_env
from envs.adapters.popgym import PopGymFeatures, make_popgym_env

__all__ = [
    "HighwayEntities", "MiniGridCells", "PopGymFeatures", "make_highway_env", "make_minigrid_env", "make_popgym_env",
]  # fmt: skip
