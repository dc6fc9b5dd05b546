"""Multi-head attention with a fast path and an on-demand weight capture, and pre-LayerNorm blocks.

The fast path calls :func:`torch.nn.functional.scaled_dot_product_attention` (fused kernels, no weight
matrix kept). Only while :func:`policies.capture.capture_attention` is active does a module compute its
weights explicitly and keep them in ``last_weights``, so training never pays for attention logging.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def check_heads(embed_dim: int, num_heads: int) -> None:
    """Raise ``ValueError`` unless ``embed_dim`` splits evenly into ``num_heads`` heads."""
    if not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"num_heads={num_heads!r} is invalid: it must be a positive integer.")
    if not isinstance(embed_dim, int) or embed_dim < 1:
        raise ValueError(f"embed_dim={embed_dim!r} is invalid: it must be a positive integer.")
    if embed_dim % num_heads != 0:
        lower = embed_dim - embed_dim % num_heads
        hint = f"embed_dim={lower} or {lower + num_heads}" if lower else f"embed_dim={num_heads}"
        raise ValueError(
            f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}: each head needs an equal share "
            f"of the embedding. Use e.g. {hint}, or a num_heads that divides {embed_dim}."
        )


def safe_key_mask(mask: torch.Tensor) -> torch.Tensor:
    """Make every row of a key mask attend somewhere.

    A set whose parts are all padding would give ``softmax`` a row of ``-inf`` and so NaN. Such rows are
    opened to every part (which all hold padding); callers zero the result for empty sets.

    Args:
        mask: ``(B, N)`` bool, True where a part is real.

    Returns:
        ``(B, N)`` bool mask with no all-False row.
    """
    return mask | ~mask.any(dim=-1, keepdim=True)


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention of queries over a masked set of keys.

    Args:
        embed_dim: width of queries, keys, values and output.
        num_heads: number of heads; must divide ``embed_dim``.
    """

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        check_heads(embed_dim, num_heads)
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.kv_proj = nn.Linear(embed_dim, 2 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        #: Set by ``capture_attention``; when True the forward pass keeps its weights.
        self.capture = False
        #: ``(B, heads, Q, N)`` weights of the last captured forward pass, else None.
        self.last_weights: torch.Tensor | None = None

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, d_head)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """Attend from ``queries`` to ``keys``.

        Args:
            queries: ``(B, Q, D)``.
            keys: ``(B, N, D)``; also the values.
            key_mask: ``(B, N)`` bool, True where a key is real. Must have a True in every row
                (see :func:`safe_key_mask`).

        Returns:
            ``(B, Q, D)``.
        """
        batch, n_queries, _ = queries.shape
        q = self._split(self.q_proj(queries))  # (B, H, Q, d_head)
        k, v = self.kv_proj(keys).chunk(2, dim=-1)
        k, v = self._split(k), self._split(v)  # (B, H, N, d_head) each
        allowed = key_mask[:, None, None, :]  # (B, 1, 1, N)
        if self.capture:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, Q, N)
            weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
            self.last_weights = weights.detach()
            out = weights @ v  # (B, H, Q, d_head)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # (B, H, Q, d_head)
        out = out.transpose(1, 2).reshape(batch, n_queries, self.embed_dim)  # (B, Q, D)
        return self.out_proj(out)


class TransformerBlock(nn.Module):
    """Pre-LayerNorm self-attention block: ``x + attn(LN(x))`` then ``x + MLP(LN(x))``.

    Args:
        embed_dim: token width.
        num_heads: attention heads; must divide ``embed_dim``.
        mlp_ratio: hidden width of the MLP as a multiple of ``embed_dim``.
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        if mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio={mlp_ratio!r} is invalid: it must be > 0 (2.0 is a good default).")
        hidden = max(1, int(embed_dim * mlp_ratio))
        self.norm_attn = nn.LayerNorm(embed_dim)
        self.attn = MultiHeadAttention(embed_dim, num_heads)
        self.norm_mlp = nn.LayerNorm(embed_dim)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, embed_dim))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, N, D)`` tokens and ``(B, N)`` safe mask -> ``(B, N, D)``."""
        normed = self.norm_attn(tokens)
        tokens = tokens + self.attn(normed, normed, mask)
        return tokens + self.mlp(self.norm_mlp(tokens))
