"""The entity-set observation that FindTarget and CollectAvoid share: one row per entity, padded rows zero.

A row is ``dx, dy, vx, vy`` (the entity relative to the agent, its velocity) followed by the env's 0/1 flags,
the last of which is ``presence``. HighwayEnv's ``KinematicObservation`` has the same layout: the ego first there,
the agent implicit here.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

#: Signed columns first (offsets and velocities, in [-1, 1]), then 0/1 flags.
N_SIGNED = 4
#: Velocities (arena widths per step) are observed times this, clipped to [-1, 1].
VELOCITY_SCALE = 10.0


def entity_set_space(n_entities: int, n_features: int) -> tuple[spaces.Box, list[str]]:
    """The observation space and the part names of an entity set.

    ``Box(n_entities, n_features)``: the first ``N_SIGNED`` columns in [-1, 1], the rest in [0, 1]; parts
    ``entity_0 ...``, as attention reports name the rows.
    """
    low = np.zeros((n_entities, n_features), dtype=np.float32)
    low[:, :N_SIGNED] = -1.0
    high = np.ones((n_entities, n_features), dtype=np.float32)
    return spaces.Box(low=low, high=high, dtype=np.float32), [f"entity_{i}" for i in range(n_entities)]


def entity_rows(offsets: np.ndarray, velocities: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """The observation: ``(N, 4 + F)`` float32 rows ``dx, dy, vx, vy, *flags``.

    Args:
        offsets: ``(N, 2)`` entity minus agent positions.
        velocities: ``(N, 2)`` per step.
        flags: ``(N, F)`` 0/1 columns, ``presence`` last: a row whose presence is 0 is all zeros (padding).
    """
    present = flags[:, -1:]  # (N, 1)
    moving = np.clip(velocities * VELOCITY_SCALE, -1.0, 1.0)
    return np.concatenate([offsets * present, moving * present, flags], axis=1, dtype=np.float32)  # (N, 4 + F)
