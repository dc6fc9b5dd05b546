"""Learning benchmark: attention against SB3's default MLP (NatureCNN for pixels), side by side.

For every row of the suite it trains PPO twice — with the attention extractor and with SB3's own
extractor (``--extractor mlp``: ``FlattenExtractor`` + MLP, ``NatureCNN`` via ``CnnPolicy`` on images) —
with the same hyperparameters, budget and seeds, through ``agents.train``. Then, per row and extractor:

- the final deterministic evaluation (``agents.train``'s, on seeds the training never saw): mean return and
  success rate, averaged over the training seeds with a 95% percentile bootstrap CI over seeds;
- steps to reach the row's solved score: the first timestep at which the mean return of the last 100 training
  episodes (SB3's ``ep_rew_mean`` window, from the ``monitor/`` CSVs) reaches it; the median over seeds;
- ``attention/relevant_mass`` of the final evaluation (attention only);
- wall time of ``learn``.

It writes a section between ``<!-- learning:start -->`` and ``<!-- learning:end -->`` in the output document,
learning curves of the same runs as a PNG beside it, and the per-run figures as JSON (``--render-only`` redraws
the section and the plot from that JSON without training).

Usage::

    python benchmarks/learning.py                          # the default suite, 3 seeds, 2 jobs (23 min on 2 idle cores)
    python benchmarks/learning.py --quick                  # minutes: FindTarget N=8, 2 seeds, 30k steps
    python benchmarks/learning.py --envs findtarget-8 cartpole --seeds 0 1 2 3 4 --out /tmp/learning.md
    python benchmarks/learning.py --render-only docs/learning_results.json
    python benchmarks/learning.py --envs patchfind --extractors conv --merge   # add runs to docs/learning_results.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from doc_sections import machine_facts, write_section
from learning_report import plot_curves, render_section, summarize
from learning_rows import (  # noqa: F401 (some re-exported: tests read them as learning.X)
    CURVE_POINTS,
    DEFAULT_OUTPUT,
    END_MARKER,
    PLOT_NAME,
    QUICK_ROWS,
    QUICK_TIMESTEPS,
    RESULTS_NAME,
    ROWS,
    START_MARKER,
    Row,
    register_bench_envs,
    run_config,
    run_figures,
)

from agents import dry_run, train
from agents.evaluation.statistics import SOLVED_WINDOW, rolling_mean
from agents.storage.monitor_files import read_monitor
from agents.training.grid import run_tasks
from policies.registry import did_you_mean


# ---------------------------------------------------------------------------------------------- learning curves
def curve(steps: np.ndarray, returns: np.ndarray, timesteps: int, points: int = CURVE_POINTS) -> list[float | None]:
    """The rolling training return (last 100 episodes) at ``points`` evenly spaced timesteps up to the budget."""
    means = rolling_mean(returns, SOLVED_WINDOW)
    grid = np.linspace(timesteps / points, timesteps, points)
    idx = np.searchsorted(steps, grid, side="right") - 1  # the last episode ended by each grid point
    return [None if i < 0 else float(means[i]) for i in idx]


# ---------------------------------------------------------------------------------------------- one run
def run_one(
    row_key: str, extractor: str, seed: int, timesteps: int, run_root: str, eval_episodes: int, threads: int
) -> dict[str, Any]:
    """Train and evaluate one (row, extractor, seed); return its figures as plain data (runs in a worker)."""
    import torch

    torch.set_num_threads(threads)
    register_bench_envs()
    row = ROWS[row_key]
    run = train(run_config(row, extractor, seed, timesteps, run_root, eval_episodes))
    episodes = read_monitor(run.path / "monitor")
    return {
        "row": row_key,
        "extractor": extractor,
        "seed": seed,
        **run_figures(run, row),
        "train_episodes": len(episodes.returns),
        "curve": curve(episodes.steps, episodes.returns, timesteps),
        "policy": type(run.model.policy).__name__,
        "features_extractor": type(run.model.policy.features_extractor).__name__,
    }


# ---------------------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="PPO with attention vs SB3's default extractor, side by side.")
    parser.add_argument("--envs", nargs="+", default=None, help=f"rows to run (default: all): {', '.join(ROWS)}")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="training seeds (default: 0 1 2)")
    parser.add_argument("--quick", action="store_true", help=f"minutes: {', '.join(QUICK_ROWS)}, seeds 0 1, "
                        f"{QUICK_TIMESTEPS:,} steps")  # fmt: skip
    parser.add_argument("--timesteps", type=int, default=None, help="budget of every run (default: the row's)")
    parser.add_argument("--eval-episodes", type=int, default=50, help="final evaluation episodes (default: 50)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel runs (default: 2)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT, help="markdown file to write the section into")
    parser.add_argument(
        "--plot", type=Path, default=None, help=f"PNG of the curves (default: {PLOT_NAME} beside --out)"
    )
    parser.add_argument(
        "--results", type=Path, default=None, help=f"per-run JSON (default: {RESULTS_NAME} beside --out)"
    )
    parser.add_argument("--run-root", type=Path, default=None, help="keep the run folders here (default: a temp dir)")
    parser.add_argument(
        "--render-only", type=Path, nargs="+", default=None,
        help="redraw the section and plot from these results (JSON, or a .partial.jsonl of a run cut short)",
    )  # fmt: skip
    parser.add_argument("--note", action="append", default=[], help="a line for the section's notes (repeatable)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (default: CPUs / jobs)")
    parser.add_argument(
        "--extractors", nargs="+", default=None,
        help="run only these extractors of each row (e.g. conv; default: all, mlp = SB3's own)",
    )  # fmt: skip
    parser.add_argument(
        "--merge", action="store_true",
        help="add these runs to the results already in --results (a run of the same row, extractor and seed replaces "
        "the old one; other rows stay) and draw the section from both",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.envs is None:
        args.envs = list(QUICK_ROWS) if args.quick else list(ROWS)
    for key in args.envs:
        if key not in ROWS:
            parser.error(f"unknown row '{key}'.{did_you_mean(key, ROWS)} Rows: {', '.join(ROWS)}.")
    if args.seeds is None:
        args.seeds = [0, 1] if args.quick else [0, 1, 2]
    if args.timesteps is None and args.quick:
        args.timesteps = QUICK_TIMESTEPS
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: use 1 or more.")
    args.plot = args.plot or args.out.parent / PLOT_NAME
    args.results = args.results or args.out.parent / RESULTS_NAME
    return args


def run_suite(args: argparse.Namespace, run_root: str, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (row, extractor, seed) run, ``args.jobs`` at a time: seed by seed, the longest first.

    ``<results>.partial.jsonl`` gets ``meta`` as its first line, then each finished run (with ``elapsed_s``
    since the start), so a suite cut short keeps what it measured (whole seeds first) and ``--render-only``
    draws the section from it.
    """
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    tasks = []
    for key in args.envs:
        row = ROWS[key]
        for extractor in row.extractors:
            if args.extractors is not None and extractor not in args.extractors:
                continue
            for seed in args.seeds:
                steps = args.timesteps or row.timesteps
                cost = steps * (3 if extractor != "mlp" else 1) * (3 if row.baseline == "cnn" else 1)
                task = (key, extractor, seed, steps, run_root, args.eval_episodes, threads)
                tasks.append(((args.seeds.index(seed), -cost), task))
    tasks.sort(key=lambda task: task[0])
    meta["expected_runs"] = len(tasks)
    partial = args.results.with_suffix(".partial.jsonl")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(json.dumps(meta) + "\n")
    results: list[dict[str, Any]] = []
    start = time.perf_counter()

    def done(result: dict[str, Any]) -> None:
        result["elapsed_s"] = time.perf_counter() - start
        result["command_id"] = f"{meta.get('date')} {meta.get('command')}"
        results.append(result)
        with partial.open("a") as f:
            f.write(json.dumps(result) + "\n")
        print(json.dumps({k: v for k, v in result.items() if k != "curve"}), flush=True)

    def failed(task: tuple[Any, ...], error: BaseException) -> None:
        key, extractor, seed = task[:3]
        failures.append(f"{key} / {extractor} / seed {seed}: {type(error).__name__}: {error}")
        print(f"FAILED {failures[-1]}", file=sys.stderr, flush=True)

    failures: list[str] = []
    run_tasks(run_one, [task for _, task in tasks], args.jobs, done, failed)
    partial.unlink()
    meta["failures"] = failures
    return results


def preflight(args: argparse.Namespace) -> None:
    """Build every (row, extractor) model once before anything trains: a bad setting fails in seconds."""
    for key in args.envs:
        row = ROWS[key]
        for extractor in row.extractors:
            if args.extractors is not None and extractor not in args.extractors:
                continue
            with tempfile.TemporaryDirectory() as root:
                try:
                    dry_run(run_config(row, extractor, args.seeds[0], args.timesteps or row.timesteps, root, 1))
                except Exception as error:
                    raise SystemExit(f"row '{key}' with --extractor {extractor} cannot be built: {error}") from error


def load_results(path: Path) -> dict[str, Any]:
    """The results JSON, or a ``.partial.jsonl`` of a suite cut short (with a note saying so)."""
    if path.suffix != ".jsonl":
        return json.loads(path.read_text())
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    data, results = lines[0], lines[1:]
    data["results"] = results
    data.setdefault("wall_min", max((r.get("elapsed_s", 0.0) for r in results), default=0.0) / 60)
    expected = data.get("expected_runs", len(data["rows"]) * 2 * len(data["seeds"]))
    data["notes"] = [
        *data.get("notes", []),
        f"**Cut short**: `{data['command']}` was stopped after {data['wall_min']:.0f} min, when {len(results)} of "
        f"its {expected} runs had finished (seed by seed); the seeds column says how many runs each line has.",
    ]
    return data


def load_line(part: dict[str, Any]) -> str:
    """``1-minute load average when the script started: 0.52`` from a command's machine facts, else ``""``."""
    line = next((fact for fact in part.get("machine", []) if fact.startswith("1-minute load average")), "")
    return line.split(" (")[0]


def merge_results(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Results of several commands (e.g. a suite cut short, then more seeds of some rows) as one table."""
    if len(parts) == 1:
        return parts[0]
    results: dict[tuple[str, str, int], dict[str, Any]] = {}
    for part in parts:
        for r in part["results"]:
            results[(r["row"], r["extractor"], r["seed"])] = r  # a later command's run replaces an earlier one
    keys = {key for part in parts for key in part["rows"]}
    return {
        **parts[0],
        "commands": [
            command
            for part in parts
            for command in part.get("commands")
            or [{**{k: part[k] for k in ("command", "date", "wall_min", "jobs", "threads")}, "load": load_line(part)}]
        ],
        "seeds": sorted({seed for part in parts for seed in part["seeds"]}),
        "rows": [key for key in ROWS if key in keys],
        "notes": [note for part in parts for note in part.get("notes", [])],
        "results": list(results.values()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite (or load its results), write the JSON, the plot and the section."""
    args = parse_args(argv)
    register_bench_envs()
    if args.render_only is not None:
        data = merge_results([load_results(path) for path in args.render_only])
        data["notes"] = list(dict.fromkeys([*data.get("notes", []), *args.note]))  # a re-render adds no copies
        if args.note or len(args.render_only) > 1 or args.render_only[0].suffix == ".jsonl":  # keep the data beside it
            args.results.parent.mkdir(parents=True, exist_ok=True)
            args.results.write_text(json.dumps(data, indent=1) + "\n")
    else:
        command = shlex.join(["python", "benchmarks/learning.py", *(sys.argv[1:] if argv is None else argv)])
        if args.jobs == 1:  # the runs train in this process: the machine facts then give their torch threads
            import torch

            torch.set_num_threads(args.threads or os.cpu_count() or 1)
        start = time.perf_counter()
        data = {
            "command": command,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "jobs": args.jobs,
            "threads": args.threads or max(1, (os.cpu_count() or 1) // args.jobs),
            "machine": machine_facts("cpu"),
            "seeds": args.seeds,
            "eval_episodes": args.eval_episodes,
            "rows": args.envs,
            "notes": args.note,
        }
        preflight(args)
        if args.run_root is not None:
            results = run_suite(args, str(args.run_root), data)
        else:
            with tempfile.TemporaryDirectory() as root:
                results = run_suite(args, root, data)
        data["wall_min"] = (time.perf_counter() - start) / 60
        data["results"] = results
        data["notes"] = [*data["notes"], *(f"**Failed run**: {failure}" for failure in data["failures"])]
        if args.merge and args.results.is_file():
            data = {**merge_results([load_results(args.results), data]), "failures": data["failures"]}
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(data, indent=1) + "\n")
    rows = [ROWS[key] for key in data["rows"] if any(r["row"] == key for r in data["results"])]
    plot_curves(summarize(data["results"]), rows, args.plot)
    section = render_section(data, args.out, args.plot)
    print(section)
    write_section(args.out, section, START_MARKER, END_MARKER)
    return 1 if data.get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())
