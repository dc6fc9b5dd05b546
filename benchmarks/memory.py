"""Memory over the episode, side by side: ``ppo_trxl`` against ``ppo_lstm`` and PPO with the time-window extractor.

Rows are memory tasks: ``attn/CueMemory-v0`` with long delays (``difficulty=4``: 20-100 steps, the cue long gone
from the 16-row window), the same with one row per step (``window=1``: each memory slot holds one observation, so
the memory's focus can land on the cue's own step; ``--arms ppo_trxl ppo_lstm``, a one-row window has nothing to
attend over) and four POPGym envs (``pip install "attention-rl[popgym]"``). Arms, with the same PPO
hyperparameters (``HYPERPARAMS``), steps and seeds:

- ``ppo_trxl``: one token per step (SB3's Flatten of the observation), a Transformer-XL memory over the episode;
- ``ppo_lstm``: sb3-contrib's RecurrentPPO on the same Flatten features;
- ``ppo_window``: PPO with the time-window attention extractor (``--extractor time``) over the last 16 steps
  (CueMemory's own window; ``env_kwargs.window=16`` for POPGym): attention, but no memory beyond the window.

Each run trains with ``agents.train`` (attention logging off, so the timings are the algorithms'), then evaluates
greedily on ``--eval-episodes`` episodes. Every finished run is appended to ``docs/memory_results.jsonl``; the
section (between ``<!-- memory:start -->`` and ``<!-- memory:end -->`` of docs/BENCHMARKS.md) is drawn from that
file, so runs of several commands add up (``--render-only`` redraws it). One process, one run at a time.

``--suite popgym-easy`` runs every POPGym Easy env instead, ``ppo_trxl`` against ``ppo_lstm`` with the command
line's defaults (no preset section, the automatic one token per step; ``benchmarks/popgym_suite.py``), into
``docs/popgym_results.jsonl`` and its own section of docs/BENCHMARKS.md.

Usage::

    python benchmarks/memory.py --rows cue-long --seeds 0   # 300k steps: 150k left ppo_trxl at 85%
    python benchmarks/memory.py --rows cue-long-steps --arms ppo_trxl --keep-runs runs/memory  # run folders kept
    python benchmarks/memory.py --render-only
    python benchmarks/memory.py --suite popgym-easy --timesteps 500000 --seeds 0 1 2   # the whole table
    python benchmarks/memory.py --suite popgym-easy --envs RepeatFirstEasy --timesteps 100000 --seeds 0
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import popgym_suite
import torch
from doc_sections import LOAD_AT_START, machine_facts, write_section

from agents import RunConfig, train
from agents.evaluation.statistics import mean_ci
from agents.evaluation.tables import markdown_table

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
DEFAULT_RESULTS = REPO_ROOT / "docs" / "memory_results.jsonl"
DEFAULT_SUITE_RESULTS = REPO_ROOT / "docs" / "popgym_results.jsonl"
#: Steps per run of the POPGym Easy suite when ``--timesteps`` is not given.
SUITE_TIMESTEPS = 500_000
START_MARKER, END_MARKER = "<!-- memory:start -->", "<!-- memory:end -->"
#: The PPO settings every arm trains with (the ``ppo_trxl`` preset's).
HYPERPARAMS = {
    "n_steps": 128, "batch_size": 256, "n_epochs": 4, "learning_rate": 3.0e-4, "gamma": 0.99, "gae_lambda": 0.95,
    "ent_coef": 0.01,
}  # fmt: skip
WINDOW = 16


@dataclass(frozen=True)
class Row:
    """One memory task."""

    key: str
    env: str
    label: str
    timesteps: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    memory_length: int = 64
    solved: float | None = None
    """Success rate that counts as solved (rows with ``is_success``), else None."""
    arms: tuple[str, ...] = ("ppo_trxl", "ppo_lstm", "ppo_window")
    """The arms that make sense on the row (a one-row window has nothing to attend over)."""
    focus: float | None = None
    """Causal memory focus on the cue's step that ``ppo_trxl`` should reach, once it solves the row, else None."""


ROWS = {
    row.key: row
    for row in (
        Row("cue-long", "attn/CueMemory-v0", "CueMemory, long delays (difficulty=4: 20-100 steps)", 300_000,
            {"difficulty": 4}, memory_length=128, solved=0.95),
        Row("cue-long-steps", "attn/CueMemory-v0", "CueMemory, long delays, one row per step (window=1)", 300_000,
            {"difficulty": 4, "window": 1}, memory_length=128, solved=0.95, arms=("ppo_trxl", "ppo_lstm"), focus=0.8),
        Row("repeat-previous", "popgym-RepeatPreviousEasy-v0", "POPGym RepeatPreviousEasy", 100_000),
        Row("count-recall", "popgym-CountRecallEasy-v0", "POPGym CountRecallEasy", 100_000),
        Row("stateless-cartpole", "popgym-PositionOnlyCartPoleEasy-v0", "POPGym PositionOnlyCartPoleEasy", 100_000),
        Row("autoencode", "popgym-AutoencodeEasy-v0", "POPGym AutoencodeEasy", 100_000),
    )
}  # fmt: skip
ARMS = ("ppo_trxl", "ppo_lstm", "ppo_window")


def run_config(row: Row, arm: str, seed: int, timesteps: int, run_root: str, eval_episodes: int) -> RunConfig:
    """The ``RunConfig`` of one (row, arm, seed)."""
    env_kwargs = dict(row.env_kwargs)
    policy_kwargs: dict[str, Any] = {"net_arch": [64]}
    if arm == "ppo_trxl":
        algo, extractor = "ppo_trxl", "mlp"
        policy_kwargs.update(memory_length=row.memory_length, memory_dim=64, memory_heads=2, memory_layers=2)
    elif arm == "ppo_lstm":
        algo, extractor = "ppo_lstm", "mlp"
        policy_kwargs.update(lstm_hidden_size=64)
    else:
        algo, extractor = "ppo", "time"
        if row.env.startswith("popgym-"):
            env_kwargs["window"] = WINDOW
    return RunConfig(
        env=row.env, algo=algo, extractor=extractor, timesteps=timesteps, seed=seed, n_envs=8, run_root=run_root,
        env_kwargs=env_kwargs, hyperparams=dict(HYPERPARAMS), policy_kwargs=policy_kwargs,
        extractor_kwargs={"num_layers": 0} if extractor == "time" else {}, normalize=False, eval_episodes=eval_episodes,
        eval_freq=0, save_freq=0, attention_log_interval=0, progress_bar=False, focus=["causal", "readout"],
    )  # fmt: skip


def run_one(row: Row, arm: str, seed: int, timesteps: int, run_root: str, eval_episodes: int) -> dict[str, Any]:
    """Train and evaluate one (row, arm, seed); its figures as plain data."""
    run = train(run_config(row, arm, seed, timesteps, run_root, eval_episodes))
    evaluation = run.evaluation
    memory = (evaluation.extra.get("memory_focus") or {}).get("methods", {})
    return {
        "row": row.key, "arm": arm, "seed": seed, "timesteps": int(run.model.num_timesteps), "wall_s": run.wall_time_s,
        "eval_return": evaluation.mean_return, "eval_success": evaluation.success_rate,
        "memory_relevant_mass": {m: s["relevant_mass"] for m, s in memory.items()} or None,
        "memory_relevant_effect": (memory.get("causal") or {}).get("relevant_effect"),
    }  # fmt: skip


def read_results(path: Path) -> list[dict[str, Any]]:
    """Every run recorded in ``path`` (a later run of the same row, arm, seed and budget replaces an earlier one)."""
    if not path.is_file():
        return []
    runs: dict[tuple, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            runs[(r["row"], r["arm"], r["seed"], r["timesteps"])] = r
    return list(runs.values())


def fmt(stats: tuple[float, float, float] | None, pattern: str) -> str:
    """``mean [low, high]`` (one seed: the mean alone)."""
    if stats is None:
        return "n/a"
    mean, low, high = stats
    return (
        pattern.format(mean)
        if low == high
        else f"{pattern.format(mean)} [{pattern.format(low)}, {pattern.format(high)}]"
    )


def render_section(runs: Sequence[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The markdown section: one table row per (task, arm), the speed ratio, the targets, what was not run."""
    lines = [START_MARKER, "## Memory over the episode: ppo_trxl vs ppo_lstm vs the time window", ""]
    lines += [f"Produced by `{c}` ({d})." for c, d in meta.get("commands", [])]
    lines += ["", *(f"- {fact}" for fact in meta.get("machine", [])), ""]
    lines.append(
        f"Same PPO settings for every arm ({', '.join(f'{k}={v}' for k, v in HYPERPARAMS.items())}, 8 envs), "
        "greedy evaluation after training. `ppo_trxl` and `ppo_lstm` read each step through SB3's Flatten; "
        f"`ppo_window` is PPO with the time-window attention extractor over the last {WINDOW} steps. Means with "
        "95% bootstrap CIs over seeds (one seed: no CI). Steps/s: training steps over `learn` time (the env "
        "included); the ratio is to `ppo_lstm` on the same task."
    )
    header = ["task", "arm", "steps", "seeds", "eval return", "success", "steps/s", "speed vs ppo_lstm",
              "memory focus on the cue (causal / readout)", "cue's share of the causal effect"]  # fmt: skip
    table, targets, missing = [], [], []
    for row in ROWS.values():
        budget = max((r["timesteps"] for r in runs if r["row"] == row.key), default=None)
        if budget is None:
            missing += [f"{row.label} / `{arm}`" for arm in row.arms]
            continue
        # The largest budget run on the row is the one shown (smaller ones stay in the results file).
        by_arm = {arm: [r for r in runs if (r["row"], r["arm"], r["timesteps"]) == (row.key, arm, budget)]
                  for arm in row.arms}  # fmt: skip
        speed = {arm: [r["timesteps"] / r["wall_s"] for r in rs] for arm, rs in by_arm.items()}
        lstm_speed = sum(speed["ppo_lstm"]) / len(speed["ppo_lstm"]) if speed.get("ppo_lstm") else None
        for arm, rs in by_arm.items():
            if not rs:
                elsewhere = any(r["row"] == row.key and r["arm"] == arm for r in runs)
                missing.append(f"{row.label} / `{arm}`" + (f" at {budget:,} steps" if elsewhere else ""))
                table.append([row.label, f"`{arm}`", "", 0, "not run at this budget" if elsewhere else "not run",
                              "", "", "", "", ""])  # fmt: skip
                continue
            success = [r["eval_success"] for r in rs if r["eval_success"] is not None]
            mean_speed = sum(speed[arm]) / len(speed[arm])
            focus = [r["memory_relevant_mass"] for r in rs if r.get("memory_relevant_mass")]
            focus_cell = (
                " / ".join(fmt(mean_ci([f[m] for f in focus if f.get(m) is not None]), "{:.2f}")
                           for m in ("causal", "readout")) if focus and row.key.startswith("cue-long") else ""
            )  # fmt: skip
            effect = [r["memory_relevant_effect"] for r in rs if r.get("memory_relevant_effect") is not None]
            table.append([
                row.label, f"`{arm}`", f"{rs[0]['timesteps']:,}", len(rs),
                fmt(mean_ci([r["eval_return"] for r in rs]), "{:.2f}"),
                fmt(mean_ci(success), "{:.0%}") if success else "",
                f"{mean_speed:.0f}", f"{mean_speed / lstm_speed:.2f}x" if lstm_speed else "n/a", focus_cell,
                fmt(mean_ci(effect), "{:.2f}") if effect and row.key.startswith("cue-long") else "",
            ])  # fmt: skip
        targets += _targets(row, by_arm)
    lines += ["", markdown_table(header, table), "", "Targets:", "", *targets]
    if missing:
        lines += ["", f"**Not run** (no figure above is claimed for them): {', '.join(missing)}."]
    notes = meta.get("notes", [])
    lines += ["", "Notes:", "", *(f"- {note}" for note in notes), "", END_MARKER] if notes else ["", END_MARKER]
    return "\n".join(lines)


def _targets(row: Row, by_arm: dict[str, list[dict[str, Any]]]) -> list[str]:
    out = []
    trxl, lstm, window = (by_arm.get(a, []) for a in ARMS)
    if row.solved is not None and trxl:
        success = mean_ci([r["eval_success"] for r in trxl])
        met = "met" if success[0] >= row.solved else "**NOT met**"
        out.append(f"- {row.label}: `ppo_trxl` solves it (>= {row.solved:.0%} right answers): {met}, {success[0]:.0%}.")
    causal = [
        r["memory_relevant_mass"]["causal"]
        for r in trxl
        if (r.get("memory_relevant_mass") or {}).get("causal") is not None
    ]
    effect = [r["memory_relevant_effect"] for r in trxl if r.get("memory_relevant_effect") is not None]
    if row.focus is not None and row.solved is not None and (effect or causal):
        success = mean_ci([r["eval_success"] for r in trxl])
        if effect:  # every step weighs as much as its action depends on the memory
            focus, what = mean_ci(effect), "causal focus on the cue's step (its share of the summed causal effect)"
            per_step = f"; the per-step mean, every step weighing the same: {fmt(mean_ci(causal), '{:.2f}')}"
            values = effect
        else:  # results recorded before the effect share was
            focus, what, per_step, values = mean_ci(causal), "causal memory focus on the cue's step", "", causal
        met = "met" if focus[0] >= row.focus and success[0] >= row.solved else "**NOT met**"
        each = sum(v >= row.focus for v in values)
        out.append(
            f"- {row.label}: `ppo_trxl`'s {what} >= {row.focus} at >= {row.solved:.0%} right answers: {met} on the "
            f"mean, {fmt(focus, '{:.2f}')} at {success[0]:.0%}; on {each} of {len(values)} seeds (per seed "
            f"{' / '.join(f'{c:.2f}' for c in values)}{per_step})."
        )
    if row.solved is not None and window:
        success = mean_ci([r["eval_success"] for r in window])
        out.append(f"- {row.label}: the time window cannot (success {success[0]:.0%}; chance is 50%).")
    if trxl and lstm:
        a, b = mean_ci([r["eval_return"] for r in trxl]), mean_ci([r["eval_return"] for r in lstm])
        met = "met" if a[0] >= b[0] else ("within the CIs" if a[2] >= b[1] else "**NOT met**")
        out.append(f"- {row.label}: `ppo_trxl` matches or beats `ppo_lstm`: {met} ({a[0]:.2f} vs {b[0]:.2f}).")
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS), help="tasks to run")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS), help="arms to run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=None, help="steps per run (default: the row's)")
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--render-only", action="store_true", help="redraw the section from --results")
    parser.add_argument(
        "--keep-runs",
        type=Path,
        default=None,
        help="keep the run folders here (default: a temporary folder, removed at the end); "
        "benchmarks/memory_focus_steps.py reads them",
    )
    parser.add_argument("--note", action="append", default=[], help="a line added under the section")
    parser.add_argument(
        "--suite",
        choices=["popgym-easy"],
        default=None,
        help="run the POPGym Easy suite with the defaults instead of --rows / --arms",
    )
    parser.add_argument(
        "--envs",
        nargs="+",
        default=list(popgym_suite.BY_NAME),
        choices=list(popgym_suite.BY_NAME),
        help="with --suite: the envs to run (POPGym names)",
    )
    args = parser.parse_args(argv)
    if args.suite is not None:
        args.arms = [a for a in args.arms if a in popgym_suite.ARMS]
        args.results = DEFAULT_SUITE_RESULTS if args.results == DEFAULT_RESULTS else args.results
    return args  # fmt: skip


@contextlib.contextmanager
def run_folder(keep: Path | None) -> Iterator[str]:
    """``keep`` (created) when given, else a temporary folder removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield str(keep)
        return
    with tempfile.TemporaryDirectory() as root:
        yield root


def run_suite(args: argparse.Namespace, meta: dict[str, Any], meta_path: Path) -> str:
    """Run the POPGym Easy suite's (env, arm, seed) grid seed by seed (``--render-only``: none); its section."""
    envs = [popgym_suite.BY_NAME[name] for name in args.envs]
    meta.setdefault("random", {})
    if not args.render_only:
        with run_folder(args.keep_runs) as root:
            for seed in args.seeds:
                for env in envs:
                    for arm in args.arms:
                        start = time.perf_counter()
                        result = popgym_suite.run_suite_one(
                            env, arm, seed, args.timesteps or SUITE_TIMESTEPS, root, args.eval_episodes
                        )
                        result["elapsed_s"] = time.perf_counter() - start
                        with args.results.open("a") as f:
                            f.write(json.dumps(result) + "\n")
                        print(json.dumps(result), flush=True)
                    if env.name not in meta["random"]:
                        meta["random"][env.name] = popgym_suite.random_return(env, args.eval_episodes)
                        meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    text = args.results.read_text() if args.results.is_file() else ""
    runs = [json.loads(line) for line in text.splitlines() if line.strip()]
    latest = {(r["env"], r["arm"], r["seed"], r["timesteps"]): r for r in runs}  # a later run replaces one
    return popgym_suite.render_suite_section(list(latest.values()), meta["random"], meta)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the (row, arm, seed) grid one run at a time, seed by seed, then draw the section."""
    args = parse_args(argv)
    torch.set_num_threads(1)  # one process on a shared 2-core machine (agents.train sets 1 as well)
    meta_path = args.results.with_suffix(".meta.json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"commands": [], "notes": []}
    if not args.render_only:
        command = shlex.join(["python", "benchmarks/memory.py", *(sys.argv[1:] if argv is None else argv)])
        date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        meta["commands"].append([command, f"{date}, 1-minute load average at start {LOAD_AT_START:.2f}"])
        meta["machine"] = machine_facts("cpu")
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    if args.suite is not None:
        meta["notes"] = list(dict.fromkeys([*meta.get("notes", []), *args.note]))
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")
        section = run_suite(args, meta, meta_path)
        write_section(args.out, section, popgym_suite.START_MARKER, popgym_suite.END_MARKER)
        print(section)
        return 0
    if not args.render_only:
        with run_folder(args.keep_runs) as root:
            for seed in args.seeds:
                for key in args.rows:
                    for arm in [a for a in args.arms if a in ROWS[key].arms]:
                        row = ROWS[key]
                        start = time.perf_counter()
                        result = run_one(row, arm, seed, args.timesteps or row.timesteps, root, args.eval_episodes)
                        result["elapsed_s"] = time.perf_counter() - start
                        with args.results.open("a") as f:
                            f.write(json.dumps(result) + "\n")
                        print(json.dumps(result), flush=True)
    meta["notes"] = list(dict.fromkeys([*meta.get("notes", []), *args.note]))
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    section = render_section(read_results(args.results), meta)
    write_section(args.out, section, START_MARKER, END_MARKER)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
