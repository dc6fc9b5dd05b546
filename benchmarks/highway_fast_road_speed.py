"""Steps/s of a highway-env env through the adapter with its exact fast simulation on and off, interleaved.

Both variants are ``make_adapted(ENV_ID, fast_simulation=...)`` (``envs/adapters/highway_fast_*.py``: the same
episodes, seed by seed, as ``tests/test_envs_highway_fast_road.py`` checks), stepped with uniform random actions in
one process: each round times ``--round-steps`` steps of each variant with the same seeds and actions, the order
alternating (A B, B A, ...); the medians over ``--rounds`` rounds and their ratio are printed with the load average.

Usage::

    python benchmarks/highway_fast_road_speed.py                       # intersection-v0, 6 rounds of 60 steps
    python benchmarks/highway_fast_road_speed.py --env roundabout-v0 --rounds 5 --round-steps 40
"""

from __future__ import annotations

import argparse
import os
import statistics
import warnings
from typing import Any

from intersection_profile import interleaved_env_speed


def make_env(env_id: str, fast_simulation: bool) -> Any:
    """The adapter's env for ``env_id`` with the fast simulation on or off."""
    import highway_env  # noqa: F401  (registers the ids)

    from envs.adapters.registry import make_adapted

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "intersection-v0 is out of date"
        return make_adapted(env_id, fast_simulation=fast_simulation)


def interleaved_speed(env_id: str, rounds: int, steps: int, seed: int) -> dict[str, list[float]]:
    """Steps/s of each variant per round (``off``: highway-env's code, ``on``: the fast simulation)."""
    envs = {"off": make_env(env_id, False), "on": make_env(env_id, True)}
    return interleaved_env_speed(envs, steps, rounds, seed)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time both variants interleaved and print the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="intersection-v0", help="a highway-env id the adapter takes")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds")
    parser.add_argument("--round-steps", type=int, default=60, help="steps per variant per round")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for flag in ("rounds", "round_steps"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    load_before = os.getloadavg()[0]
    speeds = interleaved_speed(args.env, args.rounds, args.round_steps, args.seed)
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    result = {
        "env": args.env,
        "steps_per_s": speeds,
        "medians": medians,
        "ratio_on_to_off": medians["on"] / medians["off"],
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    for name, values in speeds.items():
        print(f"{name}: " + " ".join(f"{v:.2f}" for v in values) + f"  median {medians[name]:.2f} steps/s")
    print(
        f"{args.env}: fast simulation {result['ratio_on_to_off']:.2f}x the steps/s of highway-env's code "
        f"(medians of {args.rounds} interleaved rounds of {args.round_steps} steps; 1-minute load average "
        f"{load_before:.2f} before, {result['load_after']:.2f} after, {os.cpu_count()} CPUs)"
    )
    return result


if __name__ == "__main__":
    main()
