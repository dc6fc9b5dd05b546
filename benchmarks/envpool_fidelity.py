"""Whether envpool's C++ ports of ``highway-fast-v0`` and ``merge-v0`` give highway-env's Python episodes.

``--vec-env envpool`` trains only on the ports this table accepts (``envs/adapters/envpool_highway.py``,
``ENVPOOL_PORTS``). Per env, the same policies drive highway-env's Python original (default config, its own
Kinematics observation; the reference) and envpool's port as shipped: uniform ``random``, always ``faster`` and
always ``slower`` (by DiscreteMetaAction name; both take the same five indices). Per row: return, length, crash
rate, arrival rate (ended without a crash before the time limit: merge-v0 ends when the ego passes the merge),
per-column observation means over present rows, and the spread of the initial states (distinct first observations,
mean std of the first observation's cells), each mean with a 95% normal CI; a figure differs from the original's
when the 95% interval of the difference excludes 0.

Rows grow round-robin in chunks; the JSON (``--output``) is rewritten after every chunk and a rerun resumes it.
envpool fixes its seed when the env is made, so each chunk makes its port again with the seed of its first episode.

Usage::

    python benchmarks/envpool_fidelity.py --episodes 1000 --python-episodes 300   # measure, write the section
    python benchmarks/envpool_fidelity.py --report                                # the section from the JSON
    python benchmarks/envpool_fidelity.py --envs merge-v0 --episodes 4 --output /tmp/f.json --doc /tmp/B.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import shlex
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from doc_sections import LOAD_AT_START, cpu_model, write_section
from intersection_candidates import EnvpoolSimulator, PythonSimulator, Simulator, policy_actions, run_episode
from intersection_fidelity import load_results, save
from intersection_fidelity_stats import (
    add_episode,
    column_table,
    fidelity_table,
    new_row,
    row_differences,
    summarize,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "envpool_fidelity.json"
DOC = REPO_ROOT / "docs" / "BENCHMARKS.md"
START_MARKER = "<!-- envpool_fidelity:start -->"
END_MARKER = "<!-- envpool_fidelity:end -->"
ENVS = ("highway-fast-v0", "merge-v0")
SIMULATORS = ("python", "envpool")
REFERENCE = "python"
POLICIES = ("random", "faster", "slower")
#: The columns of both simulators' observation (highway-env's default Kinematics features).
COLUMNS = ("presence", "x", "y", "vx", "vy")
#: Row episode i starts from seed SEED_BASE + i (Python); envpool's port is made with the chunk's first seed.
SEED_BASE = 10_000
#: The start spreads of a port and of the original differ when more than this factor apart.
SPREAD_RATIO = 2.0


def make_simulator(name: str, env_id: str, seed: int) -> Simulator:
    """The Python original (its own config) or envpool's port of ``env_id``, made for episodes from ``seed`` on."""
    if name == "python":
        return PythonSimulator(simulation_frequency=None, env_id=env_id)
    if name == "envpool":
        return EnvpoolSimulator(seed=seed, env_id=env_id)
    raise ValueError(f"simulator {name!r} is unknown: use one of {', '.join(SIMULATORS)}.")


def run_rows(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Every (env, simulator, policy) row up to its target, round-robin in chunks, saved after each chunk."""
    python_sims: dict[str, Simulator] = {}
    while True:
        targets = {"envpool": args.episodes, "python": args.python_episodes or args.episodes}
        pending = [
            (env_id, name, policy, targets[name])
            for env_id in args.envs
            for name in SIMULATORS
            for policy in POLICIES
            if len(rows_of(results, env_id).get(f"{name}/{policy}", {"episodes": []})["episodes"]) < targets[name]
        ]
        if not pending:
            return
        for env_id, name, policy, target in pending:
            row = rows_of(results, env_id).setdefault(f"{name}/{policy}", new_row(name, policy, "raw", COLUMNS, rows=5))
            first = SEED_BASE + len(row["episodes"])
            if name == "python":
                sim = python_sims.setdefault(env_id, make_simulator(name, env_id, first))
            else:
                sim = make_simulator(name, env_id, first)
            act = policy_actions(policy)
            start = time.perf_counter()
            for _ in range(min(args.chunk, target - len(row["episodes"]))):
                record, first_obs, observations = run_episode(sim, act, SEED_BASE + len(row["episodes"]))
                add_episode(row, record, first_obs, observations)
            row["wall_s"] += time.perf_counter() - start
            save(results, args.output)
            print(f"{env_id} {name}/{policy}: {len(row['episodes'])}/{target} episodes", flush=True)


def rows_of(results: dict[str, Any], env_id: str) -> dict[str, dict[str, Any]]:
    """The rows of one env (``"<simulator>/<policy>"`` -> row), created empty when missing."""
    return results.setdefault("envs", {}).setdefault(env_id, {})


def verdicts(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Per policy of an env: ``"<policy>: <figure>"`` for each figure that differs from the original's.

    A figure differs when the 95% interval of the difference of the means excludes 0; the spread of the starts
    (mean std of the first observation's cells) differs when the two are more than :data:`SPREAD_RATIO` apart.
    """
    found = []
    for policy in POLICIES:
        ours, reference = rows.get(f"envpool/{policy}"), rows.get(f"{REFERENCE}/{policy}")
        if ours and reference and ours["episodes"] and reference["episodes"]:
            found += [f"{policy}: {label}" for label in row_differences(ours, reference, paired=False)]
            spread, reference_spread = summarize(ours)["first_std"], summarize(reference)["first_std"]
            if not reference_spread / SPREAD_RATIO <= spread <= reference_spread * SPREAD_RATIO:
                found.append(f"{policy}: spread of starts ({spread:.3f} against {reference_spread:.3f})")
    return found


def chance_limit(tests: int, level: float = 0.05) -> int:
    """The fewest of ``tests`` independent 95% intervals that chance alone exceeds in under ``level`` of tables."""
    tail = 1.0
    for k in range(tests + 1):
        if tail < level:
            return k
        tail -= math.comb(tests, k) * 0.05**k * 0.95 ** (tests - k)
    return tests + 1


def judge(rows: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """``(matches, sentence)`` of one env's rows.

    The port matches when no episode outcome or start spread differs on any policy and fewer column means differ
    than chance gives (:func:`chance_limit`).
    """
    found = verdicts(rows)
    columns = [f for f in found if f.split(": ", 1)[1].startswith("mean ")]
    outcomes = [f for f in found if f not in columns]
    tests, limit = len(POLICIES) * len(COLUMNS), chance_limit(len(POLICIES) * len(COLUMNS))
    chance = f"{len(columns)} of {tests} column means outside their 95% intervals{': ' if columns else ''}"
    chance += "; ".join(columns) + f" (chance alone puts {limit} or more outside in under 5% of tables)"
    if not outcomes and len(columns) < limit:
        return (
            True,
            f"**matches** the original: no return, length, crash or arrival rate or start spread differs; {chance}",
        )
    return False, f"**differs** from the original in {'; '.join(outcomes) or 'its column means'}; {chance}"


def section(results: dict[str, Any]) -> str:
    """The docs section: per env the fidelity table and its verdict, then the column statistics and notes."""
    meta = results.get("meta", {})
    runs = meta.get("runs", [])
    commands = ", then ".join(f"`{run['command']}`" for run in runs) or "`python benchmarks/envpool_fidelity.py`"
    parts = [START_MARKER, "## envpool's highway ports against the Python original", "", f"Reproduce: {commands}."]
    for env_id, rows in results.get("envs", {}).items():
        order = [name for name in SIMULATORS if any(r["candidate"] == name for r in rows.values())]
        verdict = judge(rows)[1]
        parts += ["", f"### {env_id}", "", fidelity_table(rows, REFERENCE, order), "", f"envpool's port {verdict}."]
        parts += ["", "Observation columns (mean ±CI over episodes, pooled sd):", "", column_table(rows, order)]
    starts = ", ".join(run["started"] for run in runs)
    loads = ", ".join(f"{run['load_at_start']:.2f}" for run in runs)
    parts += [
        "",
        "Notes:",
        "",
        f"- Runs started {starts or 'unrecorded'} (1-minute load average at start {loads or 'unrecorded'}); "
        f"{meta.get('cpu', 'CPU unrecorded')}; envpool {meta.get('envpool', 'unrecorded')}.",
        "- Python: `gym.make(env_id)` with highway-env's own config and observation (Kinematics, 5 rows, "
        "presence x y vx vy, relative to the ego, normalised and clipped), episode i from seed "
        f"{SEED_BASE} + i. envpool: `envpool.make_gymnasium(env_id, num_envs=1, seed=S)`, reset after each episode; "
        "its episodes cannot be paired with the original's seed by seed, so rows are compared as samples.",
        f"- Each env compares {len(POLICIES) * 9} figures ({len(POLICIES)} policies x return, length, crash and "
        "arrival rates and the 5 column means); at 95% about one in 20 figures that truly agree falls outside by "
        "chance: a port matches when no episode outcome differs and its column means differ no more often than "
        "chance would make them.",
        "- Return: the sum of highway-env's normalised rewards; length: policy steps; arrival: the episode ended "
        "without a crash before its time limit (on highway-fast-v0 an episode only ends early by a crash).",
        END_MARKER,
    ]
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rows (or, with ``--report``, only write the section) and write the section into ``--doc``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--episodes", type=int, default=1000, help="episodes per row (envpool; Python by default)")
    parser.add_argument("--python-episodes", type=int, default=None, help="episodes per row of the Python original")
    parser.add_argument("--chunk", type=int, default=25, help="episodes per row before moving to the next row")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON (resumed if it exists)")
    parser.add_argument("--doc", type=Path, default=DOC, help="the markdown file of the section")
    parser.add_argument("--report", action="store_true", help="only write the section from --output")
    args = parser.parse_args(argv)
    for flag in ("episodes", "chunk", "python_episodes"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    results = load_results(args.output)
    if not args.report:
        meta = results.setdefault("meta", {})
        run = {
            "command": "python benchmarks/envpool_fidelity.py " + shlex.join(sys.argv[1:] if argv is None else argv),
            "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_at_start": LOAD_AT_START,
        }
        meta["runs"] = [*meta.get("runs", []), run]
        meta.update(cpu=f"{cpu_model()}, os.cpu_count() = {os.cpu_count()}", envpool=version("envpool"))
        run_rows(args, results)
        save(results, args.output)
    if not results.get("envs"):
        parser.error(f"{args.output} has no rows yet: run without --report first")
    write_section(args.doc, section(results), START_MARKER, END_MARKER)
    for env_id, rows in results["envs"].items():
        print(env_id, judge(rows)[1], {k: summarize(r)["n"] for k, r in rows.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
