"""Names of the features of Gymnasium's flat-vector envs, so that focus reads ``pole_angle``, not ``feature:2``.

``part_names_of(env_id, n)`` gives ``feature:<name>`` per feature for the envs listed here (matched by name,
any version), None for others; the tokenizer's own names (the feature index) are used then.
"""

from __future__ import annotations

import re

_LUNAR_LANDER = ("x", "y", "vx", "vy", "angle", "angular_velocity", "left_leg_contact", "right_leg_contact")
_BIPEDAL_WALKER = (
    "hull_angle", "hull_angular_velocity", "vel_x", "vel_y",
    "hip1_angle", "hip1_speed", "knee1_angle", "knee1_speed", "leg1_contact",
    "hip2_angle", "hip2_speed", "knee2_angle", "knee2_speed", "leg2_contact",
    *(f"lidar_{i}" for i in range(10)),
)  # fmt: skip

#: Env name (id without ``-v<N>``) -> one name per observation feature, as in Gymnasium's docstrings.
FEATURE_NAMES: dict[str, tuple[str, ...]] = {
    "CartPole": ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"),
    "Acrobot": ("cos_theta1", "sin_theta1", "cos_theta2", "sin_theta2", "theta1_velocity", "theta2_velocity"),
    "MountainCar": ("position", "velocity"),
    "MountainCarContinuous": ("position", "velocity"),
    "Pendulum": ("cos_theta", "sin_theta", "angular_velocity"),
    "LunarLander": _LUNAR_LANDER,
    "LunarLanderContinuous": _LUNAR_LANDER,
    "BipedalWalker": _BIPEDAL_WALKER,
    "BipedalWalkerHardcore": _BIPEDAL_WALKER,
}


def part_names_of(env_id: str, n_features: int) -> list[str] | None:
    """``feature:<name>`` for each of the ``n_features`` features of ``env_id``, or None when not listed.

    None too when the listed names do not fit ``n_features`` (an env configured to observe something else).
    """
    name = re.sub(r"-v\d+$", "", env_id.rpartition(":")[2].rpartition("/")[2])
    names = FEATURE_NAMES.get(name)
    if names is None or len(names) != n_features:
        return None
    return [f"feature:{feature}" for feature in names]
