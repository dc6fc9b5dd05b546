"""``--vec-env envpool``: an SB3 ``VecEnv`` over envpool's C++ ports of highway-env, with SB3's semantics exactly.

envpool (``pip install "attention-rl[envpool]"``) is imported only when such a VecEnv is built. Which ports are
trained on, and why, is ``envs.adapters.envpool_highway.ENVPOOL_PORTS``; evaluations always run on
highway-env's Python original (``agents.evaluate`` builds its own one-process env).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from agents.setup.algorithms import ALGORITHMS
from agents.setup.env_ids import check_env_id
from envs.adapters.envpool_highway import (
    EntityLayout,
    check_observation,
    check_port,
    pool_config,
    succeeded,
)
from envs.adapters.registry import make_adapted

_KINEMATICS = ("x", "y", "vx", "vy")
_INSTALL_HINT = 'pip install "attention-rl[envpool]" (or: pip install "envpool>=1.2.5")'
#: Attributes ``get_attr`` answers (the same for every env: they come from the Python original's adapter).
STATIC_ATTRIBUTES = ("spec", "part_names", "part_marker", "metadata", "render_mode", "observation_space",
                     "action_space", "vehicles_count", "features", "k")  # fmt: skip


def import_envpool() -> Any:
    """The ``envpool`` module; ``ImportError`` with the pip command when it is not installed."""
    try:
        import envpool
    except ImportError as error:
        raise ImportError(f"--vec-env envpool needs envpool, which is not installed: {_INSTALL_HINT}") from error
    return envpool


def highway_ports(envpool: Any) -> list[str]:
    """The highway-env ids envpool registers a C++ port of (its lower-case aliases of ``envpool.highway`` tasks)."""
    specs = envpool.registration.registry.specs
    return [i for i, spec in specs.items() if spec[0] == "envpool.highway" and i[:1].islower()]


def check_envpool_config(env_id: str, algo: str) -> None:
    """Raise one clear error when ``--vec-env envpool`` cannot train ``algo`` on ``env_id``.

    Raises:
        ImportError: envpool is not installed (with the pip command).
        ValueError: envpool has no port of ``env_id``, its port is rejected or unchecked (see ``ENVPOOL_PORTS``),
            or ``algo`` needs what envpool's C++ envs cannot give (action masks from the env).
    """
    envpool = import_envpool()
    check_port(env_id.rpartition(":")[2], highway_ports(envpool))
    if ALGORITHMS.get(algo).masked:
        raise ValueError(
            f"algo='{algo}' reads action masks from each env (env_method), which envpool's C++ envs do not have: "
            "use --vec-env dummy or subproc, or ppo (every highway action is valid)."
        )


class EnvpoolVecEnv(VecEnv):
    """An SB3 ``VecEnv`` of ``num_envs`` copies of envpool's C++ port of a highway-env env.

    Observations, ``info["relevant_parts"]`` and ``info["is_success"]`` are those of the highway adapter
    (``envs.adapters.highway.HighwayEntities``) on the Python original built with the same ``env_kwargs``: the
    same space, rows, columns, normalisation and part names (see ``envs.adapters.envpool_highway``).

    SB3's semantics, as ``DummyVecEnv`` gives them:

    - an env whose episode ends is reset in the same ``step_wait``: the returned observation is the new
      episode's first, the last one is ``infos[i]["terminal_observation"]``, and
      ``infos[i]["TimeLimit.truncated"]`` is True when time ran out and the episode was not terminated.
      (envpool itself resets a finished env on the *next* step, ignoring that step's action; this class resets
      it at once instead, so no step is lost and no action ignored.)
    - ``dones`` is bool, rewards float32; ``infos[i]`` has envpool's ``speed`` and ``crashed`` (not the Python
      env's ``action`` and ``rewards`` breakdown, which envpool does not give).
    - ``seed(s)`` then ``reset()`` seeds env ``i`` with ``s + i`` (envpool fixes seeds when a pool is made, so the
      pool is rebuilt); ``reset()`` without a new seed starts new episodes that continue each env's stream.
    - ``get_attr`` answers ``STATIC_ATTRIBUTES`` (``spec`` is the Python original's, so probes and pictures use
      it); other attributes, ``set_attr`` and ``env_method`` raise ``AttributeError``: the envs are C++ objects.

    Raises:
        ImportError: envpool is not installed (the message has the pip command).
        ValueError: envpool has no port of ``env_id``, the port is not accepted, or ``env_kwargs`` ask for
            something it cannot simulate.
    """

    def __init__(
        self, env_id: str, num_envs: int, env_kwargs: dict[str, Any] | None = None, seed: int | None = None
    ) -> None:
        envpool = import_envpool()
        port = check_port(env_id, highway_ports(envpool))
        check_env_id(env_id)  # imports highway-env, which registers the id (ImportError with its pip command)
        reference = make_adapted(env_id, **dict(env_kwargs or {}))  # the Python original: the layout to match
        try:
            reference.reset(seed=0)  # highway-env sets its normalisation ranges at the first observation
            base = reference.unwrapped
            observation = dict(base.config["observation"])
            if observation.get("type", "Kinematics") != "Kinematics":
                raise ValueError(
                    f"envpool's port of '{env_id}' gives Kinematics rows only, not the observation type "
                    f"{observation.get('type')!r} of env_kwargs: use --vec-env dummy or subproc."
                )
            check_observation(env_id, observation, reference.features)
            spec_config = envpool.make_spec(env_id).config._asdict()
            self._pool_kwargs = pool_config(env_id, base.config, type(base).default_config(), list(spec_config))
            if "duration" in self._pool_kwargs and "max_episode_steps" in spec_config:
                steps = self._pool_kwargs["duration"] * base.config["policy_frequency"]
                self._pool_kwargs["max_episode_steps"] = int(np.ceil(steps))
            if "observation_vehicles_count" in spec_config:
                self._pool_kwargs["observation_vehicles_count"] = reference.vehicles_count
            ranges = base.observation_type.features_range
            self.layout = EntityLayout(
                features=tuple(reference.features),
                vehicles_count=reference.vehicles_count,
                features_range={name: (float(ranges[name][0]), float(ranges[name][1])) for name in _KINEMATICS},
                k=reference.k,
                lanes_along_x=port.lanes_along_x,
            )
            self._attributes = {name: getattr(reference, name, None) for name in STATIC_ATTRIBUTES}
        finally:
            reference.close()
        super().__init__(num_envs, reference.observation_space, reference.action_space)
        self.env_id = env_id
        self.metadata = self._attributes["metadata"] or {}
        self._envpool = envpool
        self._pool: Any = None
        self._pool_seeds = list(self.seed(seed))  # the pool made at the first reset uses these
        self._reset_seeds()
        self._actions: np.ndarray | None = None

    # ------------------------------------------------------------------ the pool
    def _make_pool(self, seeds: Sequence[int]) -> None:
        if self._pool is not None:
            self._pool.close()
        self._pool = self._envpool.make_gymnasium(
            self.env_id,
            num_envs=self.num_envs,
            batch_size=self.num_envs,
            env_seed=[int(s) % 2**31 for s in seeds],
            **self._pool_kwargs,
        )

    def _infos(self, info: dict[str, Any], obs: np.ndarray, order: np.ndarray) -> list[dict[str, Any]]:
        """Per-env info dicts (envpool's ``speed`` and ``crashed``, the adapter's ``relevant_parts``)."""
        speed, crashed = info["speed"][order], info["crashed"][order]
        relevant = self.layout.relevant_parts(obs)
        return [
            {"speed": float(speed[i]), "crashed": bool(crashed[i]), "relevant_parts": relevant[i]}
            for i in range(len(order))
        ]

    # ------------------------------------------------------------------ VecEnv API
    def reset(self) -> VecEnvObs:
        """New episodes in every env (seeded by the last ``seed()``, if any); the adapter's observations."""
        if any(self._options):
            raise ValueError(f"envpool's port of {self.env_id} takes no reset options, got {self._options}.")
        if all(s is not None for s in self._seeds):  # seed() was called: envpool takes seeds only when made
            self._pool_seeds = list(self._seeds)
            self._make_pool(self._pool_seeds)
        elif self._pool is None:
            self._make_pool(self._pool_seeds)
        raw, info = self._pool.reset()
        order = np.argsort(info["env_id"])
        obs = self.layout.convert(raw[order])
        self.reset_infos = [{**i, "is_success": False} for i in self._infos(info, obs, order)]
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions of the next ``step_wait``."""
        self._actions = np.asarray(actions).reshape(self.num_envs, *self.action_space.shape)

    def step_wait(self) -> VecEnvStepReturn:
        """Step every env; finished ones are reset at once (see the class docstring)."""
        if self._pool is None or self._actions is None:
            raise RuntimeError("Call reset() before step(): the envpool envs have not started an episode.")
        raw, reward, terminated, truncated, info = self._pool.step(self._actions.astype(np.int32))
        order = np.argsort(info["env_id"])
        terminated, truncated = np.asarray(terminated)[order], np.asarray(truncated)[order]
        obs = self.layout.convert(raw[order])  # a copy: envpool reuses its buffers on the next call
        rewards = np.asarray(reward, dtype=np.float32)[order]
        infos = self._infos(info, obs, order)
        dones = terminated | truncated
        for i, entry in enumerate(infos):
            entry["is_success"] = succeeded(terminated[i], truncated[i], entry["crashed"])
            entry["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        finished = np.flatnonzero(dones)
        if finished.size:
            for i in finished:
                infos[i]["terminal_observation"] = obs[i].copy()
            raw_new, info_new = self._pool.reset(finished.astype(np.int32))
            new_order = np.argsort(info_new["env_id"])
            ids = np.asarray(info_new["env_id"])[new_order]
            obs[ids] = self.layout.convert(raw_new[new_order])
            for i, entry in zip(ids, self._infos(info_new, obs[ids], new_order), strict=True):
                self.reset_infos[i] = {**entry, "is_success": False}
        self._actions = None
        return obs, rewards, dones.astype(bool), infos

    def close(self) -> None:
        """Release envpool's threads."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """``STATIC_ATTRIBUTES`` of each env (the Python original's); ``AttributeError`` for any other."""
        if attr_name not in self._attributes:
            raise AttributeError(
                f"EnvpoolVecEnv cannot read '{attr_name}' from envpool's C++ envs; it answers "
                f"{', '.join(STATIC_ATTRIBUTES)}."
            )
        return [self._attributes[attr_name] for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Always ``AttributeError``: envpool's envs are C++ objects with no Python attributes to set."""
        raise AttributeError(
            f"EnvpoolVecEnv cannot set '{attr_name}' inside envpool's C++ envs: pass settings as env_kwargs instead."
        )

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        """Always ``AttributeError``: envpool's envs have no Python methods to call."""
        raise AttributeError(
            f"EnvpoolVecEnv cannot call '{method_name}' on envpool's C++ envs: use --vec-env dummy for env methods."
        )

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """False for every env: envpool's envs carry no Gymnasium wrappers."""
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """No frames: draw on highway-env's Python original (``train_rl.py eval RUN --video``)."""
        return [None for _ in range(self.num_envs)]
