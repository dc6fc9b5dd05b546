"""envpool's C++ port against highway-env's Python original: raw env steps/s and PPO steps/s, interleaved.

In one process, for ``--rounds`` rounds, each variant in turn (A B A B ...): raw steps of ``--env`` with uniform
random actions on 1 and ``--n-envs`` envs (``--vec-env dummy`` against ``--vec-env envpool``, both through
``agents.setup.vec_envs.make_env``, so both give the highway adapter's observations), then PPO with the env's
``configs/ppo.yaml`` preset (the same model, built once per backend) learning ``--ppo-steps`` steps on each
backend, and likewise DQN with its preset. It prints the medians, the envpool / Python ratios and the load average as
a markdown table; ``--write`` also puts it into docs/BENCHMARKS.md (section "envpool against the Python original").

Usage::

    python benchmarks/envpool_speed.py                 # highway-fast-v0, 3 rounds
    python benchmarks/envpool_speed.py --rounds 5 --ppo-steps 2048 --write
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from doc_sections import rate, write_section

from agents import RunConfig, resolve
from agents.evaluation.tables import markdown_table
from agents.setup.build import checked_model, set_threads
from agents.setup.vec_envs import make_env

BACKENDS = ("dummy", "envpool")
ALGOS = ("ppo", "dqn")
DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
START_MARKER = "<!-- envpool-speed:start -->"
END_MARKER = "<!-- envpool-speed:end -->"


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


def train_runner(config: RunConfig, vec_env: str) -> Callable[[int], float]:
    """A function that trains the preset's model ``steps`` more steps on ``vec_env`` and returns its steps/s."""
    model = checked_model(config)
    model.set_env(make_env(config, config.n_envs, config.seed, vec_env=vec_env))
    model.learn(config.n_envs * getattr(model, "n_steps", 256))  # warm-up: a rollout and its update (DQN: 256 steps)

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
    parser.add_argument("--ppo-steps", type=int, default=1024, help="training env steps per round, algorithm, backend")
    parser.add_argument("--write", action="store_true", help="also write the section of docs/BENCHMARKS.md")
    args = parser.parse_args()
    if min(args.n_envs, args.rounds, args.python_steps, args.envpool_steps, args.ppo_steps) < 1:
        raise SystemExit("envpool_speed.py: every count must be at least 1.")
    base = {"env": args.env, "progress_bar": False, "eval_freq": 0, "eval_episodes": 0}
    configs = {
        "ppo": resolve(RunConfig(**base, n_envs=args.n_envs)),
        "dqn": resolve(RunConfig(**base, algo="dqn")),  # its preset's envs (one)
    }
    config = configs["ppo"]
    set_threads(config.threads)  # torch's one thread, as a run uses
    steps = {"dummy": args.python_steps, "envpool": args.envpool_steps}
    raw: dict[tuple[str, int], list[float]] = {(b, n): [] for b in BACKENDS for n in (1, args.n_envs)}
    runners = {(algo, b): train_runner(configs[algo], b) for algo in ALGOS for b in BACKENDS}
    trained: dict[tuple[str, str], list[float]] = {key: [] for key in runners}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        print(f"round {r + 1} of {args.rounds}", flush=True)
        for n in (1, args.n_envs):
            for backend in BACKENDS:
                raw[backend, n].append(raw_steps_per_s(config, backend, n, max(steps[backend] // n, 1)))
        for key, runner in runners.items():
            trained[key].append(runner(args.ppo_steps))
        loads.append(os.getloadavg()[0])
    rows = []
    for what, python, pool in (
        *((f"raw env steps/s, {n} env(s)", raw["dummy", n], raw["envpool", n]) for n in (1, args.n_envs)),
        *(
            (f"{algo.upper()} steps/s ({configs[algo].extractor}, {configs[algo].n_envs} envs)",
             trained[algo, "dummy"], trained[algo, "envpool"])
            for algo in ALGOS
        ),
    ):  # fmt: skip
        p, e = statistics.median(python), statistics.median(pool)
        rows.append([what, rate(p), rate(e), f"{e / p:.1f}x"])
    table = markdown_table(["measure", "Python original (dummy)", "envpool", "envpool / Python"], rows)
    note = (
        f"{args.env}, medians of {args.rounds} interleaved rounds, one torch thread; 1-min load average "
        f"{min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs."
    )
    print(table + "\n\n" + note)
    if args.write:
        command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/envpool_speed.py", *sys.argv[1:]])
        section = "\n".join([
            START_MARKER, "## envpool against the Python original", "", f"`{command}`", "", table, "", note,
            "Both backends give the highway adapter's observations to the same model; evaluations always run on the "
            "Python original. Which envs envpool may train is decided by the fidelity table (envpool's "
            "intersection-v0 starts every episode from the same state, so it is refused).", END_MARKER,
        ])  # fmt: skip
        write_section(DOC, section + "\n", START_MARKER, END_MARKER)


if __name__ == "__main__":
    main()
