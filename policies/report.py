"""Summarise where a policy looked: ``attention_report``, ``focus_reports`` and ``AttentionReport``.

Each focus method (``FOCUS_METHODS``, ``policies.focus_methods``) gives a ``(B, N)`` distribution over the named parts;
the three built in:

- ``readout``: the readout's own weights, mean over heads (exact for ``num_layers=0``);
- ``rollout``: attention rollout through every block into the readout (Abnar & Zuidema 2020);
- ``causal``: the policy's own answer: remove each part, measure how far the action distribution moves
  (``policies.causal``). The reference the other two are scored against by ``AttentionReport.faithfulness``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from stable_baselines3.common.preprocessing import preprocess_obs

from policies.causal import MAX_CAUSAL_PARTS, causal_effects
from policies.extractor import AttentionExtractor, normalized_focus
from policies.faithfulness import faithfulness_scores
from policies.focus_methods import FOCUS_METHODS, FocusInputs, check_focus_methods


@dataclass
class AttentionReport:
    """Where a policy looked, for a batch of observations, by one focus method.

    Attributes:
        part_names: one name per part.
        focus: ``(B, N)`` the focus of ``method`` over the parts; each row sums to 1, padding gets 0.
        weights: ``(B, heads, queries, N)`` raw weights of the last layer that attends over the parts (the
            readout for ``query``/``ego`` pooling, the latents' cross-attention for ``latent``).
        entropy: ``(B,)`` focus entropy divided by the log of the number of real parts: 0 = all focus on
            one part, 1 = uniform (0 when fewer than two parts are real).
        mask: ``(B, N)`` True where a part is real (not padding).
        layers: weights of every attention layer, in module order.
        grid: ``(rows, cols)`` of the patch grid for image observations, else None.
        method: the focus method (``readout``, ``rollout`` or ``causal``); every picture and table names it.
        effects: ``(B, N)`` the causal effect of removing each part (KL), once computed (always for ``causal``).
        cell_boxes: conv tokens: ``(N, 4)`` pixel boxes ``(x0, y0, x1, y1)`` of each cell's centre region in the
            input image (see ``ConvTokenizer``), else None.
        receptive_fields: conv tokens: ``(N, 4)`` pixel boxes of each cell's receptive field, else None.
    """

    part_names: list[str]
    focus: np.ndarray
    weights: np.ndarray
    entropy: np.ndarray
    mask: np.ndarray
    layers: list[np.ndarray]
    grid: tuple[int, int] | None = None
    method: str = "readout"
    effects: np.ndarray | None = None
    cell_boxes: np.ndarray | None = None
    receptive_fields: np.ndarray | None = None
    _effects_fn: Callable[[], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def mean_focus(self) -> dict[str, float]:
        """Mean focus per part over the batch, as ``{part_name: mass}``."""
        return {name: float(m) for name, m in zip(self.part_names, self.focus.mean(axis=0), strict=True)}

    def focus_map(self) -> np.ndarray:
        """``(B, rows, cols)``: the focus shaped back onto the patch or conv cell grid (image observations only)."""
        if self.grid is None:
            raise ValueError("focus_map() needs image observations (a patch or cell grid); this report has none.")
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
                indices = np.asarray(parts, dtype=np.int64)
                if indices.size and (indices.min() < 0 or indices.max() >= relevant.shape[1]):
                    raise ValueError(
                        f"relevant_parts {indices.tolist()} of observation {row} index parts beyond this report's "
                        f"{relevant.shape[1]} ({self.part_names[0]}...{self.part_names[-1]}): the env names its "
                        "relevant parts on another part axis (e.g. its patch grid, not these conv cells); give the "
                        "tokenizer the env's grid (for conv tokens on PatchFind: stem='small', 8 px cells)."
                    )
                relevant[row, indices] = True
        return np.where(unknown, np.nan, (self.focus * relevant).sum(axis=1))

    def causal_effects(self) -> np.ndarray:
        """``(B, N)`` the policy's response to removing each part (computed on first use, then kept)."""
        if self.effects is None:
            if self._effects_fn is None:
                raise ValueError("This report has no policy to ask: make it with attention_report(model, ...).")
            self.effects = self._effects_fn()
        return self.effects

    def faithfulness(self) -> dict[str, float]:
        """How well this focus predicts what the policy does when each part is removed.

        Returns:
            ``{"spearman": ..., "deletion_ratio": ...}``: the mean per-observation Spearman rank correlation
            between the focus and the causal effects over the real parts (observations with fewer than two
            real parts, or a constant focus or effect, are left out; NaN when none is left), and the deletion
            ratio: the mean effect of removing the most focused part over the mean effect of removing one of
            the other real parts (1 = the top part matters no more than any other; NaN when no other part
            moves the policy). See ``policies.faithfulness``.
        """
        return faithfulness_scores(self.focus, self.causal_effects(), self.mask)


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


def focus_reports(
    model: object,
    observations: np.ndarray | dict[str, np.ndarray],
    methods: Sequence[str] = ("readout",),
    max_causal_parts: int = MAX_CAUSAL_PARTS,
) -> dict[str, AttentionReport]:
    """One ``AttentionReport`` per focus method on the same observations, sharing one forward pass.

    The causal effects are computed at most once (for ``causal``, or when a report's ``faithfulness()`` is
    asked) and shared by every report.

    Args:
        model: an SB3 model (or policy) whose actor uses an ``AttentionExtractor``.
        observations: a batch of observations as the (vectorised) env gives them (normalised already where
            the run uses ``VecNormalize``); one observation is read as a batch of one.
        methods: one or more names from ``FOCUS_METHODS``, each once.
        max_causal_parts: at most this many separate removals per observation for ``causal`` (more parts are
            removed in groups; see ``policies.causal``).

    Returns:
        ``{method: report}`` in the order of ``methods``.
    """
    names = check_focus_methods(methods)
    policy = getattr(model, "policy", model)
    extractor = find_attention_extractor(model)
    obs_tensor, _ = policy.obs_to_tensor(observations)
    explanation = extractor.explain(
        preprocess_obs(obs_tensor, policy.observation_space, normalize_images=policy.normalize_images)
    )
    mask = explanation.mask.cpu().numpy()
    cache: dict[str, torch.Tensor] = {}

    def effects() -> torch.Tensor:
        if "effects" not in cache:
            with torch.no_grad():
                cache["effects"] = causal_effects(policy, extractor, obs_tensor, explanation.mask, max_causal_parts)
        return cache["effects"]

    def effects_array() -> np.ndarray:
        return effects().cpu().numpy()

    inputs = FocusInputs(explanation, policy, extractor, obs_tensor, effects)
    empty = ~explanation.mask.cpu().any(dim=1, keepdim=True)  # (B, 1)
    reports = {}
    for name in names:
        focus = checked_focus(name, FOCUS_METHODS.get(name).compute(inputs), explanation.mask.shape)
        focus = normalized_focus(focus, explanation.mask.cpu(), empty).numpy()
        reports[name] = AttentionReport(
            part_names=list(extractor.part_names),
            focus=focus,
            weights=explanation.weights.cpu().numpy(),
            entropy=normalized_entropy(focus, mask),
            mask=mask,
            layers=[w.cpu().numpy() for w in explanation.layers if w is not None],
            grid=extractor.grid,
            cell_boxes=extractor.cell_boxes,
            receptive_fields=extractor.receptive_fields,
            method=name,
            effects=effects_array() if "effects" in cache else None,
            _effects_fn=effects_array,
        )
    return reports


def attention_report(
    model: object,
    observations: np.ndarray | dict[str, np.ndarray],
    method: str = "causal",
    max_causal_parts: int = MAX_CAUSAL_PARTS,
) -> AttentionReport:
    """Run the policy's attention extractor on ``observations`` and report where it looked.

    The default, ``causal`` (as the CLI's), asks the policy itself: how far its action distribution moves when each
    part is removed. ``readout`` (the readout's own weights) is cheaper, and exact only without self-attention
    blocks: once a block mixes the tokens, the readout's weights can rank the parts against what the policy uses.

    Args:
        model: an SB3 model (or policy) whose actor uses an ``AttentionExtractor``.
        observations: a batch of observations as the (vectorised) env gives them; one observation is read
            as a batch of one.
        method: ``causal`` (default), ``rollout``, ``readout`` or any other name in ``FOCUS_METHODS``.
        max_causal_parts: for ``causal``, at most this many separate removals per observation.

    Returns:
        The ``AttentionReport`` of the batch; ``report.faithfulness()`` scores it against ``causal``.
    """
    return focus_reports(model, observations, [method], max_causal_parts)[FOCUS_METHODS.canonical(method)]


def checked_focus(name: str, focus: torch.Tensor | np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """A method's focus as a CPU tensor (no gradient); ``ValueError`` for a wrong shape or a negative or NaN value."""
    focus = torch.as_tensor(focus).detach().cpu()
    if tuple(focus.shape) != tuple(shape):
        raise ValueError(f"focus method '{name}' gave a focus of shape {tuple(focus.shape)}: it must give one value "
                         f"per part, (batch, parts) = {tuple(shape)}.")  # fmt: skip
    if not bool(torch.isfinite(focus).all()) or bool((focus < 0).any()):
        raise ValueError(f"focus method '{name}' gave a negative, NaN or infinite focus: it must give finite values "
                         ">= 0 (they are normalised to sum to 1 over the real parts).")  # fmt: skip
    return focus
