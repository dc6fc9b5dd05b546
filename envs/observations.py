"""Observation batches: take one out, stack single ones, and pair each with the parts its env calls relevant."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

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
        yield obs, as_relevant(info)


def as_relevant(info: Mapping[str, Any]) -> np.ndarray | None:
    """``info["relevant_parts"]`` as an int64 array, or None when the env names none at this step.

    An empty list (MiniGrid's goal out of view, no vehicle ahead) counts as unknown, not as "nothing matters":
    no focus can fall on an empty set, so a relevant mass of 0 there would say nothing about the policy.
    """
    relevant = info.get("relevant_parts")
    if relevant is None:
        return None
    relevant = np.asarray(relevant, dtype=np.int64).reshape(-1)
    return relevant if relevant.size else None
