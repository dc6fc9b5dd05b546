"""Flat observations: each feature a token (``Box(F,)``), or a whole vector as one token (Dict keys)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from torch import nn

from policies.tokenizers.base import Tokenizer, all_real, check_names


def symlog(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) * log(1 + |x|)``: the identity near 0, logarithmic beyond (DreamerV3's squashing)."""
    return torch.sign(x) * torch.log1p(x.abs())


class LinearValue(nn.Module):
    """``x_i * w_i``: FT-Transformer's numerical embedding, one learned direction ``w_i (D,)`` per feature.

    After a LayerNorm only the sign of ``x_i`` survives once ``|x_i w_i|`` outgrows the feature identity, so
    this reads raw values badly; kept for comparison (``value_embed="linear"``).
    """

    def __init__(self, n_features: int, embed_dim: int) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.randn(n_features, embed_dim) / np.sqrt(embed_dim))  # (F, D)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """``(B, F)`` -> ``(B, F, D)``."""
        return values.unsqueeze(-1) * self.value


class MLPValue(nn.Module):
    """A small MLP per feature, ``x_i -> ReLU(x_i a_i + c_i) W_i`` (hidden ``H``): a piecewise-linear curve.

    The token's direction changes with the value, so the value survives the LayerNorms that follow (a linear
    embedding keeps only its sign there). Breakpoints start spread over about [-3, 3], the range of symlog'd
    values.
    """

    def __init__(self, n_features: int, embed_dim: int, hidden: int = 16) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.randn(n_features, hidden))  # (F, H)
        self.shift = nn.Parameter(torch.empty(n_features, hidden).uniform_(-3.0, 3.0))  # (F, H)
        self.out = nn.Parameter(torch.randn(n_features, hidden, embed_dim) / np.sqrt(hidden))  # (F, H, D)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """``(B, F)`` -> ``(B, F, D)``."""
        hidden = torch.relu(values.unsqueeze(-1) * self.scale + self.shift)  # (B, F, H)
        return torch.einsum("bfh,fhd->bfd", hidden, self.out)  # (B, F, D)


#: ``value_embed`` choices of ``FeatureTokenizer``: how one scalar becomes a ``(D,)`` vector.
VALUE_EMBEDS: dict[str, type[nn.Module]] = {"mlp": MLPValue, "linear": LinearValue}
#: ``squash`` choices: the fixed transform applied to each raw value first.
SQUASHES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"symlog": symlog, "none": lambda x: x}


def _choice(option: str, value: str, choices: dict[str, object]) -> str:
    if value not in choices:
        raise ValueError(f"{option}='{value}' is not one of {', '.join(choices)}: pick one of those.")
    return value


class FeatureTokenizer(Tokenizer):
    """Flat vectors ``Box(F,)``: each feature is one token, so attention can pick single sensors.

    Token ``i`` is ``embed_i(squash(x_i)) + b_i``: a value embedding of the squashed feature plus a learned
    feature identity ``b_i (D,)``. Parts are named ``feature:<name>``, with ``feature_names`` when given, else
    the feature index.

    The defaults (``squash="symlog"``, ``value_embed="mlp"``) read unbounded features of any scale: symlog keeps
    small values as they are and compresses large ones (Acrobot's angular velocities reach 4 pi and 9 pi), and
    a per-feature MLP gives each value its own direction, which the LayerNorms of the attention blocks keep.
    FT-Transformer's ``x_i * w_i`` (``value_embed="linear", squash="none"``) lost all but the sign of each
    feature there and did not learn Acrobot (benchmarks/feature_tokens.py).

    Args:
        observation_space: ``Box`` of shape ``(F,)``.
        embed_dim: token width ``D``.
        feature_names: one name per feature, e.g. ``["cart_position", "cart_velocity", ...]``.
        value_embed: ``"mlp"`` (default) or ``"linear"``.
        squash: ``"symlog"`` (default) or ``"none"``.
    """

    auto: ClassVar[bool] = True
    env_parts: ClassVar[bool] = True

    def __init__(
        self,
        observation_space: spaces.Box,
        embed_dim: int,
        feature_names: Sequence[str] | None = None,
        value_embed: str = "mlp",
        squash: str = "symlog",
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
        self.part_names = [f"feature:{name}" for name in check_names("feature_names", feature_names)]
        self.squash = _choice("squash", squash, SQUASHES)
        self.value = VALUE_EMBEDS[_choice("value_embed", value_embed, VALUE_EMBEDS)](n_features, embed_dim)
        self.identity = nn.Parameter(torch.randn(n_features, embed_dim) * 0.02)  # (F, D)

    @classmethod
    def supports(cls, space: spaces.Space) -> bool:
        """A 1-D ``Box``."""
        return isinstance(space, spaces.Box) and len(space.shape) == 1

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, F)`` -> tokens ``(B, F, D)``, mask ``(B, F)`` (all real)."""
        tokens = self.value(SQUASHES[self.squash](observations)) + self.identity  # (B, F, D)
        return tokens, all_real(tokens)


class VectorTokenizer(Tokenizer):
    """A whole vector (``Box(F,)``, or a one-hot ``Discrete`` / ``MultiDiscrete`` / ``MultiBinary``) as one token.

    Used for the keys of a ``Dict`` observation: each such key becomes one part named after the key (a key's
    tokenizer with a ``name`` option is given the key as its name).

    Args:
        observation_space: any space SB3 flattens to a vector.
        embed_dim: token width ``D``.
        name: the part's name.
    """

    dict_key: ClassVar[bool] = True

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
