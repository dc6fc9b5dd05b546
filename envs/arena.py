"""The unit-square arena that FindTarget and CollectAvoid share: the agent's moves, drifting entities, a base env.

``ArenaEnv`` holds the scaffolding (spaces, the agent and entity state, the move, the observation rows, the
picture's frame); each env keeps its own rules: what it places, what its flags mean, its rewards and ends. What
the agent sees is ``envs.entities``; this module is the dynamics.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.entities import N_SIGNED, entity_rows, entity_set_space
from envs.rendering import AGENT, blank_canvas, check_render_mode, draw_disc
from envs.validation import check_action

#: Action index -> ``(dx, dy)`` unit move: 0 stay, 1 up (+y), 2 down (-y), 3 left (-x), 4 right (+x).
MOVES = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]], dtype=np.float64)
#: Side of the rendered picture, in pixels.
PICTURE_SIZE = 128


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


class ArenaEnv(gym.Env[np.ndarray, np.int64]):
    """Base of the envs where an agent moves among ``N`` entities seen as the rows of an entity set.

    A subclass calls ``_init_arena`` in its constructor, fills ``_positions``, ``_velocities`` and ``_flags`` in
    ``reset``, calls ``_move`` at the start of ``step`` and ``_rows`` for its observation, and draws its
    entities in ``_draw_entities``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def _init_arena(self, n_entities: int, n_flags: int, step_size: float, render_mode: str | None) -> None:
        """Spaces, part names and zeroed state for ``n_entities`` rows of ``N_SIGNED + n_flags`` columns."""
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.step_size = float(step_size)
        self.render_mode = render_mode
        self.observation_space, part_names = entity_set_space(n_entities, N_SIGNED + n_flags)
        self.action_space = move_space()
        #: Names of the parts (rows) of an observation, as attention reports name them.
        self.part_names = part_names
        self._agent = np.zeros(2)
        self._positions = np.zeros((n_entities, 2))  # (N, 2) arena coordinates, rows as observed
        self._velocities = np.zeros((n_entities, 2))  # (N, 2) per step; zero for rows that stay put
        self._flags = np.zeros((n_entities, n_flags), dtype=np.float32)  # (N, F): the env's flags, presence last

    def _move(self, action: np.int64, drifting: bool) -> None:
        """Check ``action``, move the agent, and let the entities drift (when ``drifting``)."""
        check_action(action, self.action_space)
        self._agent = step_agent(self._agent, action, self.step_size)
        if drifting:
            drift_and_bounce(self._positions, self._velocities)

    def _rows(self, offsets: np.ndarray | None = None) -> np.ndarray:
        """The observation; ``offsets`` (``(N, 2)`` entity minus agent) when the caller has them already."""
        return entity_rows(self._positions - self._agent if offsets is None else offsets, self._velocities, self._flags)

    def render(self) -> np.ndarray | None:
        """Return a ``(128, 128, 3)`` uint8 picture of the arena when ``render_mode="rgb_array"``, agent in blue."""
        if self.render_mode != "rgb_array":
            return None
        canvas = blank_canvas(PICTURE_SIZE)
        self._draw_entities(canvas)
        draw_disc(canvas, self._agent, 0.035, AGENT)
        return canvas

    def _draw_entities(self, canvas: np.ndarray) -> None:
        """Draw the entities on ``canvas`` (``(H, W, 3)`` uint8, in place); the agent goes on top."""
        raise NotImplementedError

    def entity_positions(self) -> np.ndarray:
        """``(N, 2)`` arena positions of the rows as observed (a row no longer present keeps its last one)."""
        return self._positions.copy()

    def entity_velocities(self) -> np.ndarray:
        """``(N, 2)`` per-step velocities of the rows as observed (zero for rows that stay put)."""
        return self._velocities.copy()

    def agent_position(self) -> np.ndarray:
        """``(2,)`` arena position of the agent."""
        return self._agent.copy()
