"""Vectorised envs for a run: the env factory, action masks, ``VecNormalize`` and space checks."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from sb3_contrib.common.wrappers import ActionMasker
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor, ResultsWriter
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecEnvWrapper,
    VecMonitor,
    VecNormalize,
    VecTransposeImage,
)
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from agents.setup.algorithms import ALGORITHMS
from agents.setup.config import RunConfig
from agents.setup.env_ids import import_gym_packages
from agents.storage.layout import VECNORMALIZE_FILE, arrays_path, vecnormalize_path
from agents.storage.monitor_files import monitor_start
from agents.storage.vecnormalize_arrays import load_arrays
from envs.adapters.registry import adapter_for, make_adapted


def all_valid_or_env_masks(env: gym.Env) -> np.ndarray:
    """The env's ``action_masks()`` when it has one, else every action valid (``MaskablePPO`` acts as PPO).

    Raises:
        ValueError: for an action space that has no masks (``Box``).
    """
    try:
        method = env.get_wrapper_attr("action_masks")
    except AttributeError:
        method = None
    if method is not None:
        return np.asarray(method(), dtype=bool)
    space = env.action_space
    if isinstance(space, spaces.Discrete):
        return np.ones(int(space.n), dtype=bool)
    if isinstance(space, spaces.MultiDiscrete):
        return np.ones(int(np.sum(space.nvec)), dtype=bool)
    if isinstance(space, spaces.MultiBinary):
        return np.ones(2 * int(np.prod(space.shape)), dtype=bool)
    raise ValueError(f"No action masks for the action space {space}: MaskablePPO needs a discrete one.")


def make_single_env(
    env_id: str,
    env_kwargs: dict[str, Any],
    gym_packages: tuple[str, ...] = (),
    masked: bool = False,
    render_mode: str | None = None,
) -> gym.Env:
    """One env (picklable through ``functools.partial``, so that ``SubprocVecEnv`` workers can build it)."""
    import envs  # noqa: F401  (registers attn/ ids in worker processes)

    import_gym_packages(gym_packages)
    kwargs = dict(env_kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    try:
        env = make_adapted(env_id, **kwargs)  # MiniGrid-*, highway-*...: wrapped by their adapter
    except MemoryError as exc:  # an env that allocates its arrays from its arguments (n_entities=1e9)
        raise ValueError(
            f"Making {env_id} with env_kwargs {env_kwargs} ran out of memory ({exc}): lower the sizes in env_kwargs."
        ) from None
    check_observation_space(env_id, env.observation_space)
    if masked:
        env = ActionMasker(env, all_valid_or_env_masks)
    return env


def episode_info(env_id: str) -> tuple[str, ...]:
    """The ``info`` keys the monitor files record for ``env_id``: its adapter's ``episode_info`` (none without one)."""
    adapter = adapter_for(env_id)
    return adapter.episode_info if adapter is not None else ()


def make_env(
    config: RunConfig,
    n_envs: int,
    seed: int,
    monitor_dir: Path | None = None,
    vec_env: str | None = None,
    render_mode: str | None = None,
    append_monitor: bool = False,
) -> VecEnv:
    """A monitored VecEnv (``dummy``, ``subproc`` or ``envpool``) of ``config.env`` with ``config.env_kwargs``.

    ``MaskablePPO`` envs are wrapped in ``ActionMasker``: the env's own ``action_masks()`` when it has one,
    else all actions valid. ``VecNormalize`` is *not* applied here (see ``wrap_normalize``).
    """
    factory = functools.partial(
        make_single_env,
        config.env,
        dict(config.env_kwargs),
        tuple(config.gym_packages),
        ALGORITHMS.get(config.algo).masked,
        render_mode,
    )
    kind = vec_env or config.vec_env
    if kind == "envpool":  # the C++ port's rewards are finite by construction
        return make_envpool_env(config, n_envs, seed, monitor_dir, render_mode, append_monitor)
    venv = make_vec_env(
        factory,
        n_envs=n_envs,
        seed=seed,
        monitor_dir=None if monitor_dir is None else str(monitor_dir),
        monitor_kwargs={"override_existing": not append_monitor, "info_keywords": episode_info(config.env)},
        vec_env_cls=SubprocVecEnv if kind == "subproc" and n_envs > 1 else DummyVecEnv,
    )
    if append_monitor and monitor_dir is not None:
        # make_vec_env's Monitor is each env's outermost wrapper and writes {index}.monitor.csv
        for index in range(n_envs):
            start = monitor_start(Path(monitor_dir) / f"{index}.{Monitor.EXT}")
            if start is not None:
                venv.set_attr("t_start", start, indices=[index])
    return FiniteRewards(venv, config.env)


#: Observation spaces SB3's vec envs and buffers hold (a ``Dict`` of these, not nested).
SB3_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def check_observation_space(env_id: str, space: spaces.Space) -> None:
    """Raise ``TypeError`` for an observation space SB3 cannot hold (``Tuple``, ``Text``, nested ``Dict``...)."""
    subspaces = space.spaces.values() if isinstance(space, spaces.Dict) else [space]
    if not all(isinstance(sub, SB3_SPACES) for sub in subspaces):
        raise TypeError(
            f"{env_id} has the observation space {space}, which Stable-Baselines3 and the tokenizers do not take: "
            "supported are Box (entity sets Box(N, F), images, flat Box(F,)), Discrete, MultiDiscrete, MultiBinary "
            "and a Dict of those (not nested). Wrap the env to give one (e.g. gymnasium.wrappers.FlattenObservation)."
        )


class FiniteRewards(VecEnvWrapper):
    """Raise ``ValueError`` naming the env and the step when an env returns a NaN or infinite reward.

    Left alone, a non-finite reward reaches the advantages and the loss, and training dies a few updates later
    with torch's "Expected parameter logits ... to satisfy the constraint" about the policy instead of the env.
    One ``np.isfinite`` over the ``n_envs`` rewards per step.
    """

    def __init__(self, venv: VecEnv, env_id: str) -> None:
        super().__init__(venv)
        self.env_id = env_id
        self.steps = 0

    def reset(self) -> VecEnvObs:
        """Reset every env (the step count goes on: it counts the steps of the VecEnv)."""
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        """Step, and check the rewards."""
        observations, rewards, dones, infos = self.venv.step_wait()
        self.steps += 1
        if not np.isfinite(rewards).all():
            env = int(np.flatnonzero(~np.isfinite(rewards))[0])
            raise ValueError(
                f"{self.env_id} returned a non-finite reward ({rewards[env]}) at step {self.steps} (env {env} of the "
                "VecEnv): "
                "an env's rewards must be finite numbers. Fix the env (or clip its reward with a wrapper)."
            )
        return observations, rewards, dones, infos


def make_envpool_env(
    config: RunConfig,
    n_envs: int,
    seed: int,
    monitor_dir: Path | None = None,
    render_mode: str | None = None,
    append_monitor: bool = False,
) -> VecEnv:
    """``--vec-env envpool``: envpool's C++ port of ``config.env`` (``EnvpoolVecEnv``) under a ``VecMonitor``.

    Its episodes go to ``monitor_dir/envpool.monitor.csv`` (one file for every env, read like ``Monitor``'s).
    """
    from agents.setup.envpool_vec_env import EnvpoolVecEnv

    if render_mode is not None:
        raise ValueError(
            f"render_mode='{render_mode}' needs highway-env's Python original: envpool's port does not draw. "
            "Render with train_rl.py eval RUN --render (it runs on the Python original)."
        )
    import_gym_packages(tuple(config.gym_packages))
    monitor = VecMonitor(EnvpoolVecEnv(config.env, n_envs, dict(config.env_kwargs), seed=seed))
    if monitor_dir is not None:
        monitor_dir.mkdir(parents=True, exist_ok=True)
        monitor.results_writer = ResultsWriter(
            str(monitor_dir / ENVPOOL_MONITOR),
            header={"t_start": monitor.t_start, "env_id": config.env},
            override_existing=not append_monitor,
        )
        start = monitor_start(monitor_dir / f"{ENVPOOL_MONITOR}.{Monitor.EXT}") if append_monitor else None
        if start is not None:
            monitor.t_start = start  # the appended episodes' t on the file's clock
    return monitor


#: Stem of the monitor file of an envpool run (``envpool.monitor.csv``).
ENVPOOL_MONITOR = "envpool"


def normalize_kwargs(config: RunConfig) -> dict[str, Any] | None:
    """``VecNormalize`` keyword arguments from ``config.normalize`` (None: no normalisation)."""
    if config.normalize is False or config.normalize is None:
        return None
    kwargs = {} if config.normalize is True else dict(config.normalize)
    kwargs.setdefault("gamma", config.hyperparams.get("gamma", 0.99))
    return kwargs


def wrap_normalize(
    venv: VecEnv, config: RunConfig, stats: Path | None = None, training: bool = True
) -> VecEnv | VecNormalize:
    """Wrap ``venv`` in ``VecNormalize`` as ``config.normalize`` says, with saved ``stats`` when given.

    For evaluation (``training=False``) the statistics are frozen and rewards are left raw. ``stats`` is
    ``vecnormalize.pkl`` (unpickled by ``VecNormalize.load``) or its plain-array twin ``vecnormalize.npz``
    (read as data only: ``agents.storage.vecnormalize_arrays``).
    """
    if stats is not None and stats.is_file():
        wrapped = load_statistics(stats, venv)
    else:
        kwargs = normalize_kwargs(config)
        if kwargs is None:
            return venv
        wrapped = VecNormalize(venv, **kwargs)
    wrapped.training = training
    if not training:
        wrapped.norm_reward = False
    return wrapped


def load_statistics(stats: Path, venv: VecEnv) -> VecNormalize:
    """``VecNormalize`` around ``venv`` from ``vecnormalize.pkl`` (unpickled) or ``vecnormalize.npz`` (data only)."""
    return load_arrays(stats, venv) if stats.suffix == ".npz" else VecNormalize.load(str(stats), venv)


def saved_statistics(model_path: Path, config: RunConfig | None, *, safe: bool = False) -> Path | None:
    """The ``VecNormalize`` statistics to run ``model_path`` with, or None when its run did not normalise.

    ``vecnormalize.pkl`` (unpickled when read), else its plain-array twin ``vecnormalize.npz``; with ``safe`` only
    the ``.npz`` (read as data). A model without a run config (``config`` None) takes what lies beside it.

    Raises:
        ValueError: the run normalised its observations and the statistics are missing: on raw observations the
            policy would act on inputs it never saw, and its returns would be silently wrong.
    """
    pickled = vecnormalize_path(model_path)
    candidates = [arrays_path(pickled)] if safe else [pickled, arrays_path(pickled)]
    found = next((path for path in candidates if path.is_file()), None)
    kwargs = normalize_kwargs(config) if config is not None else {}
    if kwargs is None:
        return None  # the run did not normalise: nothing beside it is read
    if config is None or found is not None:
        return found
    if not kwargs.get("norm_obs", True):
        return None  # rewards only: evaluation leaves rewards raw
    if safe and pickled.is_file():
        raise ValueError(
            f"{model_path} was trained with normalized observations, but {candidates[0].name} (the statistics as "
            f"plain arrays) is missing beside it: the run predates it, and only the pickle {pickled.name} holds "
            "them. Load it without --safe if you trust where it came from."
        )
    raise ValueError(
        f"{model_path} was trained with normalized observations, but its statistics ({candidates[0].name}) are "
        "missing beside it: on raw observations the policy would act on inputs it never saw. Put the file back "
        f"(each checkpoint keeps those of its steps: checkpoints/model_<steps>_{Path(VECNORMALIZE_FILE).stem}"
        f"{candidates[0].suffix})."
    )


def describe_space(space: spaces.Space) -> str:
    """A short name of a space: ``Box(8, 7)``, ``Discrete(5)``, ``Dict(cue: Box(4), ...)``."""
    if isinstance(space, spaces.Box):
        return f"Box({', '.join(map(str, space.shape))})"
    if isinstance(space, spaces.Dict):
        return "Dict(" + ", ".join(f"{k}: {describe_space(v)}" for k, v in space.spaces.items()) + ")"
    return str(space)


def as_sb3_sees_it(space: spaces.Space) -> spaces.Space:
    """The observation space as an SB3 model stores it: channel-last images become channel-first.

    SB3 wraps image envs in ``VecTransposeImage`` for training, so a model trained on ``Box(48, 48, 3)`` holds
    ``Box(3, 48, 48)`` (``predict`` transposes channel-last observations itself).
    """
    if isinstance(space, spaces.Dict):
        return spaces.Dict({key: as_sb3_sees_it(sub) for key, sub in space.spaces.items()})
    if is_image_space(space) and not is_image_space_channels_first(space):
        return VecTransposeImage.transpose_space(space)
    return space


def check_spaces(model_path: Path, model_obs: spaces.Space, model_act: spaces.Space, env: VecEnv, env_id: str) -> None:
    """Raise ``ValueError`` when the model was trained on other observation or action spaces than ``env``'s."""
    for what, trained, given, compared in (
        ("observation", model_obs, env.observation_space, as_sb3_sees_it(env.observation_space)),
        ("action", model_act, env.action_space, env.action_space),
    ):
        same = trained == compared
        if not same and isinstance(trained, spaces.Box) and isinstance(compared, spaces.Box):
            same = trained.shape == compared.shape  # bounds may differ in dtype details; shapes must not
        if not same:
            raise ValueError(
                f"{model_path} was trained on {describe_space(trained)}, this env gives {describe_space(given)} "
                f"({what} space of {env_id}): evaluate on the env and env_kwargs it was trained with."
            )
