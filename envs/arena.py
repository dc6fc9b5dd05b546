"""The unit-square arena that FindTarget and CollectAvoid share: the agent's moves and the drifting entities.

Dynamics only; what the agent sees of the arena is ``envs.entities``.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

#: Action index -> ``(dx, dy)`` unit move: 0 stay, 1 up (+y), 2 down (-y), 3 left (-x), 4 right (+x).
MOVES = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]], dtype=np.float64)


def move_space() -> spaces.Discrete:
    """``Discrete(5)``: the actions of ``MOVES``."""
    return spaces.Discrete(len(MOVES))


def step_agent(agent: np.ndarray, action: int | np.integer, step_size: float) -> np.ndarray:
    """The agent's ``(2,)`` position after a move of ``step_size`` in the direction of ``action``, in the arena."""
    return np.clip(agent + step_size * MOVES[int(action)], 0.0, 1.0)


def drift_and_bounce(positions: np.ndarray, velocities: np.ndarray) -> bool:
    """Move every row by its velocity, in place; a row that leaves the arena bounces off the wall.

    The velocity component across the wall is reversed and the position clipped back into ``[0, 1]``. Rows that
    stay put (targets, padding) have zero velocity.

    Args:
        positions: ``(N, 2)`` arena coordinates.
        velocities: ``(N, 2)`` per step.

    Returns:
        True when a row bounced (its velocity changed).
    """
    positions += velocities
    out = (positions < 0.0) | (positions > 1.0)  # (N, 2)
    if not out.any():
        return False
    velocities[out] *= -1.0
    np.clip(positions, 0.0, 1.0, out=positions)
    return True
