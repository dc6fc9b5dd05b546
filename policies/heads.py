"""The output layer of the attention extractors: pooled ``(B, D)`` -> features ``(B, features_dim)``."""

from __future__ import annotations

import math

import torch
from torch import nn


def check_features_norm(features_norm: object) -> None:
    """``features_norm`` must be None or a positive number."""
    if features_norm is not None and (
        isinstance(features_norm, bool) or not isinstance(features_norm, (int, float)) or features_norm <= 0
    ):
        raise ValueError(f"features_norm={features_norm!r} is invalid: use a positive number (1.0) or None.")


class FixedNorm(nn.Module):
    """``(B, F) -> (B, F)``: LayerNorm without parameters, scaled so that every row has L2 norm ``norm``."""

    def __init__(self, features_dim: int, norm: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(features_dim, elementwise_affine=False)
        self.scale = float(norm) / math.sqrt(features_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Normalised ``features (B, F)``."""
        return self.norm(features) * self.scale


def relu_head(embed_dim: int, features_dim: int) -> nn.Sequential:
    """``Linear + ReLU``: unbounded, non-negative features (the default)."""
    return nn.Sequential(nn.Linear(embed_dim, features_dim), nn.ReLU())


def layernorm_tanh_head(embed_dim: int, features_dim: int) -> nn.Sequential:
    """``Linear + LayerNorm + Tanh``: bounded features, centred per observation (DrQ-v2's and SAC-AE's trunk)."""
    return nn.Sequential(nn.Linear(embed_dim, features_dim), nn.LayerNorm(features_dim), nn.Tanh())


#: ``head`` choices: how the pooled ``(B, D)`` vector becomes the ``(B, features_dim)`` features.
HEADS = {"relu": relu_head, "layernorm_tanh": layernorm_tanh_head}


def check_head(head: object) -> None:
    """``head`` must name one of ``HEADS``."""
    if not isinstance(head, str) or head not in HEADS:
        raise ValueError(f"head={head!r} is invalid: use one of {', '.join(map(repr, HEADS))}.")


def make_head(
    head: str, embed_dim: int, features_dim: int, features_norm: float | None = None, linear: bool = True
) -> nn.Sequential:
    """The extractor's output layer: ``HEADS[head]``, then ``FixedNorm`` when ``features_norm`` is set.

    With ``linear=False`` the head's ``Linear`` is left out (an ``nn.Identity`` keeps the other layers' indices,
    so their state-dict keys do not move): the readout before it already ends in a ``Linear`` to
    ``features_dim`` (the lean readout folds the head's ``Linear`` into its value map; two ``Linear`` maps in a
    row are one).
    """
    check_head(head)
    check_features_norm(features_norm)
    layers = HEADS[head](embed_dim, features_dim)
    if not linear:
        layers[0] = nn.Identity()
    if features_norm is not None:  # no parameters: state-dict keys stay as they are
        layers.append(FixedNorm(features_dim, features_norm))
    return layers
