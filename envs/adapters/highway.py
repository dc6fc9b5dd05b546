"""highway-env's Kinematics observation as an entity set, with the most pressing vehicles as relevant parts.

highway-env is an optional dependency: ``pip install "attention-rl[highway]"`` (or ``pip install highway-env``).
It is imported only when a wrapper or an env is built, so importing this module never needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.adapters.highway_info import EpisodeSpeed, highway_success

#: Features the wrapper can observe: each one is bounded in [-1, 1] once normalised and clipped.
SUPPORTED_FEATURES: tuple[str, ...] = ("presence", "x", "y", "vx", "vy", "cos_h", "sin_h", "cos_d", "sin_d")
#: Default row features; ``presence`` must come first (column 0: ``presence_column=0`` for the extractor).
DEFAULT_FEATURES: tuple[str, ...] = ("presence", "x", "y", "vx", "vy", "cos_h", "sin_h")
#: Column of the presence flag in every row.
PRESENCE_COLUMN = 0
# Features the time-to-collision needs.
_KINEMATICS: tuple[str, ...] = ("x", "y", "vx", "vy")
# highway-env's vehicle length [m] (``Vehicle.LENGTH``): centres closer than this along the lane have collided.
_VEHICLE_LENGTH = 5.0
_INSTALL_HINT = 'pip install "attention-rl[highway]" (or: pip install highway-env)'


def _import_highway_env() -> Any:
    try:
        import highway_env
    except ImportError as error:
        raise ImportError(
            f"highway-env is needed for the highway adapter but is not installed: {_INSTALL_HINT}"
        ) from error
    return highway_env


class HighwayEntities(gym.Wrapper[np.ndarray, Any, np.ndarray, Any], gym.utils.RecordConstructorArgs):
    """highway-env's Kinematics observation as an entity set ``Box(V, F)``: ego row first, a presence column.

    ## Description
    Wraps any single-agent highway-env env (``highway-v0``, ``highway-fast-v0``, ``merge-v0``,
    ``roundabout-v0``, ``intersection-v0``, ...) and configures its observation to highway-env's
    ``Kinematics`` type with ``absolute=False``, ``normalize=True``, ``clip=True``, ``vehicles_count=V`` and
    the given ``features`` (other settings of an existing Kinematics config, such as ``see_behind``, ``order``
    or ``features_range``, are kept). Each row is a vehicle (or an obstacle): row 0 is the ego vehicle, the
    other rows the ``V - 1`` nearest vehicles (sorted by distance unless ``order="shuffled"``), zero rows
    when fewer are in sight. Use the extractor with ``presence_column=0`` and ``ego=True``.

    ## Observation space
    ``Box(V, F)``, float32, one row per vehicle; the columns are ``features`` in order (default below):

    | col | name     | range   | meaning                                                                 |
    |-----|----------|---------|-------------------------------------------------------------------------|
    | 0   | presence | {0, 1}  | 1 for a real vehicle, 0 for a padding row (all zeros)                   |
    | 1   | x        | [-1, 1] | x relative to the ego (ego row: absolute), / 200 m (5 x max speed)      |
    | 2   | y        | [-1, 1] | y relative to the ego (ego row: absolute), / (lane width x lanes)       |
    | 3   | vx       | [-1, 1] | x velocity relative to the ego (ego row: absolute), / 80 m/s            |
    | 4   | vy       | [-1, 1] | y velocity, likewise                                                    |
    | 5   | cos_h    | [-1, 1] | cosine of the heading                                                   |
    | 6   | sin_h    | [-1, 1] | sine of the heading                                                     |

    (Scales are highway-env's defaults; a ``features_range`` in the env's observation config replaces them.)

    ## Action space
    The wrapped env's (``Discrete(5)`` meta-actions for the highway envs: 0 lane left, 1 idle, 2 lane right,
    3 faster, 4 slower).

    ## Rewards
    The wrapped env's, unchanged (highway-fast-v0: per step in [0, 1], higher for speed and the right lane,
    lowest on a crash). Measured with ``make_highway_env()`` (highway-fast-v0, ``vehicles_count=15``) over 300 seeded
    episodes: a random policy returns about 8.6 and survives the 30 steps in 6% of the episodes; a scripted
    policy that changes lane (or slows down) when the ``relevant_parts`` vehicle or the next one in its lane
    is close ahead (TTC < 8 s or gap < 25 m) returns about 22.6 and survives in 88%.

    ## Episode end
    The wrapped env's: terminated on a crash, truncated after its ``duration`` (30 steps for highway-fast-v0).
    ``is_success`` needs highway-env's own truncation: register with ``max_episode_steps`` >= ``duration``.

    ## Info
    The wrapped env's info, plus:

    - ``relevant_parts``: ``int64`` rows of the (at most) ``k`` other vehicles with the smallest positive
      time-to-collision (TTC) with the ego, most urgent first. TTC is computed along the direction of the
      ego's lane at the ego's position from the observed relative position and velocity (lateral offsets are
      ignored: the ego may change lanes): with ``s`` the longitudinal offset and ``dv`` the longitudinal
      relative velocity, a vehicle is closing in when ``-sign(s) * dv > 0``, and its TTC is
      ``(|s| - 5 m) / (-sign(s) * dv)`` (bumper to bumper, highway-env's vehicle length 5 m); vehicles already
      overlapping lengthwise (side by side) have no positive TTC. If fewer than ``k`` vehicles are closing in,
      the rest are the nearest vehicles ahead (smallest ``s > 0``); so with ``k=1`` and no vehicle closing in
      it is the nearest vehicle ahead. Empty when no vehicle is closing in and none is ahead.
    - ``is_success``: True on the step that ends the episode without a crash: by arriving, for envs with a
      destination (``intersection-*``: terminated, not crashed, ``has_arrived``; running out of time there is
      no success), else by time (truncated). False on every other step.
    - ``mean_speed``: the ego's mean speed [m/s] over the episode's steps so far (highway-env's ``speed`` after
      each step); on the last step, the episode's (the monitor files record it: Social Attention's speed curve).

    ## Arguments
    - ``env``: a highway-env env (its ``unwrapped`` is a highway-env ``AbstractEnv``), single agent.
    - ``vehicles_count`` (int, default 15): rows ``V`` of the observation, the ego included; >= 2.
    - ``k`` (int, default 1): most relevant vehicles reported; in ``[1, vehicles_count - 1]``.
    - ``features`` (sequence of str, default ``DEFAULT_FEATURES``): row features, ``"presence"`` first and
      ``"x", "y", "vx", "vy"`` included; each one of ``SUPPORTED_FEATURES``.
    - ``fast_observation`` (bool, default True): compute highway-env's Kinematics observation with NumPy
      (:class:`~envs.adapters.highway_kinematics.FastKinematics`: the same numbers, without highway-env's
      pandas DataFrame per step; the observation of ``reset`` is still highway-env's own). False keeps
      highway-env's code for every observation.
    - ``fast_simulation`` (bool, default True): run highway-env's costliest simulation code faster
      (:mod:`~envs.adapters.highway_fast_road`, :mod:`~envs.adapters.highway_fast_traffic`,
      :mod:`~envs.adapters.highway_fast_vehicle`): the closest-lane lookup of every vehicle at every simulation
      frame measures only the lanes that cheap bounds cannot rule out, the search for the vehicles ahead and behind
      skips vehicles clearly off the lane, an intersection's right-of-way rules predict each vehicle's trajectory
      once per check instead of once per pair, the IDM and controlled vehicles' steering and acceleration clip
      their scalars without NumPy's per-call overhead, and the collision check skips pairs of vehicles clearly too
      far apart to touch. Bound to this env's roads only (no highway-env class is changed) and exact: the same
      observations, rewards, terminations and infos, seed by seed, as highway-env's own code. Measured with random
      actions, interleaved in one process: 2.7x the steps/s on ``intersection-v0``, 3.2x on ``roundabout-v0``,
      1.25x on ``highway-fast-v0`` (three lanes, few vehicles near each other). False keeps highway-env's code.

    ## Version history
    - v0: first version.

    Raises:
        ImportError: highway-env is not installed (the message has the pip command).
        TypeError: ``env`` is not a highway-env env.
        ValueError: a bad ``vehicles_count``, ``k`` or ``features``.
    """

    #: How pictures mark a part: ``"ring"`` (a ring around the vehicle in the rendered road).
    part_marker = "ring"

    def __init__(
        self,
        env: gym.Env,
        vehicles_count: int = 15,
        k: int = 1,
        features: Sequence[str] = DEFAULT_FEATURES,
        fast_observation: bool = True,
        fast_simulation: bool = True,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self,
            vehicles_count=vehicles_count,
            k=k,
            features=tuple(features),
            fast_observation=fast_observation,
            fast_simulation=fast_simulation,
        )
        gym.Wrapper.__init__(self, env)
        highway_env = _import_highway_env()
        if not isinstance(env.unwrapped, highway_env.envs.common.abstract.AbstractEnv):
            raise TypeError(f"HighwayEntities needs a highway-env env, got {env.unwrapped!r}.")
        _validate(vehicles_count, k, features)
        self.vehicles_count = int(vehicles_count)
        self.k = int(k)
        self.features = tuple(features)
        self.fast_observation = bool(fast_observation)
        self.fast_simulation = bool(fast_simulation)
        self._columns = [self.features.index(name) for name in _KINEMATICS]

        base = self.env.unwrapped
        current = dict(base.config.get("observation") or {})
        if current.get("type") != "Kinematics":
            current = {}
        current.update(
            type="Kinematics",
            features=list(self.features),
            vehicles_count=self.vehicles_count,
            absolute=False,
            normalize=True,
            clip=True,
        )
        base.configure({"observation": current})
        base.define_spaces()
        self._install_fast_observation()
        self._install_fast_simulation()

        low = -np.ones((self.vehicles_count, len(self.features)), dtype=np.float32)
        low[:, PRESENCE_COLUMN] = 0.0
        high = np.ones((self.vehicles_count, len(self.features)), dtype=np.float32)
        self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)
        #: Names of the parts (rows): the ego, then the other vehicles nearest first.
        self.part_names = ["ego", *(f"vehicle_{i}" for i in range(1, self.vehicles_count))]
        self._last_obs: np.ndarray | None = None
        self._speed = EpisodeSpeed()

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the wrapped env and add ``relevant_parts`` / ``is_success`` to its info."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._install_fast_observation()  # reset rebuilt highway-env's observation type
        self._install_fast_simulation()  # in case this env built its road some other way
        obs = self._last_obs = np.asarray(obs, dtype=np.float32)
        info = {**info, "relevant_parts": self.relevant_parts(obs), "is_success": False}
        return obs, self._speed.reset(info)

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the wrapped env and add ``relevant_parts`` / ``is_success`` to its info."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        obs = self._last_obs = np.asarray(obs, dtype=np.float32)
        info = {
            **info,
            "relevant_parts": self.relevant_parts(obs),
            "is_success": self.succeeded(terminated, truncated, info),
        }
        return obs, reward, terminated, truncated, self._speed.step(info)

    # ------------------------------------------------------------------ helpers
    def _install_fast_observation(self) -> None:
        if self.fast_observation:
            from envs.adapters.highway_kinematics import install_fast_kinematics

            install_fast_kinematics(self.env)

    def _install_fast_simulation(self) -> None:
        if self.fast_simulation:
            from envs.adapters.highway_fast_road import install_fast_road

            install_fast_road(self.env)

    def succeeded(self, terminated: bool, truncated: bool, info: dict[str, Any]) -> bool:
        """Whether a step ends the episode in success (see the class docstring's Info)."""
        return highway_success(self.env, terminated, truncated, info)

    def part_boxes(self) -> np.ndarray | None:
        """``(V, 4)`` pixel boxes ``(x0, y0, x1, y1)`` of the rows' vehicles in the last ``render()`` frame.

        From the latest observation (relative positions, so any row order works); NaN rows for padding.
        None before the first ``render()`` (no viewer, so no pixel scale).
        """
        base = self.env.unwrapped
        viewer = getattr(base, "viewer", None)
        if viewer is None or self._last_obs is None:
            return None
        kin = self.physical_kinematics(self._last_obs)  # (V, 4): row 0 absolute, the others relative to it
        ego = np.asarray(base.vehicle.position, dtype=np.float64)
        world = kin[:, :2] + np.where(np.arange(len(kin))[:, None] == 0, 0.0, ego[None])  # (V, 2)
        surface = viewer.sim_surface
        centers = np.array([surface.pos2pix(float(x), float(y)) for x, y in world], dtype=np.float64)  # (V, 2)
        half = max(2.0, surface.pix(_VEHICLE_LENGTH) / 2)
        boxes = np.concatenate([centers - half, centers + half], axis=1)  # (V, 4)
        boxes[self._last_obs[:, PRESENCE_COLUMN] < 0.5] = np.nan
        return boxes

    def lane_direction(self) -> np.ndarray:
        """``(2,)`` unit vector of the ego lane's direction at the ego's position (the ego's heading if off-lane)."""
        ego = self.env.unwrapped.vehicle
        lane = getattr(ego, "lane", None)
        if lane is not None:
            heading = float(lane.heading_at(lane.local_coordinates(ego.position)[0]))
        else:
            heading = float(ego.heading)
        return np.array([np.cos(heading), np.sin(heading)])

    def physical_kinematics(self, obs: np.ndarray) -> np.ndarray:
        """``(V, 4)`` x, y [m] and vx, vy [m/s] of the rows, undoing highway-env's normalisation."""
        return physical_kinematics(obs, self._columns, self.env.unwrapped.observation_type.features_range)

    def time_to_collision(self, obs: np.ndarray) -> np.ndarray:
        """``(V - 1,)`` TTC [s] of the other rows with the ego (``inf`` when not closing in or padding)."""
        return time_to_collision(self.physical_kinematics(obs), obs[:, PRESENCE_COLUMN] > 0.5, self.lane_direction())

    def relevant_parts(self, obs: np.ndarray) -> np.ndarray:
        """``int64`` rows of the ``k`` most relevant vehicles of an observation (see the class docstring's Info)."""
        kinematics, present = self.physical_kinematics(obs), obs[:, PRESENCE_COLUMN] > 0.5
        return relevant_rows(kinematics[None], present[None], self.lane_direction()[None], self.k)[0]


def physical_kinematics(
    obs: np.ndarray, columns: Sequence[int], features_range: dict[str, Sequence[float]] | None
) -> np.ndarray:
    """``(..., V, 4)`` x, y [m] and vx, vy [m/s] of the rows of ``(..., V, F)`` (``columns``: theirs in ``obs``).

    Undoes the normalisation; ``features_range`` is highway-env's Kinematics ``features_range`` (``{"x": [lo, hi],
    ...}``; a name it lacks is left as it is).
    """
    ranges = features_range or {}
    values = obs[..., list(columns)].astype(np.float64)  # (..., V, 4)
    for j, name in enumerate(_KINEMATICS):
        if name in ranges:
            lo, hi = ranges[name]
            values[..., j] = lo + (values[..., j] + 1.0) * (hi - lo) / 2.0
    return values


def time_to_collision(kinematics: np.ndarray, present: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """``(..., V - 1)`` TTC [s] of the rows after the ego's (``inf`` when not closing in or padding).

    Args:
        kinematics: ``(..., V, 4)`` rows of :func:`physical_kinematics`, row 0 the ego, the others relative to it.
        present: ``(..., V)`` bool, the rows that are real vehicles.
        direction: ``(..., 2)`` unit vector along which the TTC is measured (the ego lane's direction).
    """
    others = kinematics[..., 1:, :]  # (..., V - 1, 4), relative to the ego
    s = np.einsum("...vd,...d->...v", others[..., :2], direction)  # longitudinal offset, > 0 ahead
    closing = -np.sign(s) * np.einsum("...vd,...d->...v", others[..., 2:], direction)  # rate |s| shrinks at
    gap = np.abs(s) - _VEHICLE_LENGTH
    valid = present[..., 1:] & (closing > 0) & (gap > 0)
    return np.where(valid, gap / np.where(valid, closing, 1.0), np.inf)


def relevant_rows(kinematics: np.ndarray, present: np.ndarray, direction: np.ndarray, k: int) -> list[np.ndarray]:
    """Per observation of a batch, the ``int64`` rows of its ``k`` most relevant vehicles (see the Info above).

    Args: as :func:`time_to_collision` with one batch axis first (``(N, V, 4)``, ``(N, V)``, ``(N, 2)``), and
    ``k`` the number of rows wanted (fewer when fewer qualify).
    """
    ttc = time_to_collision(kinematics, present, direction)  # (N, V - 1)
    s = np.einsum("nvd,nd->nv", kinematics[:, 1:, :2], direction)  # (N, V - 1) longitudinal offset
    closing = np.isfinite(ttc)
    ahead = present[:, 1:] & (s > 0) & ~closing
    group = np.where(closing, 0, np.where(ahead, 1, 2))  # closing in (by TTC), then ahead (by offset), then none
    key = np.where(closing, ttc, np.where(ahead, s, 0.0))
    index = np.broadcast_to(np.arange(s.shape[1]), s.shape)
    order = np.lexsort((index, key, group), axis=-1)[:, :k]  # (N, k); ties by row, as a stable sort
    chosen = np.take_along_axis(group, order, axis=-1) < 2
    return [(order[i][chosen[i]] + 1).astype(np.int64) for i in range(len(order))]  # + 1: row 0 is the ego


def _validate(vehicles_count: int, k: int, features: Sequence[str]) -> None:
    if not isinstance(vehicles_count, (int, np.integer)) or isinstance(vehicles_count, bool) or vehicles_count < 2:
        raise ValueError(
            f"vehicles_count={vehicles_count!r} is invalid: it must be an integer >= 2 (the ego and at least one "
            "other vehicle)."
        )
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= vehicles_count - 1:
        raise ValueError(
            f"k={k!r} is invalid: it must be an integer in [1, vehicles_count - 1] = [1, {vehicles_count - 1}]."
        )
    features = list(features) if not isinstance(features, str) else [features]
    unknown = [name for name in features if name not in SUPPORTED_FEATURES]
    missing = [name for name in _KINEMATICS if name not in features]
    if unknown or missing or not features or features[0] != "presence" or len(set(features)) != len(features):
        raise ValueError(
            f"features={features!r} is invalid: it must list distinct names from {list(SUPPORTED_FEATURES)}, "
            f"'presence' first and {list(_KINEMATICS)} included."
        )


def make_highway_env(
    env_id: str = "highway-fast-v0",
    vehicles_count: int = 15,
    k: int = 1,
    features: Sequence[str] = DEFAULT_FEATURES,
    render_mode: str | None = None,
    fast_simulation: bool = True,
    **config: Any,
) -> gym.Env:
    """Make a highway-env env whose observation is an entity set with relevant parts (a :class:`HighwayEntities`).

    Also the entry point of ``attn/Highway-v0``: ``gymnasium.make("attn/Highway-v0", vehicles_count=8,
    lanes_count=4)`` passes its keyword arguments here.

    Args:
        env_id: a highway-env id (``highway-fast-v0``, ``highway-v0``, ``merge-v0``, ``roundabout-v0``, ...).
        vehicles_count: rows of the observation, the ego included; >= 2.
        k: most relevant vehicles reported in ``info["relevant_parts"]``; in ``[1, vehicles_count - 1]``.
        features: row features, ``"presence"`` first (see :class:`HighwayEntities`).
        render_mode: ``"rgb_array"``, ``"human"`` or None.
        fast_simulation: run highway-env's costliest simulation code faster, with identical results (see
            :class:`HighwayEntities`); False keeps highway-env's code.
        **config: highway-env config entries, e.g. ``lanes_count=4``, ``vehicles_density=1.5``, ``duration=40``
            (the ``observation`` entry is merged with the Kinematics settings the wrapper needs). A ``config``
            dict is merged in too: pass highway-env's own ``vehicles_count`` (cars on the road, not rows of
            the observation) as ``config={"vehicles_count": 10}``.

    Returns:
        The wrapped env.

    Raises:
        ImportError: highway-env is not installed (the message has the pip command).
        ValueError: a bad ``vehicles_count``, ``k`` or ``features``.
    """
    _import_highway_env()
    _validate(vehicles_count, k, features)
    config = {**(config.pop("config", None) or {}), **config}
    observation = {
        **(config.pop("observation", None) or {}),
        "type": "Kinematics",
        "features": list(features),
        "vehicles_count": int(vehicles_count),
        "absolute": False,
        "normalize": True,
        "clip": True,
    }
    env = gym.make(env_id, config={**config, "observation": observation}, render_mode=render_mode)
    return HighwayEntities(env, vehicles_count=vehicles_count, k=k, features=features, fast_simulation=fast_simulation)
