"""Faster highway-env traffic queries (right of way, neighbours on a lane) that answer exactly as highway-env's.

- ``RegulatedRoad.enforce_road_rules`` (intersections) calls ``is_conflict_possible`` for every pair of vehicles,
  which predicts both vehicles' trajectories again for each pair. Here each vehicle's trajectory is predicted once
  per call (the prediction only reads the vehicle's state, which the rules do not change), time steps whose
  centres are clearly farther apart than the vehicle length are skipped, and highway-env's own checks run on the
  others: the same yes/no for every pair, so the same vehicles yield.
- ``Road.neighbour_vehicles`` (every IDM vehicle, every frame) measures every vehicle's lane coordinates. Here a
  plain-float test skips the vehicles clearly off the lane (farther from it than highway-env's
  ``on_lane(margin=1)`` accepts, by a margin far above float rounding), and highway-env's own code runs, in its
  order, on the others: the same vehicles ahead and behind, ties included.

:func:`accelerate_traffic` binds both on one road instance (no highway-env class is patched);
:func:`envs.adapters.highway_fast_road.install_fast_road` calls it. Needs highway-env.
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np
from highway_env import utils
from highway_env.road.lane import CircularLane, SineLane, StraightLane
from highway_env.road.regulation import RegulatedRoad
from highway_env.road.road import Road
from highway_env.vehicle.objects import Landmark

# Margins of the NumPy filters: float rounding stays below 1e-12 relative to the coordinates involved.
_RELATIVE_MARGIN = 1e-9
_ABSOLUTE_MARGIN = 1e-6
# Angles this close to a CircularLane's wrap-around (start phase +-pi) get no longitudinal filter.
_WRAP_GUARD = 1e-6
# Lane methods the filter copies: a lane that overrides one of them on its instance is not filtered.
_COPIED = frozenset({"local_coordinates", "on_lane", "width_at"})


# ---------------------------------------------------------------------------------------------- road rules
def _enforce_road_rules_once(self: RegulatedRoad) -> None:
    """``RegulatedRoad.enforce_road_rules`` with each vehicle's predicted trajectory computed once."""
    self._attn_trajectories = {}
    try:
        type(self).enforce_road_rules(self)
    finally:
        self._attn_trajectories = None


def _trajectory(road: RegulatedRoad, vehicle: Any, horizon: float, step: float) -> tuple[Any, Any, list | None]:
    """The vehicle's ``predict_trajectory_constant_speed``, cached for the current rules pass, and its points.

    Returns:
        highway-env's positions and headings, and the positions as ``(x, y)`` Python floats (None if they are not
        2D points).
    """
    cache = road._attn_trajectories
    key = (id(vehicle), horizon, step)
    entry = cache.get(key)
    if entry is None or entry[0] is not vehicle:
        positions, headings = vehicle.predict_trajectory_constant_speed(np.arange(step, horizon, step))
        points = [np.asarray(p, dtype=np.float64).tolist() for p in positions]
        entry = cache[key] = (vehicle, positions, headings, points if all(len(p) == 2 for p in points) else None)
    return entry[1], entry[2], entry[3]


def _is_conflict_possible_once(self: RegulatedRoad, v1: Any, v2: Any, horizon: int = 3, step: float = 0.25) -> bool:
    """``RegulatedRoad.is_conflict_possible`` with cached trajectories and a float distance pre-check."""
    if getattr(self, "_attn_trajectories", None) is None:  # called outside a rules pass: nothing to reuse
        return RegulatedRoad.is_conflict_possible(v1, v2, horizon, step)
    positions_1, headings_1, points_1 = _trajectory(self, v1, horizon, step)
    positions_2, headings_2, points_2 = _trajectory(self, v2, horizon, step)
    limit = v1.LENGTH * (1 + _RELATIVE_MARGIN) + _ABSOLUTE_MARGIN  # farther: highway-env's pre-check says no
    for t, (position_1, heading_1, position_2, heading_2) in enumerate(
        zip(positions_1, headings_1, positions_2, headings_2, strict=False)
    ):
        if points_1 is not None and points_2 is not None:
            (x1, y1), (x2, y2) = points_1[t], points_2[t]
            if math.hypot(x2 - x1, y2 - y1) > limit:  # NaN: False, and highway-env decides
                continue
        # highway-env's own checks
        if np.linalg.norm(position_2 - position_1) > v1.LENGTH:
            continue
        if utils.rotated_rectangles_intersect(
            (position_1, 1.5 * v1.LENGTH, 0.9 * v1.WIDTH, heading_1),
            (position_2, 1.5 * v2.LENGTH, 0.9 * v2.WIDTH, heading_2),
        ):
            return True
    return False


# ---------------------------------------------------------------------------------------------- neighbours
def _lane_filter(lane: Any) -> tuple | None:
    """What :func:`_surely_off` needs of a lane (Python floats), or None for lanes it does not filter."""
    kind = type(lane)
    if kind not in (StraightLane, SineLane, CircularLane) or _COPIED & vars(lane).keys():
        return None
    reach = float(lane.width) / 2 + 1  # on_lane(margin=1): |lateral| <= width / 2 + 1
    low, high = -float(lane.VEHICLE_LENGTH), float(lane.length) + float(lane.VEHICLE_LENGTH)  # low <= s < high
    if kind is CircularLane:
        scale = float(np.abs(lane.center).sum()) + float(lane.radius) + abs(high)
        center, radius = (float(v) for v in lane.center), float(lane.radius)
        return (True, *center, radius, float(lane.start_phase), float(lane.direction) * radius, reach, low, high, scale)
    scale = float(np.abs(lane.start).sum()) + abs(high)
    slack = abs(float(lane.amplitude)) if kind is SineLane else 0.0  # a SineLane's |lateral| >= |r| - |amplitude|
    vectors = (float(v) for v in (*lane.start, *lane.direction, *lane.direction_lateral))
    return (False, *vectors, slack, reach, low, high, scale)


def _surely_off(params: tuple, x: float, y: float) -> bool:
    """Whether ``(x, y)`` fails the lane's ``on_lane(margin=1)`` by more than float rounding (NaN: False)."""
    if params[0]:
        _, cx, cy, radius, phase, arc, reach, low, high, scale = params
        dx, dy = x - cx, y - cy
        tolerance = _ABSOLUTE_MARGIN + _RELATIVE_MARGIN * (abs(x) + abs(y) + scale)
        if abs(radius - math.hypot(dx, dy)) > reach + tolerance:
            return True
        wrapped = (math.atan2(dy, dx) - phase + math.pi) % (2 * math.pi) - math.pi
        s = arc * wrapped
        return abs(wrapped) < math.pi - _WRAP_GUARD and (s < low - tolerance or s >= high + tolerance)
    _, sx, sy, ux, uy, vx, vy, slack, reach, low, high, scale = params
    dx, dy = x - sx, y - sy
    s, r = dx * ux + dy * uy, dx * vx + dy * vy
    tolerance = _ABSOLUTE_MARGIN + _RELATIVE_MARGIN * (abs(x) + abs(y) + scale)
    return abs(r) - slack > reach + tolerance or s < low - tolerance or s >= high + tolerance


def _neighbour_vehicles_filtered(self: Road, vehicle: Any, lane_index: Any = None) -> tuple[Any, Any]:
    """``Road.neighbour_vehicles`` that skips the vehicles clearly off the lane before measuring them."""
    if self.neighbour_vehicles_connected_lanes:
        return Road.neighbour_vehicles(self, vehicle, lane_index)
    lane_index = lane_index or vehicle.lane_index
    if not lane_index:
        return None, None
    lane = self.network.get_lane(lane_index)
    s = lane.local_coordinates(vehicle.position)[0]
    cached = self._attn_lane_filters.get(id(lane))
    if cached is None or cached[0] is not lane:
        cached = self._attn_lane_filters[id(lane)] = (lane, _lane_filter(lane))
    params = cached[1]
    s_front = s_rear = None
    v_front = v_rear = None
    for v in self.vehicles + self.objects:
        position = v.position
        if params is not None and type(position) is np.ndarray and position.shape == (2,):
            if _surely_off(params, *position.tolist()):
                continue  # highway-env's on_lane below would say no
        # highway-env's loop body, for the searched lane alone (offset 0)
        if v is vehicle or isinstance(v, Landmark):
            continue
        s_v, lat_v = lane.local_coordinates(position)
        if not lane.on_lane(position, s_v, lat_v, margin=1):
            continue
        s_v += 0
        if s <= s_v and (s_front is None or s_v <= s_front):
            s_front = s_v
            v_front = v
        if s_v < s and (s_rear is None or s_v > s_rear):
            s_rear = s_v
            v_rear = v
    return v_front, v_rear


# ---------------------------------------------------------------------------------------------- binding
def accelerate_traffic(road: Any) -> bool:
    """Bind the fast right-of-way checks (regulated roads) and neighbour search on one highway-env road.

    A road whose class overrides one of these methods keeps its own; calling it again does nothing.

    Args:
        road: a highway-env ``Road`` (``env.unwrapped.road``).

    Returns:
        Whether anything of the road is (now) fast.
    """
    if not isinstance(road, Road):
        return False
    if type(road).neighbour_vehicles is Road.neighbour_vehicles and "neighbour_vehicles" not in vars(road):
        road._attn_lane_filters = {}  # id(lane) -> (lane, its filter): a road's lanes do not change
        road.neighbour_vehicles = types.MethodType(_neighbour_vehicles_filtered, road)
    if (
        isinstance(road, RegulatedRoad)
        and type(road).enforce_road_rules is RegulatedRoad.enforce_road_rules
        and type(road).is_conflict_possible is RegulatedRoad.is_conflict_possible
        and "enforce_road_rules" not in vars(road)
    ):
        road._attn_trajectories = None
        road.enforce_road_rules = types.MethodType(_enforce_road_rules_once, road)
        road.is_conflict_possible = types.MethodType(_is_conflict_possible_once, road)
    return "neighbour_vehicles" in vars(road) or "enforce_road_rules" in vars(road)
