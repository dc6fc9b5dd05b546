"""Wrappers for the ``attn/`` environments and any other Gymnasium environment with a part axis."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

#: Valid values of ``ShuffleParts(per=...)``.
SHUFFLE_PER: tuple[str, ...] = ("episode", "step")

# Mixed into the reset seed, so the wrapper's permutation stream differs from the env's own stream.
_SHUFFLE_SALT = 0x5F1E


class ShuffleParts(gym.Wrapper[np.ndarray, Any, np.ndarray, Any], gym.utils.RecordConstructorArgs):
    """Permute the parts of an observation, once per episode or at every step: a permutation-robustness test.

    This is the "shuffled sensory inputs" test of Tang & Ha, *The Sensory Neuron as a Transformer* (2021): a
    policy that attends over an unordered set of parts should not care in which order the parts arrive,
    while an MLP over the flattened observation breaks down.

    The parts are the rows (axis 0) of an entity set ``Box(N, F)`` or the features of a flat vector
    ``Box(F,)``. With the permutation ``perm`` the wrapper returns ``obs[perm]``: new part ``j`` is old part
    ``perm[j]``, so old part ``i`` lands at ``inverse[i]`` and ``info["relevant_parts"]`` (when the wrapped
    env provides it) is remapped to ``inverse[relevant_parts]``, still pointing at the same parts.

    The wrapper's observation space is static, so a part may carry any other part's values: its per-part
    bounds are the union (elementwise min of ``low`` / max of ``high``) over all parts. For an entity set
    whose rows share their bounds (the usual case) the space is unchanged.

    The permutations come from the wrapper's own generator, seeded from ``reset(seed=...)`` (with a fixed
    salt, so it does not repeat the env's own random stream): the same seed gives the same permutations,
    and the wrapped env's dynamics are exactly those of the unwrapped env with that seed.

    Args:
        env: an env whose observation space is a 1-D or 2-D ``Box``.
        per: ``"episode"`` draws a new permutation at each ``reset``; ``"step"`` also at each ``step``.
        keep_first: keep part 0 in place (e.g. highway-env's ego row, which an ``ego=True`` extractor expects
            first) and shuffle only the others.

    Raises:
        TypeError: the observation space is not a 1-D or 2-D ``Box`` (``Dict``, images, ``Discrete``...).
        ValueError: ``per`` is not one of ``"episode"`` / ``"step"``.
    """

    def __init__(self, env: gym.Env, per: str = "episode", keep_first: bool = False) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, per=per, keep_first=keep_first)
        gym.Wrapper.__init__(self, env)
        if per not in SHUFFLE_PER:
            raise ValueError(f"per={per!r} is invalid: use one of {list(SHUFFLE_PER)}.")
        space = env.observation_space
        if not (isinstance(space, spaces.Box) and len(space.shape) in (1, 2)):
            raise TypeError(
                f"ShuffleParts cannot shuffle the observation space {space}: it supports a 2-D Box(N, F) entity set "
                "(rows are shuffled) or a 1-D Box(F,) vector (features are shuffled), not Dict, image or discrete "
                "spaces."
            )
        self.per = per
        self.keep_first = bool(keep_first)
        self.n_parts = int(space.shape[0])
        if self.n_parts < 2:
            raise TypeError(f"ShuffleParts needs at least 2 parts to shuffle, got the observation space {space}.")
        movable = slice(1, None) if self.keep_first else slice(None)
        low, high = space.low.copy(), space.high.copy()
        low[movable] = low[movable].min(axis=0, keepdims=True)
        high[movable] = high[movable].max(axis=0, keepdims=True)
        self.observation_space = spaces.Box(low=low, high=high, dtype=space.dtype)

        inner_names = _inner_part_names(env)
        #: Names of the part slots of the shuffled observation (positional: a slot holds a different part each time).
        self.part_names = [f"part_{i}" for i in range(self.n_parts)]
        if self.keep_first and inner_names is not None:
            self.part_names[0] = inner_names[0]
        self._inner_names = inner_names
        self._rng = np.random.default_rng()
        self._perm = np.arange(self.n_parts)
        self._inverse = np.arange(self.n_parts)

    # ------------------------------------------------------------------ properties
    @property
    def permutation(self) -> np.ndarray:
        """The current permutation ``perm`` (``(n_parts,)`` int64): the observation is ``inner_obs[perm]``."""
        return self._perm.copy()

    @property
    def inverse_permutation(self) -> np.ndarray:
        """The inverse of :attr:`permutation`: old part ``i`` is now at index ``inverse[i]``."""
        return self._inverse.copy()

    @property
    def current_part_names(self) -> list[str] | None:
        """The wrapped env's names of the parts in their current (shuffled) slots, or None if it has none."""
        if self._inner_names is None:
            return None
        return [self._inner_names[i] for i in self._perm]

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the env; reseed the shuffling generator when ``seed`` is given; draw a new permutation."""
        if seed is not None:
            self._rng = np.random.default_rng([_SHUFFLE_SALT, seed])
        obs, info = self.env.reset(seed=seed, options=options)
        self._draw()
        return self._shuffle(obs), self._remap(info)

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env; with ``per="step"`` draw a new permutation first."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.per == "step":
            self._draw()
        return self._shuffle(obs), reward, terminated, truncated, self._remap(info)

    # ------------------------------------------------------------------ helpers
    def _draw(self) -> None:
        if self.keep_first:
            self._perm = np.concatenate([[0], 1 + self._rng.permutation(self.n_parts - 1)]).astype(np.int64)
        else:
            self._perm = self._rng.permutation(self.n_parts).astype(np.int64)
        self._inverse = np.empty_like(self._perm)
        self._inverse[self._perm] = np.arange(self.n_parts)

    def _shuffle(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs)[self._perm]

    def _remap(self, info: dict[str, Any]) -> dict[str, Any]:
        if "relevant_parts" not in info:
            return info
        parts = np.asarray(info["relevant_parts"], dtype=np.int64)
        return {**info, "relevant_parts": self._inverse[parts]}


def _inner_part_names(env: gym.Env) -> list[str] | None:
    try:
        names = env.get_wrapper_attr("part_names")
    except AttributeError:
        return None
    return list(names) if names is not None else None
