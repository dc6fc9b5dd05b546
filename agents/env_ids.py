"""Env ids: import the packages that register them, and check an id before anything is built."""

from __future__ import annotations

import importlib

import gymnasium as gym

import envs
from policies.registry import did_you_mean

#: Third-party packages that register env ids when imported; tried when an env id is not registered.
KNOWN_ENV_PACKAGES = ("highway_env", "minigrid", "popgym")


def import_gym_packages(packages: list[str] | tuple[str, ...]) -> None:
    """Import each module (it registers its env ids), with a clear error for a missing one."""
    for package in packages:
        try:
            importlib.import_module(package)
        except ImportError as exc:
            raise ValueError(f"Cannot import gym package '{package}': {exc}. Is it installed?") from None
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
