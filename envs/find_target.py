"""``attn/FindTarget-v0``: walk to the one target hidden among distractors, some of them look-alikes."""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.arena import ArenaEnv
from envs.rendering import DISTRACTOR, TARGET, draw_disc, draw_ring
from envs.validation import check_difficulty, check_int, check_number

#: Names of the entity-row columns, in order.
FEATURES: tuple[str, ...] = ("dx", "dy", "vx", "vy", "marked", "is_target", "presence")
# Columns of ``FindTargetEnv._flags``: the last three features.
_MARKED, _IS_TARGET, _PRESENT = 0, 1, 2

#: ``difficulty`` -> (lookalike_fraction, distractor_speed, min_entities as a fraction of n_entities).
DIFFICULTIES: dict[int, tuple[float, float, float]] = {0: (0.0, 0.0, 1.0), 1: (0.5, 0.0, 1.0), 2: (0.5, 0.02, 0.5)}
#: Largest ``n_entities``: an attention extractor refuses sets of more parts (policies.inputs.MAX_PARTS), and the
#: arrays of an env grow with it.
MAX_ENTITIES = 1024


class FindTargetEnv(ArenaEnv):
    """Walk to the target among ``n_entities`` rows of an entity set whose order is shuffled each episode.

    ## Description
    An agent moves in the unit square ``[0, 1]^2``. It sees up to ``n_entities`` entities as rows of an
    entity set: one is the *target*, the others *distractors*. The rows come in a new random order every
    episode, so a row's index carries no information: a policy must find the row whose ``is_target`` flag
    is set and read that row's relative position. Attention does this in one step (a query that matches the
    flag); a plain MLP over the flattened rows must learn one gate per row, which is why it finds this hard.
    *Look-alike* distractors share the target's ``marked`` flag, so only ``is_target`` tells them apart;
    *moving* distractors drift and bounce off the walls.

    ## Observation space
    ``Box(n_entities, 7)``, float32, one row per entity:

    | col | name       | range   | meaning                                                    |
    |-----|------------|---------|------------------------------------------------------------|
    | 0   | dx         | [-1, 1] | entity x minus agent x                                     |
    | 1   | dy         | [-1, 1] | entity y minus agent y                                     |
    | 2   | vx         | [-1, 1] | entity x velocity, in arena widths per step x 10           |
    | 3   | vy         | [-1, 1] | entity y velocity, likewise                                |
    | 4   | marked     | {0, 1}  | 1 for the target and for look-alike distractors            |
    | 5   | is_target  | {0, 1}  | 1 for the target only                                      |
    | 6   | presence   | {0, 1}  | 1 for a real entity, 0 for a padding row (all zeros)       |

    With ``min_entities < n_entities`` each episode shows a random number of entities in
    ``[min_entities, n_entities]``; the unused rows are all-zero padding, shuffled in among the real ones.

    ## Action space
    ``Discrete(5)``: 0 stay, 1 up (+y), 2 down (-y), 3 left (-x), 4 right (+x); each move is ``step_size``
    long and the agent is clipped to the arena.

    ## Rewards
    ``+1`` when the agent comes within ``target_radius`` of the target, plus a shaping term equal to the
    decrease of its distance to the target at each step (potential-based: it does not change the optimal
    policy). Measured over 500 seeded episodes at the defaults (``benchmarks/env_speed.py``): a random policy
    scores about 0.10 (11% success); walking straight to the target scores about 1.44 (100%).

    ## Episode end
    Terminated with success when the target is reached; truncated after ``max_episode_steps`` (100 when
    made through ``gymnasium.make``).

    ## Info
    - ``relevant_parts``: ``int64`` array holding the target's row index: the part that matters.
    - ``is_success``: True on the step that reaches the target, else False.

    ## Arguments
    - ``n_entities`` (int, default 8): rows in the observation, the target included; >= 2.
    - ``min_entities`` (int | None, default None = ``n_entities``): fewest entities present in an episode;
      in ``[2, n_entities]``.
    - ``lookalike_fraction`` (float, default 0): share of the distractors that are look-alikes; in [0, 1].
    - ``distractor_speed`` (float, default 0): speed of the distractors, arena widths per step; in [0, 0.1].
    - ``difficulty`` (0, 1 or 2, default None): a preset of the three above: 0 = static, no look-alikes;
      1 = half look-alikes; 2 = half look-alikes, moving distractors, between half and all entities present.
      Explicit arguments win over the preset.
    - ``step_size`` (float, default 0.05): length of one move, in ``(0, 0.5]``.
    - ``target_radius`` (float, default 0.075): reach distance, in ``(0, 0.5]``.
    - ``render_mode`` (``"rgb_array"`` | None).

    ## Version history
    - v0: first version.
    """

    def __init__(
        self,
        n_entities: int = 8,
        min_entities: int | None = None,
        lookalike_fraction: float | None = None,
        distractor_speed: float | None = None,
        difficulty: int | None = None,
        step_size: float = 0.05,
        target_radius: float = 0.075,
        render_mode: str | None = None,
    ) -> None:
        check_int("n_entities", n_entities, 2, MAX_ENTITIES, why=" (the target and at least one distractor)")
        check_difficulty(difficulty, DIFFICULTIES)
        preset_lookalike, preset_speed, preset_present = DIFFICULTIES[difficulty or 0]
        if min_entities is None:
            min_entities = max(2, round(n_entities * preset_present))
        lookalike_fraction = preset_lookalike if lookalike_fraction is None else lookalike_fraction
        distractor_speed = preset_speed if distractor_speed is None else distractor_speed
        check_int("min_entities", min_entities, 2, n_entities, high_name="n_entities")
        check_number("lookalike_fraction", lookalike_fraction, 0.0, 1.0)
        check_number("distractor_speed", distractor_speed, 0.0, 0.1)
        check_number("step_size", step_size, 0.0, 0.5, low_open=True)
        check_number("target_radius", target_radius, 0.0, 0.5, low_open=True)
        self.n_entities = int(n_entities)
        self.min_entities = int(min_entities)
        self.lookalike_fraction = float(lookalike_fraction)
        self.distractor_speed = float(distractor_speed)
        self.target_radius = float(target_radius)
        self._init_arena(self.n_entities, 3, step_size, render_mode)  # flags: marked, is_target, presence
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
        # The target starts more than a reach and a step away, so no episode starts solved.
        while True:
            target = rng.uniform(0.05, 0.95, size=2)
            if np.linalg.norm(target - self._agent) > 2 * self.target_radius + self.step_size:
                break
        n_distractors = n_present - 1
        lookalike = rng.random(n_distractors) < self.lookalike_fraction  # (n_distractors,)
        heading = rng.uniform(0, 2 * np.pi, size=n_distractors)
        order = rng.permutation(self.n_entities)  # order[0]: the target's row, order[1:n_present]: distractors
        self._positions[:] = 0.0
        self._velocities[:] = 0.0
        self._flags[:] = 0.0
        self._target_row = int(order[0])
        self._positions[order[0]] = target
        self._flags[order[0]] = (1.0, 1.0, 1.0)
        rows = order[1:n_present]
        self._positions[rows] = rng.uniform(0.05, 0.95, size=(n_distractors, 2))
        self._velocities[rows] = self.distractor_speed * np.stack([np.cos(heading), np.sin(heading)], axis=1)
        self._flags[rows, _MARKED] = lookalike
        self._flags[rows, _PRESENT] = 1.0
        self._distance = float(np.linalg.norm(target - self._agent))
        return self._rows(), self._info(success=False)

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the agent and the distractors; reward progress towards the target and +1 on reaching it."""
        self._move(action, drifting=self.distractor_speed > 0)  # the target and padding rows stay put
        distance = float(np.linalg.norm(self._positions[self._target_row] - self._agent))
        reward = self._distance - distance
        self._distance = distance
        success = distance <= self.target_radius
        if success:
            reward += 1.0
        return self._rows(), float(reward), success, False, self._info(success=success)

    def _draw_entities(self, canvas: np.ndarray) -> None:
        """The target in green, distractors in red; look-alikes carry the target's green ring."""
        for row in np.flatnonzero(self._flags[:, _PRESENT]):
            color = TARGET if row == self._target_row else DISTRACTOR
            draw_disc(canvas, self._positions[row], self.target_radius * 0.6, color)
            if self._flags[row, _MARKED] and row != self._target_row:
                draw_ring(canvas, self._positions[row], self.target_radius * 0.75, 0.02, TARGET)

    # ------------------------------------------------------------------ helpers
    def _info(self, success: bool) -> dict[str, Any]:
        return {"relevant_parts": np.array([self._target_row], dtype=np.int64), "is_success": bool(success)}
