"""Multi-head attention with pluggable score functions, hard top-k, and on-demand weight capture.

Score functions (``SCORES``):

- ``scaled_dot`` (default): ``q·k / sqrt(d)`` (Vaswani et al.), on the fused
  :func:`torch.nn.functional.scaled_dot_product_attention` path;
- ``general``: Luong's bilinear ``q^T W k / sqrt(d)`` with one ``W`` per head (initialised to the
  identity); ``W k`` is applied first, so it also runs on the fused path;
- ``additive``: Bahdanau's ``v^T tanh(q + k)`` per head. It builds a ``(B, H, Q, N, d_head)`` tensor, so use
  it for readouts (one query) or small sets, not for self-attention over hundreds of parts.

Only while :func:`policies.report.capture_attention` is active (``capture=True``), or for a score/top-k that
needs them, are the weights computed explicitly; with ``capture`` they are kept in ``last_weights``. Training
never pays for attention logging.

The fused kernel has no second derivative, which algorithms such as TRPO (a Hessian-vector product of the KL)
need; :func:`fused_attention` keeps the fused kernel for the forward pass and first-order gradients and
differentiates an explicit copy only when a second derivative is asked for.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from envs.validation import check_int
from policies.registry import Registry

#: Attention with at most ``embed_dim / FOLD_RATIO`` queries (readouts) folds the key and value projections
#: into the queries instead of projecting every part (see ``MultiHeadAttention._folded`` and ``folds``).
FOLD_RATIO = 4


def folds(n_queries: int, n_keys: int, embed_dim: int, shared: bool) -> bool:
    """Whether attending without projecting the keys (``MultiHeadAttention._folded``) is the cheaper path.

    Folding costs ``O(Q * D)`` per key and head instead of projecting each key (``O(D^2)``), so it needs few
    queries (``Q * FOLD_RATIO <= D``); queries of each observation (not ``shared`` by the batch) are folded per
    observation too (``O(Q * D^2)``), which only pays when they are fewer than half the keys: self-attention
    (``Q = N``) projects.
    """
    return n_queries * FOLD_RATIO <= embed_dim and (shared or 2 * n_queries <= n_keys)


#: Score function names (the values are the one-line descriptions shown in errors and docs).
SCORES: Registry[str] = Registry("score function")
SCORES.register("scaled_dot", "q·k/sqrt(d) (Vaswani); fused fast path")
SCORES.register("general", "q^T W k/sqrt(d) (Luong, bilinear); fused fast path")
SCORES.register("additive", "v^T tanh(q + k) (Bahdanau); memory grows as queries x parts")


#: Most attention blocks in one stack (an extractor's ``num_layers``, a memory's ``memory_layers``): each block is
#: built and run in turn, and the sets here are small enough for 1-4 blocks to be the useful range.
MAX_LAYERS = 64
#: What a count of blocks above ``MAX_LAYERS`` is told.
LAYERS_WHY = " (each block is built and run in turn; 1-4 is the useful range here)"


def check_heads(embed_dim: int, num_heads: int) -> None:
    """Raise ``ValueError`` unless ``embed_dim`` splits evenly into ``num_heads`` heads."""
    check_int("num_heads", num_heads, 1)
    check_int("embed_dim", embed_dim, 1)
    if embed_dim % num_heads != 0:
        lower = embed_dim - embed_dim % num_heads
        hint = f"embed_dim={lower} or {lower + num_heads}" if lower else f"embed_dim={num_heads}"
        raise ValueError(
            f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}: each head needs an equal share "
            f"of the embedding. Use e.g. {hint}, or a num_heads that divides {embed_dim}."
        )


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d))`` over the keys ``mask`` allows, times ``v``: built from differentiable ops only.

    Args:
        q: ``(B, H, Q, d)`` queries.
        k: ``(B, H, N, d)`` keys.
        v: ``(B, H, N, d)`` values.
        mask: boolean, broadcastable to ``(B, H, Q, N)``, True where a key may be attended.

    Returns:
        ``(B, H, Q, d)``.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, Q, N)
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v


class _TwiceDifferentiableAttention(torch.autograd.Function):
    """The fused kernel forward and backward, with an explicit copy to differentiate when a graph is asked for.

    ``forward`` runs the fused kernel on detached leaves with autograd on, and keeps that small graph; a plain
    backward (``create_graph=False``) runs the fused kernel's own backward through it. A backward asked to build
    a graph (``create_graph=True``: grad mode is on inside ``backward``) differentiates :func:`explicit_attention`
    on the saved inputs instead, whose gradient is itself differentiable.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_(t.requires_grad) for t in (q, k, v)]
            out = F.scaled_dot_product_attention(*leaves, attn_mask=mask)
        ctx.leaves, ctx.out, ctx.mask = leaves, out, mask
        ctx.save_for_backward(q, k, v)
        return out.detach()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        needed = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():  # create_graph=True: a second derivative will follow
            inputs = ctx.saved_tensors
            out = explicit_attention(*inputs, ctx.mask)
        else:
            inputs, out = ctx.leaves, ctx.out
        wanted = [t for t, need in zip(inputs, needed, strict=True) if need]
        grads = iter(torch.autograd.grad(out, wanted, grad, retain_graph=True, create_graph=torch.is_grad_enabled()))
        return (*(next(grads) if need else None for need in needed), None)


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """:func:`torch.nn.functional.scaled_dot_product_attention` that can also be differentiated twice.

    Without gradients (rollouts, ``predict``) and inside ``torch.compile`` it is the fused kernel itself; with
    gradients, eagerly, the fused kernel's forward and backward, and a twice-differentiable backward when
    ``create_graph=True`` asks for one (TRPO). Arguments and result as :func:`explicit_attention`'s, which it
    equals up to rounding.
    """
    if torch.compiler.is_compiling():  # a compiled graph takes the kernel itself (dynamo cannot trace the copy)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        return _TwiceDifferentiableAttention.apply(q, k, v, mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


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


def check_top_k_count(top_k: object) -> None:
    """Raise ``ValueError`` unless ``top_k`` is None (soft attention) or an integer of at least 1."""
    if top_k is not None:
        check_int("top_k", top_k, 1, why=" (the parts hard attention keeps), or null for soft attention")


def keep_top_k(weights: torch.Tensor, key_mask: torch.Tensor, k: int, per_head: bool = False) -> torch.Tensor:
    """Hard attention: keep the ``k`` parts with the most (head- and query-averaged) weight, renormalised.

    With ``per_head`` each head keeps its own ``k`` parts (by its query-averaged weight), so ``H`` heads read up to
    ``H * k`` parts: one head can hold a part that is in every observation while another looks for the target.

    The selection is discrete. The forward pass uses the kept weights renormalised to sum to 1; the backward
    pass is straight-through: it differentiates the kept *soft* weights (not renormalised), so the scores
    learn for every ``k``. Renormalising alone would give ``k = 1`` a constant weight of 1 and no gradient.

    Args:
        weights: ``(B, H, Q, N)`` soft attention weights.
        key_mask: ``(B, N)`` bool, True for real parts; padding is never selected while real parts remain.
        k: parts to keep; a set with fewer real parts keeps them all.
        per_head: choose the ``k`` parts per head instead of once for all heads.

    Returns:
        ``(B, H, Q, N)`` weights, non-zero on at most ``k`` parts per observation (per head with ``per_head``),
        rows summing to 1.
    """
    dims = 2 if per_head else (1, 2)
    importance = weights.detach().mean(dim=dims, keepdim=True)  # (B, H or 1, 1, N)
    importance = importance.masked_fill(~key_mask[:, None, None, :], -1.0)
    k = min(k, weights.shape[-1])
    chosen = importance.topk(k, dim=-1).indices  # (B, H or 1, 1, k)
    ones = torch.ones_like(chosen, dtype=torch.bool)
    keep = torch.zeros_like(importance, dtype=torch.bool).scatter(-1, chosen, ones)  # (B, H or 1, 1, N)
    kept = weights * (keep & key_mask[:, None, None, :])  # (B, H, Q, N)
    hard = kept / kept.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return hard.detach() + (kept - kept.detach())  # value: hard; gradient: the kept soft weights


class WeightCapture(nn.Module):
    """A module that computes attention weights and keeps them while :func:`capture_attention` is active."""

    #: Set by ``capture_attention``; when True the forward pass keeps its weights in ``last_weights``.
    capture = False
    #: ``(B, heads, Q, N)`` weights of the last captured forward pass, else None.
    last_weights: torch.Tensor | None = None


class MultiHeadAttention(WeightCapture):
    """Multi-head attention of queries over a masked set of keys.

    Args:
        embed_dim: width of queries, keys, values and output.
        num_heads: number of heads; must divide ``embed_dim``.
        score: score function name from ``SCORES``.
        top_k: keep only the ``top_k`` most attended parts (hard attention), or None for soft attention.
        top_k_per_head: each head keeps its own ``top_k`` parts (else the heads share one choice).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        score: str = "scaled_dot",
        top_k: int | None = None,
        top_k_per_head: bool = False,
    ) -> None:
        super().__init__()
        check_heads(embed_dim, num_heads)
        SCORES.get(score)
        check_top_k_count(top_k)
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.score = score.lower()
        self.top_k, self.top_k_per_head = top_k, top_k_per_head
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.kv_proj = nn.Linear(embed_dim, 2 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        if self.score == "general":
            self.bilinear = nn.Parameter(torch.eye(self.head_dim).repeat(num_heads, 1, 1))  # (H, d, d)
        elif self.score == "additive":
            self.energy = nn.Parameter(torch.randn(num_heads, self.head_dim) * self.head_dim**-0.5)  # (H, d)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, d_head)

    def _scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """``(B, H, Q, d)``, ``(B, H, N, d)`` -> ``(B, H, Q, N)`` unnormalised scores."""
        if self.score == "additive":
            hidden = torch.tanh(q.unsqueeze(3) + k.unsqueeze(2))  # (B, H, Q, N, d)
            return torch.einsum("bhqnd,hd->bhqn", hidden, self.energy)
        return q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)

    def _weights(self, scores: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """Masked softmax (and top-k) of ``(B, H, Q, N)`` scores; kept in ``last_weights`` under capture."""
        weights = scores.masked_fill(~key_mask[:, None, None, :], float("-inf")).softmax(dim=-1)
        if self.top_k is not None:
            weights = keep_top_k(weights, key_mask, self.top_k, self.top_k_per_head)
        if self.capture:
            self.last_weights = weights.detach()
        return weights

    def _projected(self, q: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """Project every key and value, then attend: ``(B, H, Q, d_head)``. The path for many queries."""
        q = q.expand(keys.shape[0], -1, -1, -1)
        k, v = self.kv_proj(keys).chunk(2, dim=-1)
        k, v = self._split(k), self._split(v)  # (B, H, N, d_head) each
        if self.capture or self.top_k is not None or self.score == "additive":
            return self._weights(self._scores(q, k), key_mask) @ v  # (B, H, Q, d_head)
        return fused_attention(q, k, v, key_mask[:, None, None, :])

    def _folded(self, q: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """Attend without projecting the keys: ``(B, H, Q, d_head)``, exactly equal to ``_projected``.

        ``q · (W_k x + b_k) = (W_k^T q) · x + q · b_k`` and the last term is the same for every key, so softmax
        drops it; ``sum_i w_i (W_v x_i + b_v) = W_v (sum_i w_i x_i) + b_v`` as the weights sum to 1. So a few
        queries (a readout) cost ``O(N · D)`` per query and head instead of ``O(N · D^2)`` for projecting every
        part: the readout becomes almost free next to the tokenizer.
        """
        heads, d_head, embed = self.num_heads, self.head_dim, self.embed_dim
        w_k, w_v = self.kv_proj.weight.view(2, heads, d_head, embed).unbind(0)  # (H, d, D) each
        b_v = self.kv_proj.bias.view(2, heads, 1, d_head)[1]  # (H, 1, d)
        batch, n_parts, _ = keys.shape
        n_queries = q.shape[2]
        if q.shape[0] == 1:  # one set of queries for the whole batch (a learned query): a single matmul
            folded = (q[0] @ w_k).reshape(heads * n_queries, embed)  # (H*Q, D)
            scores = (keys @ (folded.T / math.sqrt(d_head))).transpose(1, 2)  # (B, H*Q, N)
        else:
            folded = (q.transpose(0, 1).reshape(heads, -1, d_head) @ w_k).view(heads, batch, n_queries, embed)
            folded = folded.transpose(0, 1).reshape(batch, heads * n_queries, embed)  # (B, H*Q, D)
            scores = folded @ keys.transpose(1, 2) / math.sqrt(d_head)  # (B, H*Q, N)
        weights = self._weights(scores.view(batch, heads, n_queries, n_parts), key_mask)  # (B, H, Q, N)
        pooled = weights.view(batch, heads * n_queries, n_parts) @ keys  # (B, H*Q, D)
        pooled = pooled.view(batch, heads, n_queries, embed).transpose(0, 1).reshape(heads, -1, embed)  # (H, B*Q, D)
        out = (pooled @ w_v.transpose(1, 2) + b_v).view(heads, batch, n_queries, d_head)  # (H, B, Q, d)
        return out.transpose(0, 1)  # (B, H, Q, d_head)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """Attend from ``queries`` to ``keys``.

        Args:
            queries: ``(B, Q, D)``, or ``(1, Q, D)`` for queries shared by the whole batch.
            keys: ``(B, N, D)``; also the values.
            key_mask: ``(B, N)`` bool, True where a key may be attended. Must have a True in every row
                (see :func:`safe_key_mask`).

        Returns:
            ``(B, Q, D)``.
        """
        batch, n_queries = keys.shape[0], queries.shape[1]
        q = self._split(self.q_proj(queries))  # (B or 1, H, Q, d_head)
        if self.score == "general":
            q = q @ self.bilinear  # (B, H, Q, d_head): q^T W k == (W^T q)^T k
        if self.score != "additive" and folds(n_queries, keys.shape[1], self.embed_dim, shared=q.shape[0] == 1):
            out = self._folded(q, keys, key_mask)
        else:
            out = self._projected(q, keys, key_mask)
        out = out.transpose(1, 2).reshape(batch, n_queries, self.embed_dim)  # (B, Q, D)
        return self.out_proj(out)


def attention_rollout(layer_weights: Sequence[torch.Tensor], start: torch.Tensor) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): how much each input token feeds ``start``'s mix of outputs.

    Each residual self-attention layer mixes its tokens as ``0.5 * A + 0.5 * I`` (``A``: its weights averaged
    over heads, rows renormalised), the residual stream being the identity half; multiplying the layers' mixes
    from the last back to the first, and ``start`` (how much each final token contributes) in front, carries
    the contribution back to the tokens that entered the first layer. With no layer it is ``start`` itself.

    Args:
        layer_weights: ``(B, H, L, L)`` captured weights of each self-attention layer, first layer first.
        start: ``(B, L)`` contribution of each token after the last layer (rows sum to 1).

    Returns:
        ``(B, L)`` contribution of each input token; rows sum to 1 when ``start``'s do.
    """
    flow = start.unsqueeze(1)  # (B, 1, L)
    for weights in reversed(layer_weights):
        mix = weights.mean(dim=1)  # (B, L, L)
        mix = 0.5 * mix / mix.sum(dim=-1, keepdim=True).clamp_min(1e-12) + 0.5 * torch.eye(
            mix.shape[-1], dtype=mix.dtype, device=mix.device
        )
        flow = flow @ mix  # (B, 1, L)
    return flow.squeeze(1)


@contextlib.contextmanager
def capture_attention(module: nn.Module) -> Iterator[list[WeightCapture]]:
    """Within the block, every attention layer of ``module`` keeps its weights in ``last_weights``.

    Yields the attention layers (``WeightCapture`` modules: ``MultiHeadAttention``, lean readouts) in registration
    order. Outside the block the layers take the fast fused path again and keep nothing.
    """
    layers = [m for m in module.modules() if isinstance(m, WeightCapture)]
    for layer in layers:
        layer.capture, layer.last_weights = True, None
    try:
        yield layers
    finally:
        for layer in layers:
            layer.capture = False
