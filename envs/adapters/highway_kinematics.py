"""highway-env's Kinematics observation computed with NumPy: the same numbers, without a pandas DataFrame per step.

highway-env's ``KinematicObservation.observe`` builds a DataFrame from ``Vehicle.to_dict()`` for every vehicle in
sight (each ``to_dict`` also computes lane offsets and the ego's own dict again) and normalises it column by
column with pandas: on ``intersection-v0`` that is about a sixth of a step. :class:`FastKinematics` picks the
same vehicles with the same highway-env call (``Road.close_objects_to``), reads the same vehicle properties and
applies the same arithmetic in the same order in float64, so every observation is bit-for-bit highway-env's
(the adapter's tests compare them over seeded episodes). Settings it does not cover (features other than
:data:`FAST_FEATURES`, a first call before ``features_range`` is known) fall back to highway-env's own code.

Needs highway-env: import this module only where highway-env is installed (the adapter imports it lazily).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from highway_env.envs.common.observation import KinematicObservation

#: Features :class:`FastKinematics` computes itself; any other feature uses highway-env's own ``observe``.
FAST_FEATURES: frozenset[str] = frozenset({"presence", "x", "y", "vx", "vy", "cos_h", "sin_h", "cos_d", "sin_d"})
# Features given relative to the observer when ``absolute=False`` (``Vehicle.to_dict(origin_vehicle)``).
_RELATIVE = ("x", "y", "vx", "vy")


def _features_of(vehicle: Any, intentions: bool) -> dict[str, float]:
    """The :data:`FAST_FEATURES` of one vehicle, as ``Vehicle.to_dict`` gives them (absolute values)."""
    position, velocity, direction = vehicle.position, vehicle.velocity, vehicle.direction
    values = {
        "presence": 1.0,
        "x": position[0],
        "y": position[1],
        "vx": velocity[0],
        "vy": velocity[1],
        "cos_h": direction[0],
        "sin_h": direction[1],
        "cos_d": 0.0,
        "sin_d": 0.0,
    }
    if intentions:
        destination = vehicle.destination_direction
        values["cos_d"], values["sin_d"] = destination[0], destination[1]
    return values


class FastKinematics(KinematicObservation):
    """highway-env's ``KinematicObservation`` whose ``observe`` uses NumPy instead of pandas (same output)."""

    def observe(self) -> np.ndarray:
        """``(vehicles_count, features)`` float32: highway-env's Kinematics observation, computed without pandas."""
        if not self.env.road or not set(self.features) <= FAST_FEATURES or (self.normalize and not self.features_range):
            return super().observe()  # highway-env's own path (it also fills in a missing features_range)
        ego = self.observer_vehicle
        others = self.env.road.close_objects_to(
            ego,
            self.env.PERCEPTION_DISTANCE,
            count=self.vehicles_count - 1,
            see_behind=self.see_behind,
            sort=self.order == "sorted",
            vehicles_only=not self.include_obstacles,
        )[-self.vehicles_count + 1 :]
        intentions = "cos_d" in self.features or "sin_d" in self.features
        origin = _features_of(ego, intentions=intentions)  # the ego's to_dict() observes its intentions
        rows = [[origin[name] for name in self.features]]
        for vehicle in others:
            values = _features_of(vehicle, intentions=intentions and self.observe_intentions)
            if not self.absolute:
                for name in _RELATIVE:
                    values[name] -= origin[name]
            rows.append([values[name] for name in self.features])
        obs = np.zeros((self.vehicles_count, len(self.features)), dtype=np.float64)
        real = np.asarray(rows, dtype=np.float64)  # (R, F): the ego and the vehicles in sight
        if self.normalize:
            for column, name in enumerate(self.features):
                if name in self.features_range:
                    low, high = self.features_range[name]
                    # utils.lmap(v, [low, high], [-1, 1]), in highway-env's order of operations
                    real[:, column] = -1 + (real[:, column] - low) * (1 - -1) / (high - low)
                    if self.clip:
                        real[:, column] = np.clip(real[:, column], -1, 1)
        obs[: len(real)] = real[: self.vehicles_count]
        if self.order == "shuffled":
            self.env.np_random.shuffle(obs[1:])
        return obs.astype(self.space().dtype)


def install_fast_kinematics(env: Any) -> bool:
    """Give a highway-env env a :class:`FastKinematics` in place of its Kinematics observation type.

    ``AbstractEnv.define_spaces`` (called by every ``reset``) builds a new observation type from the config, so
    call this again after each reset. Other observation types are left alone.

    Args:
        env: a highway-env env (its ``unwrapped`` is an ``AbstractEnv``).

    Returns:
        Whether the fast observation type is now in place.
    """
    base = env.unwrapped
    current = getattr(base, "observation_type", None)
    if isinstance(current, FastKinematics):
        return True
    if type(current) is not KinematicObservation:
        return False
    fast = FastKinematics(base, **base.config["observation"])
    fast.features_range = current.features_range  # highway-env may have derived it on a first observe()
    base.observation_type = fast
    return True
