"""Training callbacks: attention focus, entropy and relevant mass to tensorboard."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from policies import attention_report, find_attention_extractor

ObsT = np.ndarray | dict[str, np.ndarray]


def index_obs(batch: ObsT, i: int) -> ObsT:
    """The ``i``-th observation of a vectorised batch (array or dict of arrays), copied."""
    if isinstance(batch, dict):
        return {k: np.array(v[i]) for k, v in batch.items()}
    return np.array(batch[i])


def stack_obs(observations: Sequence[ObsT]) -> ObsT:
    """Stack single observations (arrays or dicts of arrays) into one batch."""
    if isinstance(observations[0], dict):
        return {k: np.stack([o[k] for o in observations]) for k in observations[0]}
    return np.stack(observations)


def observations_with_relevance(
    new_obs: ObsT, infos: Sequence[dict[str, Any]], dones: np.ndarray
) -> Iterator[tuple[ObsT, np.ndarray | None]]:
    """Pair each env's latest observation with the ``relevant_parts`` its env reported for it.

    A VecEnv resets a finished env at once, so for a done env the observation that goes with the step's
    info is ``info["terminal_observation"]``, not the reset observation in ``new_obs``.
    """
    for i, info in enumerate(infos):
        obs = info["terminal_observation"] if dones[i] and "terminal_observation" in info else index_obs(new_obs, i)
        relevant = info.get("relevant_parts")
        yield obs, (None if relevant is None else np.asarray(relevant, dtype=np.int64))


def attention_summary(model: object, observations: Sequence[ObsT], relevant: Sequence[np.ndarray | None]) -> dict:
    """Attention statistics of a batch: mean focus per part, entropy, top-1 mass and relevant mass.

    Returns:
        ``{"focus": {part: mass}, "entropy": float, "top1_mass": float, "relevant_mass": float | None}``;
        relevant mass is averaged over the observations whose env named their relevant parts.
    """
    report = attention_report(model, stack_obs(observations))
    masses = report.relevant_mass(relevant)  # (B,), NaN where unknown
    relevant_mass = float(np.nanmean(masses)) if not np.isnan(masses).all() else None
    return {
        "focus": report.mean_focus(),
        "entropy": float(report.entropy.mean()),
        "top1_mass": float(report.focus.max(axis=1).mean()),
        "relevant_mass": relevant_mass,
    }


class AttentionLogCallback(BaseCallback):
    """Log where the policy looks, computed on a sample of recent observations.

    Every step it keeps the latest observation of each env (and the env's ``relevant_parts``) in a small
    ring buffer; at the end of a rollout (at most once per ``interval`` steps) it runs the extractor once
    on that buffer with weight capture and records, through SB3's logger:

    - ``attention/focus/<part>``: mean readout focus per part;
    - ``attention/entropy``: focus entropy / log(real parts), 0 = one part, 1 = uniform;
    - ``attention/top1_mass``: mean focus on the most attended part;
    - ``attention/relevant_mass``: focus on the parts the env called relevant, when it names them.

    The training step itself is untouched: capture is on only during that one extra forward pass.
    Does nothing (and says so once) when the policy has no ``AttentionExtractor``.

    Args:
        interval: minimum env steps between two logs; 0 logs at every rollout end.
        sample_size: observations kept in the ring buffer and reported on.
        verbose: 1 prints why nothing is logged for a non-attention policy.
    """

    def __init__(self, interval: int = 0, sample_size: int = 256, verbose: int = 0) -> None:
        super().__init__(verbose)
        if interval < 0 or sample_size < 1:
            raise ValueError(f"interval={interval} must be >= 0 and sample_size={sample_size} >= 1.")
        self.interval = interval
        self.sample_size = sample_size
        self._samples: deque[tuple[ObsT, np.ndarray | None]] = deque(maxlen=sample_size)
        self._last_logged = -1
        self._enabled = True

    def _init_callback(self) -> None:
        try:
            find_attention_extractor(self.model)
        except TypeError as exc:
            self._enabled = False
            if self.verbose:
                print(f"AttentionLogCallback: nothing to log: {exc}")

    def _on_step(self) -> bool:
        if self._enabled:
            self._samples.extend(
                observations_with_relevance(self.locals["new_obs"], self.locals["infos"], self.locals["dones"])
            )
        return True

    def _on_rollout_end(self) -> None:
        if not self._enabled or not self._samples:
            return
        if self._last_logged >= 0 and self.num_timesteps - self._last_logged < self.interval:
            return
        self._last_logged = self.num_timesteps
        observations, relevant = zip(*self._samples, strict=True)
        summary = attention_summary(self.model, observations, relevant)
        for part, mass in summary["focus"].items():
            self.logger.record(f"attention/focus/{part}", mass)
        self.logger.record("attention/entropy", summary["entropy"])
        self.logger.record("attention/top1_mass", summary["top1_mass"])
        if summary["relevant_mass"] is not None:
            self.logger.record("attention/relevant_mass", summary["relevant_mass"])
