"""``TrXLPolicy``: an actor-critic policy whose features pass through the episode memory (``EpisodeMemory``).

``observation -> features extractor (one token per step: an AttentionExtractor over the step's parts, or Flatten)
-> EpisodeMemory over the episode's last steps -> SB3's MlpExtractor -> action / value heads``.
Actor and critic share the extractor and the memory.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor, MlpExtractor, NatureCNN

from agents.trxl.memory import EpisodeMemory, shift_in, window_mask
from envs.validation import check_int
from policies.attention import LAYERS_WHY, MAX_LAYERS

#: What ``predict`` carries from step to step: ``(memory (n_envs, M, L, D), episode_steps (n_envs,))``.
MemoryState = tuple[np.ndarray, np.ndarray]


class MemoryBatch(NamedTuple):
    """Observations with the memory windows they were acted on (the rollout buffer's ``observations`` field).

    SB3's ``PPO.train`` hands a sample's ``observations`` to ``policy.evaluate_actions`` and touches it nowhere
    else, so the windows travel with them and ``TrXLPPO`` keeps PPO's own training loop.
    """

    observations: torch.Tensor | dict[str, torch.Tensor]
    """``(B, *obs_shape)`` (or a dict of them)."""
    memory: torch.Tensor
    """``(B, M, L, D)`` the memory window each step saw."""
    memory_mask: torch.Tensor
    """``(B, M)`` True for slots of the step's own episode."""


class TrXLPolicy(ActorCriticPolicy):
    """Actor-critic policy with a Transformer-XL-style memory over the episode (``ppo_trxl``).

    Takes ``ActorCriticPolicy``'s arguments (``net_arch`` is the MLP after the memory) and:

    Args:
        memory_length: earlier steps of the episode each layer attends over (``M``; 64-256 for long delays).
        memory_dim: width of the memory's hidden states.
        memory_heads: attention heads of the memory; must divide ``memory_dim``.
        memory_layers: transformer layers over the memory (the receptive field is ``memory_layers *
            memory_length`` steps).
        memory_mlp_ratio: hidden width of each memory block's MLP, as a multiple of ``memory_dim``.

    ``ortho_init`` re-initialises the features extractor and the heads as in PPO; the memory keeps PyTorch's
    initialisation (its blocks are pre-LayerNorm transformer blocks).
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Any,
        *args: Any,
        memory_length: int = 64,
        memory_dim: int = 64,
        memory_heads: int = 2,
        memory_layers: int = 2,
        memory_mlp_ratio: float = 2.0,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("share_features_extractor") is False:
            raise ValueError(
                "ppo_trxl shares one features extractor and one memory between actor and critic: leave "
                "policy_kwargs.share_features_extractor unset (or true)."
            )
        check_int("memory_length", memory_length, 1)
        check_int("memory_layers", memory_layers, 1, MAX_LAYERS, why=LAYERS_WHY)
        check_int("memory_heads", memory_heads, 1)
        check_int("memory_dim", memory_dim, 1)
        if memory_dim % memory_heads:
            raise ValueError(
                f"memory_dim={memory_dim} is not divisible by memory_heads={memory_heads}: each head needs an equal "
                f"share; use e.g. memory_dim={memory_heads * max(1, memory_dim // memory_heads)}."
            )
        self.memory_kwargs = dict(
            memory_length=memory_length,
            embed_dim=memory_dim,
            num_heads=memory_heads,
            num_layers=memory_layers,
            mlp_ratio=memory_mlp_ratio,
        )
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        kwargs = self.memory_kwargs
        data.update(
            memory_length=kwargs["memory_length"],
            memory_dim=kwargs["embed_dim"],
            memory_heads=kwargs["num_heads"],
            memory_layers=kwargs["num_layers"],
            memory_mlp_ratio=kwargs["mlp_ratio"],
        )
        return data

    def _build_mlp_extractor(self) -> None:
        self.memory = EpisodeMemory(self.features_dim, **self.memory_kwargs)
        self.mlp_extractor = MlpExtractor(
            self.memory.embed_dim, net_arch=self.net_arch, activation_fn=self.activation_fn, device=self.device
        )

    @property
    def memory_shape(self) -> tuple[int, int, int]:
        """``(M, L, D)``: one env's memory window."""
        return self.memory.memory_length, self.memory.num_layers, self.memory.embed_dim

    # ------------------------------------------------------------------ forward passes
    def _latents(
        self, obs: Any, memory: torch.Tensor | None, memory_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(latent_pi, latent_vf, hidden (B, L, D))``; no memory = the first step of an episode."""
        features = self.extract_features(obs)  # (B, features_dim)
        if memory is None or memory_mask is None:
            memory, memory_mask = self.memory.empty(len(features), features.device)
        latent, hidden = self.memory(features, memory, memory_mask)  # (B, D), (B, L, D)
        latent_pi, latent_vf = self.mlp_extractor(latent)
        return latent_pi, latent_vf, hidden

    def forward(  # type: ignore[override]
        self,
        obs: torch.Tensor | dict[str, torch.Tensor],
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(actions, values, log_prob, hidden (B, L, D))`` for a batch of steps and their memory windows."""
        latent_pi, latent_vf, hidden = self._latents(obs, memory, memory_mask)
        values = self.value_net(latent_vf)
        distribution = self._get_action_dist_from_latent(latent_pi)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        return actions.reshape((-1, *self.action_space.shape)), values, log_prob, hidden

    def evaluate_actions(  # type: ignore[override]
        self, obs: MemoryBatch | torch.Tensor | dict[str, torch.Tensor], actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(values, log_prob, entropy)`` of ``actions``; ``obs`` a ``MemoryBatch`` (else: first steps)."""
        memory = memory_mask = None
        if isinstance(obs, MemoryBatch):
            obs, memory, memory_mask = obs
        latent_pi, latent_vf, _ = self._latents(obs, memory, memory_mask)
        distribution = self._get_action_dist_from_latent(latent_pi)
        return self.value_net(latent_vf), distribution.log_prob(actions), distribution.entropy()

    def get_distribution(  # type: ignore[override]
        self,
        obs: torch.Tensor | dict[str, torch.Tensor],
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> Distribution:
        """The action distribution; without a memory, as on the first step of an episode."""
        return self._get_action_dist_from_latent(self._latents(obs, memory, memory_mask)[0])

    def predict_values(  # type: ignore[override]
        self,
        obs: torch.Tensor | dict[str, torch.Tensor],
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, 1)`` values; without a memory, as on the first step of an episode."""
        return self.value_net(self._latents(obs, memory, memory_mask)[1])

    def _predict(self, observation: Any, deterministic: bool = False) -> torch.Tensor:
        return self.get_distribution(observation).get_actions(deterministic=deterministic)

    # ------------------------------------------------------------------ acting step by step
    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: MemoryState | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, MemoryState]:
        """One step of each env with its episode's memory, as SB3's ``evaluate_policy`` calls it.

        Args:
            observation: a batch of observations (one per env), or one observation.
            state: the ``MemoryState`` the previous call returned; None at the start (an empty memory).
            episode_start: ``(n_envs,)`` True where an episode starts at this step (its memory is cleared).
            deterministic: greedy actions.

        Returns:
            ``(actions, state)``: pass ``state`` back with the next observation.
        """
        self.set_training_mode(False)
        obs_tensor, vectorized = self.obs_to_tensor(observation)
        batch = len(next(iter(obs_tensor.values())) if isinstance(obs_tensor, dict) else obs_tensor)
        if state is None:
            memory = np.zeros((batch, *self.memory_shape), dtype=np.float32)
            steps = np.zeros(batch, dtype=np.int64)
        else:
            memory, steps = state
        if episode_start is not None:
            steps = np.where(np.asarray(episode_start, dtype=bool).reshape(-1), 0, steps)
        with torch.no_grad():
            memory_t = torch.as_tensor(memory, device=self.device)
            mask = window_mask(torch.as_tensor(steps, device=self.device), self.memory.memory_length)
            actions, _, _, hidden = self(obs_tensor, memory_t, mask, deterministic=deterministic)
            memory_t = shift_in(memory_t, hidden)
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            actions = self.unscale_action(actions) if self.squash_output else np.clip(
                actions, self.action_space.low, self.action_space.high
            )  # fmt: skip
        if not vectorized:
            actions = actions.squeeze(axis=0)
        new_steps = np.minimum(steps + 1, self.memory.memory_length)
        return actions, (memory_t.cpu().numpy(), new_steps)


class CnnTrXLPolicy(TrXLPolicy):
    """``TrXLPolicy`` with SB3's NatureCNN as the default step encoder (images without an attention extractor)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(*args, **kwargs)


class MultiInputTrXLPolicy(TrXLPolicy):
    """``TrXLPolicy`` with SB3's CombinedExtractor as the default step encoder (``Dict`` observations)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(*args, **kwargs)
