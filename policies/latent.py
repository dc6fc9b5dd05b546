"""``LatentAttentionExtractor``: attention whose cost grows linearly in the number of parts."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from envs.validation import check_int
from policies.attention import TransformerBlock
from policies.extractor import AttentionExtractor


class LatentAttentionExtractor(AttentionExtractor):
    """Linear-cost attention for many parts (Perceiver / Set Transformer ISAB style).

    ``num_latents`` learned latents cross-attend to the ``N`` parts (cost ``O(num_latents * N)``), then
    ``num_layers`` self-attention blocks run over the latents only (``O(num_latents^2)``, independent of
    ``N``), then the readout pools the latents. The focus over the parts is the readout's focus over the
    latents carried through the latents' cross-attention, so it still sums to 1 over the parts.

    Args:
        observation_space: the env's observation space.
        num_latents: number of learned latents ``M``.
        **kwargs: every ``AttentionExtractor`` argument (``num_layers`` counts the latent blocks; ``ego``
            pooling reads the first latent).
    """

    def __init__(self, observation_space: gym.Space, num_latents: int = 8, **kwargs: object) -> None:
        check_int("num_latents", num_latents, 1)
        super().__init__(observation_space, **kwargs)
        self.latents = nn.Parameter(torch.randn(1, num_latents, self.embed_dim) * 0.02)  # (1, M, D)
        self.cross = TransformerBlock(self.embed_dim, self.num_heads, self.mlp_ratio, self.score, cross=True)

    def encode(
        self, tokens: torch.Tensor, attend: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Latents read the parts, then [CLS +] self-attention over the latents."""
        latents = self.latents.expand(tokens.shape[0], -1, -1)  # (B, M, D)
        latents = self.cross(latents, attend, context=tokens)  # (B, M, D)
        latent_mask = torch.ones(latents.shape[:2], dtype=torch.bool, device=latents.device)  # (B, M)
        return super().encode(latents, latent_mask, latent_mask)

    def _focus_on_parts(self, pooled_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Readout focus over the latents ``(B, M)`` times the latents' focus over the parts ``(B, M, N)``."""
        latent_focus, _ = super()._focus_on_parts(pooled_mask)  # (B, M)
        cross = self.cross.attn.last_weights  # (B, H, M, N)
        focus = torch.einsum("bm,bmn->bn", latent_focus, cross.mean(dim=1))  # (B, N)
        return focus, cross
