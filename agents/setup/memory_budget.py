"""Refuse a model whose buffers or parameters cannot fit in memory, before anything is allocated.

``n_steps=1e9`` asks NumPy for terabytes of rollout buffer, ``features_dim=2e9`` asks torch for a terabyte of
weights: both fail deep inside SB3 or torch (or, below the size the kernel refuses at once, get killed by the
out-of-memory killer half-way through filling the memory). Here the bytes are estimated from the settings and the
env's spaces, and a model that needs more than the memory available is refused with the estimate and the setting
to lower.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy

#: Floats a rollout buffer keeps per step besides the observation and action (reward, return, advantage, value,
#: log-probability, episode start); its ``get()`` flattens a copy of everything, hence ``ROLLOUT_COPIES``.
ROLLOUT_SCALARS = 6
ROLLOUT_COPIES = 2
#: Per transition of a replay buffer besides observations and action: reward, done, timeout.
REPLAY_SCALARS = 3
#: Float32 copies per parameter while training: the weights, their gradients and Adam's two moments.
PARAMETER_COPIES = 4


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (psutil, else ``/proc/meminfo``, else sysconf), or None."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(count: float) -> str:
    """``3.3 TiB``, ``512.0 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} PiB"  # pragma: no cover


def space_bytes(space: spaces.Space, dtype: np.dtype | None = None) -> int:
    """Bytes of one observation or action of ``space`` (as ``dtype`` when given, else the space's own)."""
    if isinstance(space, spaces.Dict):
        return sum(space_bytes(sub, dtype) for sub in space.spaces.values())
    size = 1 if isinstance(space, spaces.Discrete) else math.prod(space.shape or (1,))
    itemsize = np.dtype(dtype if dtype is not None else (space.dtype or np.float32)).itemsize
    return int(size) * itemsize


def hyperparam(algo: type[BaseAlgorithm], hyperparams: dict[str, Any], name: str) -> Any:
    """The value of ``name``: the config's, else the algorithm's default."""
    if name in hyperparams:
        return hyperparams[name]
    parameter = inspect.signature(algo.__init__).parameters.get(name)
    return None if parameter is None else parameter.default


def buffer_estimate(
    algo: type[BaseAlgorithm], hyperparams: dict[str, Any], n_envs: int, observation: spaces.Space, action: spaces.Space
) -> tuple[int, str, str] | None:
    """``(bytes, what, fix)`` of the rollout or replay buffer the algorithm allocates, or None when it has none."""
    if issubclass(algo, OnPolicyAlgorithm):
        n_steps = hyperparam(algo, hyperparams, "n_steps")
        if not isinstance(n_steps, int):
            return None
        step = space_bytes(observation, np.float32) + space_bytes(action, np.float32) + 4 * ROLLOUT_SCALARS
        what = f"the rollout buffer (hyperparams.n_steps={n_steps} x n_envs={n_envs} steps of {step} bytes)"
        return ROLLOUT_COPIES * n_steps * n_envs * step, what, "lower hyperparams.n_steps or n_envs"
    size = hyperparam(algo, hyperparams, "buffer_size")
    if not isinstance(size, int):
        return None
    copies = 1 if hyperparam(algo, hyperparams, "optimize_memory_usage") else 2
    step = copies * space_bytes(observation) + space_bytes(action) + 4 * REPLAY_SCALARS
    what = f"the replay buffer (hyperparams.buffer_size={size} transitions of {step} bytes)"
    return size * step, what, "lower hyperparams.buffer_size"


def parameter_count(
    policy_class: type[BasePolicy], observation: spaces.Space, action: spaces.Space, policy_kwargs: dict[str, Any]
) -> int | None:
    """Parameters of the policy, built on torch's ``meta`` device (no memory); else of its features extractor alone.

    None when neither builds there (a module that reads its own weights while being built).
    """
    builders: list[Callable[[], torch.nn.Module]] = [
        lambda: policy_class(observation, action, lambda _: 1e-3, **policy_kwargs)
    ]
    extractor = policy_kwargs.get("features_extractor_class")
    if extractor is not None:  # off-policy policies copy their nets into targets, which meta tensors cannot
        builders.append(lambda: extractor(observation, **policy_kwargs.get("features_extractor_kwargs", {})))
    for build in builders:
        try:
            with torch.device("meta"):
                return sum(p.numel() for p in build().parameters())
        except Exception:
            continue
    return None


def check_fits(
    algo: type[BaseAlgorithm],
    policy: str,
    hyperparams: dict[str, Any],
    policy_kwargs: dict[str, Any],
    n_envs: int,
    observation: spaces.Space,
    action: spaces.Space,
) -> None:
    """Raise ``ValueError`` when the buffer or the parameters alone need more memory than is available."""
    available = available_memory()
    if available is None:
        return
    estimates = []
    buffer = buffer_estimate(algo, hyperparams, n_envs, observation, action)
    if buffer is not None:
        estimates.append(buffer)
    policy_class = algo.policy_aliases.get(policy) if isinstance(policy, str) else None
    count = None if policy_class is None else parameter_count(policy_class, observation, action, policy_kwargs)
    if count is not None:
        what = f"the policy's {count:,} parameters (weights, gradients and Adam's moments)"
        fix = (
            "lower extractor_kwargs.features_dim or embed_dim, policy_kwargs.net_arch (ppo_trxl: "
            "policy_kwargs.memory_length)"
        )
        estimates.append((PARAMETER_COPIES * 4 * count, what, fix))
    for needed, what, fix in estimates:
        if needed > available:
            raise ValueError(
                f"{what[0].upper()}{what[1:]} would need about {format_bytes(needed)}, more than the "
                f"{format_bytes(available)} of memory available: {fix}."
            )
