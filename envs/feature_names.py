"""Names of the observation features of Gymnasium's classic flat-vector envs, from their documentation.

Attention over feature tokens (``tokenizer="features"``) names its parts ``feature:<name>``; with these the focus
table reads ``feature:pole_angle`` instead of ``feature:2``. Looked up by the env id without its version.
"""

from __future__ import annotations

import re

_LUNAR = ["x", "y", "vx", "vy", "angle", "angular_velocity", "left_leg_contact", "right_leg_contact"]
_WALKER = [
    "hull_angle", "hull_angular_velocity", "vel_x", "vel_y",
    "hip1_angle", "hip1_speed", "knee1_angle", "knee1_speed", "leg1_contact",
    "hip2_angle", "hip2_speed", "knee2_angle", "knee2_speed", "leg2_contact",
    *(f"lidar_{i}" for i in range(10)),
]  # fmt: skip

#: env name (the id without ``-vN``) -> one name per feature.
FEATURE_NAMES: dict[str, list[str]] = {
    "CartPole": ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"],
    "Acrobot": ["cos_theta1", "sin_theta1", "cos_theta2", "sin_theta2", "theta1_dot", "theta2_dot"],
    "MountainCar": ["position", "velocity"],
    "MountainCarContinuous": ["position", "velocity"],
    "Pendulum": ["cos_theta", "sin_theta", "angular_velocity"],
    "LunarLander": _LUNAR,
    "LunarLanderContinuous": _LUNAR,
    "BipedalWalker": _WALKER,
    "BipedalWalkerHardcore": _WALKER,
}


def feature_names_for(env_id: str, n_features: int) -> list[str] | None:
    """The feature names of ``env_id`` (any version, ``module:`` prefix ignored) when it has ``n_features``."""
    name = re.sub(r"-v\d+$", "", env_id.rpartition(":")[2])
    names = FEATURE_NAMES.get(name)
    return list(names) if names is not None and len(names) == n_features else None
