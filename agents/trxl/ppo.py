"""``TrXLPPO`` (``ppo_trxl``): PPO whose policy attends over the episode's memory, in sb3-contrib's RecurrentPPO style.

What differs from PPO is only where memory is involved:

- ``collect_rollouts`` keeps each env's memory window ``(n_envs, M, L, D)`` and its episode's step count, clears
  the count where an episode starts (``_last_episode_starts``, as RecurrentPPO resets its LSTM state), slides the
  window by one step after each action, and stores the hidden states and counts in the rollout buffer
  (``agents.trxl.buffer``), not a window per step;
- a timeout's bootstrap value is computed with the memory of the episode that ended;
- ``train`` is PPO's own: the buffer's samples carry their windows inside ``observations`` (``MemoryBatch``),
  which PPO passes to ``policy.evaluate_actions`` untouched.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from agents.trxl.buffer import TrXLDictRolloutBuffer, TrXLRolloutBuffer
from agents.trxl.memory import shift_in, window_mask
from agents.trxl.policy import CnnTrXLPolicy, MultiInputTrXLPolicy, TrXLPolicy


class TrXLPPO(PPO):
    """PPO with a Transformer-XL-style episode memory (``TrXLPolicy``).

    PPO's arguments; the memory's are in ``policy_kwargs`` (``memory_length``, ``memory_dim``, ``memory_heads``,
    ``memory_layers``).

    Example::

        from agents.trxl import TrXLPPO
        model = TrXLPPO("MlpTrXLPolicy", "CartPole-v1", policy_kwargs=dict(memory_length=32)).learn(10_000)

    Evaluate with SB3's ``evaluate_policy`` (or ``model.predict(obs, state, episode_start)``): the state it
    carries is each env's memory, cleared where an episode starts.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpTrXLPolicy": TrXLPolicy,
        "CnnTrXLPolicy": CnnTrXLPolicy,
        "MultiInputTrXLPolicy": MultiInputTrXLPolicy,
    }
    policy: TrXLPolicy

    def _setup_model(self) -> None:
        super()._setup_model()
        if not isinstance(self.policy, TrXLPolicy):
            raise ValueError(f"TrXLPPO needs a TrXLPolicy, got {type(self.policy).__name__}.")
        buffer_cls = TrXLDictRolloutBuffer if isinstance(self.observation_space, spaces.Dict) else TrXLRolloutBuffer
        self.rollout_buffer = buffer_cls(
            self.n_steps,
            self.observation_space,
            self.action_space,
            self.policy.memory_shape,
            device=self.device,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            n_envs=self.n_envs,
        )
        self._reset_memory()

    def _reset_memory(self) -> None:
        #: ``(n_envs, M, L, D)`` each env's memory window; ``(n_envs,)`` earlier steps of its episode.
        self._memory = self.policy.memory.empty(self.n_envs, self.device)[0]
        self._episode_steps = torch.zeros(self.n_envs, dtype=torch.long, device=self.device)

    def _excluded_save_params(self) -> list[str]:
        # The live memory belongs to the env's current episodes; a loaded model starts new ones.
        return [*super()._excluded_save_params(), "_memory", "_episode_steps"]

    def _setup_learn(self, *args: Any, **kwargs: Any) -> Any:
        result = super()._setup_learn(*args, **kwargs)
        if len(self._memory) != self.n_envs:  # set_env with another number of envs
            self._reset_memory()
        return result

    def collect_rollouts(
        self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer, n_rollout_steps: int
    ) -> bool:
        """Fill the rollout buffer with ``n_rollout_steps`` steps per env, carrying each env's memory."""
        if not isinstance(rollout_buffer, (TrXLRolloutBuffer, TrXLDictRolloutBuffer)):
            raise TypeError(f"{type(rollout_buffer).__name__} does not store memory: TrXLPPO needs its own buffer.")
        if self._last_obs is None:
            raise RuntimeError("No previous observation: call learn(), which resets the env first.")
        self.policy.set_training_mode(False)
        length = self.policy.memory.memory_length
        n_steps = 0
        rollout_buffer.reset()
        rollout_buffer.start(self._memory)
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()

        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)
            starts = torch.as_tensor(self._last_episode_starts, dtype=torch.bool, device=self.device)
            episode_steps = self._episode_steps.masked_fill(starts, 0)  # (n_envs,)
            with torch.no_grad():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)
                mask = window_mask(episode_steps, length)  # (n_envs, M)
                actions, values, log_probs, hidden = self.policy(obs_tensor, self._memory, mask)
            rollout_buffer.add_memory(hidden, episode_steps)
            self._memory = shift_in(self._memory, hidden)
            self._episode_steps = (episode_steps + 1).clamp_max(length)
            actions = actions.cpu().numpy()
            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                clipped_actions = (
                    self.policy.unscale_action(clipped_actions)
                    if self.policy.squash_output
                    else np.clip(actions, self.action_space.low, self.action_space.high)
                )

            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            n_steps += 1
            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)

            # A timeout is bootstrapped with the value of its terminal observation, seen with its episode's memory.
            for idx, done in enumerate(dones):
                info = infos[idx]
                if done and info.get("terminal_observation") is not None and info.get("TimeLimit.truncated", False):
                    terminal_obs = self.policy.obs_to_tensor(info["terminal_observation"])[0]
                    with torch.no_grad():
                        memory = self._memory[idx : idx + 1]
                        terminal_mask = window_mask(self._episode_steps[idx : idx + 1], length)
                        terminal_value = self.policy.predict_values(terminal_obs, memory, terminal_mask)[0]
                    rewards[idx] += self.gamma * terminal_value

            rollout_buffer.add(self._last_obs, actions, rewards, self._last_episode_starts, values, log_probs)
            self._last_obs = new_obs
            self._last_episode_starts = dones

        with torch.no_grad():
            starts = torch.as_tensor(dones, dtype=torch.bool, device=self.device)
            mask = window_mask(self._episode_steps.masked_fill(starts, 0), length)
            values = self.policy.predict_values(obs_as_tensor(new_obs, self.device), self._memory, mask)
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True
