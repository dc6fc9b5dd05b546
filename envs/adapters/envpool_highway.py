"""envpool's C++ ports of highway-env, seen exactly as the highway adapter (:class:`HighwayEntities`) sees the original.

Pure functions and data only: which ports may be trained on (``ENVPOOL_PORTS``, with the reason per env), the
envpool config that matches a highway-env config, and the conversion of envpool's raw observation into the
adapter's entity rows with its ``relevant_parts`` and ``is_success``. envpool itself is imported by the caller
(``agents.setup.envpool_vec_env``); nothing here needs it.

What envpool's highway ports give, against the Python original (``envpool.make_spec(id).config``, envpool 1.2.5):

- ``highway-fast-v0`` / ``highway-v0``: ``Box(observation_vehicles_count, 5)``, the columns ``presence, x, y, vx,
  vy`` of highway-env's default Kinematics observation (``absolute=False``, normalised by highway-env's default
  ranges, clipped to [-1, 1], nearest vehicles first, none more than 10 m behind); config keys named as
  highway-env's (``lanes_count``, ``vehicles_count``, ``duration``, ...), with ``reward_speed_range`` split into
  ``reward_speed_low`` / ``reward_speed_high``.
- ``merge-v0`` (rejected for training: its episodes differ from the original's, see ``ENVPOOL_PORTS``):
  ``Box(5, 5)``, the same columns, and a fixed 5 rows: the scenario has 4 other vehicles and an
  obstacle (observed, as in the Python original), and at most 4 of them are in sight at once (within 200 m, not
  more than 10 m behind: 2,400 random-policy steps), so the 5 rows hold all the adapter's 15 would show and
  the rest are padding. envpool truncates it after 200 steps, the Python original never; the ego passes
  x = 370 m, which ends both, within about 16 steps at its slowest target speed (20 m/s).
- ``info``: ``speed``, ``crashed``, ``elapsed_step``; no lane, no sub-rewards.

The adapter's ``cos_h`` / ``sin_h`` columns are not among envpool's: highway-env's velocity is the speed along the
heading, so the heading is the direction of the row's absolute velocity (the ego's row plus the relative one),
turned back by 180 degrees on the roads whose lanes all run along +x when the speed is negative (a braking car
may roll back); a vehicle at rest gets the heading 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.adapters.highway import PRESENCE_COLUMN, physical_kinematics, relevant_rows

#: The columns of envpool's raw highway observation, in order.
RAW_FEATURES: tuple[str, ...] = ("presence", "x", "y", "vx", "vy")
#: Features the conversion can give: envpool's own, and the heading from the velocity.
CONVERTIBLE_FEATURES: tuple[str, ...] = (*RAW_FEATURES, "cos_h", "sin_h")
#: highway-env config keys that only draw or control the viewer: they do not change the simulation.
DISPLAY_KEYS = frozenset({
    "screen_width", "screen_height", "scaling", "centering_position", "show_trajectories", "render_agent",
    "offscreen_rendering", "manual_control", "real_time_rendering",
})  # fmt: skip
#: Kinematics observation settings the adapter sets itself or envpool's ports give as highway-env's defaults.
OBSERVATION_DEFAULTS: dict[str, Any] = {
    "see_behind": False, "order": "sorted", "include_obstacles": True, "observe_intentions": False,
    "features_range": None, "flatten": False,
}  # fmt: skip
_KINEMATIC_NAMES = ("x", "y", "vx", "vy")
_RAW_KINEMATICS = tuple(RAW_FEATURES.index(name) for name in _KINEMATIC_NAMES)


@dataclass(frozen=True)
class EnvpoolPort:
    """One envpool port of a highway-env id: whether training on it is allowed, and why."""

    env_id: str
    """The highway-env id (envpool registers the same one as an alias)."""
    accepted: bool
    """True when its episodes were found to match the Python original's (see ``reason``)."""
    reason: str
    """What was measured: why it is accepted or rejected."""
    lanes_along_x: bool = False
    """Every lane the ego can drive on runs straight along +x (``relevant_parts`` measure along it)."""


#: The ports compared with the Python original so far; any other id envpool has is refused as unchecked.
ENVPOOL_PORTS: dict[str, EnvpoolPort] = {
    port.env_id: port
    for port in (
        EnvpoolPort(
            "highway-fast-v0",
            True,
            "over 1,000 episodes each of random, always-FASTER and always-SLOWER its return, length, crash rate "
            "and spread of starts match the Python original's within their 95% intervals, and 2 of 15 column "
            "means differ, as chance gives (docs/BENCHMARKS.md, envpool's highway ports)",
            lanes_along_x=True,
        ),
        EnvpoolPort(
            "merge-v0",
            False,
            "envpool 1.2.5's starts vary ten times less than the Python original's (mean std of the first "
            "observation 0.002 against 0.022 over 1,000 episodes) and its episodes differ: always-SLOWER returns "
            "12.8 against 13.9, a random policy crashes in 81% of episodes against 89%",
            lanes_along_x=True,
        ),
        EnvpoolPort(
            "intersection-v0",
            False,
            "envpool 1.2.5 starts every episode from the identical state for any seed (the Python original "
            "randomises the traffic): always-FASTER crashes at step 5 in 300 of 300 episodes",
        ),
        EnvpoolPort(
            "intersection-v1",
            False,
            "envpool 1.2.5 starts every episode from the identical state for any seed (the Python original "
            "randomises the traffic)",
        ),
        EnvpoolPort(
            "roundabout-v0",
            False,
            "envpool 1.2.5 starts every episode from the identical state for any seed (the Python original "
            "randomises the traffic)",
        ),
    )
}


def check_port(env_id: str, envpool_ids: Sequence[str]) -> EnvpoolPort:
    """The accepted port of ``env_id``; ``ValueError`` (one line) when envpool lacks it or it is not accepted.

    Args:
        env_id: a highway-env id.
        envpool_ids: the highway-env ids envpool has a port of.
    """
    ports = ", ".join(p.env_id for p in ENVPOOL_PORTS.values() if p.accepted)
    if env_id not in envpool_ids:
        raise ValueError(
            f"envpool has no port of '{env_id}' (its highway-env ports: {', '.join(envpool_ids)}); --vec-env envpool "
            f"trains on {ports}. Use --vec-env dummy or subproc for '{env_id}'."
        )
    port = ENVPOOL_PORTS.get(env_id)
    if port is None:
        raise ValueError(
            f"envpool's port of '{env_id}' has not been compared with highway-env's Python original, so it is not "
            f"trained on; --vec-env envpool trains on {ports}. Use --vec-env dummy or subproc."
        )
    if not port.accepted:
        raise ValueError(
            f"envpool's port of '{env_id}' is rejected: {port.reason}. --vec-env envpool trains on {ports}; "
            f"use --vec-env dummy or subproc for '{env_id}'."
        )
    return port


def pool_config(
    env_id: str, config: Mapping[str, Any], default: Mapping[str, Any], pool_keys: Sequence[str]
) -> dict[str, Any]:
    """The envpool config keys that make its port simulate what highway-env's ``config`` says.

    Every key both share takes the Python env's value (their defaults may differ); a simulation setting the
    user changed from highway-env's ``default`` that envpool does not take raises, naming it.

    Args:
        env_id: the env id (for messages).
        config: the Python env's config, as the run configured it.
        default: the same env's config with no arguments.
        pool_keys: the keys of ``envpool.make_spec(env_id).config``.
    """
    keys = set(pool_keys)
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in ("observation", *DISPLAY_KEYS):
            continue
        translated = _translate(key, value)
        if translated and set(translated) <= keys:
            out.update(translated)
        elif value != default.get(key):
            raise ValueError(
                f"envpool's port of '{env_id}' does not take the highway-env setting {key}={value!r} (it takes "
                f"{', '.join(sorted(k for k in keys if k in config or k.startswith('reward_speed')))}): drop it, or "
                "use --vec-env dummy or subproc."
            )
    return out


def _translate(key: str, value: Any) -> dict[str, Any]:
    """A highway-env config entry as envpool's config entries (same name, unless envpool splits or encodes it)."""
    if key == "reward_speed_range":
        low, high = value
        return {"reward_speed_low": float(low), "reward_speed_high": float(high)}
    if key == "initial_lane_id":
        return {key: -1 if value is None else int(value)}
    return {key: value}


def check_observation(env_id: str, observation: Mapping[str, Any], features: Sequence[str]) -> None:
    """Raise ``ValueError`` for a Kinematics setting envpool's port cannot give (a feature, an order, ranges)."""
    missing = [name for name in features if name not in CONVERTIBLE_FEATURES]
    changed = [
        f"{key}={observation[key]!r}"
        for key, value in OBSERVATION_DEFAULTS.items()
        if key in observation and observation[key] != value
    ]
    if missing or changed:
        what = ", ".join([*(f"feature {name}" for name in missing), *changed])
        raise ValueError(
            f"envpool's port of '{env_id}' cannot give the observation setting(s) {what}: it gives the features "
            f"{', '.join(CONVERTIBLE_FEATURES)}, nearest vehicles first, highway-env's default ranges. Drop them, "
            "or use --vec-env dummy or subproc."
        )


@dataclass(frozen=True)
class EntityLayout:
    """How envpool's raw rows become the adapter's: rows, features, normalisation ranges, relevant parts."""

    features: tuple[str, ...]
    """The adapter's row features, ``presence`` first."""
    vehicles_count: int
    """Rows of the adapter's observation, the ego included."""
    features_range: dict[str, tuple[float, float]]
    """highway-env's normalisation ranges of x, y, vx, vy (as the Python env computed them)."""
    k: int = 1
    """Rows reported in ``relevant_parts``."""
    lanes_along_x: bool = False
    """The ego's lanes all run along +x (see ``EnvpoolPort``)."""

    def convert(self, raw: np.ndarray) -> np.ndarray:
        """``(N, R, 5)`` raw envpool rows -> ``(N, vehicles_count, len(features))`` float32 adapter rows.

        Rows past envpool's ``R`` are padding (zeros); rows past ``vehicles_count`` are dropped (the farthest).
        """
        raw = np.asarray(raw, dtype=np.float32)
        n, rows = raw.shape[0], min(raw.shape[1], self.vehicles_count)
        out = np.zeros((n, self.vehicles_count, len(self.features)), dtype=np.float32)  # (N, V, F)
        for j, name in enumerate(self.features):
            if name in RAW_FEATURES:
                out[:, :rows, j] = raw[:, :rows, RAW_FEATURES.index(name)]
        if "cos_h" in self.features or "sin_h" in self.features:
            cos_h, sin_h = self.headings(raw[:, :rows])  # (N, rows) each
            for name, values in (("cos_h", cos_h), ("sin_h", sin_h)):
                if name in self.features:
                    out[:, :rows, self.features.index(name)] = values
        return out

    def headings(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N, R)`` cosine and sine of each raw row's heading, from its absolute velocity (0 on padding)."""
        velocity = physical_kinematics(raw, _RAW_KINEMATICS, self.features_range)[..., 2:]  # (N, R, 2)
        velocity[:, 1:] += velocity[:, :1]  # the other rows are relative to the ego's (row 0)
        if self.lanes_along_x:
            velocity *= np.where(velocity[..., :1] < 0, -1.0, 1.0)  # heading within +-90 degrees of +x
        speed = np.hypot(velocity[..., 0], velocity[..., 1])  # (N, R)
        moving = speed > 1e-9
        cos_h = np.where(moving, velocity[..., 0] / np.where(moving, speed, 1.0), 1.0)
        sin_h = np.where(moving, velocity[..., 1] / np.where(moving, speed, 1.0), 0.0)
        present = raw[..., PRESENCE_COLUMN] > 0.5
        return np.where(present, cos_h, 0.0).astype(np.float32), np.where(present, sin_h, 0.0).astype(np.float32)

    def relevant_parts(self, obs: np.ndarray) -> list[np.ndarray]:
        """``int64`` rows of the ``k`` most relevant vehicles of each converted observation of ``(N, V, F)``.

        The adapter's rule (``envs.adapters.highway.relevant_rows``, for the whole batch at once), measured along
        the ego lane's direction: envpool gives no lane, so on roads whose lanes all run along +x
        (``lanes_along_x``) that is +x, as the Python lane gives it, and elsewhere the ego's heading.
        """
        columns = [self.features.index(name) for name in _KINEMATIC_NAMES]
        kinematics = physical_kinematics(obs, columns, self.features_range)  # (N, V, 4)
        direction = np.zeros((len(obs), 2))  # (N, 2)
        direction[:, 0] = 1.0
        if not self.lanes_along_x:
            speed = np.hypot(kinematics[:, 0, 2], kinematics[:, 0, 3])  # (N,)
            moving = speed > 1e-9
            direction[moving] = kinematics[moving, 0, 2:] / speed[moving, None]
        return relevant_rows(kinematics, obs[..., PRESENCE_COLUMN] > 0.5, direction, self.k)


def succeeded(terminated: bool, truncated: bool, crashed: bool) -> bool:
    """The adapter's ``is_success`` for envs without a destination: the episode ran out of time without a crash."""
    return bool(truncated and not terminated and not crashed)
