"""Faster highway-env vehicle updates (IDM decisions, collision checks) that give exactly highway-env's numbers.

- ``IDMVehicle.act`` (every traffic vehicle, every frame) runs highway-env's own steps in its order, with
  ``np.clip`` on a scalar replaced by :func:`clip_scalar`: the same comparisons as NumPy's ``clip`` loop, NaN
  included, and the same ``np.float64`` result, without NumPy's per-call dispatch (about 4/5 of the time of a
  steering command went there). Every other NumPy function it calls (``arcsin``, ``arctan``, ``tan``,
  ``power``) is NumPy's own, on the same values, so each float is highway-env's to the last bit.
- ``Road.step`` checks every pair of vehicles for a collision; highway-env's check first compares the distance of
  their centres with the sum of their half diagonals plus the distance travelled in the step, and returns without
  an effect when the centres are farther. Here that test runs first in plain floats, with a margin far above float
  rounding, and highway-env's own ``handle_collisions`` runs, in its order, on the other pairs.

:func:`accelerate_vehicles` binds both on one road instance (``road.act``, ``road.step``): no highway-env class is
patched, and only vehicles of exactly ``IDMVehicle``'s class (none of whose methods are overridden on the instance)
take the fast decision; every other vehicle acts as before. :func:`envs.adapters.highway_fast_road.accelerate_road`
calls it. Needs highway-env.
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np
from highway_env import utils
from highway_env.road.regulation import RegulatedRoad
from highway_env.road.road import Road
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.controller import ControlledVehicle, MDPVehicle
from highway_env.vehicle.kinematics import Vehicle
from highway_env.vehicle.objects import RoadObject

# Margins of the collision pre-check: the rounding of NumPy's norm against math.hypot is below 1e-15 relative.
_RELATIVE_MARGIN = 1e-9
_ABSOLUTE_MARGIN = 1e-6
# Methods the fast decisions copy: a vehicle overriding one of them on its instance acts with its own.
_ACT_COPIED = frozenset({"act", "steering_control", "acceleration"})
_COLLISION_COPIED = ("handle_collisions", "_is_colliding")
_FLOAT64 = np.float64


def clip_scalar(x: Any, low: float, high: float) -> Any:
    """``np.clip(x, low, high)`` for a scalar ``x``: the same value and type, faster on Python and NumPy floats.

    NumPy's float loop takes ``low`` only where ``x < low`` and then ``high`` only where the result is ``> high``: a
    NaN stays NaN and a value equal to a bound stays itself (``-0.0`` clipped to ``[0, 1]`` stays ``-0.0``). This
    does the same comparisons. Other inputs (integers, arrays, other float widths, NaN bounds) go to ``np.clip``.

    Args:
        x: the value.
        low: the lower bound (a Python float or int).
        high: the upper bound (a Python float or int).

    Returns:
        ``np.clip(x, low, high)``.
    """
    kind = type(x)
    if (kind is not float and kind is not _FLOAT64) or type(low) not in (float, int) or type(high) not in (float, int):
        return np.clip(x, low, high)
    if low != low or high != high:  # NaN bounds
        return np.clip(x, low, high)
    if x < low:  # NaN compares False and stays; equal values keep x (and so the sign of a zero)
        x = low
    if x > high:
        x = high
    return _FLOAT64(x)


# ---------------------------------------------------------------------------------------------- IDM decisions
def _steering_control(self: ControlledVehicle, target_lane_index: Any) -> float:
    """``ControlledVehicle.steering_control`` with :func:`clip_scalar` for ``np.clip``."""
    target_lane = self.road.network.get_lane(target_lane_index)
    lane_coords = target_lane.local_coordinates(self.position)
    lane_next_coords = lane_coords[0] + self.speed * self.TAU_PURSUIT
    lane_future_heading = target_lane.heading_at(lane_next_coords)

    # Lateral position control
    lateral_speed_command = -self.KP_LATERAL * lane_coords[1]
    # Lateral speed to heading
    heading_command = np.arcsin(clip_scalar(lateral_speed_command / utils.not_zero(self.speed), -1, 1))
    heading_ref = lane_future_heading + clip_scalar(heading_command, -np.pi / 4, np.pi / 4)
    # Heading control
    heading_rate_command = self.KP_HEADING * utils.wrap_to_pi(heading_ref - self.heading)
    # Heading rate to steering angle
    slip_angle = np.arcsin(clip_scalar(self.LENGTH / 2 / utils.not_zero(self.speed) * heading_rate_command, -1, 1))
    steering_angle = np.arctan(2 * np.tan(slip_angle))
    steering_angle = clip_scalar(steering_angle, -self.MAX_STEERING_ANGLE, self.MAX_STEERING_ANGLE)
    return float(steering_angle)


def _acceleration(self: IDMVehicle, ego_vehicle: Any, front_vehicle: Any = None) -> Any:
    """``IDMVehicle.acceleration`` with :func:`clip_scalar` for ``np.clip``."""
    if not ego_vehicle or not isinstance(ego_vehicle, Vehicle):
        return 0
    ego_target_speed = getattr(ego_vehicle, "target_speed", 0)
    if ego_vehicle.lane and ego_vehicle.lane.speed_limit is not None:
        ego_target_speed = clip_scalar(ego_target_speed, 0, ego_vehicle.lane.speed_limit)
    acceleration = self.COMFORT_ACC_MAX * (
        1 - np.power(max(ego_vehicle.speed, 0) / abs(utils.not_zero(ego_target_speed)), self.DELTA)
    )
    if front_vehicle:
        d = ego_vehicle.lane_distance_to(front_vehicle)
        acceleration -= self.COMFORT_ACC_MAX * np.power(
            self.desired_gap(ego_vehicle, front_vehicle) / utils.not_zero(d), 2
        )
    return acceleration


def _idm_act(self: IDMVehicle) -> None:
    """``IDMVehicle.act()`` (no action: the vehicle decides) with the steering and acceleration above."""
    if self.crashed:
        return
    action = {}
    # Lateral: MOBIL
    self.follow_road()
    if self.enable_lane_change:
        self.change_lane_policy()
    action["steering"] = _steering_control(self, self.target_lane_index)
    action["steering"] = clip_scalar(action["steering"], -self.MAX_STEERING_ANGLE, self.MAX_STEERING_ANGLE)
    # Longitudinal: IDM
    front_vehicle, _ = self.road.neighbour_vehicles(self, self.lane_index)
    action["acceleration"] = _acceleration(self, self, front_vehicle)
    # When changing lane, check both current and target lanes
    if self.lane_index != self.target_lane_index:
        front_vehicle, _ = self.road.neighbour_vehicles(self, self.target_lane_index)
        target_idm_acceleration = _acceleration(self, self, front_vehicle)
        action["acceleration"] = min(action["acceleration"], target_idm_acceleration)
    action["acceleration"] = clip_scalar(action["acceleration"], -self.ACC_MAX, self.ACC_MAX)
    Vehicle.act(self, action)


def _controlled_act(self: ControlledVehicle) -> None:
    """``ControlledVehicle.act()`` and ``MDPVehicle.act()`` (no new action) with the steering above."""
    self.follow_road()
    action = {
        "steering": _steering_control(self, self.target_lane_index),
        "acceleration": self.speed_control(self.target_speed),
    }
    action["steering"] = clip_scalar(action["steering"], -self.MAX_STEERING_ANGLE, self.MAX_STEERING_ANGLE)
    Vehicle.act(self, action)


# highway-env's methods the fast decisions copy, as they were when this module was imported: (class, name, function)
_STEERING = ControlledVehicle.steering_control
_CONTROLLED_ACT = (ControlledVehicle, "act", ControlledVehicle.act)
# class -> (its fast decision, the methods it copies as its class and its parents resolve them)
_FAST_ACT: dict[type, tuple[Any, tuple[tuple[type, str, Any], ...]]] = {
    IDMVehicle: (
        _idm_act,
        (
            (IDMVehicle, "act", IDMVehicle.act),
            (IDMVehicle, "acceleration", IDMVehicle.acceleration),
            (IDMVehicle, "steering_control", _STEERING),
        ),
    ),
    ControlledVehicle: (_controlled_act, (_CONTROLLED_ACT, (ControlledVehicle, "steering_control", _STEERING))),
    MDPVehicle: (
        _controlled_act,
        ((MDPVehicle, "act", MDPVehicle.act), _CONTROLLED_ACT, (MDPVehicle, "steering_control", _STEERING)),
    ),
}


def _fast_acts() -> dict[type, Any]:
    """The fast decision of each class whose copied methods are still highway-env's (a patched class keeps its own)."""
    return {
        kind: act
        for kind, (act, copied) in _FAST_ACT.items()
        if all(getattr(owner, name) is function for owner, name, function in copied)
    }


def _act_fast(self: Road) -> None:
    """``Road.act``: each vehicle decides, those of the classes above with their fast decision."""
    fast = _fast_acts()
    for vehicle in self.vehicles:
        act = fast.get(type(vehicle))
        if act is not None and not (_ACT_COPIED & vars(vehicle).keys()):
            act(vehicle)
        else:
            vehicle.act()


# ---------------------------------------------------------------------------------------------- collisions
def _precheck(entity: Any) -> tuple[float, float, float, float] | None:
    """``(x, y, half diagonal, speed)`` of an entity whose collision check is highway-env's, else None."""
    kind = type(entity)
    if any(getattr(kind, name, None) is not getattr(RoadObject, name) for name in _COLLISION_COPIED):
        return None
    if vars(entity).keys() & set(_COLLISION_COPIED):
        return None
    position = entity.position
    if type(position) is not np.ndarray or position.shape != (2,):
        return None
    try:
        x, y = position.tolist()
        return float(x), float(y), float(entity.diagonal), float(entity.speed)
    except (TypeError, ValueError, AttributeError):
        return None


def _surely_apart(a: tuple[float, float, float, float], b: tuple[float, float, float, float], dt: float) -> bool:
    """Whether highway-env's spherical pre-check of ``a`` against ``b`` surely says "no collision" (NaN: False)."""
    distance = math.hypot(b[0] - a[0], b[1] - a[1])
    reach = (a[2] + b[2]) / 2 + a[3] * dt
    return distance > reach + _ABSOLUTE_MARGIN + _RELATIVE_MARGIN * (distance + abs(reach))


def _step_fast(self: Road, dt: float) -> None:
    """``Road.step`` that skips the collision checks of pairs surely too far apart to touch."""
    for vehicle in self.vehicles:
        vehicle.step(dt)
    vehicles, objects = self.vehicles, self.objects
    checks = [_precheck(v) for v in vehicles]
    object_checks = [_precheck(o) for o in objects]
    dt_float = float(dt)
    for i, vehicle in enumerate(vehicles):
        mine = checks[i]
        for j in range(i + 1, len(vehicles)):
            other = checks[j]
            if mine is not None and other is not None and _surely_apart(mine, other, dt_float):
                continue  # highway-env's _is_colliding returns (False, False, 0): no effect
            vehicle.handle_collisions(vehicles[j], dt)
        for other_object, other in zip(objects, object_checks, strict=True):
            if mine is not None and other is not None and _surely_apart(mine, other, dt_float):
                continue
            vehicle.handle_collisions(other_object, dt)


def _regulated_step_fast(self: RegulatedRoad, dt: float) -> None:
    """``RegulatedRoad.step`` (the road rules at their frequency), then :func:`_step_fast`."""
    self.steps += 1
    if self.steps % int(1 / dt / self.REGULATION_FREQUENCY) == 0:
        self.enforce_road_rules()
    _step_fast(self, dt)


# ---------------------------------------------------------------------------------------------- binding
def accelerate_vehicles(road: Any) -> bool:
    """Bind the fast vehicle decisions (``road.act``) and collision checks (``road.step``) on one road.

    A road whose class overrides ``act`` or ``step`` keeps its own; calling it again does nothing.

    Args:
        road: a highway-env ``Road`` (``env.unwrapped.road``).

    Returns:
        Whether anything of the road is (now) fast.
    """
    if not isinstance(road, Road):
        return False
    if type(road).act is Road.act and "act" not in vars(road):
        road.act = types.MethodType(_act_fast, road)
    steps = {Road.step: _step_fast, RegulatedRoad.step: _regulated_step_fast}
    if type(road).step in steps and "step" not in vars(road):
        road.step = types.MethodType(steps[type(road).step], road)
    return "act" in vars(road) or "step" in vars(road)
