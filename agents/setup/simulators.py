"""Which simulator trains a highway-env run and which evaluates it, as the console and the eval record say it.

envpool's C++ port trains where its measured fidelity allows (``--vec-env envpool``); evaluations always run on
highway-env's Python simulator, with the adapter's fast road queries unless ``env_kwargs.fast_simulation`` is off
(step for step the same results either way: ``envs.adapters.highway_fast_road``).
"""

from __future__ import annotations

from envs.adapters.registry import adapter_for


def _python_simulator(env_kwargs: dict | None) -> str:
    """How the highway adapter runs highway-env's Python simulator, as the console names it."""
    if (env_kwargs or {}).get("fast_simulation", True):
        return "highway-env's Python simulator (fast road queries, step for step its own results)"
    return "highway-env's Python simulator (its own code: fast_simulation off)"


def simulator_note(env_id: str, vec_env: str | None, env_kwargs: dict | None = None) -> str:
    """The console line at training start that says which simulator trains and which evaluates.

    For highway-env's envs (the highway adapter's): envpool's C++ port or the Python simulator; "" for others.
    """
    if vec_env == "envpool":
        return f"This run trains on envpool's C++ port of {env_id}; evaluations run on highway-env's Python original."
    if not is_highway_env(env_id):
        return ""
    return f"This run trains and evaluates {env_id} on {_python_simulator(env_kwargs)}."


def evaluation_note(trained_env: str, vec_env: str | None, evaluated_env: str, env_kwargs: dict | None = None) -> str:
    """What trained a highway-env run and what evaluates it, for its evaluation record ("" for other envs)."""
    if vec_env == "envpool":
        return (
            f"trained on envpool's C++ port of {trained_env}; evaluated on highway-env's Python original of "
            f"{evaluated_env}"
        )
    if not is_highway_env(evaluated_env):
        return ""
    return f"trained and evaluated on {_python_simulator(env_kwargs)}"


def is_highway_env(env_id: str) -> bool:
    """True for the env ids the highway adapter wraps (highway-env's own)."""
    adapter = adapter_for(env_id)
    return adapter is not None and adapter.name == "highway"
