"""Readouts: pool a set of tokens into one vector, and say which tokens they drew on (the focus).

``READOUTS`` (the ``pooling`` argument of the extractors):

- ``query`` (default): a learned query cross-attends to the tokens;
- ``ego``: the observer's token (the first, e.g. highway-env's ego vehicle, or the extractor's ``ego_part``) is
  the query;
- ``mean``: the mean of the real tokens (focus: uniform over them);
- ``max``: feature-wise max over the real tokens, as in relational RL (Zambaldi et al. 2019); each feature comes
  from one token, so the focus is exact: the share of the features each token gives;
- ``cls``: a learned CLS token joins the set before the self-attention blocks and is read out after them
  (focus: its attention in the last block); needs ``num_layers >= 1``.

``query`` and ``ego`` take ``top_k`` (hard attention over the ``k`` most attended tokens; with ``top_k_per_head``
each head keeps its own ``k``) and ``num_queries`` (several queries, each reading its own weighted sum of the
tokens, concatenated as in Set Transformer's pooling by multi-head attention, Lee et al. 2019; with ``ego`` the
observer's token is the first query and the others are learned).
"""

from __future__ import annotations

import torch
from torch import nn

from envs.validation import check_int
from policies.attention import MultiHeadAttention, check_top_k_count
from policies.registry import Registry


def check_top_k(pooling: str, top_k: int | None, top_k_per_head: bool = False, num_queries: int = 1) -> None:
    """Raise ``ValueError`` when ``top_k`` or ``num_queries > 1`` is asked of a readout without attention of its own.

    Also ``ValueError`` for a ``top_k`` that is not a count of at least 1, ``TypeError`` for a ``top_k_per_head``
    that is not a bool, ``ValueError`` when it is set without ``top_k``.
    """
    check_int("num_queries", num_queries, 1)
    if num_queries > 1 and pooling not in ("query", "ego"):
        raise ValueError(
            f"num_queries={num_queries} needs an attention readout, but pooling='{pooling}': use pooling='query' or "
            "'ego', or num_queries=1."
        )
    check_top_k_count(top_k)
    if not isinstance(top_k_per_head, bool):
        raise TypeError(f"top_k_per_head={top_k_per_head!r} must be True or False.")
    if top_k_per_head and top_k is None:
        raise ValueError("top_k_per_head=True needs hard attention: set top_k (e.g. top_k=3), or top_k_per_head=False.")
    if top_k is not None and pooling not in ("query", "ego"):
        raise ValueError(
            f"top_k={top_k} needs an attention readout, but pooling='{pooling}': use pooling='query' or 'ego', "
            "or top_k=None."
        )


class Readout(nn.Module):
    """Base class: ``forward`` pools ``(B, L, D)`` tokens to ``(B, D)``; ``explain`` gives its focus."""

    #: True when the readout adds a CLS token in front of the set before the blocks.
    uses_cls = False

    def forward(self, tokens: torch.Tensor, attend: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pool ``tokens (B, L, D)`` with ``attend`` (safe key mask) and ``mask`` (real tokens), both ``(B, L)``.

        Returns ``(B, out_dim)``: ``D`` for every readout but the multi-query ones (``num_queries * D``).
        """
        raise NotImplementedError

    def out_dim(self, embed_dim: int) -> int:
        """Width of the pooled vector for tokens of width ``embed_dim``."""
        return embed_dim

    def explain(self, mask: torch.Tensor, last_block: MultiHeadAttention | None) -> tuple[torch.Tensor, torch.Tensor]:
        """After a captured forward pass: ``focus (B, L)`` (rows sum to 1) and raw ``weights (B, H, Q, L)``."""
        raise NotImplementedError

    def token_weights(self, mask: torch.Tensor) -> torch.Tensor:
        """After a captured forward pass: ``(B, L)`` how much of the pooled vector each pooled token gives.

        The start of attention rollout: for ``cls`` the CLS token alone (its state is the readout), else the
        readout's focus over the tokens it pooled.
        """
        return self.explain(mask, None)[0]


class QueryReadout(Readout):
    """Learned queries cross-attend to the tokens (multi-head; optional hard ``top_k``).

    One query by default; with ``num_queries = Q > 1`` each query reads its own weighted sum of the tokens and the
    ``Q`` results are concatenated (``(B, Q * D)``), so the readout can hold several places at once.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        score: str = "scaled_dot",
        top_k: int | None = None,
        top_k_per_head: bool = False,
        num_queries: int = 1,
    ) -> None:
        super().__init__()
        check_int("num_queries", num_queries, 1)
        self.num_queries = num_queries
        self.query = nn.Parameter(torch.randn(1, num_queries, embed_dim) * embed_dim**-0.5)  # (1, Q, D)
        self.attn = MultiHeadAttention(embed_dim, num_heads, score=score, top_k=top_k, top_k_per_head=top_k_per_head)

    def out_dim(self, embed_dim: int) -> int:
        """``num_queries * embed_dim``: the queries' reads side by side."""
        return self.num_queries * embed_dim

    def queries(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(1, Q, D)``: the learned queries, shared by the whole batch."""
        return self.query

    def forward(self, tokens: torch.Tensor, attend: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, L, D)`` -> ``(B, Q * D)`` (``(B, D)`` for one query)."""
        return self.attn(self.queries(tokens), tokens, attend).flatten(1)

    def explain(self, mask: torch.Tensor, last_block: MultiHeadAttention | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The readout's own weights, averaged over heads and queries."""
        weights = self.attn.last_weights  # (B, H, Q, L)
        return weights.mean(dim=(1, 2)), weights


class EgoReadout(QueryReadout):
    """The observer's token is the query, as in highway-env's ego-attention (the first token unless told).

    ``ego_index`` (an attribute, default 0) is the observer's position in the set; the extractor sets it from
    ``ego_part`` (e.g. the agent's cell at the bottom centre of MiniGrid's egocentric view). With
    ``num_queries = Q > 1`` the observer's token is the first query and ``Q - 1`` learned queries follow.
    """

    ego_index: int = 0

    def queries(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, Q, D)``: the observer's token, then the learned queries (the first learned one is not used)."""
        ego = tokens[:, self.ego_index : self.ego_index + 1]  # (B, 1, D)
        if self.num_queries == 1:
            return ego
        learned = self.query[:, 1:].expand(tokens.shape[0], -1, -1)  # (B, Q - 1, D)
        return torch.cat([ego, learned], dim=1)


class MeanReadout(Readout):
    """The mean of the real tokens."""

    def __init__(self, embed_dim: int, num_heads: int, **attention: object) -> None:
        """``attention`` (``score``, ``top_k``...): the attention readouts' options, unused here."""
        super().__init__()

    def forward(self, tokens: torch.Tensor, attend: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, L, D)`` -> ``(B, D)``; an empty set gives zeros."""
        weights = mask.unsqueeze(-1).to(tokens.dtype)  # (B, L, 1)
        return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)

    def explain(self, mask: torch.Tensor, last_block: MultiHeadAttention | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Uniform focus over the real tokens."""
        focus = mask.float() / mask.float().sum(dim=1, keepdim=True).clamp_min(1.0)  # (B, L)
        return focus, focus[:, None, None, :]


class MaxReadout(Readout):
    """Feature-wise max over the real tokens (Zambaldi et al. 2019): each feature is one token's."""

    def __init__(self, embed_dim: int, num_heads: int, **attention: object) -> None:
        """``attention`` (``score``, ``top_k``...): the attention readouts' options, unused here."""
        super().__init__()
        self.last_winners: torch.Tensor | None = None

    def forward(self, tokens: torch.Tensor, attend: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, L, D)`` -> ``(B, D)``; an empty set gives zeros."""
        masked = tokens.masked_fill(~mask.unsqueeze(-1), float("-inf"))  # (B, L, D)
        pooled, winners = masked.max(dim=1)  # (B, D) each
        self.last_winners = winners
        empty = ~mask.any(dim=1, keepdim=True)  # (B, 1)
        return pooled.masked_fill(empty, 0.0)

    def explain(self, mask: torch.Tensor, last_block: MultiHeadAttention | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The share of the pooled features each real token gave (zeros for an empty set)."""
        winners = self.last_winners  # (B, D)
        counts = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)  # (B, L)
        counts.scatter_add_(1, winners, torch.ones(winners.shape, dtype=torch.float32, device=mask.device))
        counts = counts * mask.float()
        focus = counts / counts.sum(dim=1, keepdim=True).clamp_min(1.0)  # (B, L)
        return focus, focus[:, None, None, :]


class ClsReadout(Readout):
    """A learned CLS token joins the set before the blocks; its final state is the readout."""

    uses_cls = True

    def __init__(self, embed_dim: int, num_heads: int, **attention: object) -> None:
        """``attention`` (``score``, ``top_k``...): the attention readouts' options, unused here."""
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, embed_dim) * 0.02)  # (1, 1, D)

    def prepend(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, L, D)``, ``(B, L)`` -> ``(B, 1 + L, D)``, ``(B, 1 + L)`` with the CLS token first."""
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1), torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)

    def forward(self, tokens: torch.Tensor, attend: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, 1 + L, D)`` -> the CLS token ``(B, D)``."""
        return tokens[:, 0]

    def explain(self, mask: torch.Tensor, last_block: MultiHeadAttention | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The CLS token's attention over the other tokens in the last block, renormalised without itself."""
        weights = last_block.last_weights[:, :, :1, 1:]  # (B, H, 1, L)
        focus = weights.mean(dim=(1, 2))
        return focus / focus.sum(dim=1, keepdim=True).clamp_min(1e-12), weights

    def token_weights(self, mask: torch.Tensor) -> torch.Tensor:
        """``(B, 1 + L)``: all on the CLS token, whose final state is the readout."""
        weights = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
        weights[:, 0] = 1.0
        return weights


#: Readouts by ``pooling`` name.
READOUTS: Registry[type[Readout]] = Registry("pooling")
READOUTS.register("query", QueryReadout)
READOUTS.register("ego", EgoReadout)
READOUTS.register("mean", MeanReadout)
READOUTS.register("max", MaxReadout)
READOUTS.register("cls", ClsReadout)
