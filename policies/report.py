"""Summarise where a policy looked: ``attention_report`` and ``AttentionReport``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from stable_baselines3.common.preprocessing import preprocess_obs

from policies.extractor import AttentionExtractor


@dataclass
class AttentionReport:
    """Where a policy looked, for a batch of observations.

    Attributes:
        part_names: one name per part.
        focus: ``(B, N)`` where the readout drew from, over the parts; each row sums to 1.
        weights: ``(B, heads, queries, N)`` raw weights of the last layer that attends over the parts (the
            readout for ``query``/``ego`` pooling, the latents' cross-attention for ``latent``).
        entropy: ``(B,)`` focus entropy divided by the log of the number of real parts: 0 = all focus on
            one part, 1 = uniform (0 when fewer than two parts are real).
        mask: ``(B, N)`` True where a part is real (not padding).
        layers: weights of every attention layer, in module order.
        grid: ``(rows, cols)`` of the patch grid for image observations, else None.
    """

    part_names: list[str]
    focus: np.ndarray
    weights: np.ndarray
    entropy: np.ndarray
    mask: np.ndarray
    layers: list[np.ndarray]
    grid: tuple[int, int] | None = None

    def mean_focus(self) -> dict[str, float]:
        """Mean focus per part over the batch, as ``{part_name: mass}``."""
        return {name: float(m) for name, m in zip(self.part_names, self.focus.mean(axis=0), strict=True)}

    def focus_map(self) -> np.ndarray:
        """``(B, rows, cols)``: the focus shaped back onto the patch grid (image observations only)."""
        if self.grid is None:
            raise ValueError("focus_map() needs image observations (a patch grid); this report has none.")
        return self.focus.reshape(len(self.focus), *self.grid)

    def relevant_mass(self, relevant_parts: Sequence[Sequence[int] | np.ndarray | None]) -> np.ndarray:
        """``(B,)`` focus that falls on the parts that matter, one index list per observation.

        An entry of None (relevance unknown) gives NaN for that observation.
        """
        if len(relevant_parts) != len(self.focus):
            raise ValueError(
                f"relevant_parts has {len(relevant_parts)} entries for a batch of {len(self.focus)} observations: "
                "give one index list per observation."
            )
        relevant = np.zeros(self.focus.shape, dtype=bool)
        unknown = np.zeros(len(self.focus), dtype=bool)
        for row, parts in enumerate(relevant_parts):
            if parts is None:
                unknown[row] = True
            else:
                relevant[row, np.asarray(parts, dtype=np.int64)] = True
        return np.where(unknown, np.nan, (self.focus * relevant).sum(axis=1))


def find_attention_extractor(model: object) -> AttentionExtractor:
    """Return the ``AttentionExtractor`` that feeds the actor of an SB3 model or policy."""
    policy = getattr(model, "policy", model)
    candidates = (
        "pi_features_extractor", "features_extractor", "actor.features_extractor", "q_net.features_extractor",
        "quantile_net.features_extractor",
    )  # fmt: skip
    for path in candidates:
        obj: object = policy
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
        if isinstance(obj, AttentionExtractor):
            return obj
    found = getattr(policy, "features_extractor", None)
    raise TypeError(
        f"{type(model).__name__} has no AttentionExtractor (its features extractor is {type(found).__name__}). "
        "Train it with policy_kwargs=dict(features_extractor_class=AttentionExtractor) to report attention."
    )


def normalized_entropy(focus: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(B,)`` entropy of each focus row over its real parts, divided by ``log(real parts)``."""
    plogp = np.where(focus > 0, focus * np.log(np.where(focus > 0, focus, 1.0)), 0.0)
    n_real = mask.sum(axis=1)
    denom = np.log(np.maximum(n_real, 2))
    return np.clip(np.where(n_real > 1, -plogp.sum(axis=1) / denom, 0.0), 0.0, 1.0)


def attention_report(model: object, observations: np.ndarray | dict[str, np.ndarray]) -> AttentionReport:
    """Run the policy's attention extractor on ``observations`` and report where it looked.

    Args:
        model: an SB3 model (or policy) whose actor uses an ``AttentionExtractor``.
        observations: a batch of observations as the (vectorised) env gives them; one observation is read
            as a batch of one.

    Returns:
        The ``AttentionReport`` of the batch.
    """
    policy = getattr(model, "policy", model)
    extractor = find_attention_extractor(model)
    obs_tensor, _ = policy.obs_to_tensor(observations)
    obs_tensor = preprocess_obs(obs_tensor, policy.observation_space, normalize_images=policy.normalize_images)
    explanation = extractor.explain(obs_tensor)
    focus = explanation.focus.cpu().numpy()
    mask = explanation.mask.cpu().numpy()
    return AttentionReport(
        part_names=list(extractor.part_names),
        focus=focus,
        weights=explanation.weights.cpu().numpy(),
        entropy=normalized_entropy(focus, mask),
        mask=mask,
        layers=[w.cpu().numpy() for w in explanation.layers if w is not None],
        grid=extractor.grid,
    )
