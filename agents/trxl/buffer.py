"""Rollout buffers of ``ppo_trxl``: each step keeps its memory as an index into the rollout, not as a copy.

Per env the buffer keeps one *timeline* of per-layer hidden states: the ``M`` states the env's memory held when
the rollout started (``carry_in``), then the state of each step of the rollout (``hidden``). The window that step
``t`` of env ``e`` attended over is ``timeline[e, t : t + M]`` (the policy's window slides one slot per step),
and which of its slots belonged to the step's episode follows from one integer per step, ``episode_steps``
(``agents.trxl.memory.window_mask``). So a rollout of ``T`` steps stores ``T + M`` hidden states per env instead
of ``T * M``, and every minibatch gathers exactly the windows the policy acted on, in any shuffled order: the
training pass recomputes the same attention (same parameters, same log-probabilities).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples, RolloutBufferSamples
from stable_baselines3.common.vec_env import VecNormalize

from agents.trxl.memory import window_mask
from agents.trxl.policy import MemoryBatch


class _MemoryMixin:
    """The memory part of the two buffers: ``carry_in``, ``hidden``, ``episode_steps`` and the window gather."""

    buffer_size: int
    n_envs: int
    pos: int

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        memory_shape: tuple[int, int, int],
        device: torch.device | str = "auto",
        gae_lambda: float = 1,
        gamma: float = 0.99,
        n_envs: int = 1,
    ) -> None:
        self.memory_shape = tuple(memory_shape)  # before the buffer's __init__, which calls reset()
        super().__init__(buffer_size, observation_space, action_space, device, gae_lambda, gamma, n_envs)

    def reset(self) -> None:
        """Empty the buffer (and its memory timeline)."""
        self._reset_memory()
        super().reset()

    def _get_samples(
        self, batch_inds: np.ndarray, env: VecNormalize | None = None
    ) -> RolloutBufferSamples | DictRolloutBufferSamples:
        return self._with_memory(super()._get_samples(batch_inds, env), batch_inds)

    def _reset_memory(self) -> None:
        length, layers, dim = self.memory_shape
        #: ``(n_envs, M, L, D)`` the memory windows at the start of the rollout.
        self.carry_in = np.zeros((self.n_envs, length, layers, dim), dtype=np.float32)
        #: ``(T, n_envs, L, D)`` what each layer received at each step.
        self.hidden = np.zeros((self.buffer_size, self.n_envs, layers, dim), dtype=np.float32)
        #: ``(T, n_envs)`` earlier steps of each step's episode (capped at ``M``).
        self.episode_steps = np.zeros((self.buffer_size, self.n_envs), dtype=np.int64)
        self._timeline: np.ndarray | None = None

    def start(self, memory: torch.Tensor) -> None:
        """Record the ``(n_envs, M, L, D)`` memory windows the rollout starts from (after ``reset``)."""
        self.carry_in[:] = memory.cpu().numpy()

    def add_memory(self, hidden: torch.Tensor, episode_steps: torch.Tensor) -> None:
        """Record step ``pos``'s ``hidden (n_envs, L, D)`` and ``episode_steps (n_envs,)``; call before ``add``."""
        self.hidden[self.pos] = hidden.cpu().numpy()
        self.episode_steps[self.pos] = episode_steps.cpu().numpy()

    def _windows(self, batch_inds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, M, L, D)`` windows and ``(B, M)`` masks for flat indices (env-major, as ``swap_and_flatten``)."""
        length = self.memory_shape[0]
        if self._timeline is None:
            self._timeline = np.concatenate([self.carry_in, self.hidden.swapaxes(0, 1)], axis=1)  # (E, M + T, L, D)
        env, step = np.divmod(batch_inds, self.buffer_size)  # (B,), (B,)
        windows = self._timeline[env[:, None], step[:, None] + np.arange(length)]  # (B, M, L, D)
        steps = torch.as_tensor(self.episode_steps[step, env])  # (B,)
        return windows, window_mask(steps, length).numpy()

    def _with_memory(self, samples: Any, batch_inds: np.ndarray) -> Any:
        windows, masks = self._windows(batch_inds)
        batch = MemoryBatch(samples.observations, self.to_torch(windows), self.to_torch(masks).bool())
        return samples._replace(observations=batch)


class TrXLRolloutBuffer(_MemoryMixin, RolloutBuffer):
    """``RolloutBuffer`` whose samples carry their memory windows (``MemoryBatch`` as ``observations``).

    Args:
        buffer_size: steps per env in a rollout (``n_steps``).
        observation_space: the env's observation space.
        action_space: the env's action space.
        memory_shape: ``(M, L, D)`` of the policy's memory window.
        device: torch device of the samples.
        gae_lambda: GAE's lambda.
        gamma: discount factor.
        n_envs: parallel envs.
    """


class TrXLDictRolloutBuffer(_MemoryMixin, DictRolloutBuffer):
    """``DictRolloutBuffer`` whose samples carry their memory windows (see ``TrXLRolloutBuffer``)."""
