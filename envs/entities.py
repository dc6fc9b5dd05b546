"""The entity-set observation that FindTarget and CollectAvoid share: one row per entity, padded rows zero."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

#: Signed columns first (offsets and velocities, in [-1, 1]), then 0/1 flags.
N_SIGNED = 4


def entity_set_space(n_entities: int, n_features: int) -> tuple[spaces.Box, list[str]]:
    """The observation space and the part names of an entity set.

    ``Box(n_entities, n_features)``: the first ``N_SIGNED`` columns in [-1, 1], the rest in [0, 1]; parts
    ``entity_0 ...``, as attention reports name the rows.
    """
    low = np.zeros((n_entities, n_features), dtype=np.float32)
    low[:, :N_SIGNED] = -1.0
    high = np.ones((n_entities, n_features), dtype=np.float32)
    return spaces.Box(low=low, high=high, dtype=np.float32), [f"entity_{i}" for i in range(n_entities)]
