"""``attn/CollectAvoid-v0``: collect every target while keeping clear of the hazards, several parts matter at once."""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.arena import ArenaEnv
from envs.rendering import DISTRACTOR, TARGET, draw_disc, draw_ring
from envs.validation import check_difficulty, check_int, check_number

#: Names of the entity-row columns, in order.
FEATURES: tuple[str, ...] = ("dx", "dy", "vx", "vy", "is_target", "is_hazard", "presence")
# Columns of ``CollectAvoidEnv._flags``: the last three features.
_IS_TARGET, _IS_HAZARD, _PRESENT = 0, 1, 2

#: ``difficulty`` -> (hazard_speed, hazard_radius).
DIFFICULTIES: dict[int, tuple[float, float]] = {0: (0.0, 0.06), 1: (0.01, 0.06), 2: (0.02, 0.08)}

#: Largest ``n_targets`` and ``n_hazards``.
MAX_COUNT = 32

# Candidate positions drawn per batch at reset, and batches tried before giving up on a layout.
_CANDIDATES = 256
_TRIES = 50


class CollectAvoidEnv(ArenaEnv):
    """Collect ``n_targets`` targets and avoid ``n_hazards`` hazards, seen as rows of a shuffled entity set.

    ## Description
    An agent moves in the unit square ``[0, 1]^2`` among targets and hazards, seen as the rows of an entity
    set in a new random order every episode. Walking within ``reach`` of a target collects it (+1); coming
    within ``hazard_radius`` of a hazard ends the episode with a penalty. Unlike ``attn/FindTarget-v0`` more
    than one part matters at each step: the nearest remaining target (where to go) and the nearest hazard(s)
    (what to keep clear of). A collected target's row turns into all-zero padding in its own slot, so the
    rows that matter change during an episode while the slots stay put. With ``hazard_speed > 0`` the hazards
    drift and bounce off the walls.

    ## Observation space
    ``Box(n_targets + n_hazards, 7)``, float32, one row per entity:

    | col | name       | range   | meaning                                                          |
    |-----|------------|---------|------------------------------------------------------------------|
    | 0   | dx         | [-1, 1] | entity x minus agent x                                           |
    | 1   | dy         | [-1, 1] | entity y minus agent y                                           |
    | 2   | vx         | [-1, 1] | entity x velocity, in arena widths per step x 10 (0 for targets) |
    | 3   | vy         | [-1, 1] | entity y velocity, likewise                                      |
    | 4   | is_target  | {0, 1}  | 1 for a target not yet collected                                 |
    | 5   | is_hazard  | {0, 1}  | 1 for a hazard                                                   |
    | 6   | presence   | {0, 1}  | 1 for a real entity, 0 for a collected target (all-zero row)     |

    Row ``i`` is part ``entity_i`` (``part_names``) of the entity tokenizer; use ``presence_column=-1``.

    ## Action space
    ``Discrete(5)``: 0 stay, 1 up (+y), 2 down (-y), 3 left (-x), 4 right (+x); each move is ``step_size``
    long and the agent is clipped to the arena.

    ## Rewards
    ``+1`` for each target collected; ``-hazard_penalty`` (default 1) on touching a hazard, which also ends
    the episode. Plus ``shaping`` (default 1) times the decrease of the distance to the nearest remaining
    target, a potential-based term (potential: minus that distance, 0 once every target is collected) that
    leaves the optimal policy unchanged: the step that collects a target also pays for the distance to the
    next one, and over a whole episode the shaping adds up to the first nearest distance minus the last.
    Measured over 300 seeded episodes (seeds 0-299) through ``gymnasium.make`` (200-step limit): at the
    defaults a random policy scores about -0.15 (0.3% success; half of its episodes end on a hazard, after
    0.44 targets on average); the scripted policy of ``tests/test_envs_collect_avoid.py`` (breadth-first
    search on the move lattice, around the hazards, to the nearest reachable target) solves it: about 3.34
    (100% success, 26 steps). At ``difficulty=2`` the random policy scores about -0.63 (1% success, 92% end
    on a hazard); the same scripted policy about 3.34 (100%).

    ## Episode end
    Terminated when the last target is collected (success) or a hazard is touched (failure; touching a hazard
    on the step that collects the last target is a failure too); truncated after ``max_episode_steps`` (200
    when made through ``gymnasium.make``).

    ## Info
    - ``relevant_parts``: ``int64`` array of row indices: first the row of the nearest remaining target, then
      the rows of the ``k_hazards`` hazards nearest to the agent, nearest first (distances from the agent's
      position after the step). On the step that collects the last target, the nearest of the targets
      collected on that step (now an all-zero row) stands in for the nearest remaining target. Never empty.
    - ``is_success``: True on the step that collects the last target without touching a hazard, else False.
    - ``targets_left``: number of targets not yet collected.

    ## Arguments
    - ``n_targets`` (int, default 3): targets to collect; in ``[1, 32]``.
    - ``n_hazards`` (int, default 3): hazards; in ``[0, 32]``.
    - ``k_hazards`` (int | None, default None = ``min(1, n_hazards)``): hazards named in ``relevant_parts``;
      in ``[0, n_hazards]``.
    - ``hazard_speed`` (float, default 0): speed of the hazards, arena widths per step; in ``[0, 0.1]``.
    - ``hazard_radius`` (float, default 0.06): contact distance of a hazard; in ``(0, 0.25]``.
    - ``difficulty`` (0, 1 or 2, default None): a preset of the two above: 0 = static hazards of radius 0.06;
      1 = hazards drifting at 0.01; 2 = hazards of radius 0.08 drifting at 0.02. Explicit arguments win.
    - ``hazard_penalty`` (float, default 1): reward lost on touching a hazard; in ``[0, 10]``.
    - ``shaping`` (float, default 1): scale of the distance shaping, 0 for sparse rewards; in ``[0, 10]``.
    - ``step_size`` (float, default 0.05): length of one move, in ``(0, 0.5]``.
    - ``reach`` (float, default 0.075): collection distance of a target, in ``(0, 0.5]``.
    - ``render_mode`` (``"rgb_array"`` | None).

    ``reset(options=...)`` takes an optional hand-built layout: ``{"agent": (2,), "targets": (n_targets, 2),
    "hazards": (n_hazards, 2)}`` arena positions (any subset of the keys; the rest is drawn at random, the row
    order is still shuffled).

    ## Version history
    - v0: first version.
    """

    def __init__(
        self,
        n_targets: int = 3,
        n_hazards: int = 3,
        k_hazards: int | None = None,
        hazard_speed: float | None = None,
        hazard_radius: float | None = None,
        difficulty: int | None = None,
        hazard_penalty: float = 1.0,
        shaping: float = 1.0,
        step_size: float = 0.05,
        reach: float = 0.075,
        render_mode: str | None = None,
    ) -> None:
        check_int("n_targets", n_targets, 1, MAX_COUNT)
        check_int("n_hazards", n_hazards, 0, MAX_COUNT)
        if k_hazards is None:
            k_hazards = min(1, n_hazards)
        check_int("k_hazards", k_hazards, 0, n_hazards, high_name="n_hazards")
        check_difficulty(difficulty, DIFFICULTIES)
        preset_speed, preset_radius = DIFFICULTIES[difficulty or 0]
        hazard_speed = preset_speed if hazard_speed is None else hazard_speed
        hazard_radius = preset_radius if hazard_radius is None else hazard_radius
        for name, value, low, high, low_open in (
            ("hazard_speed", hazard_speed, 0.0, 0.1, False),
            ("hazard_radius", hazard_radius, 0.0, 0.25, True),
            ("hazard_penalty", hazard_penalty, 0.0, 10.0, False),
            ("shaping", shaping, 0.0, 10.0, False),
            ("step_size", step_size, 0.0, 0.5, True),
            ("reach", reach, 0.0, 0.5, True),
        ):
            check_number(name, value, low, high, low_open=low_open)
        self.n_targets = int(n_targets)
        self.n_hazards = int(n_hazards)
        self.n_entities = self.n_targets + self.n_hazards
        self.k_hazards = int(k_hazards)
        self.hazard_speed = float(hazard_speed)
        self.hazard_radius = float(hazard_radius)
        self.hazard_penalty = float(hazard_penalty)
        self.shaping = float(shaping)
        self.reach = float(reach)
        self._init_arena(self.n_entities, 3, step_size, render_mode)  # flags: is_target, is_hazard, presence
        self._remaining = np.zeros(self.n_entities, dtype=bool)  # (N,) targets not yet collected
        self._hazard_rows = np.zeros(0, dtype=np.int64)  # (n_hazards,)
        self._distance = 0.0  # distance to the nearest remaining target
        self._relevant = np.zeros(1, dtype=np.int64)

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Place the agent, the targets and the hazards (at random unless ``options`` gives them); shuffle rows.

        No target starts within ``2 * reach + step_size`` of the agent, no hazard within ``hazard_radius + 2 *
        (step_size + hazard_speed)`` of it, and no target within ``hazard_radius + reach`` of a hazard.
        """
        super().reset(seed=seed)
        rng = self.np_random
        layout = self._check_options(options or {})
        agent = layout.get("agent")
        self._agent = rng.uniform(0.1, 0.9, size=2) if agent is None else agent
        hazards, targets = self._place(rng, layout.get("hazards"), layout.get("targets"))
        heading = rng.uniform(0, 2 * np.pi, size=self.n_hazards)
        order = rng.permutation(self.n_entities)  # order[:n_targets]: target rows, the rest hazard rows
        target_rows, self._hazard_rows = order[: self.n_targets], np.sort(order[self.n_targets :])
        self._positions[target_rows] = targets
        self._positions[order[self.n_targets :]] = hazards
        self._velocities[:] = 0.0
        self._velocities[order[self.n_targets :]] = self.hazard_speed * np.stack(
            [np.cos(heading), np.sin(heading)], axis=1
        )
        self._remaining[:] = False
        self._remaining[target_rows] = True
        self._flags[:] = 0.0
        self._flags[:, _PRESENT] = 1.0
        self._flags[target_rows, _IS_TARGET] = 1.0
        self._flags[self._hazard_rows, _IS_HAZARD] = 1.0
        rel = self._positions - self._agent
        dist = np.sqrt(rel[:, 0] ** 2 + rel[:, 1] ** 2)
        self._distance = float(dist[self._remaining].min())
        self._relevant = self._relevant_parts(dist, self._remaining)
        return self._rows(rel), self._info(success=False)

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the agent and the hazards; collect the targets in reach; end on contact with a hazard."""
        self._move(action, drifting=self.hazard_speed > 0)  # targets have zero velocity
        rel = self._positions - self._agent  # (N, 2)
        dist = np.sqrt(rel[:, 0] ** 2 + rel[:, 1] ** 2)  # (N,)
        collected = self._remaining & (dist <= self.reach)  # (N,)
        n_collected = int(collected.sum())
        if n_collected:
            self._remaining = self._remaining & ~collected
            self._flags[collected] = 0.0
        hit = self.n_hazards > 0 and bool((dist[self._hazard_rows] <= self.hazard_radius).any())
        distance = float(dist[self._remaining].min()) if self._remaining.any() else 0.0
        reward = n_collected + self.shaping * (self._distance - distance) - (self.hazard_penalty if hit else 0.0)
        self._distance = distance
        cleared = not self._remaining.any()
        self._relevant = self._relevant_parts(dist, collected if cleared else self._remaining)
        return self._rows(rel), float(reward), cleared or hit, False, self._info(success=cleared and not hit)

    def _draw_entities(self, canvas: np.ndarray) -> None:
        """Remaining targets in green, hazards in red with a ring at their contact distance."""
        for row in self._hazard_rows:
            draw_disc(canvas, self._positions[row], self.hazard_radius * 0.7, DISTRACTOR)
            draw_ring(canvas, self._positions[row], self.hazard_radius, 0.015, DISTRACTOR)
        for row in np.flatnonzero(self._remaining):
            draw_disc(canvas, self._positions[row], self.reach * 0.6, TARGET)

    # ------------------------------------------------------------------ helpers
    def target_rows(self) -> np.ndarray:
        """``int64`` rows of the targets not yet collected, ascending."""
        return np.flatnonzero(self._remaining).astype(np.int64)

    def hazard_rows(self) -> np.ndarray:
        """``int64`` rows of the hazards, ascending."""
        return self._hazard_rows.astype(np.int64)

    def _check_options(self, options: dict[str, Any]) -> dict[str, np.ndarray]:
        shapes = {"agent": (2,), "targets": (self.n_targets, 2), "hazards": (self.n_hazards, 2)}
        unknown = sorted(set(options) - set(shapes))
        if unknown:
            raise ValueError(f"reset options {unknown} are not supported: use any of {sorted(shapes)}.")
        layout = {}
        for key, value in options.items():
            array = np.asarray(value, dtype=np.float64)
            if array.shape != shapes[key] or not ((array >= 0) & (array <= 1)).all():
                raise ValueError(
                    f"reset option {key!r} must be an array of shape {shapes[key]} with values in [0, 1], "
                    f"got {value!r}."
                )
            layout[key] = array
        return layout

    def _place(
        self, rng: np.random.Generator, hazards: np.ndarray | None, targets: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw the hazards, then the targets, by rejection in batches of candidates (``(n, 2)`` each)."""
        hazard_clear = self.hazard_radius + 2 * (self.step_size + self.hazard_speed)
        target_clear = 2 * self.reach + self.step_size
        for _ in range(_TRIES):
            placed_hazards = hazards
            if placed_hazards is None:
                placed_hazards = self._draw(rng, self.n_hazards, [(self._agent[None], hazard_clear)])
            if targets is not None:
                return placed_hazards, targets
            if placed_hazards is not None:
                keep_out = [(self._agent[None], target_clear), (placed_hazards, self.hazard_radius + self.reach)]
                placed_targets = self._draw(rng, self.n_targets, keep_out)
                if placed_targets is not None:
                    return placed_hazards, placed_targets
        raise RuntimeError(
            f"Could not place {self.n_targets} targets and {self.n_hazards} hazards of radius {self.hazard_radius} "
            "apart from each other and from the agent: use fewer or smaller hazards."
        )

    @staticmethod
    def _draw(rng: np.random.Generator, n: int, keep_out: list[tuple[np.ndarray, float]]) -> np.ndarray | None:
        """``n`` positions in ``[0.05, 0.95]^2`` farther than each distance from each ``(M, 2)`` set, or None."""
        for _ in range(_TRIES):
            candidates = rng.uniform(0.05, 0.95, size=(_CANDIDATES, 2))
            ok = np.ones(_CANDIDATES, dtype=bool)
            for points, clearance in keep_out:
                gap = candidates[:, None, :] - points[None, :, :]  # (C, M, 2)
                ok &= ((gap**2).sum(axis=2) > clearance**2).all(axis=1)
            good = np.flatnonzero(ok)
            if len(good) >= n:
                return candidates[good[:n]]
            if len(good) == 0 and n > 0:
                return None
        return None

    def _relevant_parts(self, dist: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The nearest row among ``targets`` (a (N,) mask), then the ``k_hazards`` nearest hazard rows."""
        target = int(np.argmin(np.where(targets, dist, np.inf)))
        if self.k_hazards == 0:
            return np.array([target], dtype=np.int64)
        hazard_dist = dist[self._hazard_rows]
        if self.k_hazards == 1:
            return np.array([target, self._hazard_rows[np.argmin(hazard_dist)]], dtype=np.int64)
        nearest = self._hazard_rows[np.argsort(hazard_dist, kind="stable")[: self.k_hazards]]
        return np.concatenate([[target], nearest]).astype(np.int64)

    def _info(self, success: bool) -> dict[str, Any]:
        return {
            "relevant_parts": self._relevant,
            "is_success": bool(success),
            "targets_left": int(self._remaining.sum()),
        }
