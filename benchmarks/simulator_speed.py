"""Learning steps/s of the same model on each simulator of intersection-v0: PPO and DQN, interleaved in one process.

Simulators (``VARIANTS``, the candidates of ``intersection_fidelity.py``): highway-env's original
(``fast_simulation=False``), the adapter's fast road queries (``python-15hz-fast``, the adapter's default),
highway-env's fast setting (``python-5hz``: ``simulation_frequency`` 5, fast road queries off) and, for PPO, the
fast candidate with SB3's ``SubprocVecEnv`` (one process per env). Each algorithm uses the env's preset
(``configs/ppo.yaml``, ``configs/dqn.yaml``; DQN's is the paper's set-up), built once per simulator, one torch
thread. Each round trains every model ``--steps`` more steps, in alternating order (A B C, then C B A); the table
gives medians and ratios to the original. PPO's rollout is shortened to ``--n-envs`` x ``--n-steps`` so a rollout
and its update fit a round; its batch size is the rollout, so the update work per env step (``n_epochs`` passes
over every sample) is the preset's. ``--write`` puts the table into docs/BENCHMARKS.md's "Social Attention on
intersection" section and the numbers into docs/simulator_speed.json.

``--arms`` measures instead the DQN arms of the reproduction on the adapter's default simulator, each with its
preset section (``intersection-v0``, ``@mlp``, ``@grid_cnn``: the CNN's highway-env OccupancyGrid observation is
part of its cost), interleaved the same way, and adds their table to the JSON and the subsection.

Usage::

    python benchmarks/simulator_speed.py --rounds 3 --write
    python benchmarks/simulator_speed.py --arms --rounds 3 --write   # the arms' table, kept beside the above
    python benchmarks/simulator_speed.py --rounds 1 --steps 32 --n-steps 16 --algos dqn   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from doc_sections import LOAD_AT_START, cpu_model, write_section
from envpool_speed import train_runner

from agents import RunConfig, resolve
from agents.evaluation.tables import markdown_table
from agents.setup.build import set_threads

ENV_ID = "intersection-v0"
REPO_ROOT = Path(__file__).resolve().parent.parent
DOC = REPO_ROOT / "docs" / "BENCHMARKS.md"
DEFAULT_JSON = REPO_ROOT / "docs" / "simulator_speed.json"
START_MARKER = "<!-- simulator-speed:start -->"
END_MARKER = "<!-- simulator-speed:end -->"
#: The subsection goes right after the fidelity subsection the first time it is written.
AFTER_MARKER = "<!-- intersection_fidelity:end -->"
#: Simulator -> (env_kwargs, vec_env, algorithms it applies to). The first is the reference of the ratios.
VARIANTS: dict[str, tuple[dict[str, Any], str, tuple[str, ...]]] = {
    "python-15hz (highway-env's original, fast_simulation=False)": (
        {"fast_simulation": False},
        "dummy",
        ("ppo", "dqn"),
    ),
    "python-15hz-fast (the adapter's default)": ({"fast_simulation": True}, "dummy", ("ppo", "dqn")),
    "python-5hz (simulation_frequency=5, fast_simulation=False)": (
        {"fast_simulation": False, "config": {"simulation_frequency": 5}},
        "dummy",
        ("ppo", "dqn"),
    ),
    "python-15hz-fast, SubprocVecEnv": ({"fast_simulation": True}, "subproc", ("ppo",)),
}
#: The reproduction's DQN arms (their preset sections); the first is the reference of the ratios.
ARMS: dict[str, str] = {
    "attention (entity rows)": "attention",
    "mlp (the flat rows)": "mlp",
    "grid_cnn (highway-env's OccupancyGrid)": "grid_cnn",
}


def run_config(
    algo: str, env_kwargs: dict[str, Any], n_envs: int, n_steps: int, extractor: str | None = None
) -> RunConfig:
    """The preset's run of ``algo`` on intersection-v0 with ``env_kwargs``; PPO's rollout ``n_envs`` x ``n_steps``."""
    base = {"env": ENV_ID, "algo": algo, "progress_bar": False, "eval_freq": 0, "eval_episodes": 0}
    base["extractor"] = extractor
    if algo == "ppo":  # batch = rollout: n_epochs gradient steps per rollout, the preset's work per env step
        hyperparams = {"n_steps": n_steps, "batch_size": n_envs * n_steps}
        return resolve(RunConfig(**base, n_envs=n_envs, hyperparams=hyperparams, env_kwargs=env_kwargs))
    return resolve(RunConfig(**base, env_kwargs=env_kwargs))


def model_text(config: RunConfig) -> str:
    """The model and rollout of a resolved run, in a few words (extractor, envs, the keys that size the work)."""
    keys = ("n_steps", "batch_size", "n_epochs", "train_freq", "gradient_steps")
    sizes = ", ".join(f"{k} {config.hyperparams[k]}" for k in keys if k in config.hyperparams)
    return f"{config.extractor}, {config.n_envs} env(s), {sizes}"


def interleaved(
    runners: dict[Any, Callable[[int], float]], rounds: int, steps: int
) -> tuple[dict[Any, list[float]], list[float]]:
    """Steps/s of every runner per round, the order alternating (A B C, then C B A), and the load after each."""
    speeds: dict[Any, list[float]] = {key: [] for key in runners}
    loads = [os.getloadavg()[0]]
    for r in range(rounds):
        print(f"round {r + 1} of {rounds}", flush=True)
        for key in list(runners) if r % 2 == 0 else list(runners)[::-1]:
            speeds[key].append(runners[key](steps))
        loads.append(os.getloadavg()[0])
    return speeds, loads


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Steps/s per algorithm and simulator: ``--rounds`` interleaved rounds of ``--steps`` training steps each."""
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runners = {}
    for algo in args.algos:
        for name, (env_kwargs, vec_env, algos) in VARIANTS.items():
            if algo in algos:
                runners[algo, name] = train_runner(run_config(algo, env_kwargs, args.n_envs, args.n_steps), vec_env)
    speeds, loads = interleaved(runners, args.rounds, args.steps)
    presets = {algo: run_config(algo, {}, args.n_envs, args.n_steps) for algo in args.algos}
    return {
        "command": "python " + shlex.join(["benchmarks/simulator_speed.py", *sys.argv[1:]]),
        "started": started,
        "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu_model()}, os.cpu_count() = {os.cpu_count()}",
        "load_at_start": LOAD_AT_START,
        "loads": loads,
        "steps": args.steps,
        "models": {algo: model_text(config) for algo, config in presets.items()},
        "steps_per_s": {algo: {name: v for (a, name), v in speeds.items() if a == algo} for algo in args.algos},
    }


def measure_arms(args: argparse.Namespace) -> dict[str, Any]:
    """DQN steps/s of each arm (``ARMS``) with its preset on the default simulator, ``--rounds`` interleaved."""
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runners = {name: train_runner(run_config("dqn", {}, 1, 1, extractor), "dummy") for name, extractor in ARMS.items()}
    speeds, loads = interleaved(runners, args.rounds, args.steps)
    return {
        "command": "python " + shlex.join(["benchmarks/simulator_speed.py", *sys.argv[1:]]),
        "started": started,
        "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_at_start": LOAD_AT_START,
        "loads": loads,
        "steps": args.steps,
        "steps_per_s": speeds,
    }


def arms_table(arms: dict[str, Any]) -> str:
    """One line per arm: rounds, median steps/s, ratio to the first arm."""
    medians = {name: statistics.median(values) for name, values in arms["steps_per_s"].items()}
    base = next(iter(medians.values()))
    lines = [[name, len(arms["steps_per_s"][name]), f"{v:,.1f}", f"{v / base:.2f}x"] for name, v in medians.items()]
    return markdown_table(["DQN arm", "rounds", "steps/s (median)", "ratio to attention"], lines)


def arms_text(arms: dict[str, Any]) -> list[str]:
    """The arms' table and its note, for the subsection."""
    loads = arms["loads"]
    return [
        "", arms_table(arms), "",
        f"Reproduce: `{arms['command']}` (run {arms['started']} to {arms['finished']}). The reproduction's DQN arms, "
        "each with its preset section of configs/dqn.yaml, on the adapter's default simulator: the same training "
        f"steps ({arms['steps']} a round), rounds interleaved with the order alternating, medians, one torch thread; "
        "the CNN arm's steps include highway-env's own OccupancyGrid observation (its pandas code, run once a "
        f"decision). 1-minute load average {arms['load_at_start']:.2f} when the script started, "
        f"{min(loads):.2f}-{max(loads):.2f} between rounds.",
    ]  # fmt: skip


def table(results: dict[str, Any]) -> str:
    """One line per algorithm and simulator: rounds, median steps/s, ratio to the algorithm's first simulator."""
    lines = []
    for algo, by_name in results["steps_per_s"].items():
        medians = {name: statistics.median(values) for name, values in by_name.items()}
        base = next(iter(medians.values()))
        for name, value in medians.items():
            lines.append([algo.upper(), name, len(by_name[name]), f"{value:,.1f}", f"{value / base:.2f}x"])
    return markdown_table(["algorithm", "simulator", "rounds", "steps/s (median)", "ratio to the original"], lines)


def section(results: dict[str, Any]) -> str:
    """The subsection's markdown, markers included."""
    loads = results["loads"]
    models = "; ".join(f"{algo.upper()}: {text}" for algo, text in results["models"].items())
    return "\n".join([
        START_MARKER, "### Learning speed per simulator", "", table(results), "",
        f"Reproduce: `{results['command']}` (run {results['started']} to {results['finished']}).", "",
        f"The same model per algorithm on each simulator, {results['steps']} training steps a round, rounds "
        f"interleaved in one process with the order alternating, medians; one torch thread. Models: {models}. PPO's "
        "preset (configs/ppo.yaml has no intersection-v0 section, so its `default`) runs 8 envs x 256 steps a rollout; "
        "here the rollout is shorter so that a round holds a whole rollout and its update, with the batch set to the "
        "rollout so the update work per env step is the preset's. DQN is configs/dqn.yaml's intersection-v0 "
        "(the paper's set-up, one env, a gradient step every env step). `SubprocVecEnv` runs one process per env "
        "(PPO only: DQN's preset has one env). The fidelity table above shows which simulators give the original's "
        f"episodes. Machine: {results['cpu']}; 1-minute load average {results['load_at_start']:.2f} when the script "
        f"started, {min(loads):.2f}-{max(loads):.2f} between rounds: other work shared the cores, which slows "
        "every timing (the ratios less, since the rounds interleave).",
        *(arms_text(results["arms"]) if "arms" in results else []),
        END_MARKER,
    ])  # fmt: skip


def write_report(results: dict[str, Any], doc: Path) -> None:
    """Write the subsection into ``doc``: in place, else right after the fidelity subsection, else at the end."""
    text = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    if START_MARKER not in text and AFTER_MARKER in text:
        at = text.index(AFTER_MARKER) + len(AFTER_MARKER)
        doc.write_text(f"{text[:at]}\n\n{START_MARKER}\n{END_MARKER}{text[at:]}")
    write_section(doc, section(results), START_MARKER, END_MARKER)


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table and (with ``--write``) write the JSON and the docs subsection."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=256, help="training env steps per round, algorithm, simulator")
    parser.add_argument("--algos", nargs="+", default=["ppo", "dqn"], choices=["ppo", "dqn"])
    parser.add_argument("--n-envs", type=int, default=2, help="PPO's envs (SubprocVecEnv: one process each)")
    parser.add_argument("--n-steps", type=int, default=128, help="PPO's rollout steps per env")
    parser.add_argument("--write", action="store_true", help="write --json and the docs/BENCHMARKS.md subsection")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where --write puts the numbers")
    parser.add_argument("--report", action="store_true", help="only write the subsection from --json")
    parser.add_argument("--doc", type=Path, default=DOC, help="the markdown file --write and --report write into")
    parser.add_argument("--arms", action="store_true", help="measure the DQN arms instead (kept beside the rest)")
    args = parser.parse_args(argv)
    for flag in ("rounds", "steps", "n_envs", "n_steps"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    if args.report:
        write_report(json.loads(args.json.read_text()), args.doc)
        return
    set_threads(1)
    if args.arms:
        results = json.loads(args.json.read_text()) if args.json.is_file() else None
        arms = measure_arms(args)
        print(arms_table(arms))
        if args.write and results is not None:
            results["arms"] = arms
            args.json.write_text(json.dumps(results, indent=1) + "\n")
            write_report(results, args.doc)
            print(f"wrote the arms into {args.json} and the learning-speed subsection of {args.doc}")
        elif args.write:
            print(f"{args.json} has no simulator table yet: run without --arms first", file=sys.stderr)
        return
    results = measure(args)
    if args.json.is_file() and args.write:  # a table of the arms measured before stays
        results.update({k: v for k, v in json.loads(args.json.read_text()).items() if k == "arms"})
    print(table(results))
    if args.write:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        write_report(results, args.doc)
        print(f"wrote {args.json} and the learning-speed subsection of {args.doc}")


if __name__ == "__main__":
    main()
