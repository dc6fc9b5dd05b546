"""Where a step of ``intersection-v0`` goes, as the project runs it, and the speed-up of the NumPy observation.

The env is ``make_adapted("intersection-v0")`` (highway-env's default intersection config: simulation 15 Hz,
policy 1 Hz, 15 vehicles x 7 features, wrapped by ``HighwayEntities``), stepped with uniform random actions.
Two variants: ``pandas`` (``fast_observation=False``: highway-env's own Kinematics observation) and ``numpy``
(the adapter's default, ``FastKinematics``: the same numbers). For each it prints:

- the split of the time under cProfile (which inflates Python-heavy code alike in both): the simulator
  (``_simulate``: road and vehicle stepping, collision checks; the intersection's spawning and clearing of
  vehicles; ``_reset``'s road, vehicles and warm-up), the observation, highway-env's reward, termination and
  info, the rest of ``reset``, the adapter's own work (time-to-collision, relevant parts, success), gymnasium's
  wrappers, and the loop drawing the actions;
- steps/s without the profiler, both variants interleaved in one process (A B A B, ``--rounds`` rounds of
  ``--steps`` steps, medians), and their ratio, with the load average.

The result goes to ``docs/intersection_profile.json`` (``--output``), which ``intersection_fidelity.py
--report`` quotes.

Usage::

    python benchmarks/intersection_profile.py                     # 300 profiled steps, 5 rounds of 200 steps
    python benchmarks/intersection_profile.py --steps 100 --rounds 2 --output /tmp/profile.json
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from doc_sections import LOAD_AT_START

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "intersection_profile.json"
ENV_ID = "intersection-v0"
VARIANTS = {"pandas": False, "numpy": True}


def make_env(fast_observation: bool) -> gym.Env:
    """``make_adapted("intersection-v0")`` with highway-env's or the NumPy Kinematics observation."""
    import highway_env  # noqa: F401  (registers the ids)

    from envs.adapters.highway import HighwayEntities
    from envs.adapters.registry import make_adapted

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_adapted(ENV_ID)
    if not isinstance(env, HighwayEntities):
        raise TypeError(f"make_adapted({ENV_ID!r}) should give a HighwayEntities, got {env!r}.")
    env.fast_observation = fast_observation  # takes effect at the first reset
    return env


def run_steps(env: gym.Env, steps: int, rng: np.random.Generator) -> None:
    """``steps`` uniform random steps, resetting (with a seed from ``rng``) when an episode ends."""
    env.reset(seed=int(rng.integers(2**31)))
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            env.reset(seed=int(rng.integers(2**31)))


def _cumulative(stats: dict, path_end: str, name: str, caller: tuple[str, str] | None = None) -> float:
    """Cumulative seconds of the functions ``name`` in files ending with ``path_end`` (only from ``caller``)."""
    total = 0.0
    for (filename, _, function), (_, _, _, cumulative, callers) in stats.items():
        if function != name or not filename.endswith(path_end):
            continue
        if caller is None:
            total += cumulative
        else:
            total += sum(entry[3] for (f, _, n), entry in callers.items() if n == caller[1] and f.endswith(caller[0]))
    return total


def profile_split(fast_observation: bool, steps: int, seed: int) -> dict[str, float]:
    """Fractions of the time of ``steps`` random steps (resets included) under cProfile, by part."""
    env = make_env(fast_observation)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    profiler = cProfile.Profile()
    profiler.enable()
    run_steps(env, steps, rng)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = _cumulative(stats, "intersection_profile.py", "run_steps")
    abstract, intersection, adapter = "common/abstract.py", "envs/intersection_env.py", "adapters/highway.py"
    observation = sum(_cumulative(stats, "observation.py", "observe", (abstract, n)) for n in ("step", "reset"))
    observation += sum(_cumulative(stats, "highway_kinematics.py", "observe", (abstract, n)) for n in ("step", "reset"))
    step_observation = _cumulative(stats, "observation.py", "observe", (abstract, "step")) + _cumulative(
        stats, "highway_kinematics.py", "observe", (abstract, "step")
    )
    reset_observation = observation - step_observation
    simulate = _cumulative(stats, abstract, "_simulate")
    spawn_clear = _cumulative(stats, intersection, "step") - _cumulative(
        stats, abstract, "step", (intersection, "step")
    )
    scene = _cumulative(stats, intersection, "_reset")
    own = sum(_cumulative(stats, adapter, n) for n in ("relevant_parts", "succeeded", "_install_fast_observation"))
    wrapped = _cumulative(stats, adapter, "step") + _cumulative(stats, adapter, "reset")
    inner = _cumulative(stats, intersection, "step") + _cumulative(stats, abstract, "reset")
    parts = {
        "simulator": simulate + spawn_clear + scene,
        "observation": observation,
        "reward, termination, info": _cumulative(stats, abstract, "step") - simulate - step_observation,
        "rest of reset": _cumulative(stats, abstract, "reset") - scene - reset_observation,
        "adapter (TTC, relevant parts, success)": own,
        "gymnasium wrappers": wrapped - inner - own,
    }
    parts["action sampling, loop"] = total - sum(parts.values())
    return {name: seconds / total for name, seconds in parts.items()} | {"total_s": total, "steps": steps}


def interleaved_speed(steps: int, rounds: int, seed: int) -> dict[str, list[float]]:
    """Steps/s of each observation variant per round, the variants alternating within each round (no profiler)."""
    return interleaved_env_speed({name: make_env(fast) for name, fast in VARIANTS.items()}, steps, rounds, seed)


def interleaved_env_speed(envs: dict[str, gym.Env], steps: int, rounds: int, seed: int) -> dict[str, list[float]]:
    """Steps/s of each env per round under random actions, alternating A B / B A; the same actions for all."""
    for env in envs.values():  # warm up: first reset, imports, caches
        run_steps(env, 20, np.random.default_rng(seed))
    speeds: dict[str, list[float]] = {name: [] for name in envs}
    for round_ in range(rounds):
        order = list(envs) if round_ % 2 == 0 else list(envs)[::-1]
        for name in order:
            rng = np.random.default_rng(seed + 1 + round_)  # the same actions and seeds for both variants
            start = time.perf_counter()
            run_steps(envs[name], steps, rng)
            speeds[name].append(steps / (time.perf_counter() - start))
    return speeds


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Profile both variants, time them interleaved, print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="profiled steps per variant")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--round-steps", type=int, default=200, help="steps per variant per timing round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    args = parser.parse_args(argv)
    for flag in ("steps", "rounds", "round_steps"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    split = {name: profile_split(fast, args.steps, args.seed) for name, fast in VARIANTS.items()}
    speeds = interleaved_speed(args.round_steps, args.rounds, args.seed)
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    result = {
        "command": "python benchmarks/intersection_profile.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "started": started,
        "load_at_start": LOAD_AT_START,
        "load_at_end": os.getloadavg()[0],
        "split": split,
        "steps_per_s": speeds,
        "median_steps_per_s": medians,
        "ratio_numpy_to_pandas": medians["numpy"] / medians["pandas"],
    }
    for name, parts in split.items():
        print(f"{name}: " + ", ".join(f"{k} {v:.1%}" for k, v in parts.items() if k not in ("total_s", "steps")))
    print(
        f"steps/s medians {medians}, ratio numpy/pandas {result['ratio_numpy_to_pandas']:.2f}, load {LOAD_AT_START:.2f}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
