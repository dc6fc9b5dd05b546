"""envs/adapters/highway_fast_vehicle.py: the fast decisions and collision checks give exactly highway-env's numbers."""

import copy
import itertools
import warnings

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("highway_env", reason="the fast vehicle updates accelerate highway-env's (pip install highway-env)")

from highway_env.road.road import Road
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.controller import ControlledVehicle

from envs.adapters.highway_fast_road import install_fast_road
from envs.adapters.highway_fast_vehicle import (
    _acceleration,
    _fast_acts,
    _precheck,
    _steering_control,
    _surely_apart,
    accelerate_vehicles,
    clip_scalar,
)


def _make(env_id: str) -> gym.Env:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "intersection-v0 is out of date"
        return gym.make(env_id)


def _same(a: object, b: object) -> bool:
    """Same type, value and sign bit (NaN equal to NaN)."""
    return type(a) is type(b) and np.array_equal(a, b, equal_nan=True) and np.signbit(a) == np.signbit(b)


def test_clip_scalar_is_np_clip():
    values = [0.0, -0.0, 0.5, -1.0, 1.0, np.nextafter(1.0, 2.0), np.pi / 4, np.pi / 3, 6.0, -7.0]
    values += [np.inf, -np.inf, np.nan, 1e-300, 3, np.int64(4), np.float32(0.2)]
    bounds = [(-1, 1), (0, 10), (0, 10.0), (-np.pi / 4, np.pi / 4), (-6.0, 6.0), (0, 0), (-0.0, 0.0), (1, -1)]
    bounds += [(np.nan, 1.0)]
    for value, (low, high) in itertools.product(values, bounds):
        for x in {type(value): value, float: float(value), np.float64: np.float64(value)}.values():
            assert _same(clip_scalar(x, low, high), np.clip(x, low, high)), (x, low, high)
    for x in np.random.default_rng(0).normal(scale=2.0, size=2000):
        assert _same(clip_scalar(float(x), -1, 1), np.clip(float(x), -1, 1))


def test_steering_and_acceleration_are_highway_envs():
    env = _make("intersection-v0")
    env.reset(seed=1)
    road = env.unwrapped.road
    checked = 0
    for _ in range(3):
        env.step(1)
        for vehicle in road.vehicles:
            for lane_index in {vehicle.lane_index, vehicle.target_lane_index}:
                assert _same(
                    _steering_control(vehicle, lane_index), ControlledVehicle.steering_control(vehicle, lane_index)
                )
            for front in road.vehicles if type(vehicle) is IDMVehicle else []:
                expected = IDMVehicle.acceleration(vehicle, vehicle, front)
                assert _same(_acceleration(vehicle, vehicle, front), expected)
                checked += 1
    assert checked > 50


def test_collision_precheck_skips_only_pairs_highway_env_skips():
    env = _make("intersection-v0")
    env.reset(seed=0)
    a, b = env.unwrapped.road.vehicles[:2]
    reach = (a.diagonal + b.diagonal) / 2 + a.speed / 15
    skipped = 0
    for distance in [0.0, reach - 1e-9, reach, reach + 1e-12, reach + 1e-3, reach + 5.0, 1e3]:
        for angle in np.linspace(0, 2 * np.pi, 7):
            b.position = a.position + distance * np.array([np.cos(angle), np.sin(angle)])
            if _surely_apart(_precheck(a), _precheck(b), 1 / 15):
                skipped += 1
                intersecting, will_intersect, _ = a._is_colliding(b, 1 / 15)
                assert not (intersecting or will_intersect)
                assert np.linalg.norm(b.position - a.position) > reach
    assert skipped >= 14  # the two farthest distances at every angle
    b.position = np.array([np.nan, 0.0])
    assert not _surely_apart(_precheck(a), _precheck(b), 1 / 15)  # highway-env decides


def test_binding_is_per_instance_and_patched_classes_keep_their_own(monkeypatch):
    fast, slow = _make("intersection-v0"), _make("intersection-v0")
    install_fast_road(fast)
    fast.reset(seed=0)
    slow.reset(seed=0)
    for method in ("act", "step"):
        assert method in vars(fast.unwrapped.road) and method not in vars(slow.unwrapped.road)
    copied = copy.deepcopy(fast.unwrapped)  # highway-env's planners copy envs: the copy steps its own road
    assert copied.road.act.__self__ is copied.road and copied.road.step.__self__ is copied.road
    assert set(_fast_acts()) >= {IDMVehicle, ControlledVehicle}
    monkeypatch.setattr(IDMVehicle, "act", lambda self, action=None: None)  # someone else's IDM
    assert IDMVehicle not in _fast_acts()
    assert not accelerate_vehicles(object())
    assert accelerate_vehicles(Road())  # a plain road: both bound
