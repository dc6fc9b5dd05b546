"""Env ids: import the packages that register them, and check an id before anything is built."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Any

import gymnasium as gym

import envs
from policies.registry import did_you_mean

#: Third-party packages that register env ids when imported; tried when an env id is not registered.
KNOWN_ENV_PACKAGES = ("highway_env", "minigrid", "popgym")
#: A dotted module name: ``pkg`` or ``pkg.sub``.
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
#: A string an env may import from: a dotted class path (``pkg.mod.Class``), an entry point (``pkg.mod:Class``) or a
#: ``module:EnvId`` id (``pkg:Grid-v0``).
CLASS_PATH = re.compile(r"(?P<module>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)(\.[A-Za-z_]\w*|:\S+)")


def module_names(value: object, argument: str) -> tuple[str, ...]:
    """``value`` checked as a list or tuple of dotted module names (what decides which modules are imported).

    Raises:
        TypeError: ``value`` is not a list or tuple of strings (a lone string would read as its characters).
        ValueError: an entry is not a module name.
    """
    if not isinstance(value, (list, tuple)) or not all(isinstance(name, str) for name in value):
        raise TypeError(f"{argument}={value!r} must be a list of module names, e.g. {argument}=['my_envs'].")
    for name in value:
        if not MODULE_NAME.fullmatch(name):
            raise ValueError(f"{argument}: {name!r} is not a module name (dotted Python identifiers, e.g. my_envs).")
    return tuple(value)


def covers(trusted: tuple[str, ...] | list[str], module: str) -> bool:
    """Whether ``module`` is one of ``trusted`` or inside one of them (``pkg`` covers ``pkg.sub``)."""
    return any(module == name or module.startswith(f"{name}.") for name in trusted)


def imported_by_kwargs(value: Any, where: str = "env_kwargs") -> Iterator[tuple[str, str]]:
    """``(module, setting)`` for every string in ``value`` (at any depth) that an env could import as a class.

    highway-env, for one, imports ``other_vehicles_type: pkg.mod.Class`` when it resets. Modules of the
    simulators the project knows (``KNOWN_ENV_PACKAGES``) are left out: resolving an env id may import them anyway.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            yield from imported_by_kwargs(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from imported_by_kwargs(item, f"{where}[{index}]")
    elif isinstance(value, str):
        match = CLASS_PATH.fullmatch(value.strip())
        if match and not covers(KNOWN_ENV_PACKAGES, match["module"]):
            yield match["module"], where


def import_gym_packages(packages: list[str] | tuple[str, ...]) -> None:
    """Import each module (it registers its env ids), with a clear error for a missing one."""
    for package in module_names(packages, "gym_packages"):
        try:
            importlib.import_module(package)
        except ImportError as exc:
            file = package.replace(".", "/")
            raise ValueError(
                f"Cannot import gym package '{package}': {exc}. Python finds a module on its path: run from the "
                f"folder that holds {file}.py (or {file}/__init__.py), add that folder to PYTHONPATH "
                f"(PYTHONPATH=/path/to/folder python train_rl.py ...), or pip install your package. On import, the "
                "module must register its env ids (gymnasium.register)."
            ) from None
        except (Exception, SystemExit) as exc:  # the module's own code failed (SyntaxError, RuntimeError, exit())
            reason = " ".join(str(exc).split()) or "no message"
            raise ValueError(
                f"Importing gym package '{package}' failed inside the module: {type(exc).__name__}: {reason}. "
                f"Fix the module (python -c 'import {package}' shows where)."
            ) from None


def check_env_id(env_id: str, gym_packages: list[str] | tuple[str, ...] = ()) -> str | None:
    """Raise ``ValueError`` naming the closest registered id when ``env_id`` is not registered.

    ``gym_packages`` are imported first; ``module:EnvId`` imports ``module``. When the id is still missing,
    the known third-party packages (highway-env, MiniGrid, POPGym) that are installed are imported and tried.

    Returns:
        the package a fresh process must import to find the id (for ``gym_packages``): the top-level package of
        the env's entry point, unless that is Gymnasium, this project's ``envs`` or a ``module:`` prefix; else None.
    """
    if not isinstance(env_id, str):
        raise TypeError(f"env_id={env_id!r} must be a string: a Gymnasium env id such as CartPole-v1.")
    import_gym_packages(gym_packages)
    module, _, name = env_id.rpartition(":")
    if module:
        import_gym_packages([module])
    if name not in gym.registry:
        for package in KNOWN_ENV_PACKAGES:
            try:
                importlib.import_module(package)
            except ImportError:
                continue
            if name in gym.registry:
                break
    if name in gym.registry:
        return None if module else _registering_package(name)
    raise ValueError(
        f"Unknown env id '{env_id}'.{did_you_mean(name, gym.registry.keys())} "
        "Own envs: " + ", ".join(k for k in gym.registry if k.startswith(f"{envs.NAMESPACE}/")) + ". "
        "Envs of your own package: --gym-packages PKG or --env PKG:EnvId."
    )


def _registering_package(env_id: str) -> str | None:
    """The top-level package of a registered env's entry point, when a fresh process would not import it."""
    entry_point = gym.registry[env_id].entry_point
    module = entry_point.split(":")[0] if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    package = (module or "").split(".")[0]
    return None if package in ("", "gymnasium", "envs", "__main__") else package
