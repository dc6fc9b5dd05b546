"""envpool's C++ port against highway-env's Python original: raw env steps/s and PPO steps/s, interleaved.

In one process, for ``--rounds`` rounds, each variant in turn (A B A B ...): raw steps of ``--env`` with uniform
random actions on 1 and ``--n-envs`` envs (``--vec-env dummy`` against ``--vec-env envpool``, both through
``agents.vec_envs.make_env``, so both give the highway adapter's observations), then PPO with the env's
``configs/ppo.yaml`` preset (the same model, built once per backend) learning ``--ppo-steps`` steps on each
backend. It prints the medians, the envpool / Python ratios and the load average as a markdown table.

Usage::

    python benchmarks/envpool_speed.py                 # highway-fast-v0, 3 rounds
    python benchmarks/envpool_speed.py --rounds 5 --ppo-steps 2048
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from agents import RunConfig, resolve
from agents.build import checked_model, set_threads
from agents.tables import markdown_table
from agents.vec_envs import make_env

BACKENDS = ("dummy", "envpool")


def raw_steps_per_s(config: RunConfig, vec_env: str, n_envs: int, steps: int) -> float:
    """Env steps per second of ``steps`` vectorised steps with uniform random actions."""
    env = make_env(config, n_envs, seed=0, vec_env=vec_env)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, env.action_space.n, size=(steps, n_envs))
    env.reset()
    start = time.perf_counter()
    for t in range(steps):
        env.step(actions[t])
    elapsed = time.perf_counter() - start
    env.close()
    return steps * n_envs / elapsed


def ppo_runner(config: RunConfig, vec_env: str) -> Callable[[int], float]:
    """A function that trains the preset's PPO ``steps`` more steps on ``vec_env`` and returns its steps/s."""
    model = checked_model(config)
    model.set_env(make_env(config, config.n_envs, config.seed, vec_env=vec_env))
    model.learn(config.n_envs * model.n_steps)  # warm-up: one rollout and update

    def run(steps: int) -> float:
        start = time.perf_counter()
        model.learn(steps, reset_num_timesteps=False)
        return steps / (time.perf_counter() - start)

    return run


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="highway-fast-v0")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python-steps", type=int, default=150, help="vectorised raw steps per round, Python")
    parser.add_argument("--envpool-steps", type=int, default=3000, help="vectorised raw steps per round, envpool")
    parser.add_argument("--ppo-steps", type=int, default=1024, help="PPO env steps per round and backend")
    args = parser.parse_args()
    if min(args.n_envs, args.rounds, args.python_steps, args.envpool_steps, args.ppo_steps) < 1:
        raise SystemExit("envpool_speed.py: every count must be at least 1.")
    config = resolve(RunConfig(env=args.env, n_envs=args.n_envs, progress_bar=False, eval_freq=0, eval_episodes=0))
    set_threads(config.threads)  # torch's one thread, as a run uses
    steps = {"dummy": args.python_steps, "envpool": args.envpool_steps}
    raw: dict[tuple[str, int], list[float]] = {(b, n): [] for b in BACKENDS for n in (1, args.n_envs)}
    runners = {backend: ppo_runner(config, backend) for backend in BACKENDS}
    ppo: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        print(f"round {r + 1} of {args.rounds}", flush=True)
        for n in (1, args.n_envs):
            for backend in BACKENDS:
                raw[backend, n].append(raw_steps_per_s(config, backend, n, max(steps[backend] // n, 1)))
        for backend in BACKENDS:
            ppo[backend].append(runners[backend](args.ppo_steps))
        loads.append(os.getloadavg()[0])
    rows = []
    for what, python, pool in (
        *((f"raw env steps/s, {n} env(s)", raw["dummy", n], raw["envpool", n]) for n in (1, args.n_envs)),
        (f"PPO steps/s ({config.extractor}, {args.n_envs} envs)", ppo["dummy"], ppo["envpool"]),
    ):
        p, e = statistics.median(python), statistics.median(pool)
        rows.append([what, f"{p:,.0f}", f"{e:,.0f}", f"{e / p:.1f}x"])
    print(markdown_table(["measure", "Python original (dummy)", "envpool", "envpool / Python"], rows))
    print(f"\n{args.env}, medians of {args.rounds} interleaved rounds; 1-min load average {min(loads):.1f}-"
          f"{max(loads):.1f} on {os.cpu_count()} CPUs.")  # fmt: skip


if __name__ == "__main__":
    main()
