"""Entity sets ``Box(N, F)`` and time windows ``Box(T, F)``: one token per row."""

from __future__ import annotations

from typing import ClassVar

import torch
from gymnasium import spaces
from torch import nn

from policies.tokenizers.base import Tokenizer, all_real


def row_embedding(n_features: int, embed_dim: int, embed_layers: int) -> nn.Sequential:
    """The MLP shared by every row: ``Linear-ReLU-Linear`` (``embed_layers=2``) or ``Linear-ReLU`` (1, leaner)."""
    if embed_layers not in (1, 2):
        raise ValueError(
            f"embed_layers={embed_layers!r} is invalid: use 2 (Linear-ReLU-Linear, the default) or 1 (Linear-ReLU, "
            "fewer parameters and less work per row)."
        )
    layers = [nn.Linear(n_features, embed_dim), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(embed_dim, embed_dim)) if embed_layers == 2 else nn.Sequential(*layers)


def _rows_space(space: spaces.Space, who: str) -> tuple[int, int]:
    if not (isinstance(space, spaces.Box) and len(space.shape) == 2):
        raise TypeError(f"{who} needs a 2-D Box(N, F) observation space of rows, got {space}.")
    return space.shape


class EntityTokenizer(Tokenizer):
    """Entity sets ``Box(N, F)``: each row is one entity, embedded by one shared MLP.

    Rows are padding when their presence column is 0 (``presence_column`` given) or, by default, when the
    whole row is zero. No position embedding is added, so the set stays order-free: self-attention is
    permutation-equivariant and a pooled readout permutation-invariant. With ``ego=True`` the first row is
    the observer itself (highway-env's Kinematics layout): it gets a learned "ego" embedding, is named
    ``ego``, and is never treated as padding.

    Args:
        observation_space: ``Box`` of shape ``(N, F)``.
        embed_dim: token width ``D``.
        presence_column: index of the presence feature (``-1`` for the last column, ``0`` for highway-env's
            Kinematics), or None to treat all-zero rows as padding.
        ego: the first row is the observer.
        embed_layers: layers of the row MLP, 2 (``Linear-ReLU-Linear``) or 1 (``Linear-ReLU``).
    """

    auto: ClassVar[bool] = True
    dict_key: ClassVar[bool] = True
    env_parts: ClassVar[bool] = True

    def __init__(
        self,
        observation_space: spaces.Box,
        embed_dim: int,
        presence_column: int | None = None,
        ego: bool = False,
        embed_layers: int = 2,
    ) -> None:
        super().__init__()
        n_parts, n_features = _rows_space(observation_space, type(self).__name__)
        if presence_column is not None and not (
            isinstance(presence_column, int) and -n_features <= presence_column < n_features
        ):
            raise ValueError(
                f"presence_column={presence_column!r} is out of range for rows of {n_features} features: use an "
                f"index in [{-n_features}, {n_features - 1}], or None to mask all-zero rows."
            )
        self.presence_column = presence_column
        self.ego = bool(ego)
        self.part_names = [f"entity_{i}" for i in range(n_parts)]
        if self.ego:
            self.part_names[0] = "ego"
            self.ego_embedding = nn.Parameter(torch.zeros(1, 1, embed_dim))  # (1, 1, D)
        self.embed = row_embedding(n_features, embed_dim, embed_layers)

    @classmethod
    def supports(cls, space: spaces.Space) -> bool:
        """A 2-D ``Box`` of rows."""
        return isinstance(space, spaces.Box) and len(space.shape) == 2

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, N, F)`` -> tokens ``(B, N, D)``, mask ``(B, N)``."""
        if self.presence_column is None:
            mask = observations.ne(0).any(dim=-1)  # (B, N)
        else:
            mask = observations[..., self.presence_column] > 0.5  # (B, N)
        tokens = self.embed(observations)  # (B, N, D)
        if self.ego:
            mask = torch.cat([torch.ones_like(mask[:, :1]), mask[:, 1:]], dim=1)
            tokens = torch.cat([tokens[:, :1] + self.ego_embedding, tokens[:, 1:]], dim=1)
        return tokens, mask


class TimeTokenizer(Tokenizer):
    """Time windows ``Box(T, F)`` (oldest row first, as Gymnasium's ``FrameStackObservation`` stacks them).

    Each step is one token: a shared MLP of the row plus a learned temporal position embedding, so attention
    can tell *when* something was seen. Parts are named ``t-{k}``, ``t-0`` being the latest step. A window
    space is indistinguishable from an entity set, so ask for this tokenizer by name (``tokenizer="time"``).

    Args:
        observation_space: ``Box`` of shape ``(T, F)``.
        embed_dim: token width ``D``.
        embed_layers: layers of the row MLP, 2 (``Linear-ReLU-Linear``) or 1 (``Linear-ReLU``).
    """

    def __init__(self, observation_space: spaces.Box, embed_dim: int, embed_layers: int = 2) -> None:
        super().__init__()
        steps, n_features = _rows_space(observation_space, type(self).__name__)
        self.part_names = [f"t-{steps - 1 - i}" for i in range(steps)]
        self.embed = row_embedding(n_features, embed_dim, embed_layers)
        self.position = nn.Parameter(torch.randn(1, steps, embed_dim) * 0.02)  # (1, T, D)

    @classmethod
    def supports(cls, space: spaces.Space) -> bool:
        """A 2-D ``Box`` of time steps."""
        return EntityTokenizer.supports(space)

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, F)`` -> tokens ``(B, T, D)``, mask ``(B, T)`` (all real)."""
        tokens = self.embed(observations) + self.position  # (B, T, D)
        return tokens, all_real(tokens)
