"""Tokenizers: turn one observation into a set of named parts (tokens) and a padding mask.

Every tokenizer maps a batch of preprocessed observations to ``tokens (B, N, D)`` and ``mask (B, N)``
(True where a part is real) and names its ``N`` parts in ``part_names``. ``TOKENIZERS`` is the registry;
``make_tokenizer`` picks one by name or, with ``"auto"``, from the observation space.
"""

from __future__ import annotations

import torch
from gymnasium import spaces
from torch import nn

from policies.registry import Registry


class Tokenizer(nn.Module):
    """Base class: subclasses set ``part_names`` and implement ``forward``."""

    part_names: list[str]

    @classmethod
    def supports(cls, space: spaces.Space) -> bool:
        """Whether this tokenizer can read observations of ``space``."""
        raise NotImplementedError

    @property
    def num_parts(self) -> int:
        """Number of parts (tokens) per observation."""
        return len(self.part_names)

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``tokens (B, N, D)`` and ``mask (B, N)`` for a batch of observations."""
        raise NotImplementedError


class EntityTokenizer(Tokenizer):
    """Entity sets ``Box(N, F)``: each row is one entity, embedded by one shared MLP.

    Rows are padding when their presence column is 0 (``presence_column`` given) or, by default, when the
    whole row is zero. No position embedding is added, so the set stays order-free: self-attention is
    permutation-equivariant and a pooled readout permutation-invariant.

    Args:
        observation_space: ``Box`` of shape ``(N, F)``.
        embed_dim: token width ``D``.
        presence_column: index of the presence feature (e.g. ``-1`` for the last column, ``0`` for
            highway-env's Kinematics), or None to treat all-zero rows as padding.
    """

    def __init__(self, observation_space: spaces.Box, embed_dim: int, presence_column: int | None = None) -> None:
        super().__init__()
        if not self.supports(observation_space):
            raise TypeError(
                f"EntityTokenizer needs a 2-D Box(N, F) observation space of entity rows, got {observation_space}."
            )
        n_parts, n_features = observation_space.shape
        if presence_column is not None and not -n_features <= presence_column < n_features:
            raise ValueError(
                f"presence_column={presence_column} is out of range for rows of {n_features} features: use an "
                f"index in [{-n_features}, {n_features - 1}], or None to mask all-zero rows."
            )
        self.presence_column = presence_column
        self.part_names = [f"entity_{i}" for i in range(n_parts)]
        self.embed = nn.Sequential(nn.Linear(n_features, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim))

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
        return self.embed(observations), mask


#: Tokenizers by name, in the order ``"auto"`` tries them.
TOKENIZERS: Registry[type[Tokenizer]] = Registry("tokenizer")
TOKENIZERS.register("entity", EntityTokenizer)


def make_tokenizer(name: str, observation_space: spaces.Space, embed_dim: int, **kwargs: object) -> Tokenizer:
    """Build the tokenizer ``name``, or for ``"auto"`` the first one that supports the space."""
    if name == "auto":
        for _, cls in TOKENIZERS.items():
            if cls.supports(observation_space):
                return cls(observation_space, embed_dim, **kwargs)
        supported = "; ".join(f"'{n}': {c.__doc__.split(':')[0]}" for n, c in TOKENIZERS.items())
        raise TypeError(f"No tokenizer supports the observation space {observation_space}. Supported: {supported}.")
    return TOKENIZERS.get(name)(observation_space, embed_dim, **kwargs)
