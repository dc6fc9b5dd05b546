"""Faster highway-env road queries that return exactly what highway-env's own code returns.

Two calls take most of a highway-env step (``intersection-v0``: about half of it):

- ``RoadNetwork.get_closest_lane_index``, run for every vehicle at every simulation frame, computes the distance to
  every lane of the network. :class:`FastLaneLookup` computes cheap NumPy lower and upper bounds of all the
  distances at once (StraightLane and CircularLane: the same formula, with a margin far above float rounding;
  other lane types: no bound), then calls highway-env's own ``lane.distance_with_heading`` only on the lanes whose
  lower bound does not exceed the smallest upper bound, and breaks ties as ``np.argmin`` does (lowest index).
  Every lane it skips is strictly farther than the closest one, so the index is highway-env's for every input;
  inputs it cannot bound (non-finite, or a NaN distance) go to highway-env's own method.
- ``RegulatedRoad.enforce_road_rules`` (intersections) calls ``is_conflict_possible`` for every pair of vehicles,
  which predicts both vehicles' trajectories again for each pair. :func:`accelerate_road` predicts each vehicle's
  trajectory once per call (the prediction only reads the vehicle's state, which the rules do not change), skips
  time steps whose centres are clearly farther apart than the vehicle length, and runs highway-env's own checks
  on the others: the same yes/no for every pair.

Both are bound to one road instance (no highway-env class is patched): :func:`install_fast_road` binds them on an
env's current road and on every road its ``_make_road``/``_create_road`` builds from then on.

Needs highway-env: import this module only where highway-env is installed (the adapter imports it lazily).
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np
from highway_env import utils
from highway_env.road.lane import CircularLane, SineLane, StraightLane
from highway_env.road.regulation import RegulatedRoad
from highway_env.road.road import RoadNetwork

# Relative and absolute margins of the bounds: float rounding of the bounds is below 1e-12 relative to the
# coordinates involved, so these leave six orders of magnitude to spare.
_RELATIVE_MARGIN = 1e-9
_ABSOLUTE_MARGIN = 1e-6
# Angles closer than this to a CircularLane's wrap-around (phase +-pi from its start) get no longitudinal bound:
# there highway-env's longitudinal coordinate jumps, and rounding could put it on either side.
_WRAP_GUARD = 1e-6
_TWO_PI = 2 * np.pi
# Inputs beyond these go to highway-env's own method (the margin above assumes them).
_MAX_COORDINATE = 1e9
_MAX_HEADING = 1e6
#: Networks with fewer lanes keep highway-env's own lookup (:func:`accelerate_road`): its loop is as fast there.
MIN_LANES = 8
# Methods of a lane that the bounds copy: a lane that overrides one of them on its instance gets no bound.
_COPIED = frozenset({"distance_with_heading", "distance", "local_coordinates", "local_angle", "heading_at"})


class FastLaneLookup:
    """``RoadNetwork.get_closest_lane_index`` for one network: the same index, mostly without a loop over lanes.

    Bind it on a network with :func:`accelerate_road` (or by hand: ``network.get_closest_lane_index =
    FastLaneLookup(network)``). The lane arrays are built on the first call and again whenever lanes are added.

    Args:
        network: the highway-env ``RoadNetwork`` to query.
    """

    def __init__(self, network: RoadNetwork) -> None:
        self.network = network
        self._containers: list[Any] = []
        self._signature: tuple[int, ...] = (-1,)

    # ------------------------------------------------------------------ lane arrays
    def _lane_signature(self) -> tuple[int, ...]:
        """Sizes of the graph's containers: they change when lanes are added (then the arrays are rebuilt)."""
        return tuple(map(len, self._containers))

    def _build(self) -> None:
        self.indexes: list[tuple[str, str, int]] = []
        self.lanes: list[Any] = []
        self._containers = [self.network.graph]
        for _from, to_dict in self.network.graph.items():
            self._containers.append(to_dict)
            for _to, lanes in to_dict.items():
                self._containers.append(lanes)
                for _id, lane in enumerate(lanes):
                    self.indexes.append((_from, _to, _id))
                    self.lanes.append(lane)
        straight = [i for i, lane in enumerate(self.lanes) if _bounded(lane, StraightLane) or _bounded(lane, SineLane)]
        circular = [i for i, lane in enumerate(self.lanes) if _bounded(lane, CircularLane)]
        # lanes without a bound: always measured with highway-env's own method
        self.unbounded = sorted(set(range(len(self.lanes))) - set(straight) - set(circular))
        self.bounded = np.asarray(straight + circular, dtype=np.int64)  # global index of each bounded lane
        self.n_straight = len(straight)  # StraightLane and SineLane
        s_lanes, c_lanes = [self.lanes[i] for i in straight], [self.lanes[i] for i in circular]
        # one product gives every coordinate: rows [a, b, c] of (x, y, 1)
        rows = [[*lane.direction, -np.dot(lane.start, lane.direction) - lane.length / 2] for lane in s_lanes]
        rows += [[*lane.direction_lateral, -np.dot(lane.start, lane.direction_lateral)] for lane in s_lanes]
        rows += [[1.0, 0.0, -lane.center[0]] for lane in c_lanes] + [[0.0, 1.0, -lane.center[1]] for lane in c_lanes]
        self.affine = np.array(rows, dtype=np.float64).reshape(-1, 3)  # (2S + 2C, 3)
        self.s_half = np.array([lane.length / 2 for lane in s_lanes], dtype=np.float64)  # (S,)
        self.s_turn = np.array([np.pi - lane.heading for lane in s_lanes], dtype=np.float64)  # (S,)
        # a SineLane's lateral is the straight one minus amplitude * sin(...): |r| - |amplitude| bounds it, and its
        # heading term (not computed: weight 0) is >= 0, so its bound is a lower bound only
        self.s_sine = np.array([type(lane) is SineLane for lane in s_lanes], dtype=bool)  # (S,)
        self.s_slack = np.array([abs(getattr(lane, "amplitude", 0.0)) for lane in s_lanes], dtype=np.float64)
        self.s_weight = np.where(self.s_sine, 0.0, 1.0)  # (S,) weight of the heading term
        self.c_radius = np.array([lane.radius for lane in c_lanes], dtype=np.float64)  # (C,)
        self.c_phase = np.array([np.pi - lane.start_phase for lane in c_lanes], dtype=np.float64)
        self.c_arc = np.array([lane.direction * lane.radius for lane in c_lanes], dtype=np.float64)
        self.c_half = np.array([lane.length / 2 for lane in c_lanes], dtype=np.float64)
        # heading_at(s) = wrapped phase + start_phase + pi/2 * direction
        self.c_turn = np.array(
            [np.pi - lane.start_phase - np.pi / 2 * lane.direction for lane in c_lanes], dtype=np.float64
        )
        self.has_sine = bool(self.s_sine.any())
        extents = [0.0, float(np.abs(self.affine[:, 2]).max(initial=0.0))]
        extents += [float(np.abs(lane.start).sum() + lane.length) for lane in s_lanes]
        extents += [float(np.abs(lane.center).sum() + lane.radius + abs(lane.length)) for lane in c_lanes]
        self.scale = max(extents)
        self._signature = self._lane_signature()

    # ------------------------------------------------------------------ the query
    def original(self, position: np.ndarray, heading: float | None = None) -> tuple[str, str, int]:
        """highway-env's own ``get_closest_lane_index`` on this network."""
        return RoadNetwork.get_closest_lane_index(self.network, position, heading)

    def approximate(self, x: float, y: float, heading: float | None) -> tuple[np.ndarray, np.ndarray]:
        """``distance_with_heading`` of the bounded lanes at ``(x, y)``, ``heading``, up to float rounding.

        Returns:
            ``(B,)`` the approximate distances (a lower bound up to the margin for every lane) and ``(B,)`` the same
            where it is also an upper bound up to the margin, ``inf`` elsewhere (on a circular lane's wrap-around,
            where only the lateral term is counted).
        """
        n_s, n_c = self.n_straight, len(self.c_radius)
        coordinates = self.affine @ np.array([x, y, 1.0])  # (2S + 2C,): s - L/2, lateral, then dx, dy
        # |r| + max(s - L, 0) + max(-s, 0) = |r| + max(|s - L/2| - L/2, 0)
        lateral = np.abs(coordinates[n_s : 2 * n_s])
        if self.has_sine:
            lateral = np.maximum(lateral - self.s_slack, 0.0)
        straight = lateral + np.maximum(np.abs(coordinates[:n_s]) - self.s_half, 0.0)
        if heading is not None:
            angle = np.abs((heading + self.s_turn) % _TWO_PI - np.pi)
            straight += self.s_weight * angle if self.has_sine else angle
        straight_upper = np.where(self.s_sine, np.inf, straight) if self.has_sine else straight
        if not n_c:
            return straight, straight_upper
        dx, dy = coordinates[2 * n_s : 2 * n_s + n_c], coordinates[2 * n_s + n_c :]
        wrapped = (np.arctan2(dy, dx) + self.c_phase) % _TWO_PI - np.pi
        clear = np.abs(wrapped) < np.pi - _WRAP_GUARD  # away from the wrap-around: same branch as highway-env
        along = np.maximum(np.abs(self.c_arc * wrapped - self.c_half) - self.c_half, 0.0)
        if heading is not None:
            along += np.abs((heading + self.c_turn - wrapped) % _TWO_PI - np.pi)
        lateral = np.abs(self.c_radius - np.hypot(dx, dy))
        circular = lateral + np.where(clear, along, 0.0)  # near the wrap-around: the lateral term only
        return np.concatenate([straight, circular]), np.concatenate([straight_upper, np.where(clear, circular, np.inf)])

    def __call__(self, position: np.ndarray, heading: float | None = None) -> tuple[str, str, int]:
        """The index of the lane closest to a world position (and heading): highway-env's, for every input."""
        if self._signature != self._lane_signature():
            self._build()
        try:
            x, y = float(position[0]), float(position[1])
            h = None if heading is None else float(heading)
        except (TypeError, IndexError, ValueError):
            return self.original(position, heading)
        if (
            np.shape(position) != (2,)
            or not (abs(x) <= _MAX_COORDINATE and abs(y) <= _MAX_COORDINATE)
            or not (h is None or abs(h) <= _MAX_HEADING)
        ):
            return self.original(position, heading)
        approx, upper = self.approximate(x, y, h)
        # float rounding of `approx` stays far below this margin for inputs in the ranges above
        margin = _ABSOLUTE_MARGIN + _RELATIVE_MARGIN * (4 * (abs(x) + abs(y) + self.scale) + abs(h or 0.0) + 4)
        closest = upper.min()  # + margin: an upper bound of the smallest distance
        # every bounded lane left out is strictly farther than the lane of `closest`
        candidates = self.bounded[approx <= closest + 2 * margin].tolist() + self.unbounded
        best_index, best = -1, math.inf
        for i in candidates:
            distance = self.lanes[i].distance_with_heading(position, heading)
            if distance != distance:  # NaN: np.argmin would pick the first NaN of all the lanes
                return self.original(position, heading)
            if best_index < 0 or distance < best or (distance == best and i < best_index):  # ties: np.argmin's
                best_index, best = i, distance
        return self.indexes[best_index]


def _bounded(lane: Any, kind: type) -> bool:
    """Whether ``lane`` is exactly of type ``kind``, with highway-env's methods and finite parameters."""
    if type(lane) is not kind or _COPIED & vars(lane).keys():
        return False
    values = [lane.length]
    if kind is SineLane:
        values += [lane.amplitude]
    if kind in (StraightLane, SineLane):
        values += [lane.start, lane.direction, lane.direction_lateral, lane.heading]
    else:
        values += [lane.center, lane.radius, lane.start_phase, lane.direction]
    finite_values = all(np.isfinite(np.asarray(v, dtype=np.float64)).all() for v in values)
    return finite_values and lane.length >= 0 and (kind is not CircularLane or lane.radius > 0)


# ---------------------------------------------------------------------------------------------- road rules
def _enforce_road_rules_once(self: RegulatedRoad) -> None:
    """``RegulatedRoad.enforce_road_rules`` with each vehicle's predicted trajectory computed once."""
    self._attn_trajectories = {}
    try:
        type(self).enforce_road_rules(self)
    finally:
        self._attn_trajectories = None


def _trajectory(road: RegulatedRoad, vehicle: Any, times: np.ndarray) -> tuple[Any, Any, np.ndarray]:
    """The vehicle's ``predict_trajectory_constant_speed(times)``, cached for the current rules pass."""
    cache = road._attn_trajectories
    entry = cache.get(id(vehicle))
    if entry is None or entry[0] is not vehicle:
        positions, headings = vehicle.predict_trajectory_constant_speed(times)
        array = np.array(positions, dtype=np.float64).reshape(-1, 2)  # (T, 2)
        entry = cache[id(vehicle)] = (vehicle, (positions, headings), array)
    return entry[1][0], entry[1][1], entry[2]


def _is_conflict_possible_once(self: RegulatedRoad, v1: Any, v2: Any, horizon: int = 3, step: float = 0.25) -> bool:
    """``RegulatedRoad.is_conflict_possible`` with cached trajectories and a vectorised distance pre-check."""
    if getattr(self, "_attn_trajectories", None) is None:  # called outside a rules pass: nothing to reuse
        return RegulatedRoad.is_conflict_possible(v1, v2, horizon, step)
    times = np.arange(step, horizon, step)
    positions_1, headings_1, array_1 = _trajectory(self, v1, times)
    positions_2, headings_2, array_2 = _trajectory(self, v2, times)
    steps = min(len(positions_1), len(positions_2))
    gaps = np.hypot(*(array_2[:steps] - array_1[:steps]).T)  # (T,)
    near = gaps <= v1.LENGTH * (1 + _RELATIVE_MARGIN) + _ABSOLUTE_MARGIN  # the others fail highway-env's pre-check
    for t in np.flatnonzero(near).tolist():  # highway-env's own checks, in its order
        position_1, heading_1, position_2, heading_2 = positions_1[t], headings_1[t], positions_2[t], headings_2[t]
        if np.linalg.norm(position_2 - position_1) > v1.LENGTH:
            continue
        if utils.rotated_rectangles_intersect(
            (position_1, 1.5 * v1.LENGTH, 0.9 * v1.WIDTH, heading_1),
            (position_2, 1.5 * v2.LENGTH, 0.9 * v2.WIDTH, heading_2),
        ):
            return True
    return False


# ---------------------------------------------------------------------------------------------- binding
def accelerate_road(road: Any) -> bool:
    """Bind the fast queries on one highway-env road (its network's lane lookup, its road rules if regulated).

    Only road and network *instances* change; a road whose class overrides one of the accelerated methods keeps
    its own, and so does a network of fewer than :data:`MIN_LANES` lanes. Calling it again on the same road does
    nothing.

    Args:
        road: a highway-env ``Road`` (``env.unwrapped.road``).

    Returns:
        Whether the lane lookup is (now) the fast one.
    """
    network = getattr(road, "network", None)
    if not isinstance(network, RoadNetwork):
        return False
    lanes = sum(len(lanes) for to_dict in network.graph.values() for lanes in to_dict.values())
    if (
        lanes >= MIN_LANES
        and type(network).get_closest_lane_index is RoadNetwork.get_closest_lane_index
        and not isinstance(vars(network).get("get_closest_lane_index"), FastLaneLookup)
    ):
        network.get_closest_lane_index = FastLaneLookup(network)
    if (
        isinstance(road, RegulatedRoad)
        and type(road).enforce_road_rules is RegulatedRoad.enforce_road_rules
        and type(road).is_conflict_possible is RegulatedRoad.is_conflict_possible
        and "enforce_road_rules" not in vars(road)
    ):
        road._attn_trajectories = None
        road.enforce_road_rules = types.MethodType(_enforce_road_rules_once, road)
        road.is_conflict_possible = types.MethodType(_is_conflict_possible_once, road)
    return isinstance(vars(network).get("get_closest_lane_index"), FastLaneLookup)


def _make_road_then_accelerate(self: Any, *args: Any, **kwargs: Any) -> Any:
    """The env class's own road builder (``_make_road`` or ``_create_road``), then :func:`accelerate_road`."""
    builder = self._attn_road_builder
    result = getattr(type(self), builder)(self, *args, **kwargs)
    accelerate_road(getattr(self, "road", None))
    return result


def install_fast_road(env: Any) -> bool:
    """Make a highway-env env's road queries fast, for its current road and every road its resets build.

    Binds :func:`accelerate_road` on the env's current road (if any) and wraps the env instance's road builder
    (``_make_road`` or ``_create_road``) so that each new road is accelerated before the reset places and warms up
    its vehicles. Calling it again does nothing more; call it after a reset to be safe with envs that build their
    road another way.

    Args:
        env: a highway-env env (its ``unwrapped`` is an ``AbstractEnv``).

    Returns:
        Whether the current road (if one exists yet) has the fast lane lookup.
    """
    base = env.unwrapped
    for builder in ("_make_road", "_create_road"):
        if callable(getattr(type(base), builder, None)) and builder not in vars(base):
            base._attn_road_builder = builder
            setattr(base, builder, types.MethodType(_make_road_then_accelerate, base))
            break
    road = getattr(base, "road", None)
    return road is None or accelerate_road(road)
