"""Faithfulness: does a focus rank the parts as the policy's own response to removing them does?

Two scores of a focus against the causal effects (``policies.causal``) of the same observations:

- ``spearman``: the Spearman rank correlation between the focus and the effects over the real parts of each
  observation (ties get their average rank), averaged over the observations where it is defined (at least two
  real parts, neither side constant). 1: the focus orders the parts exactly as removing them moves the policy.
- ``deletion_ratio``: the mean effect of removing the part the focus puts first, over the mean effect of
  removing one of the other real parts (a ratio of means over the batch, steadier than a mean of ratios when
  most parts move the policy by almost nothing). Above 1: the focus's top part matters more than the rest;
  infinite when only that part moves the policy; NaN when no part does.
"""

from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks ``0 .. n-1`` of a 1-D array, tied values sharing their average rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays; NaN when either is constant or shorter than 2."""
    if len(a) < 2:
        return float("nan")
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def faithfulness_scores(focus: np.ndarray, effects: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """``{"spearman", "deletion_ratio"}`` of ``focus (B, N)`` against ``effects (B, N)`` over ``mask (B, N)``.

    Scores that cannot be defined on the batch (no observation with two real parts that vary, no part that
    moves the policy) are NaN; the deletion ratio is infinite when only the focus's top parts move it.
    """
    # Effects below this share of an observation's largest are ties at zero (float noise of the batched passes).
    effects = np.where(effects > 1e-6 * effects.max(axis=1, keepdims=True), effects, 0.0)
    scores = [spearman(f[m], e[m]) for f, e, m in zip(focus, effects, mask.astype(bool), strict=True)]
    defined = [s for s in scores if not np.isnan(s)]
    top_effects, other_effects = [], []
    for f, e, m in zip(focus, effects, mask.astype(bool), strict=True):
        if m.sum() < 2:
            continue
        top = int(np.argmax(np.where(m, f, -np.inf)))
        others = m.copy()
        others[top] = False
        top_effects.append(e[top])
        other_effects.append(e[others].mean())
    top = float(np.mean(top_effects)) if top_effects else 0.0
    other = float(np.mean(other_effects)) if other_effects else 0.0
    ratio = top / other if other > 0 else float("inf") if top > 0 else float("nan")
    return {"spearman": float(np.mean(defined)) if defined else float("nan"), "deletion_ratio": ratio}
