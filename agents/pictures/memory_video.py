"""Where in time a ``ppo_trxl`` policy looked, on every frame of its evaluation video.

``MemoryFrames`` is the memory's counterpart of ``AttentionFrames``: its ``render()`` returns the env's picture over
a timeline, one bar per memory step (``t-M .. t-1, t-0``, oldest left), each the focus a method
(``agents.trxl.focus``: ``causal`` or ``readout``) puts on that step for the action taken on the current
observation; the steps the env names in ``info["relevant_ages"]`` (CueMemory: the cue's step) are framed, and
slots from before the episode are left empty. The recording loop hands the memory to it (``state``) after each
``predict``, so the focus is computed with the memory the next action is taken with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.pictures.drawing import annotated_frame
from agents.pictures.episode_frames import EpisodeFrames
from agents.trxl.focus import memory_focus, memory_methods, relevant_memory_parts
from agents.trxl.memory import window_mask
from agents.trxl.policy import MemoryState, TrXLPolicy


def has_memory_focus(model: BaseAlgorithm) -> bool:
    """Whether the model's policy is a ``TrXLPolicy`` (its video draws the focus over the memory's steps)."""
    return isinstance(model.policy, TrXLPolicy)


class MemoryFrames(EpisodeFrames):
    """Frames of a ``ppo_trxl`` episode with the focus over the memory's steps as a timeline under the picture.

    Args:
        env: the env, made with ``render_mode="rgb_array"``.
        model: a ``TrXLPPO`` model.
        policy_obs: what the policy sees of an env observation (``VecNormalize`` statistics); None: as it is.
        method: the memory focus method drawn (``causal`` or ``readout``), named in the header.
    """

    def __init__(
        self,
        env: gym.Env,
        model: BaseAlgorithm,
        policy_obs: Callable[[Any], Any] | None = None,
        method: str = "causal",
    ) -> None:
        super().__init__(env, model, policy_obs, method)
        #: The memory the next action is taken with (``predict``'s returned state); None: an empty memory.
        self.state: MemoryState | None = None

    def check_method(self, method: str) -> str:
        """A memory focus method (``causal`` or ``readout``)."""
        return memory_methods([method])[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Reset the env, the episode counters and the memory."""
        out = super().reset(seed=seed, options=options)
        self.state = None
        return out

    def focus(self) -> tuple[np.ndarray, np.ndarray]:
        """``(M + 1,)`` focus over ``t-M .. t-0`` of the current observation, and the ``(M + 1,)`` slots in use."""
        policy: TrXLPolicy = self.model.policy
        obs_tensor, _ = policy.obs_to_tensor(self.policy_obs(self._obs))
        if self.state is None:
            memory = torch.zeros(1, *policy.memory_shape, device=policy.device)  # (1, M, L, D)
            steps = torch.zeros(1, dtype=torch.long, device=policy.device)
        else:
            memory = torch.as_tensor(self.state[0], device=policy.device)
            steps = torch.as_tensor(self.state[1], device=policy.device)
        mask = window_mask(steps, policy.memory.memory_length)  # (1, M)
        focus = memory_focus(policy, obs_tensor, memory, mask, [self.method])[self.method][0]  # (M + 1,)
        return focus, np.append(mask[0].cpu().numpy(), True)

    def render(self) -> np.ndarray:
        """The frame: header, the env's picture, and the timeline of the memory's focus, ``(H, W, 3)`` uint8."""
        frame = self.env.render() if self.env.render_mode == "rgb_array" else None
        focus, in_use = self.focus()
        names = self.model.policy.memory.part_names
        relevant = relevant_memory_parts(self._info, self.model.policy.memory.memory_length)
        top = int(focus.argmax())
        summary = f"{self.method} focus over memory: {names[top]} ({100 * focus[top]:.0f}%)"
        if relevant is not None:
            summary += f", on the step that mattered {100 * float(focus[relevant].sum()):.0f}%"
        header = [f"episode {self.episode + 1}  step {self.t}  return {self.episode_return:.2f}", summary]
        out = annotated_frame(frame, focus, names, header, relevant, in_use)
        self.frame_size = out.shape[:2]
        return out
