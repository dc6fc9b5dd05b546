"""The part of an evaluation video's frame wrapper that every kind of focus shares: the episode it is in.

``EpisodeFrames`` keeps the current observation and info, the episode and step counters and the return, and
says ``render_mode="rgb_array"``; ``AttentionFrames`` (attention over the observation's parts) and
``MemoryFrames`` (focus over a memory's steps) add the method they check and the ``render()`` they draw, and
``PlainFrames`` draws the scene of a policy without attention.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.pictures.drawing import stack_panels, text_strip
from policies import find_attention_extractor


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


class PlainFrames(EpisodeFrames):
    """``render()`` gives the env's frame under a header (episode, step, return): a policy without attention.

    An MLP or CNN baseline (``--extractor mlp``, ``grid_cnn``) has no focus to draw; its video shows what it did.
    """

    def check_method(self, method: str) -> str:
        """Any method: nothing is drawn."""
        return method

    def render(self) -> np.ndarray:
        """The env's frame with the header, ``(H, W, 3)`` uint8 (sizes divisible by 16)."""
        frame = self.env.render() if self.env.render_mode == "rgb_array" else None
        width = 384 if frame is None else max(frame.shape[1], 256)
        found = (m for m in self.model.policy.modules() if isinstance(m, BaseFeaturesExtractor))
        extractor = type(next(found, None)).__name__  # DQN keeps it in its q_net
        header = [
            f"episode {self.episode + 1}  step {self.t}  return {self.episode_return:.2f}",
            f"no attention to draw: the policy reads its observation with {extractor}",
        ]
        out = stack_panels([text_strip(header, width), *([frame] if frame is not None else [])])
        self.frame_size = out.shape[:2]
        return out


def has_attention(model: BaseAlgorithm) -> bool:
    """Whether the model's policy reads its observation with an ``AttentionExtractor`` (its focus can be drawn)."""
    try:
        find_attention_extractor(model)
    except TypeError:
        return False
    return True
