"""Which adapter wraps an env id (``MiniGrid-*``: cells, ``highway-*`` etc.: vehicles); ``register_adapter`` adds one.

``make_adapted(env_id, **kwargs)`` is ``gymnasium.make`` plus the adapter its id calls for, so a user can
train on ``--env MiniGrid-DoorKey-5x5-v0`` or ``--env intersection-v2`` by the env's own id. One call,
``register_adapter``, registers an adapter for the ids it matches and, for an id outside Gymnasium's registry, that
id's Gymnasium registration too (``attn/Highway-v0``, or your own env's id)::

    register_adapter("beacons", BeaconParts, env_id="my/Beacons-v0", entry_point=Beacons, max_episode_steps=50,
                     parts="beacon_0..beacon_3: the beacons")
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import register, registry


@dataclass(frozen=True)
class Adapter:
    """One adapter: the ids it takes (a regular expression) and how it wraps an env made from one."""

    name: str
    """Short name shown to users (``minigrid``, ``highway``)."""
    pattern: str
    """Regular expression the whole env id must match."""
    wrap: Callable[..., gym.Env] | None
    """Wraps a ``gymnasium.make`` of a matching id; None: the id's env gives its parts itself."""
    parts: str
    """What the parts are, for ``--dry-run`` and the README."""
    options: tuple[str, ...] = ()
    """Keyword arguments the adapter takes itself (``env_kwargs.window`` for POPGym), not passed to the env."""
    env_id: str | None = None
    """The Gymnasium id this registration added (removed again by ``unregister_adapter``), else None."""
    episode_info: tuple[str, ...] = ()
    """Keys the wrapped env's ``info`` has on every step, whose value on an episode's last step the monitor files
    record as a column (the highway adapter's ``mean_speed``)."""


def _wrap_minigrid(env: gym.Env) -> gym.Env:
    from envs.adapters.minigrid import MiniGridCells

    return MiniGridCells(env)


def _wrap_highway(env: gym.Env, fast_simulation: bool = True) -> gym.Env:
    from envs.adapters.highway import DEFAULT_FEATURES, HighwayEntities

    # Keep a Kinematics observation the env was configured with (rows, features), else the adapter's defaults;
    # an OccupancyGrid stays highway-env's grid.
    observation = dict(env.unwrapped.config.get("observation") or {})
    if observation.get("type") == "OccupancyGrid":
        from envs.adapters.highway_grid import HighwayOccupancyGrid

        return HighwayOccupancyGrid(env, fast_simulation=fast_simulation)
    kinematics = observation.get("type") == "Kinematics"
    features = tuple(observation.get("features") or DEFAULT_FEATURES) if kinematics else DEFAULT_FEATURES
    if features[:1] != ("presence",):
        features = DEFAULT_FEATURES
    rows = int(observation.get("vehicles_count", 15)) if kinematics else 15
    return HighwayEntities(env, vehicles_count=max(rows, 2), features=features, fast_simulation=fast_simulation)


def _wrap_popgym(env: gym.Env, window: int | None = None) -> gym.Env:
    from envs.adapters.popgym import PopGymFeatures

    return PopGymFeatures(env, window=window)


#: Adapters by name, in the order they are tried; an id matching none is made as it is.
ADAPTERS: dict[str, Adapter] = {}


def register_adapter(
    name: str,
    wrap: Callable[..., gym.Env] | None = None,
    *,
    pattern: str | None = None,
    parts: str = "",
    options: tuple[str, ...] = (),
    env_id: str | None = None,
    entry_point: str | Callable[..., gym.Env] | None = None,
    max_episode_steps: int | None = None,
    episode_info: tuple[str, ...] = (),
) -> Adapter:
    """Register an adapter for the env ids ``pattern`` matches and, with ``entry_point``, the Gymnasium id ``env_id``.

    Args:
        name: the adapter's short name (``--dry-run`` shows it); registered once.
        wrap: ``wrap(env, **options) -> env`` around a ``gymnasium.make`` of a matching id (a ``gym.Wrapper`` class
            does); None when the id's env gives its parts itself.
        pattern: a regular expression the whole id must match (a ``module:`` prefix is ignored); default: ``env_id``.
        parts: what the parts are, for ``--dry-run``.
        options: keyword arguments of ``wrap`` (set by ``env_kwargs``), not passed to the env.
        env_id: an env id; with ``entry_point`` it is registered with Gymnasium (once per process).
        entry_point: the env's class or factory, or its ``"module:name"`` (Gymnasium's ``register``).
        max_episode_steps: Gymnasium's time limit of ``env_id``.
        episode_info: keys the wrapped env's ``info`` has on every step; the monitor files record each one's
            value on an episode's last step as a column.

    Returns:
        The ``Adapter``.
    """
    if name in ADAPTERS:
        raise ValueError(f"adapter '{name}' is already registered: pick another name, or unregister_adapter it first.")
    if pattern is None and env_id is None:
        raise ValueError(f"adapter '{name}' needs a pattern of env ids or an env_id.")
    if entry_point is not None and env_id is None:
        raise ValueError(f"adapter '{name}': entry_point={entry_point!r} needs the env_id to register it under.")
    if wrap is not None and not callable(wrap):
        raise TypeError(f"adapter '{name}': wrap={wrap!r} must be a function or a gym.Wrapper class, or None.")
    pattern = re.escape(env_id) if pattern is None else pattern
    re.compile(pattern)  # a broken expression fails here, not at the first lookup
    added = entry_point is not None and env_id not in registry
    if added:
        register(id=env_id, entry_point=entry_point, max_episode_steps=max_episode_steps)
    adapter = Adapter(name, pattern, wrap, parts, tuple(options), env_id if added else None, tuple(episode_info))
    ADAPTERS[name] = adapter
    return adapter


def unregister_adapter(name: str) -> Adapter:
    """Remove the adapter ``name`` and the Gymnasium id its registration added; returns it."""
    if name not in ADAPTERS:
        raise ValueError(f"Unknown adapter '{name}'. Registered adapters: {', '.join(ADAPTERS)}.")
    adapter = ADAPTERS.pop(name)
    if adapter.env_id is not None:
        registry.pop(adapter.env_id, None)
    return adapter


register_adapter(
    "minigrid", _wrap_minigrid, pattern=r"MiniGrid-.+", parts="cell_r{r}c{c}: the cells of the agent's 7x7 view"
)
register_adapter(
    "highway",
    _wrap_highway,
    pattern=r"(?!.*multi-agent)(highway|intersection|roundabout|merge)(-[a-z]+)*-v\d+",
    parts="ego, vehicle_1..vehicle_{V-1}: the ego and the nearest vehicles (an OccupancyGrid observation: no parts)",
    options=("fast_simulation",),
    episode_info=("mean_speed",),
)
register_adapter(
    "popgym",
    _wrap_popgym,
    pattern=r"popgym-.+-v\d+",
    parts="the observation's features (one-hot per discrete component), or t-{T-1}..t-0 with env_kwargs.window=T",
    options=("window",),
)
# Ids of this project for settings a third-party id cannot carry (their entry points give the part env).
register_adapter(
    "attn-highway", env_id="attn/Highway-v0", entry_point="envs.adapters.highway:make_highway_env",
    max_episode_steps=30, parts="ego, vehicle_1..vehicle_{V-1}: the ego and the nearest vehicles",
    episode_info=("mean_speed",),
)  # fmt: skip
register_adapter(
    "attn-minigrid-cells", env_id="attn/MiniGridCells-v0", entry_point="envs.adapters.minigrid:make_minigrid_env",
    max_episode_steps=256, parts="cell_r{r}c{c}: the cells of the agent's 7x7 view",
)  # fmt: skip
register_adapter(
    "attn-minigrid-pixels", env_id="attn/MiniGridPixels-v0",
    entry_point="envs.adapters.minigrid_pixels:make_minigrid_pixels_env", max_episode_steps=256,
    parts="the 7x7 view in pixels (conv cells cell_r{r}c{c} with stem: small)",
)  # fmt: skip


def adapter_for(env_id: str) -> Adapter | None:
    """The adapter that wraps ``env_id`` (its ``module:`` prefix ignored), or None."""
    name = env_id.rpartition(":")[2]
    return next((adapter for adapter in ADAPTERS.values() if re.fullmatch(adapter.pattern, name)), None)


#: Ids whose "out of date" notice was already shown in this process.
_OUTDATED_SHOWN: set[str] = set()


def make_adapted(env_id: str, **kwargs: Any) -> gym.Env:
    """``gymnasium.make(env_id, **kwargs)``, wrapped by the adapter its id calls for (if any).

    Gymnasium's "environment ... is out of date" notice (``intersection-v0``, ``merge-v0``) comes once per
    process, not once per env built (a run builds one per worker, plus the eval and probe envs).
    """
    adapter = adapter_for(env_id)
    own = {key: kwargs.pop(key) for key in (adapter.options if adapter else ()) if key in kwargs}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = gym.make(env_id, **kwargs)
    for warning in caught:
        if "is out of date" not in str(warning.message):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        elif env_id not in _OUTDATED_SHOWN:
            _OUTDATED_SHOWN.add(env_id)
            warnings.warn(str(warning.message), UserWarning, stacklevel=2)
    return env if adapter is None or adapter.wrap is None else adapter.wrap(env, **own)


def describe_adapter(env_id: str) -> str:
    """``"<name>: <parts>"`` for the adapter that wraps ``env_id``, or ``""`` when none does."""
    adapter = adapter_for(env_id)
    return "" if adapter is None else f"{adapter.name} ({adapter.parts})"
