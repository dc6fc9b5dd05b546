"""Checks of what an extractor is given: its observation space (before anything is built) and its batches.

Each raises one error naming the value and the fix: a space with nothing to attend to, more parts than attention
can take in reasonable time, a batch of the wrong shape, or of a type or dtype the weights cannot take.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

#: Most parts an attention extractor takes: attention compares every part with every other, so the cost of a step
#: grows with the square of the count (one observation of 100,000 parts: minutes for one forward pass).
MAX_PARTS = 4096


def check_part_count(space: gym.Space, count: int | None = None) -> None:
    """Raise ``ValueError`` when ``space`` makes more than ``MAX_PARTS`` parts.

    ``count`` is what the tokenizer made; without it, the count is known before anything is built for a flat
    ``Box(F,)`` or a set ``Box(N, F)`` (one part per feature or row), and other spaces pass.
    """
    if count is None:
        flat_or_set = isinstance(space, gym.spaces.Box) and len(space.shape) in (1, 2)
        count = space.shape[0] if flat_or_set else 0
    if count > MAX_PARTS:
        raise ValueError(
            f"The observation space {type(space).__name__}{space.shape} makes {count:,} parts, more than the "
            f"{MAX_PARTS:,} attention takes (its cost grows with the square of the parts): use larger patches "
            "(extractor_kwargs.patch_size), fewer entities, extractor mlp, or wrap the env to give fewer parts."
        )


def as_batch(observations: object, dtype: torch.dtype, device: torch.device) -> torch.Tensor | dict[str, torch.Tensor]:
    """A batch as the extractor's weights take it: NumPy arrays become tensors, floats of another precision cast.

    Raises ``TypeError`` for integer or boolean observations (SB3's policy gives floats: images scaled to
    ``[0, 1]``, ``Discrete`` one-hot), for anything else, and for a dict where the space is not one.
    """
    if isinstance(observations, dict):
        return {key: as_batch(value, dtype, device) for key, value in observations.items()}
    if isinstance(observations, np.ndarray):
        observations = torch.from_numpy(observations)
    if not isinstance(observations, torch.Tensor):
        raise TypeError(
            f"observations of type {type(observations).__name__}: pass a tensor or NumPy array shaped (B, *obs_shape) "
            "(a dict of them for a Dict space)."
        )
    if not observations.is_floating_point():
        raise TypeError(
            f"observations of dtype {observations.dtype}: the extractor takes floats as SB3's policy passes them "
            "(preprocess_obs: images scaled to [0, 1], Discrete one-hot); convert with .float() (/ 255 for images)."
        )
    if observations.dtype != dtype or observations.device != device:
        observations = observations.to(device=device, dtype=dtype)
    return observations


def check_not_empty(space: gym.Space) -> None:
    """Raise ``ValueError`` for a ``Box`` (or a ``Dict`` key's) with a dimension of size 0: nothing to attend to."""
    subspaces = space.spaces.items() if isinstance(space, gym.spaces.Dict) else [("", space)]
    for key, sub in subspaces:
        if isinstance(sub, gym.spaces.Box) and 0 in sub.shape:
            where = f" (key '{key}')" if key else ""
            raise ValueError(
                f"The observation space {sub}{where} has a dimension of size 0: there is nothing to attend to. Give "
                "the env at least one part with at least one feature."
            )


def check_shape(space: gym.Space, observations: torch.Tensor | dict[str, torch.Tensor]) -> None:
    """Raise ``ValueError`` when a batch does not have the space's shape (``Box`` spaces and ``Dict`` keys)."""
    pairs = (
        [(f"key '{k}' ", s, observations[k]) for k, s in space.spaces.items() if k in observations]
        if isinstance(space, gym.spaces.Dict)
        else [("", space, observations)]
    )
    for where, sub, batch in pairs:
        if isinstance(sub, gym.spaces.Box) and tuple(batch.shape[1:]) != sub.shape:
            raise ValueError(
                f"The observations' {where}shape {tuple(batch.shape[1:])} (batch of {batch.shape[0]}) is not the "
                f"space's {sub.shape}: pass a batch of observations as the env gives them, shaped (B, *{sub.shape})."
            )
