"""What the highway adapters add to highway-env's ``info``: ``is_success`` and the ego's ``mean_speed``.

Shared by the entity rows (:class:`~envs.adapters.highway.HighwayEntities`) and the occupancy grid
(:class:`~envs.adapters.highway_grid.HighwayOccupancyGrid`); needs nothing of highway-env itself.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class EpisodeSpeed:
    """The ego's mean speed over an episode's steps, as ``info["mean_speed"]`` on every step (0.0 at reset)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.steps = 0

    def reset(self, info: dict[str, Any]) -> dict[str, Any]:
        """Start an episode; ``info`` with ``mean_speed`` 0.0."""
        self.total, self.steps = 0.0, 0
        return {**info, "mean_speed": 0.0}

    def step(self, info: dict[str, Any]) -> dict[str, Any]:
        """Add highway-env's ``info["speed"]`` of a step (if it gives one); ``info`` with the mean so far."""
        speed = info.get("speed")
        if speed is not None and np.isfinite(speed):
            self.total += float(speed)
            self.steps += 1
        return {**info, "mean_speed": self.total / self.steps if self.steps else 0.0}


def highway_success(env: gym.Env, terminated: bool, truncated: bool, info: dict[str, Any]) -> bool:
    """Whether a highway-env step ends the episode in success (without a crash, arrived or out of time).

    Arrived where the env has a destination (``intersection-*``: terminated, not crashed, ``has_arrived``), else
    by running out of time (truncated, not terminated).
    """
    if bool(info.get("crashed", False)):
        return False
    base = env.unwrapped
    if hasattr(base, "has_arrived"):  # intersection: the ego must cross and leave
        rewards = info.get("rewards") or {}
        arrived = rewards.get("arrived_reward")
        if arrived is None:
            arrived = base.has_arrived(base.vehicle)
        return bool(terminated and arrived)
    return bool(truncated and not terminated)
