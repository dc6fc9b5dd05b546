"""``LatentAttentionExtractor``: attention whose cost grows linearly in the number of parts."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from envs.validation import check_int
from policies.attention import MultiHeadAttention
from policies.extractor import AttentionExtractor, check_top_k_fits


class LatentAttentionExtractor(AttentionExtractor):
    """Linear-cost attention for many parts (Perceiver / Set Transformer ISAB style).

    ``num_latents`` learned latents cross-attend to the ``N`` parts, then ``num_layers`` self-attention blocks
    run over the latents only (``O(num_latents^2)``, independent of ``N``), then the readout pools the latents.
    The cross step is lean: the latents are the same for every observation, so their normed queries are
    computed once per forward pass and shared by the batch, which lets the attention fold the key and value
    projections into them (``MultiHeadAttention._folded``: ``O(N * D)`` per latent and head, no projection of
    the parts); each latent keeps its learned value as a residual, and there is no MLP on the cross step (the
    blocks over the latents have theirs). The focus over the parts is the readout's focus over the latents
    carried through the latents' cross-attention, so it still sums to 1 over the parts.

    Args:
        observation_space: the env's observation space.
        num_latents: number of learned latents ``M``.
        **kwargs: every ``AttentionExtractor`` argument (``num_layers`` counts the latent blocks; ``ego``
            pooling reads the first latent).
    """

    readout_reads_parts = False

    def __init__(self, observation_space: gym.Space, num_latents: int = 8, **kwargs: object) -> None:
        check_int("num_latents", num_latents, 1)
        super().__init__(observation_space, **kwargs)
        check_top_k_fits(kwargs.get("top_k"), num_latents, "latents")
        self.latents = nn.Parameter(torch.randn(1, num_latents, self.embed_dim) * 0.02)  # (1, M, D)
        self.latent_norm = nn.LayerNorm(self.embed_dim)
        self.context_norm = nn.LayerNorm(self.embed_dim)
        self.cross = MultiHeadAttention(self.embed_dim, self.num_heads, score=self.score)

    def encode(
        self, tokens: torch.Tensor, attend: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Latents read the parts, then [CLS +] self-attention over the latents."""
        queries = self.latent_norm(self.latents)  # (1, M, D): once, shared by the whole batch
        latents = self.latents + self.cross(queries, self.context_norm(tokens), attend)  # (B, M, D)
        latent_mask = torch.ones(latents.shape[:2], dtype=torch.bool, device=latents.device)  # (B, M)
        return super().encode(latents, latent_mask, latent_mask)

    def _focus_on_parts(self, pooled_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Readout focus over the latents ``(B, M)`` times the latents' focus over the parts ``(B, M, N)``."""
        latent_focus, _ = super()._focus_on_parts(pooled_mask)  # (B, M)
        cross = self.cross.last_weights  # (B, H, M, N)
        focus = torch.einsum("bm,bmn->bn", latent_focus, cross.mean(dim=1))  # (B, N)
        return focus, cross

    def _rollout_on_parts(self, pooled_mask: torch.Tensor) -> torch.Tensor:
        """Rollout over the latents carried to the parts through the latents' cross-attention.

        The latents' residual stream holds only their learned starting values, nothing of the observation, so
        all that a latent knows of the parts came through its cross-attention weights.
        """
        latent_flow = super()._rollout_on_parts(pooled_mask)  # (B, M)
        cross = self.cross.last_weights.mean(dim=1)  # (B, M, N)
        return torch.einsum("bm,bmn->bn", latent_flow, cross)  # (B, N)
