"""Reference extractors for ``extractor_speed.py``: the floor (a minimal readout) and a published peer.

- ``MinimalReadout``: the least a learned-query attention over entity rows can do: one Linear + ReLU row
  embedding, one learned query (the key projection folded into it), a masked softmax over the rows and one
  pooling matmul; 3 parameter tensors. No heads, no value or output projection, no checks: the speed floor.
- ``EgoAttentionPeer``: a re-implementation of HighwayEnv's published ego-attention design (rl-agents'
  ``EgoAttentionNetwork``, used in highway-env's SB3 examples): a two-layer MLP embedding per entity (one for
  the first row, "ego", one shared by the others), the ego row as the query of a 2-head attention over all rows
  (64 wide, no biases), the heads combined by a Linear, averaged with the ego embedding.

Both read ``FindTarget``'s rows ``(B, N, F)`` with the presence flag in the last column.
"""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class MinimalReadout(BaseFeaturesExtractor):
    """The speed floor: ``softmax(relu(W x) · q) @ relu(W x)`` over the real rows (3 parameter tensors)."""

    def __init__(self, observation_space: gym.spaces.Box, embed_dim: int = 64, presence_column: int = -1) -> None:
        super().__init__(observation_space, embed_dim)
        self.embed = nn.Linear(observation_space.shape[-1], embed_dim)
        self.query = nn.Parameter(torch.randn(embed_dim) * embed_dim**-0.5)  # (D,)
        self.presence_column = presence_column

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """``(B, N, F)`` -> ``(B, D)``; a set with no real row reads out zeros."""
        mask = observations[..., self.presence_column] > 0.5  # (B, N)
        rows = torch.relu(self.embed(observations))  # (B, N, D)
        scores = (rows @ self.query).masked_fill(~mask, float("-inf"))  # (B, N)
        weights = torch.nan_to_num(scores.softmax(dim=-1))  # an empty set: all -inf -> NaN -> 0
        return (weights.unsqueeze(1) @ rows).squeeze(1)  # (B, D)


def _mlp(n_in: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())


class EgoAttentionPeer(BaseFeaturesExtractor):
    """HighwayEnv's ego-attention extractor design (embedding_layers [64, 64], 2 heads, feature_size 64)."""

    def __init__(
        self, observation_space: gym.spaces.Box, feature_size: int = 64, heads: int = 2, presence_column: int = -1
    ) -> None:
        super().__init__(observation_space, feature_size)
        n_features = observation_space.shape[-1]
        self.ego_embedding = _mlp(n_features, feature_size)
        self.others_embedding = _mlp(n_features, feature_size)
        self.key_all = nn.Linear(feature_size, feature_size, bias=False)
        self.value_all = nn.Linear(feature_size, feature_size, bias=False)
        self.query_ego = nn.Linear(feature_size, feature_size, bias=False)
        self.attention_combine = nn.Linear(feature_size, feature_size, bias=False)
        self.heads, self.feature_size, self.presence_column = heads, feature_size, presence_column

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """``(B, N, F)`` -> ``(B, feature_size)``."""
        batch = observations.shape[0]
        d_head = self.feature_size // self.heads
        ego = self.ego_embedding(observations[:, :1])  # (B, 1, D)
        others = self.others_embedding(observations[:, 1:])  # (B, N - 1, D)
        rows = torch.cat([ego, others], dim=1)  # (B, N, D)
        mask = observations[..., self.presence_column] > 0.5  # (B, N)
        mask = mask | ~mask.any(dim=1, keepdim=True)  # an empty set attends everywhere (as rl-agents' -inf fill)

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, -1, self.heads, d_head).transpose(1, 2)  # (B, H, L, d)

        query, key, value = split(self.query_ego(ego)), split(self.key_all(rows)), split(self.value_all(rows))
        scores = query @ key.transpose(-2, -1) / math.sqrt(d_head)  # (B, H, 1, N)
        weights = scores.masked_fill(~mask[:, None, None, :], float("-inf")).softmax(dim=-1)
        attended = (weights @ value).reshape(batch, self.feature_size)  # (B, D)
        return (self.attention_combine(attended) + ego.squeeze(1)) / 2
