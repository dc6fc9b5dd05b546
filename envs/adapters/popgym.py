"""POPGym's memory tasks as flat feature vectors (or windows of them) that every extractor and algorithm reads.

POPGym (Morad et al., 2023) is an optional dependency: ``pip install "attention-rl[popgym]"`` (or ``pip install
popgym``; numpy-only). Its envs are registered by ``import popgym`` under ids ``popgym-<Name>-v0``
(``popgym-RepeatPreviousEasy-v0``, ``popgym-CountRecallEasy-v0``, ``popgym-PositionOnlyCartPoleEasy-v0``,
``popgym-AutoencodeEasy-v0``...), and ``--env popgym-<Name>-v0`` finds them (``agents.setup.env_ids`` imports popgym).

Their observations are ``Discrete``, ``MultiDiscrete``, ``Box`` or ``Tuple`` of those; SB3 takes no ``Tuple``, so
``PopGymFeatures`` turns each observation into one float32 vector: a one-hot per discrete component, the values
of a ``Box`` as they are. Its parts (``part_names``) are those features (``obs0=2``: component 0 has value 2).
With ``window=T`` (an adapter option: ``--set env_kwargs.window=16``) the observation is instead the last ``T``
vectors, ``Box(T, F)``, oldest first, zeros before the episode started: the input of the time-window extractor
(``--extractor time``), whose parts are ``t-{T-1} .. t-0``.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

_INSTALL_HINT = 'pip install "attention-rl[popgym]" (or: pip install popgym)'


def import_popgym() -> Any:
    """``import popgym`` (registers its ids), or ``ImportError`` with the pip command."""
    try:
        import popgym
    except ImportError as error:
        raise ImportError(f"POPGym is needed for popgym-* envs but is not installed: {_INSTALL_HINT}") from error
    return popgym


def _components(space: spaces.Space, prefix: str = "obs") -> list[tuple[str, spaces.Space]]:
    """The leaf spaces of ``space`` with their names (``obs``, ``obs0``, ``obs1``...)."""
    if isinstance(space, spaces.Tuple):
        return [leaf for i, sub in enumerate(space.spaces) for leaf in _components(sub, f"{prefix}{i}")]
    if isinstance(space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Box)):
        return [(prefix, space)]
    raise TypeError(
        f"The POPGym adapter does not know the observation space {space}: it takes Discrete, MultiDiscrete, "
        "MultiBinary, Box and Tuples of them."
    )


def _feature_names(name: str, space: spaces.Space) -> list[str]:
    if isinstance(space, spaces.Discrete):
        return [f"{name}={space.start + v}" for v in range(space.n)]
    if isinstance(space, spaces.MultiDiscrete):
        return [f"{name}{i}={v}" for i, n in enumerate(space.nvec.reshape(-1)) for v in range(int(n))]
    size = int(np.prod(space.shape))
    return [name] if size == 1 else [f"{name}_{i}" for i in range(size)]


class PopGymFeatures(gym.ObservationWrapper[np.ndarray, Any, Any], gym.utils.RecordConstructorArgs):
    """A POPGym env's observation as one float32 feature vector (one-hot discrete parts), or a window of them.

    Args:
        env: a POPGym env (``gymnasium.make("popgym-<Name>-v0")``).
        window: None for the current vector ``Box(F,)``; ``T`` for the last ``T`` vectors ``Box(T, F)``.
    """

    def __init__(self, env: gym.Env, window: int | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, window=window)
        super().__init__(env)
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
            raise ValueError(f"window={window!r} is invalid: use an integer >= 1, or None for no window.")
        self.window = window
        self._leaves = _components(env.observation_space)
        names = [n for name, space in self._leaves for n in _feature_names(name, space)]
        low = np.concatenate([self._bounds(space)[0] for _, space in self._leaves]).astype(np.float32)
        high = np.concatenate([self._bounds(space)[1] for _, space in self._leaves]).astype(np.float32)
        if window is None:
            self.observation_space = spaces.Box(low, high, dtype=np.float32)
            #: One name per part (feature, or step of the window).
            self.part_names = names
        else:
            low, high = np.minimum(low, 0.0), np.maximum(high, 0.0)  # zero rows before the episode started
            self.observation_space = spaces.Box(np.tile(low, (window, 1)), np.tile(high, (window, 1)), dtype=np.float32)
            self.part_names = [f"t-{window - 1 - i}" for i in range(window)]
        #: Names of the features of a vector (the columns of a window).
        self.feature_names = names
        self._rows = np.zeros((window or 1, len(names)), dtype=np.float32)

    @property
    def spec(self) -> gym.envs.registration.EnvSpec | None:
        """The env's spec with ``window`` among its kwargs, so that a copy made from the spec has the window too."""
        spec = super().spec
        if spec is None or self.window is None:
            return spec
        return dataclasses.replace(spec, kwargs={**(spec.kwargs or {}), "window": self.window})

    @staticmethod
    def _bounds(space: spaces.Space) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)):
            size = len(_feature_names("x", space))
            return np.zeros(size), np.ones(size)
        return space.low.reshape(-1), space.high.reshape(-1)

    def _vector(self, observation: Any) -> np.ndarray:
        values = observation if isinstance(self.env.observation_space, spaces.Tuple) else (observation,)
        parts = []
        for (_, space), value in zip(self._leaves, values, strict=True):
            if isinstance(space, spaces.Discrete):
                one_hot = np.zeros(space.n, dtype=np.float32)
                one_hot[int(value) - space.start] = 1.0
                parts.append(one_hot)
            elif isinstance(space, spaces.MultiDiscrete):
                pairs = zip(space.nvec.reshape(-1), np.ravel(value), strict=True)
                parts += [np.eye(int(n), dtype=np.float32)[int(v)] for n, v in pairs]
            else:
                parts.append(np.asarray(value, dtype=np.float32).reshape(-1))
        return np.concatenate(parts)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Reset the env and the window."""
        self._rows[:] = 0.0
        obs, info = super().reset(seed=seed, options=options)
        return obs, copy.deepcopy(info)  # some POPGym envs update one info array in place

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Step the env; a fresh copy of its info each time."""
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, float(reward), terminated, truncated, copy.deepcopy(info)

    def observation(self, observation: Any) -> np.ndarray:
        """The feature vector, or the window ending with it."""
        vector = self._vector(observation)
        if self.window is None:
            return vector
        self._rows = np.concatenate([self._rows[1:], vector[None]])  # (T, F): oldest first
        return self._rows.copy()


def make_popgym_env(env_id: str, window: int | None = None, **kwargs: Any) -> gym.Env:
    """``gymnasium.make("popgym-<Name>-v0", **kwargs)`` wrapped in ``PopGymFeatures(window=window)``."""
    import_popgym()
    return PopGymFeatures(gym.make(env_id, **kwargs), window=window)
