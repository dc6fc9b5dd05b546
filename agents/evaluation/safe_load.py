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

and imports no module the run names unless the caller lists it in ``trusted_packages``: not its ``gym_packages``, not
a ``module:EnvId`` prefix, and not a class path an env would import from its settings (highway-env's
``other_vehicles_type: pkg.Class``, at any depth of ``env_kwargs``). While it loads and evaluates, neither the current
folder nor the run folder is on ``sys.path``, so a module shipped beside the run never shadows an installed one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import os
import pickle
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.setup.algorithms import ALGORITHMS
from agents.setup.build import build_model
from agents.setup.config import RunConfig
from agents.setup.env_ids import check_env_id, covers, imported_by_kwargs, module_names
from agents.setup.resolution import check_config, check_device
from agents.setup.vec_envs import make_env, saved_statistics, wrap_normalize


def modules_named(config: RunConfig) -> list[tuple[str, str]]:
    """``(module, where the run names it)`` for every module loading ``config`` could import on the run's say."""
    named = [(name, "gym_packages") for name in module_names(config.gym_packages, "gym_packages")]
    module = config.env.rpartition(":")[0]
    if module:
        named.append((module, "env"))
    return [*named, *imported_by_kwargs(config.env_kwargs)]


def untrusted_modules(config: RunConfig, trusted_packages: Sequence[str] = ()) -> list[str]:
    """The modules ``config`` names (see ``modules_named``) that ``trusted_packages`` does not cover."""
    trusted = module_names(trusted_packages, "trusted_packages")
    return list(dict.fromkeys(name for name, _ in modules_named(config) if not covers(trusted, name)))


def safe_config(config: RunConfig, config_path: Path, trusted_packages: Sequence[str] = ()) -> RunConfig:
    """``config`` checked for safe loading: only trusted modules to import, settings valid as for a fresh run.

    Raises:
        TypeError: ``trusted_packages`` is not a list of module names.
        ValueError: the run names a module not trusted (the message names it, where, and the flag that trusts it),
            or a setting a fresh run would refuse.
    """
    untrusted = untrusted_modules(config, trusted_packages)
    if untrusted:
        where = ", ".join(f"{name} ({setting})" for name, setting in modules_named(config) if name in untrusted)
        packages = list(dict.fromkeys(name.split(".")[0] for name in untrusted))
        raise ValueError(
            f"{config_path} asks to import {where}; safe loading imports no module a run names. If you trust it: "
            f"--gym-packages {' '.join(packages)} (Python: trusted_packages={packages!r})."
        )
    check_config(config)
    return config


@contextlib.contextmanager
def local_imports_blocked(*folders: str | Path) -> Iterator[None]:
    """Take the current folder, ``folders`` and anything inside them off ``sys.path`` for the block's duration.

    A module shipped in a downloaded run folder (``statistics.py``, ``highway_env.py``) would otherwise shadow the
    installed one for every import the load makes when Python started there (``python -c``, ``python -m``, a
    notebook). Packages already imported keep working: their submodules are found through the package's own path.
    """
    cwd = Path.cwd().resolve()
    roots = [Path(folder).resolve() for folder in folders]
    removed = []
    for index, entry in enumerate(list(sys.path)):
        if not isinstance(entry, str):
            continue
        resolved = Path(entry or os.curdir).resolve()
        if resolved == cwd or any(resolved == root or root in resolved.parents for root in roots):
            removed.append((index, entry))
    for index, _ in reversed(removed):
        del sys.path[index]
    try:
        yield
    finally:
        for index, entry in removed:
            sys.path.insert(index, entry)


_Loader = TypeVar("_Loader", bound=Callable[..., Any])


def guarded_when_safe(function: _Loader) -> _Loader:
    """Run ``function(path, ..., safe=True)`` with the current folder and ``path``'s folders off ``sys.path``.

    ``safe`` (keyword-only in every loader) must be a bool and ``trusted_packages`` a list of module names, safe or
    not: they decide what is trusted.
    """

    @functools.wraps(function)
    def wrapper(path: str | Path, *args: Any, **kwargs: Any) -> Any:
        safe = kwargs.get("safe", False)
        if not isinstance(safe, bool):
            raise TypeError(f"safe={safe!r} must be True or False.")
        module_names(kwargs.get("trusted_packages", ()), "trusted_packages")
        if not safe:
            return function(path, *args, **kwargs)
        folder = Path(path) if Path(path).is_dir() else Path(path).parent
        with local_imports_blocked(folder, folder.parent if folder.name == "checkpoints" else folder):
            return function(path, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


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
            normalised run without ``vecnormalize.npz`` (gone, or made before it was written).
    """
    check_device(device)
    config = safe_config(config, config_path, trusted_packages)
    check_env_id(config.env, config.gym_packages)
    hyperparams = dict(config.hyperparams)
    if ALGORITHMS.get(config.algo).off_policy:
        hyperparams["buffer_size"] = 1  # the policy is what is loaded: no replay buffer to allocate
    built = dataclasses.replace(config, device=device, hyperparams=hyperparams, compile=False)
    env = make_env(built, 1, config.seed, vec_env="dummy")
    try:
        stats = saved_statistics(model_path, config, safe=True)
    except ValueError:
        env.close()
        raise
    if stats is not None:
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


__all__ = [
    "guarded_when_safe", "load_safe", "local_imports_blocked", "modules_named", "read_weights", "safe_config",
    "untrusted_modules",
]  # fmt: skip
