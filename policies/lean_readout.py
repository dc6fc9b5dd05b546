"""The lean readout: the ``query`` / ``ego`` readout folded to its least work (``AttentionExtractor(lean=True)``).

A one-query multi-head readout computes, per head ``h``, ``softmax_i(q_h · W_k,h x_i / sqrt(d))`` and then
``W_o [W_v,h sum_i w_hi x_i + b_v,h]_h + b_o``. With dot-product scores the key projection folds into the query
(``q_h^T W_k,h``: a vector over the token width, the bias term being the same for every token) and the value and
output projections fold into one ``Linear`` of the pooled tokens of every head. So the lean readout keeps only
what the function needs:

- ``query``: the folded queries themselves, one ``(D,)`` vector per head (``(H, D)``, one parameter tensor);
- ``ego``: one ``Linear(D, H * D)`` that maps the observer's token to its folded queries;
- ``value``: one ``Linear(H * D, out_dim)`` of the heads' pooled tokens. An ``AttentionExtractor(lean=True)``
  sets ``out_dim`` to its ``features_dim`` and drops its head's ``Linear`` (``make_head(linear=False)``): the
  value, output and head maps of the projected path are then one matmul.

Scores are one matmul ``tokens @ queries`` (no projection of any token), the pooling one matmul, the output one
``Linear``: about a third of the operations of the projected readout, and 3 parameter tensors instead of 7.
``from_readout`` converts a trained ``QueryReadout`` / ``EgoReadout`` into this form exactly (the tests check
equal outputs and focus within 1e-5); the lean form is slightly more general (its value map is not limited to
rank ``d_head`` per head), so the conversion goes one way only.

Masks, heads, ``top_k`` (hard attention, straight-through) and weight capture for the focus work as in
``MultiHeadAttention``. ``scaled_dot`` and ``general`` scores fold alike (Luong's bilinear ``W`` folds into the
query too); ``additive`` (``v^T tanh(q + k)``) cannot fold, so lean extractors keep the projected readout for it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from policies.attention import MultiHeadAttention, WeightCapture, check_heads, check_top_k_count, keep_top_k
from policies.readouts import EgoReadout, QueryReadout, Readout


class LeanQueryReadout(WeightCapture, Readout):
    """A learned query per head over the tokens, folded (see the module docstring); focus as ``QueryReadout``'s.

    Args:
        embed_dim: token width ``D``.
        num_heads: heads ``H``; must divide ``embed_dim`` (as for the projected readout).
        score: ``scaled_dot`` or ``general`` (both fold into the query).
        top_k: hard attention over the ``top_k`` most attended tokens, or None.
        top_k_per_head: each head keeps its own ``top_k`` tokens (else one choice for all heads).
        out_dim: width of the output (default ``embed_dim``; the extractor's ``features_dim`` when the value map
            also does the head's ``Linear``).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        score: str = "scaled_dot",
        top_k: int | None = None,
        out_dim: int | None = None,
        top_k_per_head: bool = False,
    ) -> None:
        super().__init__()
        check_heads(embed_dim, num_heads)
        if score.lower() not in FOLDING_SCORES:
            raise ValueError(
                f"score={score!r} does not fold into a lean readout (only {', '.join(FOLDING_SCORES)} do): use "
                "lean=False, or a dot-product score."
            )
        check_top_k_count(top_k)
        self.num_heads, self.top_k, self.top_k_per_head = num_heads, top_k, top_k_per_head
        self.query_keys = nn.Parameter(torch.randn(num_heads, embed_dim) * embed_dim**-0.5)  # (H, D)
        self.value = nn.Linear(num_heads * embed_dim, embed_dim if out_dim is None else out_dim)

    def folded_queries(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(D, H)`` queries shared by the batch (the ``ego`` readout: ``(B, D, H)``)."""
        return self.query_keys.T

    def forward(self, tokens: torch.Tensor, attend: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, L, D)`` -> ``(B, out_dim)``."""
        scores = (tokens @ self.folded_queries(tokens)).masked_fill(~attend.unsqueeze(-1), float("-inf"))  # (B, L, H)
        weights = scores.softmax(dim=1).transpose(1, 2)  # (B, H, L)
        if self.top_k is not None or self.capture:
            weights = self.kept_weights(weights.unsqueeze(2), attend).squeeze(2)
        pooled = weights @ tokens  # (B, H, D)
        return self.value(pooled.flatten(1))  # (B, out_dim)

    def kept_weights(self, weights: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        """``(B, H, 1, L)`` weights after ``top_k``; kept in ``last_weights`` under capture."""
        if self.top_k is not None:
            weights = keep_top_k(weights, attend, self.top_k, self.top_k_per_head)
        if self.capture:
            self.last_weights = weights.detach()
        return weights

    def explain(self, mask: torch.Tensor, last_block: MultiHeadAttention | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The readout's own weights, averaged over heads (as ``QueryReadout``)."""
        return self.last_weights.mean(dim=(1, 2)), self.last_weights

    @classmethod
    def from_readout(cls, readout: QueryReadout) -> LeanQueryReadout:
        """The lean readout that computes exactly what ``readout`` (a projected ``QueryReadout``) computes."""
        attn = readout.attn
        lean = cls(
            attn.embed_dim, attn.num_heads, score=_foldable_score(attn), top_k=attn.top_k,
            top_k_per_head=attn.top_k_per_head,
        )  # fmt: skip
        with torch.no_grad():
            lean.query_keys.copy_(_fold_query(attn, attn.q_proj(readout.query[0, 0])))  # (H, D)
            _fold_value(attn, lean.value)
        return lean.to(readout.query.device)


class LeanEgoReadout(LeanQueryReadout):
    """The observer's token is the query, as ``EgoReadout``; ``queries`` maps it to the folded queries.

    ``ego_index`` (an attribute, default 0, set by the extractor from ``ego_part``) is the observer's position.
    """

    ego_index: int = 0

    def __init__(self, embed_dim: int, num_heads: int, **options: Any) -> None:
        """``options``: ``score``, ``top_k``, ``out_dim``, ``top_k_per_head`` as for ``LeanQueryReadout``."""
        super().__init__(embed_dim, num_heads, **options)
        del self.query_keys
        self.queries = nn.Linear(embed_dim, num_heads * embed_dim)

    def folded_queries(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, D, H)``: the observer token's folded query per head."""
        batch, _, embed = tokens.shape
        return self.queries(tokens[:, self.ego_index]).view(batch, self.num_heads, embed).transpose(1, 2)

    @classmethod
    def from_readout(cls, readout: EgoReadout) -> LeanEgoReadout:
        """The lean readout that computes exactly what ``readout`` (a projected ``EgoReadout``) computes."""
        attn = readout.attn
        lean = cls(
            attn.embed_dim, attn.num_heads, score=_foldable_score(attn), top_k=attn.top_k,
            top_k_per_head=attn.top_k_per_head,
        )  # fmt: skip
        with torch.no_grad():
            # queries(x) = fold(W_q x + b_q): linear in x, so fold the weight's columns and the bias alike
            weight = _fold_query(attn, attn.q_proj.weight.T)  # (D_in, H, D)
            lean.queries.weight.copy_(weight.flatten(1).T)
            lean.queries.bias.copy_(_fold_query(attn, attn.q_proj.bias).flatten())
            _fold_value(attn, lean.value)
        lean.ego_index = readout.ego_index
        return lean.to(attn.q_proj.weight.device)


#: Score functions that fold into the query (``additive`` does not).
FOLDING_SCORES = ("scaled_dot", "general")

#: The lean form of each projected readout that has one.
LEAN_READOUTS: dict[type[Readout], type[LeanQueryReadout]] = {
    QueryReadout: LeanQueryReadout,
    EgoReadout: LeanEgoReadout,
}


def _foldable_score(attn: MultiHeadAttention) -> str:
    if attn.score not in FOLDING_SCORES:
        raise ValueError(f"A readout with score={attn.score!r} cannot be folded: only {', '.join(FOLDING_SCORES)} can.")
    return attn.score


def _fold_query(attn: MultiHeadAttention, projected: torch.Tensor) -> torch.Tensor:
    """``(..., D)`` projected queries -> ``(..., H, D)`` folded: ``(q_h [W_h]) W_k,h / sqrt(d)`` per head.

    Linear in ``projected``, so it also folds a linear map's columns. The key bias adds ``q · b_k``, the same for
    every token, which the softmax drops.
    """
    heads, d_head, embed = attn.num_heads, attn.head_dim, attn.embed_dim
    q = projected.reshape(*projected.shape[:-1], heads, 1, d_head)  # (..., H, 1, d)
    if attn.score == "general":
        q = q @ attn.bilinear  # (..., H, 1, d)
    w_k = attn.kv_proj.weight[:embed].view(heads, d_head, embed)  # (H, d, D)
    return (q @ w_k).squeeze(-2) / math.sqrt(d_head)  # (..., H, D)


def _fold_value(attn: MultiHeadAttention, value: nn.Linear) -> None:
    """Set ``value`` (``Linear(H * D, D)``) to ``out_proj`` after the per-head value projection."""
    heads, d_head, embed = attn.num_heads, attn.head_dim, attn.embed_dim
    w_v = attn.kv_proj.weight[embed:].view(heads, d_head, embed)  # (H, d, D)
    w_o = attn.out_proj.weight.view(embed, heads, d_head)  # (D_out, H, d)
    value.weight.copy_(torch.einsum("ohd,hde->ohe", w_o, w_v).reshape(embed, heads * embed))
    value.bias.copy_(attn.out_proj(attn.kv_proj.bias[embed:]))


def fold_readout(extractor: nn.Module) -> nn.Module:
    """Replace ``extractor.readout`` (a projected ``query`` / ``ego`` readout) by its exact lean form, in place.

    The extractor then computes the same features with less work (e.g. a trained model's policy, for faster
    ``predict``); its state dict changes to the lean readout's keys. Readouts without a lean form (``mean``,
    ``cls``, ``additive`` scores) raise ``ValueError``.

    Returns:
        ``extractor``.
    """
    lean_cls = LEAN_READOUTS.get(type(extractor.readout))
    if lean_cls is None:
        names = ", ".join(cls.__name__ for cls in LEAN_READOUTS)
        raise ValueError(f"The readout {type(extractor.readout).__name__} has no lean form: only {names} have one.")
    extractor.readout = lean_cls.from_readout(extractor.readout)
    return extractor


def fold_head(extractor: nn.Module) -> nn.Module:
    """Fold the head's ``Linear`` into the lean readout's value map, in place (what ``lean=True`` builds).

    ``head(value(p)) = act(W_h (W_v p + b_v) + b_h) = act((W_h W_v) p + (W_h b_v + b_h))``: the same features for
    every observation with a real part. An observation with no real part reads out ``act(0)`` afterwards (the
    value map's output is zeroed, as the pooled vector was), where it read out ``act(b_h)`` before. The
    extractor's state dict then has the keys of an ``AttentionExtractor(lean=True)``.

    Returns:
        ``extractor``.
    """
    readout, head = extractor.readout, extractor.head
    if not isinstance(readout, LeanQueryReadout) or not isinstance(head[0], nn.Linear):
        raise ValueError(
            "fold_head needs a lean readout (fold_readout first) followed by a head that starts with a Linear; got "
            f"{type(readout).__name__} and {type(head[0]).__name__}."
        )
    linear, value = head[0], readout.value
    folded = nn.Linear(value.in_features, linear.out_features).to(value.weight.device)
    with torch.no_grad():
        folded.weight.copy_(linear.weight @ value.weight)  # (F, H * D)
        folded.bias.copy_(linear(value.bias))  # (F,)
    readout.value, head[0] = folded, nn.Identity()
    return extractor
