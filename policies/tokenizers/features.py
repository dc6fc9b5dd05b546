"""Flat observations: each feature a token (``Box(F,)``), or a whole vector as one token (Dict keys)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from torch import nn

from policies.tokenizers.base import Tokenizer, all_real


class FeatureTokenizer(Tokenizer):
    """Flat vectors ``Box(F,)``: each feature is one token, so attention can pick single sensors.

    Token ``i`` is ``x_i * w_i + b_i`` with a learned value embedding ``w_i`` and a learned feature
    identity ``b_i`` (FT-Transformer's numerical embedding), both ``(D,)``. Parts are named
    ``feature:<name>``, with ``feature_names`` when given, else the feature index.

    Args:
        observation_space: ``Box`` of shape ``(F,)``.
        embed_dim: token width ``D``.
        feature_names: one name per feature, e.g. ``["cart_position", "cart_velocity", ...]``.
    """

    options: ClassVar[tuple[str, ...]] = ("feature_names",)

    def __init__(
        self, observation_space: spaces.Box, embed_dim: int, feature_names: Sequence[str] | None = None
    ) -> None:
        super().__init__()
        if not self.supports(observation_space):
            raise TypeError(f"FeatureTokenizer needs a 1-D Box(F,) observation space, got {observation_space}.")
        (n_features,) = observation_space.shape
        if feature_names is None:
            feature_names = [str(i) for i in range(n_features)]
        if len(feature_names) != n_features:
            raise ValueError(
                f"feature_names has {len(feature_names)} names for {n_features} features: give exactly one per feature."
            )
        self.part_names = [f"feature:{name}" for name in feature_names]
        self.value = nn.Parameter(torch.randn(n_features, embed_dim) / np.sqrt(embed_dim))  # (F, D)
        self.identity = nn.Parameter(torch.randn(n_features, embed_dim) * 0.02)  # (F, D)

    @classmethod
    def supports(cls, space: spaces.Space) -> bool:
        """A 1-D ``Box``."""
        return isinstance(space, spaces.Box) and len(space.shape) == 1

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, F)`` -> tokens ``(B, F, D)``, mask ``(B, F)`` (all real)."""
        tokens = observations.unsqueeze(-1) * self.value + self.identity  # (B, F, D)
        return tokens, all_real(tokens)


class VectorTokenizer(Tokenizer):
    """A whole vector (``Box(F,)``, or a one-hot ``Discrete`` / ``MultiDiscrete`` / ``MultiBinary``) as one token.

    Used for the keys of a ``Dict`` observation: each such key becomes one part named after the key.

    Args:
        observation_space: any space SB3 flattens to a vector.
        embed_dim: token width ``D``.
        name: the part's name.
    """

    def __init__(self, observation_space: spaces.Space, embed_dim: int, name: str = "vector") -> None:
        super().__init__()
        if not self.supports(observation_space):
            raise TypeError(f"VectorTokenizer needs a 1-D Box or a discrete space, got {observation_space}.")
        self.part_names = [name]
        in_dim = get_flattened_obs_dim(observation_space)
        self.embed = nn.Sequential(nn.Linear(in_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim))

    @classmethod
    def supports(cls, space: spaces.Space) -> bool:
        """A 1-D ``Box``, ``Discrete``, ``MultiDiscrete`` or 1-D ``MultiBinary``."""
        if isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)):
            return True
        return isinstance(space, (spaces.Box, spaces.MultiBinary)) and len(space.shape) == 1

    def part_of(self, index: tuple[int, ...]) -> str:
        """Every element belongs to the one part."""
        return self.part_names[0]

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, F)`` -> tokens ``(B, 1, D)``, mask ``(B, 1)``."""
        tokens = self.embed(observations.flatten(1).float()).unsqueeze(1)  # (B, 1, D)
        return tokens, all_real(tokens)
