"""The pre-LayerNorm attention block of the extractors and the memory, and its default MLP width."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from policies.attention import MultiHeadAttention

#: The MLP width of a block, as a multiple of its token width, unless told otherwise.
MLP_RATIO = 2.0


class TransformerBlock(nn.Module):
    """Pre-LayerNorm attention block: ``x + attn(LN(x), LN(context))`` then ``x + MLP(LN(x))``.

    A self-attention block by default; with ``cross=True`` the tokens attend to a separate ``context`` (e.g.
    latents reading the parts), which gets its own LayerNorm.

    A saved state dict whose MLP has another hidden width (a model saved with another ``mlp_ratio``) loads as it
    was saved: the block takes the saved width
    (``_load_from_state_dict``), keeping its parameter objects, so an optimizer built on them stays valid.

    Args:
        embed_dim: token width.
        num_heads: attention heads; must divide ``embed_dim``.
        mlp_ratio: hidden width of the MLP as a multiple of ``embed_dim``.
        score: score function name from ``SCORES``.
        cross: attend to a context instead of to the tokens themselves.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        mlp_ratio: float = MLP_RATIO,
        score: str = "scaled_dot",
        cross: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(mlp_ratio, (int, float)) or mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio={mlp_ratio!r} is invalid: it must be > 0 ({MLP_RATIO} is the default).")
        hidden = max(1, int(embed_dim * mlp_ratio))
        self.norm_attn = nn.LayerNorm(embed_dim)
        self.attn = MultiHeadAttention(embed_dim, num_heads, score=score)
        self.norm_context = nn.LayerNorm(embed_dim) if cross else None
        self.norm_mlp = nn.LayerNorm(embed_dim)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, embed_dim))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens (B, L, D)`` attend to ``context (B, N, D)`` (cross) or themselves under ``mask (B, N)``."""
        normed = self.norm_attn(tokens)
        if (context is None) != (self.norm_context is None):
            raise ValueError("A cross block needs a context and a self-attention block takes none.")
        keys = normed if self.norm_context is None else self.norm_context(context)
        tokens = tokens + self.attn(normed, keys, mask)
        return tokens + self.mlp(self.norm_mlp(tokens))

    def _load_from_state_dict(self, state_dict: Mapping[str, torch.Tensor], prefix: str, *args: object) -> None:
        """Take the MLP's hidden width from the state dict being loaded, then load it as usual."""
        saved = state_dict.get(f"{prefix}mlp.0.weight")  # (hidden, D)
        first, last = self.mlp[0], self.mlp[2]
        if saved is not None and saved.dim() == 2 and saved.shape[0] != first.out_features:
            hidden = saved.shape[0]
            with torch.no_grad():  # resized in place: the same Parameter objects, so optimizers keep them
                first.weight.data = first.weight.new_empty(hidden, first.in_features)
                first.bias.data = first.bias.new_empty(hidden)
                last.weight.data = last.weight.new_empty(last.out_features, hidden)
            first.out_features = last.in_features = hidden
        super()._load_from_state_dict(state_dict, prefix, *args)
