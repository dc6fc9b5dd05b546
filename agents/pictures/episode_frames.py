"""The part of an evaluation video's frame wrapper that every kind of focus shares: the episode it is in.

``EpisodeFrames`` keeps the current observation and info, the episode and step counters and the return, and
says ``render_mode="rgb_array"``; ``AttentionFrames`` (attention over the observation's parts) and
``MemoryFrames`` (focus over a memory's steps) add the method they check and the ``render()`` they draw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm


class EpisodeFrames(gym.Wrapper):
    """An env wrapper that draws each frame of a model's episodes (subclasses give ``check_method`` and ``render``).

    Args:
        env: the env.
        model: the SB3 model whose focus is drawn.
        policy_obs: what the policy sees of an env observation (the run's frozen ``VecNormalize`` statistics);
            None: the observation as it is.
        method: the focus method drawn, checked by ``check_method``.
    """

    def __init__(
        self, env: gym.Env, model: BaseAlgorithm, policy_obs: Callable[[Any], Any] | None, method: str
    ) -> None:
        super().__init__(env)
        self.model = model
        self.method = self.check_method(method)
        self.policy_obs = policy_obs or (lambda obs: obs)
        self._obs: Any = None
        self._info: dict[str, Any] = {}
        self.episode, self.t, self.episode_return = -1, 0, 0.0
        #: ``(height, width)`` of the last rendered frame.
        self.frame_size = (0, 0)

    def check_method(self, method: str) -> str:
        """The method's registered name; ``ValueError`` for one this kind of frame cannot draw."""
        raise NotImplementedError

    @property
    def render_mode(self) -> str:
        """``rgb_array``: every frame is drawn."""
        return "rgb_array"

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Reset the env and the episode counters."""
        self._obs, self._info = self.env.reset(seed=seed, options=options)
        self.episode, self.t, self.episode_return = self.episode + 1, 0, 0.0
        return self._obs, self._info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env, keeping the observation to draw the focus of."""
        self._obs, reward, terminated, truncated, self._info = self.env.step(action)
        self.t += 1
        self.episode_return += float(reward)
        return self._obs, reward, terminated, truncated, self._info
