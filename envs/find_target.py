"""``attn/FindTarget-v0``: walk to the one target hidden among look-alike distractors."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.rendering import AGENT, DISTRACTOR, TARGET, blank_canvas, draw_disc

#: Names of the entity-row columns, in order.
FEATURES: tuple[str, ...] = ("dx", "dy", "is_target", "is_distractor", "presence")

# Action index -> (dx, dy) unit move.
_MOVES = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]], dtype=np.float64)


class FindTargetEnv(gym.Env[np.ndarray, np.int64]):
    """Walk to the target among ``n_entities`` rows of an entity set whose order is shuffled each episode.

    ## Description
    An agent moves in the unit square ``[0, 1]^2``. It sees ``n_entities`` entities as rows of an entity
    set: one of them is the *target*, the others are *distractors* placed the same way. The rows come in a
    new random order every episode, so the target's row index carries no information: a policy must find
    the row whose ``is_target`` flag is set and read that row's relative position. Attention does this in
    one step (a query that matches the flag); a plain MLP over the flattened rows must learn one gate per
    row, which is why it finds this task hard.

    ## Observation space
    ``Box(n_entities, 5)``, float32, one row per entity:

    | col | name          | range   | meaning                                              |
    |-----|---------------|---------|------------------------------------------------------|
    | 0   | dx            | [-1, 1] | entity x minus agent x                               |
    | 1   | dy            | [-1, 1] | entity y minus agent y                               |
    | 2   | is_target     | {0, 1}  | 1 for the target                                     |
    | 3   | is_distractor | {0, 1}  | 1 for a distractor                                   |
    | 4   | presence      | {0, 1}  | 1 for a real entity, 0 for a padding row (all zeros) |

    With ``min_entities < n_entities`` each episode shows a random number of entities in
    ``[min_entities, n_entities]``; the unused rows are all-zero padding (presence 0), shuffled in
    among the real ones.

    ## Action space
    ``Discrete(5)``: 0 stay, 1 up (+y), 2 down (-y), 3 left (-x), 4 right (+x); each move is ``step_size``
    long and the agent is clipped to the arena.

    ## Rewards
    ``+1`` when the agent comes within ``target_radius`` of the target, plus a shaping term equal to the
    decrease of its distance to the target at each step (potential-based, so it does not change the optimal
    policy). A random policy scores about 0.1 on average (8 entities, 100 steps); a solved policy scores
    about ``1 + initial distance`` (≈ 1.5).

    ## Episode end
    Terminated with success when the target is reached; truncated after ``max_episode_steps`` (100 when
    made through ``gymnasium.make``).

    ## Info
    - ``relevant_parts``: ``int64`` array holding the row index of the target: the part that matters.
    - ``is_success``: True on the step that reaches the target, else False.

    ## Arguments
    - ``n_entities`` (int, default 8): rows in the observation, the target included; >= 2.
    - ``min_entities`` (int | None, default None = ``n_entities``): fewest entities present in an episode;
      in ``[2, n_entities]``.
    - ``step_size`` (float, default 0.05): length of one move, in ``(0, 0.5]``.
    - ``target_radius`` (float, default 0.075): reach distance, in ``(0, 0.5]``.
    - ``render_mode`` (``"rgb_array"`` | None).

    ## Version history
    - v0: first version.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        n_entities: int = 8,
        min_entities: int | None = None,
        step_size: float = 0.05,
        target_radius: float = 0.075,
        render_mode: str | None = None,
    ) -> None:
        if not isinstance(n_entities, (int, np.integer)) or n_entities < 2:
            raise ValueError(
                f"n_entities={n_entities!r} is invalid: it must be an integer >= 2 (the target and at least "
                "one distractor)."
            )
        min_entities = n_entities if min_entities is None else min_entities
        if not isinstance(min_entities, (int, np.integer)) or not 2 <= min_entities <= n_entities:
            raise ValueError(
                f"min_entities={min_entities!r} is invalid: it must be an integer in [2, n_entities={n_entities}]."
            )
        if not 0.0 < step_size <= 0.5:
            raise ValueError(f"step_size={step_size!r} is invalid: it must be in (0, 0.5].")
        if not 0.0 < target_radius <= 0.5:
            raise ValueError(f"target_radius={target_radius!r} is invalid: it must be in (0, 0.5].")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported: use one of {self.metadata['render_modes']} or None."
            )
        self.n_entities = int(n_entities)
        self.min_entities = int(min_entities)
        self.step_size = float(step_size)
        self.target_radius = float(target_radius)
        self.render_mode = render_mode

        low = np.tile(np.array([-1, -1, 0, 0, 0], dtype=np.float32), (self.n_entities, 1))
        high = np.ones((self.n_entities, len(FEATURES)), dtype=np.float32)
        self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self.action_space = spaces.Discrete(len(_MOVES))
        #: Names of the parts (rows) of an observation, as attention reports name them.
        self.part_names = [f"entity_{i}" for i in range(self.n_entities)]

        self._agent = np.zeros(2)
        self._positions = np.zeros((self.n_entities, 2))  # (N, 2), arena coordinates, rows as observed
        self._kinds = np.zeros((self.n_entities, 3), dtype=np.float32)  # (N, 3): is_target, is_distr, presence
        self._target_row = 0
        self._distance = 0.0

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Place the agent, the target and the distractors at random; shuffle the rows."""
        super().reset(seed=seed)
        rng = self.np_random
        n_present = int(rng.integers(self.min_entities, self.n_entities + 1))
        self._agent = rng.uniform(0.1, 0.9, size=2)
        # The target is at least 2 reach radii away, so no episode starts solved.
        while True:
            target = rng.uniform(0.05, 0.95, size=2)
            if np.linalg.norm(target - self._agent) > 2 * self.target_radius + self.step_size:
                break
        distractors = rng.uniform(0.05, 0.95, size=(n_present - 1, 2))

        order = rng.permutation(self.n_entities)  # order[k] = row of the k-th entity (target first)
        self._positions[:] = 0.0
        self._kinds[:] = 0.0
        self._target_row = int(order[0])
        self._positions[order[0]] = target
        self._kinds[order[0]] = (1.0, 0.0, 1.0)
        self._positions[order[1:n_present]] = distractors
        self._kinds[order[1:n_present]] = (0.0, 1.0, 1.0)
        self._distance = float(np.linalg.norm(target - self._agent))
        return self._observation(), self._info(success=False)

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move one step; reward the progress towards the target and +1 on reaching it."""
        if not self.action_space.contains(action):
            raise ValueError(f"action={action!r} is not in {self.action_space}: use an integer in [0, 4].")
        self._agent = np.clip(self._agent + self.step_size * _MOVES[int(action)], 0.0, 1.0)
        distance = float(np.linalg.norm(self._positions[self._target_row] - self._agent))
        reward = self._distance - distance
        self._distance = distance
        success = distance <= self.target_radius
        if success:
            reward += 1.0
        return self._observation(), float(reward), success, False, self._info(success=success)

    def render(self) -> np.ndarray | None:
        """Return an ``(128, 128, 3)`` uint8 picture of the arena when ``render_mode="rgb_array"``."""
        if self.render_mode != "rgb_array":
            return None
        canvas = blank_canvas(128)
        for row in range(self.n_entities):
            if self._kinds[row, 2] > 0:
                color = TARGET if row == self._target_row else DISTRACTOR
                draw_disc(canvas, self._positions[row], self.target_radius * 0.6, color)
        draw_disc(canvas, self._agent, 0.035, AGENT)
        return canvas

    # ------------------------------------------------------------------ helpers
    def entity_positions(self) -> np.ndarray:
        """``(N, 2)`` arena positions of the rows as observed (padding rows at the origin)."""
        return self._positions.copy()

    def agent_position(self) -> np.ndarray:
        """``(2,)`` arena position of the agent."""
        return self._agent.copy()

    def _observation(self) -> np.ndarray:
        present = self._kinds[:, 2:3]  # (N, 1)
        rel = (self._positions - self._agent) * present  # padding rows stay exactly zero
        return np.concatenate([rel.astype(np.float32), self._kinds], axis=1)  # (N, 5)

    def _info(self, success: bool) -> dict[str, Any]:
        return {"relevant_parts": np.array([self._target_row], dtype=np.int64), "is_success": bool(success)}
