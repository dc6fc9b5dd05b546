"""Choosing a default by learning: each row trained with today's setting and with a cheaper candidate.

A default that costs less must learn as well. A *study* names the rows that decide it and the variants compared
(extractor settings over each row's preset); every (row, variant, seed) run trains PPO as ``train_rl.py`` would,
with the same budget and seeds, and the final deterministic evaluation (on seeds the training never saw) gives its
return and success. The section lists, per row and variant, the mean over seeds with a 95% bootstrap CI, the median
steps to the row's solved score, the wall time per run, and every seed's return, so a candidate is kept only where
no row gets worse.

Studies:

- ``block``: the self-attention block's MLP width (``mlp_ratio`` 2, the default, against 1) on the rows whose
  preset needs a block (CollectAvoid, Sensors) and FindTarget N=8 with one block added.
- ``stem``: the conv tokenizer's stem (each preset's, against ``fast``: NatureCNN's first layer) on PatchFind and
  MiniGrid DoorKey pixels.

Usage::

    python benchmarks/default_choice.py --study block --seeds 0 1 2 --jobs 1
    python benchmarks/default_choice.py --study stem --seeds 0 --variants fast   # one variant, added to the results
    python benchmarks/default_choice.py --render-only                             # redraw the section from the JSON

Every finished run goes into ``docs/default_choice_results.json`` at once (a run of the same study, row, variant
and seed replaces the old one), so a stopped command keeps what it measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from doc_sections import write_section
from learning_rows import ROWS as LEARNING_ROWS
from learning_rows import Row, register_bench_envs, run_config, run_figures

import envs
from agents import train
from agents.evaluation.statistics import mean_ci
from agents.training.grid import run_tasks

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "BENCHMARKS.md"
RESULTS = ROOT / "docs" / "default_choice_results.json"
START_MARKER = "<!-- default_choice:start -->"
END_MARKER = "<!-- default_choice:end -->"

#: A command's ``--run-root`` (a machine's own folder), left out of the commands the section shows.
RUN_ROOT_FLAG = re.compile(r" --run-root \S+")


@dataclass(frozen=True)
class Study:
    """The rows that decide one default and the settings compared on them."""

    question: str
    rows: tuple[tuple[Row, str], ...]
    """``(row, extractor)``: the learning row and the attention extractor trained on it."""
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Name -> ``extractor_kwargs`` over the row's preset; the first is today's setting."""


COLLECT_AVOID = Row(
    "collectavoid", "CollectAvoid", f"{envs.NAMESPACE}/CollectAvoid-v0", 200_000, 0.0, "", False
)  # fmt: skip
FIND_TARGET_BLOCK = dataclasses.replace(
    LEARNING_ROWS["findtarget-8"],
    key="findtarget-8-l1",
    label="FindTarget N=8, one block",
    overrides={"extractor_kwargs": {"num_layers": 1}},
)
STUDIES: dict[str, Study] = {
    "block": Study(
        "The self-attention block's MLP width: 2x the embedding (today's default) against 1x.",
        ((COLLECT_AVOID, "attention"), (LEARNING_ROWS["sensors"], "attention"), (FIND_TARGET_BLOCK, "attention")),
        {"mlp_ratio 2": {}, "mlp_ratio 1": {"mlp_ratio": 1.0}},
    ),
    "stem": Study(
        "The conv tokenizer's stem: each preset's (`medium` on PatchFind, `small` on MiniGrid) against `fast`.",
        ((LEARNING_ROWS["patchfind"], "conv"), (LEARNING_ROWS["minigrid-pixels"], "conv")),
        {"preset stem": {}, "fast": {"stem": "fast"}},
    ),
}


def run_one(
    study: str,
    row_key: str,
    variant: str,
    seed: int,
    timesteps: int | None,
    run_root: str,
    eval_episodes: int,
    threads: int,
) -> dict[str, Any]:
    """Train and evaluate one (row, variant, seed) of ``study``; its figures as plain data (runs in a worker)."""
    import torch

    torch.set_num_threads(threads)
    register_bench_envs()
    spec = STUDIES[study]
    row, extractor = next((row, extractor) for row, extractor in spec.rows if row.key == row_key)
    config = run_config(row, extractor, seed, timesteps or row.timesteps, run_root, eval_episodes)
    kwargs = {**config.extractor_kwargs, **spec.variants[variant]}
    run = train(dataclasses.replace(config, extractor_kwargs=kwargs))
    return {"study": study, "row": row_key, "variant": variant, "seed": seed, **run_figures(run, row)}


def run_key(result: dict[str, Any]) -> tuple[str, str, str, int]:
    """What makes a run: its study, row, variant and seed."""
    return result["study"], result["row"], result["variant"], int(result["seed"])


def load(path: Path) -> dict[str, Any]:
    """The kept results (``{"commands": [...], "runs": [...]}``; empty if the file is missing)."""
    if not path.exists():
        return {"commands": [], "runs": []}
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or "runs" not in data:
        raise ValueError(f"{path} is not a default_choice results file (no 'runs'): remove it or pass --results.")
    return data


def save(path: Path, data: dict[str, Any]) -> None:
    """Write the kept results, atomically."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(data, indent=1) + "\n")
    scratch.replace(path)


def store(path: Path, result: dict[str, Any]) -> None:
    """Add ``result`` to the file (replacing the same run) at once.

    The file is read again first, so what another command wrote meanwhile (its runs, notes) stays.
    """
    data = load(path)
    data["runs"] = [run for run in data["runs"] if run_key(run) != run_key(result)] + [result]
    data["runs"].sort(key=run_key)
    save(path, data)


def cell(values: Sequence[float], pattern: str, scale: float = 1.0) -> str:
    """``mean [low, high]`` over seeds, or the one value."""
    if not values:
        return "-"
    mean, low, high = mean_ci([v * scale for v in values])
    text = pattern.format(mean)
    return text if len(values) == 1 else f"{text} [{pattern.format(low)}, {pattern.format(high)}]"


def solved_median(steps: Sequence[int | None]) -> str:
    """The median steps to the solved score over seeds (a seed that never got there counts as the longest)."""
    middle = float(np.median([np.inf if s is None else s for s in steps]))
    missing = sum(s is None for s in steps)
    text = "not solved" if np.isinf(middle) else f"{middle / 1000:.0f}k"
    return text + (f" ({missing} of {len(steps)} not solved)" if missing and not np.isinf(middle) else "")


def table(study: str, runs: Sequence[dict[str, Any]]) -> str:
    """The study's table: one line per row and variant."""
    spec = STUDIES[study]
    lines = [
        "| row | variant | seeds | return | success % | steps to solved (median) | wall s / run | returns per seed |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row, _ in spec.rows:
        for variant in spec.variants:
            mine = sorted(
                (r for r in runs if r["study"] == study and r["row"] == row.key and r["variant"] == variant),
                key=lambda r: r["seed"],
            )
            if not mine:
                continue
            returns = [r["eval_return"] for r in mine if r["eval_return"] is not None]
            success = [r["eval_success"] for r in mine if r["eval_success"] is not None]
            solved = [r["steps_to_solve"] for r in mine]
            median = solved_median(solved) if row.solved else "-"
            wall = f"{np.mean([r['wall_s'] for r in mine]):.0f}"
            per_seed = " / ".join(f"{r['seed']}: {r['eval_return']:.3g}" for r in mine)
            lines.append(
                f"| {row.label} | {variant} | {len(mine)} | {cell(returns, '{:.3f}')} | {cell(success, '{:.0f}', 100)} "
                f"| {median} | {wall} | {per_seed} |"
            )
    return "\n".join(lines)


def section(data: dict[str, Any]) -> str:
    """The markdown section, from the kept results."""
    parts = [
        START_MARKER,
        "## Choosing a default by learning",
        "",
        "Produced by these commands (the section is redrawn from docs/default_choice_results.json by "
        "`python benchmarks/default_choice.py --render-only`):",
        "",
        *[
            f"- `{RUN_ROOT_FLAG.sub('', c['command'])}` on {c['started']} (1-minute load average at its start: "
            f"{c['load']:.2f})"
            for c in data["commands"]
        ],
        "",
        "Each row trains PPO with the env's `configs/ppo.yaml` preset, the variant's extractor settings over it; the "
        "final deterministic evaluation (50 episodes on seeds the training never saw), mean over seeds with a 95% "
        "bootstrap CI. Wall times depend on the load beside each run; compare them only within a command.",
    ]
    for study, spec in STUDIES.items():
        if any(run["study"] == study for run in data["runs"]):
            parts += ["", f"### {study}: {spec.question}", "", table(study, data["runs"])]
            parts += (
                ["", *[f"- {note}" for note in data.get("notes", {}).get(study, [])]]
                if study in data.get("notes", {})
                else []
            )
    return "\n".join([*parts, END_MARKER]) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", choices=tuple(STUDIES), default=None, help="the default to decide")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (0 1 2)")
    parser.add_argument("--rows", nargs="+", default=None, help="only these rows of the study")
    parser.add_argument("--variants", nargs="+", default=None, help="only these variants of the study")
    parser.add_argument("--timesteps", type=int, default=None, help="budget of every run (default: the row's)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs (1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (1)")
    parser.add_argument("--eval-episodes", type=int, default=50, help="final evaluation episodes (50)")
    parser.add_argument("--run-root", type=Path, default=ROOT / "runs" / "default_choice", help="run folders")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the kept per-run figures (%(default)s)")
    parser.add_argument("--out", type=Path, default=DOC, help="the markdown file of the section (%(default)s)")
    parser.add_argument("--render-only", action="store_true", help="redraw the section from --results")
    parser.add_argument(
        "--note", action="append", default=None,
        help="a line under the study's table (repeatable; replaces the study's notes; with --study)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.study is None and not args.render_only:
        parser.error(f"give --study ({', '.join(STUDIES)}) or --render-only")
    if args.note is not None and args.study is None:
        parser.error("--note needs --study: the study whose table the lines go under")
    if args.study is not None:
        spec = STUDIES[args.study]
        for name, given, known in (
            ("--rows", args.rows, [row.key for row, _ in spec.rows]),
            ("--variants", args.variants, list(spec.variants)),
        ):
            unknown = [value for value in given or () if value not in known]
            if unknown:
                parser.error(f"{name} {' '.join(unknown)}: the study '{args.study}' has {', '.join(known)}")
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: use 1 or more.")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Train the asked runs (or none), then write the section."""
    args = parse_args(argv)
    data = load(args.results)
    if args.note is not None:
        data.setdefault("notes", {})[args.study] = args.note
        save(args.results, data)
    if not args.render_only:
        spec = STUDIES[args.study]
        command = "python benchmarks/default_choice.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        data["commands"].append({"command": command, "started": started, "load": os.getloadavg()[0]})
        save(args.results, data)
        # Seed by seed, every variant of a row next to each other: a command cut short keeps comparable pairs.
        tasks = [
            (args.study, row.key, variant, seed, args.timesteps, str(args.run_root), args.eval_episodes, args.threads)
            for seed in args.seeds
            for row, _ in spec.rows
            if args.rows is None or row.key in args.rows
            for variant in spec.variants
            if args.variants is None or variant in args.variants
        ]
        failures: list[str] = []

        def done(result: dict[str, Any]) -> None:
            result["finished"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            store(args.results, result)
            print(json.dumps(result), flush=True)

        def failed(task: tuple[Any, ...], error: BaseException) -> None:
            failures.append(f"{task[1]} / {task[2]} / seed {task[3]}: {type(error).__name__}: {error}")
            print(f"FAILED {failures[-1]}", file=sys.stderr, flush=True)

        run_tasks(run_one, tasks, args.jobs, done, failed)
        if failures:
            print(f"{len(failures)} run(s) failed; the others are kept in {args.results}", file=sys.stderr)
    write_section(args.out, section(load(args.results)), START_MARKER, END_MARKER)
    print(f"wrote the section into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
