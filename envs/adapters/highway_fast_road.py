"""A faster ``RoadNetwork.get_closest_lane_index`` for highway-env that returns exactly highway-env's lane index.

The closest-lane lookup runs for every vehicle at every simulation frame and computes the distance to every lane of
the network (on ``intersection-v0`` about a third of a step). :class:`FastLaneLookup` computes cheap lower and upper
bounds of all the distances in plain floats (StraightLane and CircularLane: the same formula, with a margin far above
float rounding; SineLane: a lower bound only; other lane types: no bound). The lanes whose lower bound does not
exceed the smallest upper bound are the only ones that can be closest: when that leaves one lane, as it nearly
always does, that lane is the answer; else highway-env's own ``lane.distance_with_heading`` decides among them, ties
going to the lowest index as with ``np.argmin``. Every lane it rules out is strictly farther than the closest one,
so the index is highway-env's for every input; inputs it cannot bound (non-finite, or a NaN distance) go to
highway-env's own method.

:func:`install_fast_road` binds it, with the traffic queries of :mod:`envs.adapters.highway_fast_traffic` and the
vehicle updates of :mod:`envs.adapters.highway_fast_vehicle`, on an env's current road and on every road its
``_make_road``/``_create_road`` builds from then on: one env instance's roads change, no highway-env class is
patched.

Needs highway-env: import this module only where highway-env is installed (the adapter imports it lazily).
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np
from highway_env.road.lane import CircularLane, SineLane, StraightLane
from highway_env.road.road import RoadNetwork

from envs.adapters.highway_fast_traffic import accelerate_traffic
from envs.adapters.highway_fast_vehicle import accelerate_vehicles

# Relative and absolute margins of the bounds: float rounding of the bounds is below 1e-12 relative to the
# coordinates involved, so these leave six orders of magnitude to spare.
_RELATIVE_MARGIN = 1e-9
_ABSOLUTE_MARGIN = 1e-6
# Angles closer than this to a CircularLane's wrap-around (phase +-pi from its start) get no longitudinal bound:
# there highway-env's longitudinal coordinate jumps, and rounding could put it on either side.
_WRAP_GUARD = 1e-6
_TWO_PI = 2 * math.pi
# Inputs beyond these go to highway-env's own method (the margin above assumes them).
_MAX_COORDINATE = 1e9
_MAX_HEADING = 1e6
# Methods of a lane that the bounds copy: a lane that overrides one of them on its instance gets no bound.
_COPIED = frozenset({"distance_with_heading", "distance", "local_coordinates", "local_angle", "heading_at"})


class FastLaneLookup:
    """``RoadNetwork.get_closest_lane_index`` for one network: the same index, measuring few lanes if any.

    Bind it on a network with :func:`accelerate_road` (or by hand: ``network.get_closest_lane_index =
    FastLaneLookup(network)``). The lanes' parameters are read on the first call and again whenever lanes are added.

    Args:
        network: the highway-env ``RoadNetwork`` to query.
    """

    def __init__(self, network: RoadNetwork) -> None:
        self.network = network
        self._containers: list[Any] = []
        self._signature: tuple[int, ...] = (-1,)

    # ------------------------------------------------------------------ lane parameters
    def _lane_signature(self) -> tuple[int, ...]:
        """Sizes of the graph's containers: they change when lanes are added (then the parameters are read again)."""
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
        # Python floats: for a few dozen lanes a plain loop beats NumPy's per-call overhead
        self.straight = [
            (
                i,
                *(float(v) for v in (*lane.start, *lane.direction, *lane.direction_lateral, lane.length)),
                math.pi - float(lane.heading),  # (heading + this) % 2 pi - pi: heading - lane heading, wrapped
                abs(float(lane.amplitude)) if type(lane) is SineLane else 0.0,  # |lateral| >= |r| - |amplitude|
                type(lane) is SineLane,  # a lower bound only (its heading term, >= 0, is left out)
            )
            for i, lane in ((i, self.lanes[i]) for i in straight)
        ]
        self.circular = [
            (
                i,
                *(float(v) for v in (*lane.center, lane.radius, lane.direction * lane.radius, lane.length)),
                math.pi - float(lane.start_phase),  # (atan2 + this) % 2 pi - pi: the wrapped phase
                math.pi - float(lane.start_phase) - math.pi / 2 * lane.direction,  # heading_at = phase + these
            )
            for i, lane in ((i, self.lanes[i]) for i in circular)
        ]
        extents = [0.0]
        extents += [float(np.abs(self.lanes[i].start).sum() + self.lanes[i].length) for i in straight]
        extents += [float(np.abs(self.lanes[i].center).sum() + self.lanes[i].radius) for i in circular]
        extents += [
            abs(float(lane.length)) + abs(lane.start_phase) * (1 + lane.radius)
            for lane in map(self.lanes.__getitem__, circular)
        ]
        self.scale = max(extents)
        self._signature = self._lane_signature()

    # ------------------------------------------------------------------ the query
    def original(self, position: np.ndarray, heading: float | None = None) -> tuple[str, str, int]:
        """highway-env's own ``get_closest_lane_index`` on this network."""
        return RoadNetwork.get_closest_lane_index(self.network, position, heading)

    def approximate(self, x: float, y: float, heading: float | None) -> tuple[list[tuple[int, float]], float]:
        """``distance_with_heading`` of the bounded lanes at ``(x, y)``, ``heading``, up to float rounding.

        Returns:
            ``(lane index, approximate distance)`` of every bounded lane (a lower bound up to the margin) and the
            smallest approximate distance that is also an upper bound up to the margin (``inf`` if none: SineLanes
            and circular lanes on their wrap-around, where only the lateral term is counted, are lower bounds only).
        """
        out, closest = [], math.inf
        for i, sx, sy, ux, uy, vx, vy, length, turn, slack, lower_only in self.straight:
            dx, dy = x - sx, y - sy
            s, r = dx * ux + dy * uy, dx * vx + dy * vy
            r = abs(r) - slack if abs(r) > slack else 0.0
            d = r + (s - length if s > length else (-s if s < 0.0 else 0.0))
            if heading is not None and not lower_only:
                d += abs((heading + turn) % _TWO_PI - math.pi)
            out.append((i, d))
            if d < closest and not lower_only:
                closest = d
        for i, cx, cy, radius, arc, length, phase, turn in self.circular:
            dx, dy = x - cx, y - cy
            wrapped = (math.atan2(dy, dx) + phase) % _TWO_PI - math.pi
            d = abs(radius - math.hypot(dx, dy))
            if abs(wrapped) < math.pi - _WRAP_GUARD:  # away from the wrap-around: same branch as highway-env
                s = arc * wrapped
                d += s - length if s > length else (-s if s < 0.0 else 0.0)
                if heading is not None:
                    d += abs((heading + turn - wrapped) % _TWO_PI - math.pi)
                if d < closest:
                    closest = d
            out.append((i, d))
        return out, closest

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
        approx, closest = self.approximate(x, y, h)
        # float rounding of `approx` stays far below this margin for inputs in the ranges above
        margin = _ABSOLUTE_MARGIN + _RELATIVE_MARGIN * (4 * (abs(x) + abs(y) + self.scale) + abs(h or 0.0) + 4)
        # every bounded lane left out is strictly farther than the lane of `closest` (+ margin: an upper bound)
        threshold = closest + 2 * margin
        candidates = [i for i, d in approx if d <= threshold] + self.unbounded
        if len(candidates) == 1:  # every other lane is strictly farther (and bounded lanes give no NaN here)
            return self.indexes[candidates[0]]
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


# ---------------------------------------------------------------------------------------------- binding
def accelerate_road(road: Any) -> bool:
    """Bind the fast queries on one highway-env road: its network's lane lookup, its traffic queries, its vehicles.

    The traffic queries are :func:`~envs.adapters.highway_fast_traffic.accelerate_traffic`'s (neighbours on a lane,
    right of way on regulated roads), the vehicle updates
    :func:`~envs.adapters.highway_fast_vehicle.accelerate_vehicles`' (decisions, collision checks). Only road and
    network *instances* change; a road whose class overrides one of the accelerated methods keeps its own. Calling
    it again on the same road does nothing.

    Args:
        road: a highway-env ``Road`` (``env.unwrapped.road``).

    Returns:
        Whether anything of the road is (now) fast.
    """
    network = getattr(road, "network", None)
    if not isinstance(network, RoadNetwork):
        return False
    if type(network).get_closest_lane_index is RoadNetwork.get_closest_lane_index and not isinstance(
        vars(network).get("get_closest_lane_index"), FastLaneLookup
    ):
        network.get_closest_lane_index = FastLaneLookup(network)
    traffic = accelerate_traffic(road)
    vehicles = accelerate_vehicles(road)
    return isinstance(vars(network).get("get_closest_lane_index"), FastLaneLookup) or traffic or vehicles


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
        Whether the current road (if one exists yet) has fast queries.
    """
    base = env.unwrapped
    for builder in ("_make_road", "_create_road"):
        if "_attn_road_builder" not in vars(base) and callable(getattr(type(base), builder, None)):
            base._attn_road_builder = builder
            setattr(base, builder, types.MethodType(_make_road_then_accelerate, base))
            break
    road = getattr(base, "road", None)
    return road is None or accelerate_road(road)
