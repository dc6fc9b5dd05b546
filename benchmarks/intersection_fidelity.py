"""Which simulator of highway-env's ``intersection-v0`` is the fastest faithful one: fidelity and raw speed.

Candidates (``intersection_candidates.CANDIDATES``): highway-env's Python original at the paper's settings
(``python-15hz``: the reference), the same with the adapter's exact fast road queries (``python-15hz-fast``), the
same with highway-env's fast setting (``python-5hz``: simulation 5 Hz, as ``highway-fast-v0`` is made) and
envpool's C++ port as shipped (``envpool``). Policies: uniform ``random``,
always ``faster``, always ``slower`` (by DiscreteMetaAction name), and a trained one with ``--policy RUN_DIR``
(greedy, on the project adapter's rows; Python candidates only).

Per candidate and policy, over seeded episodes: return, length, crash rate, arrival rate, per-column
observation statistics and the spread of the initial states, each mean with a 95% normal CI, and the figures
that differ from the reference's. Rows run in chunks of ``--chunk`` episodes, round-robin, so every row grows
alike; the JSON (``--output``) is rewritten after every chunk and a rerun resumes it. ``--until HH:MM`` (UTC)
starts no chunk after that time. The raw-speed table times each candidate with random actions, interleaved in
one process (the Python original and the fast candidate also over two processes with SB3's ``SubprocVecEnv``).

Usage::

    python benchmarks/intersection_fidelity.py --episodes 1000 --python-episodes 300   # run, then --report
    python benchmarks/intersection_fidelity.py --report          # docs/BENCHMARKS.md from the JSON
    python benchmarks/intersection_fidelity.py --candidates python-15hz-fast --remeasure-speed  # add a candidate
    python benchmarks/intersection_fidelity.py --episodes 4 --speed-seconds 1 --output /tmp/f.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from doc_sections import LOAD_AT_START, cpu_model
from intersection_candidates import CANDIDATES, EnvpoolSimulator, policy_actions, run_episode
from intersection_fidelity_stats import add_episode, new_row
from intersection_report import runs_of, write_report

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "intersection_fidelity.json"
POLICIES = ("random", "faster", "slower")
#: Seeds of the episodes: row episode i uses SEED_BASE + i on every candidate.
SEED_BASE = 10_000


def save(results: dict[str, Any], path: Path) -> None:
    """Write the results atomically (a temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, separators=(",", ":")) + "\n")
    os.replace(tmp, path)


def load_results(path: Path) -> dict[str, Any]:
    """The results so far (empty when the file does not exist)."""
    return json.loads(path.read_text()) if path.is_file() else {"rows": {}, "meta": {}}


# ---------------------------------------------------------------------------------------------- speed
def _adapter_env(simulation_frequency: int, fast_observation: bool, fast_simulation: bool = False) -> Any:
    """The project adapter over highway-env's intersection-v0 (a ``SubprocVecEnv`` factory)."""
    import warnings

    import gymnasium as gym
    import highway_env  # noqa: F401

    from envs.adapters.highway import HighwayEntities

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make("intersection-v0", config={"simulation_frequency": simulation_frequency})
    return HighwayEntities(env, fast_observation=fast_observation, fast_simulation=fast_simulation)


def _timed_steps(step: Any, reset: Any) -> Any:
    """A function timing ``seconds`` of random ``step(action)`` calls (``reset(rng)`` at episode ends) -> steps/s."""
    rng = np.random.default_rng(0)

    def run(seconds: float) -> float:
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            _, _, terminated, truncated, _ = step(int(rng.integers(3)))
            steps += 1
            if terminated or truncated:
                reset(rng)
        return steps / (time.perf_counter() - start)

    return run


def _single_stepper(env: Any) -> Any:
    """Steps/s of one gymnasium env with random actions (resets included), timed by ``_timed_steps``."""
    env.reset(seed=0)
    return _timed_steps(env.step, lambda rng: env.reset(seed=int(rng.integers(2**31))))


def _envpool_stepper() -> Any:
    sim = EnvpoolSimulator()
    sim.reset(0)
    return _timed_steps(sim.step, lambda _rng: sim.reset(0))  # envpool ignores seeds


def _subproc_stepper(n_envs: int, fast_simulation: bool) -> Any:
    from stable_baselines3.common.vec_env import SubprocVecEnv

    make = functools.partial(_adapter_env, 15, True, fast_simulation)
    venv = SubprocVecEnv([make] * n_envs, start_method="fork")
    rng = np.random.default_rng(0)
    venv.reset()

    def run(seconds: float) -> float:
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            venv.step(rng.integers(3, size=n_envs))  # resets itself at episode ends
            steps += n_envs
        return steps / (time.perf_counter() - start)

    run.close = venv.close  # type: ignore[attr-defined]  (measure_speed ends the worker processes)
    return run


#: Raw-speed candidates: name -> builder of a timing function. The first is the reference of the ratios.
SPEED_CANDIDATES = {
    "python-15hz, highway-env's pandas observation (the original as shipped)": lambda: _single_stepper(
        _adapter_env(15, False)
    ),
    "python-15hz, NumPy observation": lambda: _single_stepper(_adapter_env(15, True)),
    "python-15hz-fast, NumPy observation, fast road queries (the adapter's default)": lambda: _single_stepper(
        _adapter_env(15, True, True)
    ),
    "python-5hz, NumPy observation": lambda: _single_stepper(_adapter_env(5, True)),
    "python-15hz, NumPy observation, SubprocVecEnv n_envs=2": lambda: _subproc_stepper(2, False),
    "python-15hz-fast, the adapter's default, SubprocVecEnv n_envs=2": lambda: _subproc_stepper(2, True),
    "envpool intersection-v0, 1 env": _envpool_stepper,
}


def measure_speed(seconds: float, rounds: int) -> dict[str, Any]:
    """Steps/s of every raw-speed candidate, interleaved: each round times each one (order alternating)."""
    steppers = {name: build() for name, build in SPEED_CANDIDATES.items()}
    for run in steppers.values():
        run(min(seconds, 2.0))  # warm-up
    speeds: dict[str, list[float]] = {name: [] for name in steppers}
    load = os.getloadavg()[0]
    for round_ in range(rounds):
        names = list(steppers) if round_ % 2 == 0 else list(steppers)[::-1]
        for name in names:
            speeds[name].append(steppers[name](seconds))
    for run in steppers.values():
        getattr(run, "close", lambda: None)()
    return {"steps_per_s": speeds, "seconds": seconds, "load_before": load, "load_after": os.getloadavg()[0]}


# ---------------------------------------------------------------------------------------------- fidelity
def row_plan(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """``(candidate, policy, target episodes)`` of every row to run."""
    policies = [*POLICIES, f"trained:{args.policy}"] if args.policy else list(POLICIES)
    plan = []
    for name in args.candidates:
        target = args.episodes if name == "envpool" else args.python_episodes or args.episodes
        for policy in policies:
            if policy.startswith("trained:") and not CANDIDATES[name].adapter_layout:
                print(f"skip {name}/{policy}: needs the envpool observation conversion (adapter rows)")
                continue
            plan.append((name, policy, target))
    return plan


def run_rows(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Run the planned rows round-robin in chunks, saving after each chunk, until done or ``--until``."""
    plan = row_plan(args)
    sims: dict[tuple[str, str], Any] = {}
    deadline = None
    if args.until:
        hour, minute = (int(x) for x in args.until.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        deadline = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    while True:
        pending = [(c, p, t) for c, p, t in plan if len(results["rows"].get(f"{c}/{p}", {}).get("episodes", [])) < t]
        if not pending:
            return
        for candidate, policy, target in pending:
            if deadline is not None and dt.datetime.now(dt.timezone.utc) >= deadline:
                print(f"--until {args.until} reached: stopping")
                return
            trained = policy.startswith("trained:")
            layout = "adapter" if trained else "raw"
            key = (candidate, layout)
            if key not in sims:
                make = CANDIDATES[candidate].make
                sims[key] = make(layout=layout) if CANDIDATES[candidate].adapter_layout else make()
            if trained:
                from intersection_candidates import trained_actions

                act = trained_actions(policy.split(":", 1)[1])
            else:
                act = policy_actions(policy)
            row = results["rows"].setdefault(f"{candidate}/{policy}", new_row(candidate, policy, layout))
            start = time.perf_counter()
            chunk = target if candidate == "envpool" else args.chunk  # envpool: a whole row takes seconds
            for _ in range(min(chunk, target - len(row["episodes"]))):
                record, first, observations = run_episode(sims[key], act, SEED_BASE + len(row["episodes"]))
                add_episode(row, record, first, observations)
            row["wall_s"] += time.perf_counter() - start
            save(results, args.output)
            print(f"{candidate}/{policy}: {len(row['episodes'])}/{target} episodes, {row['wall_s']:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, with ``--report``, write the docs section from the JSON)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=1000, help="episodes per row (envpool; Python too by default)")
    parser.add_argument("--python-episodes", type=int, default=None, help="episodes per row on the Python candidates")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--policy", default=None, help="a run folder: add its trained policy (greedy) as a row")
    parser.add_argument("--chunk", type=int, default=25, help="episodes per row before moving to the next row")
    parser.add_argument("--until", default=None, help="HH:MM UTC: start no chunk after it")
    parser.add_argument("--speed-seconds", type=float, default=10.0, help="seconds per candidate per speed round")
    parser.add_argument("--speed-rounds", type=int, default=3, help="interleaved speed rounds (0: skip)")
    parser.add_argument("--remeasure-speed", action="store_true", help="replace the raw-speed table of --output")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON (resumed if it exists)")
    parser.add_argument("--report", action="store_true", help="only write the docs section from --output")
    parser.add_argument("--doc", type=Path, default=REPO_ROOT / "docs" / "BENCHMARKS.md", help="markdown file")
    args = parser.parse_args(argv)
    for flag in ("episodes", "chunk"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be >= 1, got {getattr(args, flag)}")
    if args.python_episodes is not None and args.python_episodes < 1:
        parser.error(f"--python-episodes must be >= 1, got {args.python_episodes}")
    if args.until is not None and not (len(args.until) == 5 and args.until[2] == ":"):
        parser.error(f"--until must be HH:MM (UTC), got {args.until!r}")
    if args.report:
        write_report(load_results(args.output), args.doc)
        print(f"wrote the intersection fidelity section of {args.doc}")
        return
    results = load_results(args.output)
    meta = results.setdefault("meta", {})
    run = {
        "command": "python benchmarks/intersection_fidelity.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_at_start": LOAD_AT_START,
    }
    meta["runs"] = [*runs_of(meta), run]  # every run that added rows, in order
    meta.update(cpu=f"{cpu_model()}, os.cpu_count() = {os.cpu_count()}", seed_base=SEED_BASE)
    if "envpool" in args.candidates:
        results["meta"]["envpool_config"] = {k: str(v) for k, v in EnvpoolSimulator().config.items()}
    if args.speed_rounds > 0 and ("speed" not in results or args.remeasure_speed):
        results["speed"] = measure_speed(args.speed_seconds, args.speed_rounds)
        save(results, args.output)
    run_rows(args, results)
    run["finished"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    run["load_at_end"] = os.getloadavg()[0]
    save(results, args.output)


if __name__ == "__main__":
    main()
