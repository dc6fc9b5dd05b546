"""Focus benchmark: is the focus each method shows where the trained policy actually looks?

For every row it trains PPO with attention (the env's ``configs/ppo.yaml`` preset, the row's changes, the
learning benchmark's budget), 3 seeds, and evaluates it (30 deterministic episodes on seeds training never saw)
with the three focus methods (``readout``, ``rollout``, ``causal``; ``policies.FOCUS_METHODS``). Per row and
method it reports, as the mean over seeds with a 95% percentile bootstrap CI over seeds:

- relevant mass: the focus on the parts the env names in ``info["relevant_parts"]``;
- faithfulness of ``readout`` and ``rollout`` against ``causal`` on the same observations: the mean
  per-observation Spearman rank correlation, and the deletion ratio (``policies.faithfulness``).

It writes a section between ``<!-- focus:start -->`` and ``<!-- focus:end -->`` in ``docs/BENCHMARKS.md`` and the
per-run figures to ``docs/focus_results.json`` (``--render-only`` redraws the section from that JSON).

Usage::

    python benchmarks/focus.py                         # every row, 3 seeds, 2 jobs of one torch thread
    python benchmarks/focus.py --rows findtarget-8-l1 --seeds 0 --out /tmp/focus.md
    python benchmarks/focus.py --render-only docs/focus_results.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from doc_sections import machine_facts, write_section
from learning_rows import ROWS as LEARNING_ROWS
from learning_rows import register_bench_envs, run_config

import envs
from agents import RunConfig, train
from agents.evaluation.statistics import mean_ci
from agents.evaluation.tables import markdown_table
from agents.training.grid import run_tasks
from policies import FOCUS_METHODS

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
RESULTS_NAME = "focus_results.json"
START_MARKER = "<!-- focus:start -->"
END_MARKER = "<!-- focus:end -->"
METHODS = tuple(FOCUS_METHODS.names())
SCORED = tuple(m for m in METHODS if m != "causal")
EVAL_EPISODES = 30


@dataclass(frozen=True)
class FocusRow:
    """One row: a learning-benchmark row (or an env of its own) and changes to its attention settings."""

    key: str
    label: str
    learning_row: str | None = None
    env: str | None = None
    timesteps: int | None = None
    extractor_kwargs: dict[str, Any] = field(default_factory=dict)

    def config(self, seed: int, run_root: str) -> RunConfig:
        """The run's config: the learning row's (or the env's preset), with the row's extractor changes."""
        if self.learning_row is not None:
            row = LEARNING_ROWS[self.learning_row]
            config = run_config(row, row.attention, seed, self.timesteps or row.timesteps, run_root, EVAL_EPISODES)
        else:
            config = RunConfig(
                env=self.env, timesteps=self.timesteps, seed=seed, run_root=run_root, eval_episodes=EVAL_EPISODES,
                progress_bar=False,
            )  # fmt: skip
        kwargs = {**config.extractor_kwargs, **self.extractor_kwargs}
        return dataclasses.replace(config, extractor_kwargs=kwargs, focus=list(METHODS), threads=1)


FOCUS_ROWS = (
    FocusRow("findtarget-8-l0", "FindTarget N=8, `num_layers=0` (the preset)", "findtarget-8"),
    FocusRow("findtarget-8-l1", "FindTarget N=8, `num_layers=1`", "findtarget-8", extractor_kwargs={"num_layers": 1}),
    FocusRow("collectavoid", "CollectAvoid", env=f"{envs.NAMESPACE}/CollectAvoid-v0", timesteps=200_000),
    FocusRow("patchfind", "PatchFind (top-3 patches)", "patchfind"),
    FocusRow("sensors", "Sensors", "sensors"),
    FocusRow("cuememory", "CueMemory (difficulty=3, 8 options)", "cuememory"),
)
ROWS = {row.key: row for row in FOCUS_ROWS}


def run_one(row_key: str, seed: int, run_root: str, timesteps: int | None = None) -> dict[str, Any]:
    """Train and evaluate one (row, seed); its scores as plain data (runs in a worker)."""
    import torch

    torch.set_num_threads(1)
    register_bench_envs()
    config = ROWS[row_key].config(seed, run_root)
    if timesteps is not None:
        config = dataclasses.replace(config, timesteps=timesteps)
    run = train(config)
    attention = run.evaluation.attention or {}
    methods = attention.get("methods", {})
    result: dict[str, Any] = {
        "row": row_key,
        "seed": seed,
        "timesteps": int(run.model.num_timesteps),
        "wall_s": run.wall_time_s,
        "eval_return": run.evaluation.mean_return,
        "eval_success": run.evaluation.success_rate,
    }
    for method in METHODS:
        stats = methods.get(method, {})
        scores = stats.get("faithfulness") or {}
        result[f"{method}/relevant_mass"] = stats.get("relevant_mass")
        result[f"{method}/spearman"] = scores.get("spearman")
        result[f"{method}/deletion_ratio"] = scores.get("deletion_ratio")
    return result


def seed_stat(runs: Sequence[dict[str, Any]], key: str) -> tuple[float, float, float] | None:
    """``(mean, low, high)`` over the seeds that have ``key`` (None: none has it)."""
    values = [r[key] for r in runs if r.get(key) is not None and np.isfinite(r[key])]
    return mean_ci(values) if values else None


def fmt(stat: tuple[float, float, float] | None, spec: str = "{:.2f}") -> str:
    """``mean [low, high]`` or an em dash."""
    if stat is None:
        return "—"
    return f"{spec.format(stat[0])} [{spec.format(stat[1])}, {spec.format(stat[2])}]"


def render(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The markdown section."""
    header = ["row", "success", *(f"relevant mass: {m}" for m in METHODS)]
    header += [f"Spearman: {m}" for m in SCORED] + [f"deletion ratio: {m}" for m in SCORED]
    rows = []
    for row in FOCUS_ROWS:
        runs = [r for r in results if r["row"] == row.key]
        if not runs:
            continue
        cells = [f"{row.label} ({len(runs)} seeds)", fmt(seed_stat(runs, "eval_success"), "{:.0%}")]
        cells += [fmt(seed_stat(runs, f"{m}/relevant_mass")) for m in METHODS]
        cells += [fmt(seed_stat(runs, f"{m}/spearman")) for m in SCORED]
        cells += [fmt(seed_stat(runs, f"{m}/deletion_ratio"), "{:.1f}") for m in SCORED]
        rows.append(cells)
    per_seed = [
        [
            ROWS[r["row"]].label, str(r["seed"]), f"{r['eval_success']:.0%}" if r["eval_success"] is not None else "—",
            *(f"{r[f'{m}/relevant_mass']:.2f}" if r[f"{m}/relevant_mass"] is not None else "—" for m in METHODS),
            *(f"{r[f'{m}/spearman']:.2f}" if r[f"{m}/spearman"] is not None else "—" for m in SCORED),
        ]
        for r in sorted(results, key=lambda r: (list(ROWS).index(r["row"]), r["seed"]))
    ]  # fmt: skip
    return "\n".join(
        [
            START_MARKER,
            "## Focus: which method shows where the policy looks",
            "",
            f"`{meta['command']}` on {meta['date']} ({meta['wall_min']:.0f} min, {meta['jobs']} jobs of one "
            "torch thread). PPO with attention, each env's preset and the learning benchmark's budget, then "
            f"{EVAL_EPISODES} deterministic evaluation episodes (seeds training never saw), the focus of each "
            "method on every evaluation step (at most 2,048 sampled evenly). Means over seeds with a 95% "
            "percentile bootstrap CI over the seeds (coarse with 3). Relevant mass: the focus on the parts the "
            "env names. Spearman: the mean per-observation rank correlation of the method's focus with the "
            "causal effects (1 = ranks the parts as removing them moves the policy). Deletion ratio: the mean "
            "action-distribution change (KL) when the method's top part is removed, over that of removing one "
            "of the other real parts.",
            "",
            *(f"- {fact}" for fact in meta["machine"]),
            "",
            markdown_table(header, rows),
            "",
            "Per seed:",
            "",
            markdown_table(
                ["row", "seed", "success", *(f"mass: {m}" for m in METHODS), *(f"Spearman: {m}" for m in SCORED)],
                per_seed,
            ),
            "",
            *meta.get("notes", []),
            END_MARKER,
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS), help="rows to run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one torch thread each)")
    parser.add_argument("--timesteps", type=int, default=None, help="budget of every run (default: each row's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT, help="markdown file to write the section into")
    parser.add_argument(
        "--results", type=Path, default=None, help=f"per-run JSON (default: beside --out, {RESULTS_NAME})"
    )
    parser.add_argument("--render-only", type=Path, default=None, metavar="JSON", help="redraw from a results JSON")
    parser.add_argument(
        "--note", action="append", default=[], help="a paragraph under the tables (with --render-only: replaces them)"
    )
    args = parser.parse_args(argv)
    args.results = args.results or args.out.parent / RESULTS_NAME
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rows (or read them back), print and write the section."""
    args = parse_args(argv)
    if args.render_only is not None:
        data = json.loads(args.render_only.read_text())
        if args.note:  # the notes replace the kept ones, and are kept in the JSON for the next render
            data["meta"]["notes"] = [n + "\n" for n in args.note]
            args.render_only.write_text(json.dumps(data, indent=1) + "\n")
        section = render(data["results"], data["meta"])
    else:
        command = shlex.join(["python", "benchmarks/focus.py", *(sys.argv[1:] if argv is None else argv)])
        tasks = [(key, seed) for seed in args.seeds for key in args.rows]
        start = time.perf_counter()
        results = []
        with tempfile.TemporaryDirectory() as run_root:

            def done(result: dict[str, Any]) -> None:
                results.append(result)
                print(json.dumps(result), flush=True)

            def failed(task: tuple[Any, ...], error: BaseException) -> None:
                print(f"FAILED {task[:2]}: {error!r}", file=sys.stderr, flush=True)

            run_tasks(run_one, [(key, seed, run_root, args.timesteps) for key, seed in tasks], args.jobs, done, failed)
        meta = {
            "command": command,
            "date": dt.date.today().isoformat(),
            "wall_min": (time.perf_counter() - start) / 60,
            "jobs": args.jobs,
            "machine": machine_facts("cpu"),
            "notes": [n + "\n" for n in args.note],
        }
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
        section = render(results, meta)
    print(section)
    write_section(args.out, section, START_MARKER, END_MARKER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
