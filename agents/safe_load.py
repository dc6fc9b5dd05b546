"""Safe loading: rebuild a run's model from its ``config.yaml`` and read only its weights; nothing is unpickled.

What the default load trusts: SB3's ``BaseAlgorithm.load`` unpickles parts of a model zip (the spaces, schedules
and policy class stored in its ``data``), ``VecNormalize.load`` unpickles ``vecnormalize.pkl``, and a run's
``gym_packages`` (and a ``module:EnvId`` id) are imported. A crafted file or config runs code through any of them.

Safe loading reads only data:

- ``config.yaml`` with ``yaml.safe_load``, checked as a fresh run's config, and the model rebuilt from it through
  the project's registries (algorithm, extractor, env);
- from the model zip, ``policy.pth`` with ``torch.load(weights_only=True)`` (tensors only) and, from its ``data``
  JSON, the plain number ``num_timesteps`` (the pickled entries are never decoded);
- ``vecnormalize.npz``, the plain-array twin of ``vecnormalize.pkl`` (``numpy.load(allow_pickle=False)``);

and imports no module the run names unless the caller lists it in ``trusted_packages``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.algorithms import ALGORITHMS
from agents.build import build_model
from agents.config import RunConfig
from agents.env_ids import check_env_id
from agents.resolution import check_config, check_device
from agents.vec_envs import make_env, vecnormalize_path, wrap_normalize
from agents.vecnormalize_arrays import arrays_path


def untrusted_modules(config: RunConfig, trusted_packages: Sequence[str] = ()) -> list[str]:
    """The modules ``config`` would import (``gym_packages``, a ``module:`` id prefix) not in ``trusted_packages``."""
    module = config.env.rpartition(":")[0]
    wanted = [*config.gym_packages, *([module] if module else [])]
    return [name for name in wanted if name not in trusted_packages]


def safe_config(config: RunConfig, config_path: Path, trusted_packages: Sequence[str] = ()) -> RunConfig:
    """``config`` checked for safe loading: only trusted modules to import, settings valid as for a fresh run.

    Raises:
        ValueError: the run names a module not trusted (the message names it and the flag that trusts it), or a
            setting a fresh run would refuse.
    """
    untrusted = untrusted_modules(config, trusted_packages)
    if untrusted:
        names = " ".join(untrusted)
        raise ValueError(
            f"{config_path} asks to import {', '.join(untrusted)} (gym_packages or a module:EnvId id); safe loading "
            f"imports no module a run names. If you trust it: --gym-packages {names} (Python: "
            f"trusted_packages=[{', '.join(repr(n) for n in untrusted)}])."
        )
    check_config(config)
    return config


def read_weights(model_path: Path, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], int]:
    """``(policy state_dict, num_timesteps)`` of an SB3 zip, read as tensors and plain JSON only.

    Raises:
        ValueError: the file is not a zip with a readable ``policy.pth`` (the message names the file and entry).
    """
    try:
        with zipfile.ZipFile(model_path) as archive:
            weights = archive.read("policy.pth")
            data = archive.read("data") if "data" in archive.namelist() else b"{}"
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"{model_path} is not a Stable-Baselines3 model zip ({reason}).") from None
    try:
        state = torch.load(io.BytesIO(weights), map_location=device, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{model_path}: policy.pth holds more than tensors or is damaged, and safe loading reads tensors only "
            f"({reason})."
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{model_path}: policy.pth is not a state_dict of tensors.")
    try:
        steps = json.loads(data.decode("utf-8")).get("num_timesteps", 0)
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise ValueError(f"{model_path}: its 'data' entry is not valid JSON (a damaged or half-written zip).") from None
    return state, int(steps) if isinstance(steps, int) and steps >= 0 else 0


def load_safe(
    model_path: Path,
    config: RunConfig,
    config_path: Path,
    device: str = "auto",
    trusted_packages: Sequence[str] = (),
) -> BaseAlgorithm:
    """Rebuild ``config``'s model and fill in the weights of ``model_path`` without unpickling anything.

    When the run normalised observations, the model comes back on one env wrapped in the frozen statistics of
    ``vecnormalize.npz``, as ``agents.load`` does with ``vecnormalize.pkl``.

    Raises:
        ValueError: an untrusted module, a damaged file, weights that do not fit the config's model, or a
            normalised run without ``vecnormalize.npz`` (made before it was written).
    """
    check_device(device)
    config = safe_config(config, config_path, trusted_packages)
    check_env_id(config.env, config.gym_packages)
    hyperparams = dict(config.hyperparams)
    if ALGORITHMS.get(config.algo).off_policy:
        hyperparams["buffer_size"] = 1  # the policy is what is loaded: no replay buffer to allocate
    built = dataclasses.replace(config, device=device, hyperparams=hyperparams, compile=False)
    env = make_env(built, 1, config.seed, vec_env="dummy")
    stats = arrays_path(vecnormalize_path(model_path))
    if config.normalize and not stats.is_file():
        env.close()
        raise ValueError(
            f"{model_path} was trained with normalized observations, but {stats.name} (the statistics as plain "
            f"arrays) is missing beside it: the run predates it, and only the pickle {stats.with_suffix('.pkl').name} "
            "holds them. Load it without --safe if you trust where it came from."
        )
    if config.normalize:
        env = wrap_normalize(env, config, stats, training=False)
    try:
        model = build_model(built, env)
        state, steps = read_weights(model_path, model.device)
        model.policy.load_state_dict(state)
    except RuntimeError as exc:  # load_state_dict: missing / unexpected keys or shapes
        env.close()
        reason = " ".join(str(exc).split())[:300]
        raise ValueError(
            f"{model_path}: its weights do not fit the model {config_path.name} describes ({reason}). Was the "
            "config edited, or the zip taken from another run?"
        ) from None
    except BaseException:
        env.close()
        raise
    model.num_timesteps = steps
    model.policy.set_training_mode(False)
    return model


__all__ = ["load_safe", "read_weights", "safe_config", "untrusted_modules"]
