"""Which adapter wraps a third-party env id: ``MiniGrid-*`` -> cells, ``highway-*`` etc. -> vehicles.

``make_adapted(env_id, **kwargs)`` is ``gymnasium.make`` plus the adapter its id calls for, so a user can
train on ``--env MiniGrid-DoorKey-5x5-v0`` or ``--env intersection-v2`` by the env's own id.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym


@dataclass(frozen=True)
class Adapter:
    """One adapter: the ids it takes (a regular expression) and how it wraps an env made from one."""

    name: str
    """Short name shown to users (``minigrid``, ``highway``)."""
    pattern: str
    """Regular expression the whole env id must match."""
    wrap: Callable[[gym.Env], gym.Env]
    """Wraps a ``gymnasium.make`` of a matching id."""
    parts: str
    """What the parts are, for ``--dry-run`` and the README."""
    options: tuple[str, ...] = ()
    """Keyword arguments the adapter takes itself (``env_kwargs.window`` for POPGym), not passed to the env."""


def _wrap_minigrid(env: gym.Env) -> gym.Env:
    from envs.adapters.minigrid import MiniGridCells

    return MiniGridCells(env)


def _wrap_highway(env: gym.Env, fast_simulation: bool = True) -> gym.Env:
    from envs.adapters.highway import DEFAULT_FEATURES, HighwayEntities

    # Keep a Kinematics observation the env was configured with (rows, features), else the adapter's defaults.
    observation = dict(env.unwrapped.config.get("observation") or {})
    kinematics = observation.get("type") == "Kinematics"
    features = tuple(observation.get("features") or DEFAULT_FEATURES) if kinematics else DEFAULT_FEATURES
    if features[:1] != ("presence",):
        features = DEFAULT_FEATURES
    rows = int(observation.get("vehicles_count", 15)) if kinematics else 15
    return HighwayEntities(env, vehicles_count=max(rows, 2), features=features, fast_simulation=fast_simulation)


def _wrap_popgym(env: gym.Env, window: int | None = None) -> gym.Env:
    from envs.adapters.popgym import PopGymFeatures

    return PopGymFeatures(env, window=window)


#: Adapters in the order they are tried; an id matching none is made as it is.
ADAPTERS: tuple[Adapter, ...] = (
    Adapter("minigrid", r"MiniGrid-.+", _wrap_minigrid, "cell_r{r}c{c}: the cells of the agent's 7x7 view"),
    Adapter(
        "highway",
        r"(?!.*multi-agent)(highway|intersection|roundabout|merge)(-[a-z]+)*-v\d+",
        _wrap_highway,
        "ego, vehicle_1..vehicle_{V-1}: the ego and the nearest vehicles",
        options=("fast_simulation",),
    ),
    Adapter(
        "popgym",
        r"popgym-.+-v\d+",
        _wrap_popgym,
        "the observation's features (one-hot per discrete component), or t-{T-1}..t-0 with env_kwargs.window=T",
        options=("window",),
    ),
)


def adapter_for(env_id: str) -> Adapter | None:
    """The adapter that wraps ``env_id`` (its ``module:`` prefix ignored), or None."""
    name = env_id.rpartition(":")[2]
    return next((adapter for adapter in ADAPTERS if re.fullmatch(adapter.pattern, name)), None)


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
    return env if adapter is None else adapter.wrap(env, **own)


def describe_adapter(env_id: str) -> str:
    """``"<name>: <parts>"`` for the adapter that wraps ``env_id``, or ``""`` when none does."""
    adapter = adapter_for(env_id)
    return "" if adapter is None else f"{adapter.name} ({adapter.parts})"
