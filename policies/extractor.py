"""``AttentionExtractor``: an SB3 features extractor that attends over the parts of an observation."""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from policies.attention import MultiHeadAttention, TransformerBlock, check_heads, safe_key_mask
from policies.tokenizers import make_tokenizer


class AttentionExtractor(BaseFeaturesExtractor):
    """Tokenize, self-attend, then read out with a learned query: plugs into any SB3 policy.

    ``observation -> tokenizer -> num_layers x TransformerBlock -> LayerNorm -> learned-query
    cross-attention readout -> Linear + ReLU -> features (B, features_dim)``.

    Example::

        from stable_baselines3 import PPO
        from policies import AttentionExtractor

        model = PPO("MlpPolicy", env, policy_kwargs=dict(
            features_extractor_class=AttentionExtractor,
            features_extractor_kwargs=dict(embed_dim=64, num_heads=2, presence_column=-1)))

    Padding parts (see the tokenizer) are masked out of every attention; a set with no real part at all
    gives finite features. Observations holding NaN or inf raise ``ValueError`` naming the part.

    Args:
        observation_space: the env's observation space; every size is derived from it.
        features_dim: width of the output features.
        embed_dim: token width inside the extractor.
        num_heads: attention heads; must divide ``embed_dim``.
        num_layers: self-attention blocks before the readout (0 = readout only).
        mlp_ratio: hidden width of each block's MLP, as a multiple of ``embed_dim``.
        tokenizer: ``"auto"`` (from the space) or a name from ``policies.TOKENIZERS``.
        presence_column: entity sets only: the presence feature's column, or None to mask all-zero rows.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 64,
        embed_dim: int = 64,
        num_heads: int = 2,
        num_layers: int = 1,
        mlp_ratio: float = 2.0,
        tokenizer: str = "auto",
        presence_column: int | None = None,
    ) -> None:
        if not isinstance(features_dim, int) or features_dim < 1:
            raise ValueError(f"features_dim={features_dim!r} is invalid: it must be a positive integer.")
        if not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"num_layers={num_layers!r} is invalid: it must be an integer >= 0.")
        check_heads(embed_dim, num_heads)
        super().__init__(observation_space, features_dim)
        self.tokenizer = make_tokenizer(tokenizer, observation_space, embed_dim, presence_column=presence_column)
        self.blocks = nn.ModuleList(TransformerBlock(embed_dim, num_heads, mlp_ratio) for _ in range(num_layers))
        self.norm = nn.LayerNorm(embed_dim)
        self.query = nn.Parameter(torch.randn(1, 1, embed_dim) * embed_dim**-0.5)  # (1, 1, D)
        self.readout = MultiHeadAttention(embed_dim, num_heads)
        self.head = nn.Sequential(nn.Linear(embed_dim, features_dim), nn.ReLU())

    @property
    def part_names(self) -> list[str]:
        """Names of the parts the readout attends over, in order."""
        return self.tokenizer.part_names

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """``observations (B, *obs_shape)`` -> ``features (B, features_dim)``."""
        self._check_finite(observations)
        tokens, mask = self.tokenizer(observations)  # (B, N, D), (B, N)
        attend = safe_key_mask(mask)  # (B, N)
        for block in self.blocks:
            tokens = block(tokens, attend)  # (B, N, D)
        tokens = self.norm(tokens)
        query = self.query.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
        pooled = self.readout(query, tokens, attend).squeeze(1)  # (B, D)
        pooled = pooled * mask.any(dim=-1, keepdim=True)  # an empty set reads out zeros
        return self.head(pooled)  # (B, features_dim)

    def _check_finite(self, observations: torch.Tensor) -> None:
        finite = torch.isfinite(observations)
        if bool(finite.all()):
            return
        bad = (~finite).nonzero()[0].tolist()  # [batch, part, ...]
        part = self.part_names[bad[1]] if len(bad) > 1 else "?"
        raise ValueError(
            f"Observation {bad[0]} of the batch holds {observations[tuple(bad)].item()} in part '{part}' "
            f"(index {tuple(bad[1:])}). Attention cannot mask non-finite values: fix the env, or wrap it so that "
            "it never emits NaN or inf (e.g. clip or replace them before they reach the policy)."
        )
