"""Social Attention (Leurent & Mercat 2019) on highway-env: ego-attention against the MLP, many seeds, one command.

On intersection-v0 the paper's third arm, a CNN on highway-env's occupancy grid (``grid_cnn``), runs too.

Train every row's arms as one ``train_rl.py sweep`` each (seeds x extractors; a sweep started again skips the
finished trials, so an interrupted reproduction resumes where it stopped), then write the results section of
docs/BENCHMARKS.md from the run folders and the results kept in docs/social_attention_results.json:

    python benchmarks/social_attention.py train --seeds 20                 # every row, 20 seeds per arm
    python benchmarks/social_attention.py train --rows intersection-dqn --seeds 10
    python benchmarks/social_attention.py report                           # table + curves into docs/
    python benchmarks/social_attention.py actions    # action counts of runs evaluated before they were counted

Each trial ends with ``--eval-episodes`` (default 100) greedy episodes on highway-env's Python original at the
env's own settings: success (arrived, or ran out of time on the other envs, without a collision), collision rate,
time to cross (the successful episodes' length in decisions; intersection-v0 decides once a second) and the final
return. Curves are the training episodes' return and length, in bins of ``--bin`` episodes, mean and 95%
bootstrap interval over the seeds.

``report`` keeps every finished run's figures (and its training curve) in docs/social_attention_results.json, so
the table survives the run folders; ``train`` starts each arm at the first seed that file does not have for it
(an arm behind the others, such as the occupancy-grid CNN added to intersection-dqn, trains those seeds first), so
seeds can be trained on several machines (``--run-dir`` each) and gathered by committing that file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from doc_sections import write_section

from agents.evaluation.statistics import bootstrap_ci, mean_ci
from agents.evaluation.tables import markdown_table
from agents.storage.monitor_files import has_monitor_files, read_monitor, read_progress

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "BENCHMARKS.md"
PLOT = ROOT / "docs" / "social_attention_curves.png"
#: Every finished run's figures and training curve, per row and run (``attention_s3``), kept with the docs.
RESULTS = ROOT / "docs" / "social_attention_results.json"
#: An eval video of a reproduced attention policy (made by ``train_rl.py eval --video``), shown when present.
VIDEO = ROOT / "docs" / "social_attention_eval.gif"
START_MARKER = "<!-- social-attention-results:start -->"
END_MARKER = "<!-- social-attention-results:end -->"
#: In a row's sweep folder: the seeds per arm ``train`` was last asked for (the report's progress line).
TARGET_FILE = "reproduction.yaml"
#: Training episodes per point of the kept curves (``--bin`` is a multiple of it), and the curves kept.
CURVE_BIN = 10
CURVE_KEYS = ("curve_returns", "curve_lengths", "curve_speeds")
#: Every arm a row can have, with its colour in the curves; the paper's CNN on the occupancy grid on intersection.
ARM_COLOURS = {"attention": "tab:blue", "mlp": "tab:orange", "grid_cnn": "tab:green"}
ARMS_WITH_GRID = ("attention", "mlp", "grid_cnn")
#: What the focus table gives per method (from each attention run's ``eval.json``).
FOCUS_FIGURES = ("ego", "relevant_mass", "entropy", "spearman", "deletion_ratio")
#: The names of an env's discrete actions by index (highway-env's DiscreteMetaAction; other envs: "action i").
ACTION_NAMES = {"intersection-v0": ("SLOWER", "IDLE", "FASTER")}
ACTIONS_FILE = "action_counts.json"
"""Written by ``actions`` into a run folder whose ``eval.json`` predates the evaluation's action counts."""
SAVE_FREQ = 2_500
"""Checkpoint every this many steps, so a reproduction stopped and started again loses little."""


@dataclass(frozen=True)
class Row:
    """One env and algorithm, both arms trained by one sweep."""

    env: str
    algo: str
    timesteps: int | None
    """Env steps per run, or None for the preset's ``n_timesteps``."""
    budget: str
    """Where the budget comes from, for the doc."""
    arms: tuple[str, ...] = ("attention", "mlp")
    """The extractors compared (each with its preset section: ``intersection-v0@grid_cnn`` observes a grid)."""


#: The reproduction (the paper's DQN), the same with PPO, and the other highway-env envs with PPO.
ROWS: dict[str, Row] = {
    "intersection-dqn": Row(
        "intersection-v0", "dqn", None, "45k steps (dqn preset, sized for 4,000 episodes)", ARMS_WITH_GRID
    ),
    "intersection-ppo": Row("intersection-v0", "ppo", 45_000, "the DQN rows' ~45k steps, PPO's default section"),
    "highway-fast-ppo": Row("highway-fast-v0", "ppo", 20_000, "highway-env's scripts/sb3_highway_ppo.py (2e4)"),
    "roundabout-ppo": Row("roundabout-v0", "ppo", 20_000, "as highway-fast-v0 (no script of highway-env's)"),
    "merge-ppo": Row("merge-v0", "ppo", 20_000, "as highway-fast-v0 (no script of highway-env's)"),
}


def sweep_name(row: str) -> str:
    """The sweep folder's name of a row: ``runs/sweeps/social-<row>``."""
    return f"social-{row}"


def sweep_command(
    row: str,
    seeds: int,
    run_dir: Path,
    eval_episodes: int,
    extra: Sequence[str] = (),
    first_seed: int = 0,
    arms: Sequence[str] | None = None,
) -> list[str]:
    """The ``train_rl.py sweep`` command that trains ``arms`` (the row's) on seeds ``first_seed`` .. ``seeds - 1``."""
    spec = ROWS[row]
    command = [
        sys.executable, str(ROOT / "train_rl.py"), "sweep", "--env", spec.env, "--algo", spec.algo,
        "--extractors", ",".join(arms or spec.arms), "--seeds", str(seeds - first_seed), "--eval-episodes",
        str(eval_episodes), "--run-dir", str(run_dir), "--name", sweep_name(row),
        "--set", f"save_freq={SAVE_FREQ}",
    ]  # fmt: skip
    if first_seed:
        command += ["--first-seed", str(first_seed)]
    if spec.timesteps is not None:
        command += ["--timesteps", str(spec.timesteps)]
    return [*command, *extra]


# ---------------------------------------------------------------------------------------------- results
def run_result(run_dir: Path) -> dict[str, Any] | None:
    """One finished run's figures (None while it has no ``eval.json``)."""
    evaluation = run_dir / "eval.json"
    config_file = run_dir / "config.yaml"
    if not (evaluation.is_file() and config_file.is_file()):
        return None
    data = json.loads(evaluation.read_text())
    config = yaml.safe_load(config_file.read_text())
    lengths = np.asarray(data["lengths"], dtype=np.float64)
    successes = data.get("successes")
    crossed = lengths[np.asarray(successes, dtype=bool)] if successes is not None else lengths[:0]
    result: dict[str, Any] = {
        "extractor": config["extractor"],
        "seed": int(config["seed"]),
        "episodes": int(data["episodes"]),
        "return": float(data["mean_return"]),
        "success": data.get("success_rate"),
        "crash": data.get("crash_rate"),
        "time_to_cross": float(crossed.mean()) if len(crossed) else None,
    }
    methods = (data.get("attention") or {}).get("methods") or {}
    parts = (data.get("attention") or {}).get("parts") or []
    ego = next((p.get("by_method") or {} for p in parts if p.get("part") == "ego"), {})
    result["focus"] = {
        method: {
            "relevant_mass": stats.get("relevant_mass"),
            "entropy": stats.get("entropy"),
            "spearman": (stats.get("faithfulness") or {}).get("spearman"),
            "deletion_ratio": (stats.get("faithfulness") or {}).get("deletion_ratio"),
            "ego": ego.get(method),
        }
        for method, stats in methods.items()
    }
    counts = data.get("action_counts") or action_counts_file(run_dir)
    if counts:
        result["action_counts"] = [int(n) for n in counts]
    train_s = training_seconds(run_dir / "progress.csv")
    if train_s is not None:
        result["train_s"] = round(train_s)
    if has_monitor_files(run_dir / "monitor"):
        episodes = read_monitor(run_dir / "monitor", info_keywords=("mean_speed",))
        curves = {"curve_returns": episodes.returns, "curve_lengths": episodes.lengths}
        speeds = episodes.info["mean_speed"]
        if len(speeds) and np.isfinite(speeds).all():  # recorded for every episode (runs since the adapter has it)
            curves["curve_speeds"] = speeds
        result.update(kept_curves(curves, len(episodes)))
    return result


def action_counts_file(run_dir: Path) -> list[int] | None:
    """The greedy action counts ``actions`` wrote into a run folder (None when it has none)."""
    path = run_dir / ACTIONS_FILE
    return json.loads(path.read_text())["action_counts"] if path.is_file() else None


def count_actions(run_dir: Path, rows: Sequence[str]) -> list[str]:
    """For each finished run without action counts: its final evaluation again (the same seed and episodes), counted.

    The counts go into the run folder's ``action_counts.json``; a run whose episodes do not come out as its
    ``eval.json``'s (returns per episode) is skipped and named. Returns one line per run counted or skipped.
    """
    from agents.evaluation.evaluate import evaluate

    lines = []
    for row in rows:
        root = run_dir / "sweeps" / sweep_name(row)
        for evaluation in sorted(root.rglob("eval.json")):
            folder, data = evaluation.parent, json.loads(evaluation.read_text())
            if data.get("action_counts") or action_counts_file(folder):
                continue
            again = evaluate(folder, episodes=int(data["episodes"]), seed=int(data["seed"]), write=False,
                             focus=("readout",))  # fmt: skip
            if not np.allclose(again.returns, data["returns"]):
                lines.append(f"{folder}: skipped, its episodes differ from eval.json's")
                continue
            record = {"episodes": again.episodes, "seed": again.seed, "action_counts": again.action_counts}
            (folder / ACTIONS_FILE).write_text(json.dumps(record) + "\n")
            lines.append(f"{folder}: {again.action_counts}")
    return lines


def training_seconds(progress: Path) -> float | None:
    """A run's training wall time from SB3's ``time/time_elapsed`` in ``progress.csv`` (None if it has none).

    A run resumed from a checkpoint appends to the same file with the clock started again: each stretch counts.
    """
    table = read_progress(progress, ["time/time_elapsed"])
    if table is None:
        return None
    elapsed = table["time/time_elapsed"]  # (rows,)
    ends = np.flatnonzero(np.diff(elapsed) < 0)  # the last row of every stretch but the last
    return float(elapsed[ends].sum() + elapsed[-1])


def kept_curves(curves: dict[str, Any], episodes: int) -> dict[str, Any]:
    """Per-episode training curves as the results file keeps them: means of ``CURVE_BIN`` episodes, 4 decimals."""
    kept: dict[str, Any] = {"training_episodes": int(episodes), "curve_bin": CURVE_BIN}
    for key, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        bins = len(values) // CURVE_BIN
        kept[key] = [round(float(v), 4) for v in binned(values, CURVE_BIN, bins)]
    return kept


def compacted(result: dict[str, Any]) -> dict[str, Any]:
    """A kept run whose curves are still per episode (no ``curve_bin``), with its curves binned."""
    if "curve_returns" not in result or "curve_bin" in result:
        return result
    keys = [key for key in CURVE_KEYS if key in result]
    rest = {key: value for key, value in result.items() if key not in keys}
    return {**rest, **kept_curves({key: result[key] for key in keys}, len(result["curve_returns"]))}


def run_key(result: dict[str, Any]) -> str:
    """A run's key in the results file: ``attention_s3``."""
    return f"{result['extractor']}_s{result['seed']}"


def stored(results_file: Path, row: str) -> dict[str, dict[str, Any]]:
    """The runs of ``row`` kept in ``results_file`` by earlier reports, by key."""
    if not results_file.is_file():
        return {}
    return {key: compacted(run) for key, run in json.loads(results_file.read_text()).get(row, {}).items()}


def collect(run_dir: Path, row: str, results_file: Path | None = None) -> list[dict[str, Any]]:
    """The finished runs of ``row``: those kept in ``results_file``, updated from the sweep's run folders."""
    root = run_dir / "sweeps" / sweep_name(row)
    found = (run_result(config.parent) for config in sorted(root.rglob("config.yaml")) if config.parent != root)
    merged = stored(results_file, row) if results_file is not None else {}
    merged.update({run_key(r): r for r in found if r is not None})
    return sorted(merged.values(), key=lambda r: (r["extractor"], r["seed"]))


def keep(results_file: Path, by_row: dict[str, list[dict[str, Any]]]) -> None:
    """Write every row's runs into ``results_file`` (other rows already there are kept)."""
    kept = json.loads(results_file.read_text()) if results_file.is_file() else {}
    kept.update({row: {run_key(r): r for r in results} for row, results in by_row.items() if results})
    rows = []
    for row in sorted(kept):  # one line per run: small diffs when runs are added
        runs = ",\n".join(
            f"  {json.dumps(key)}: {json.dumps(run, sort_keys=True)}" for key, run in sorted(kept[row].items())
        )
        rows.append(f" {json.dumps(row)}: {{\n{runs}\n }}")
    results_file.write_text("{\n" + ",\n".join(rows) + "\n}\n")


def first_missing_seed(results: Sequence[dict[str, Any]], arm: str) -> int:
    """The lowest seed ``arm`` has not finished."""
    done = {r["seed"] for r in results if r["extractor"] == arm}
    seed = 0
    while seed in done:
        seed += 1
    return seed


def sweep_plan(
    results: Sequence[dict[str, Any]], arms: Sequence[str], seeds: int
) -> list[tuple[tuple[str, ...], int, int]]:
    """``(arms, first seed, end seed)`` sweeps that bring every arm to ``seeds`` seeds, the arms behind first.

    An arm added later (or one behind) trains the seeds the others have before all go on together, so that a
    stopped reproduction has every arm on the same seeds.
    """
    starts = {arm: min(first_missing_seed(results, arm), seeds) for arm in arms}
    marks = sorted(set(starts.values()))
    plan = []
    for here, end in zip(marks, [*marks[1:], seeds], strict=True):
        behind = tuple(arm for arm in arms if starts[arm] <= here)
        if here < end:
            plan.append((behind, here, end))
    return plan


def binned(values: np.ndarray, width: int, bins: int) -> np.ndarray:
    """``(bins,)`` means of consecutive ``width``-episode bins."""
    return values[: width * bins].reshape(bins, width).mean(axis=1)


def curves(results: Sequence[dict[str, Any]], key: str, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Episodes (bin ends), mean and ``(2, bins)`` 95% interval over the seeds of one arm's ``key`` curve."""
    runs = [r for r in results if key in r]
    for run in runs:
        if width % run.get("curve_bin", 1):
            raise ValueError(
                f"--bin {width}: the kept curves are means of {run['curve_bin']} episodes; use a multiple."
            )
    series = [(np.asarray(r[key], dtype=np.float64), width // r.get("curve_bin", 1)) for r in runs]
    bins = min((len(s) // per for s, per in series), default=0)
    if not series or bins == 0:
        return np.zeros(0), np.zeros(0), np.zeros((2, 0))
    stacked = np.stack([binned(s, per, bins) for s, per in series])  # (seeds, bins)
    low, high = bootstrap_ci(stacked)
    return width * np.arange(1, bins + 1), stacked.mean(axis=0), np.stack([low, high])


def fmt(values: Sequence[float | None], pattern: str, scale: float = 1.0) -> str:
    """``mean [low, high]`` of the known per-seed values, or an em dash."""
    known = [scale * v for v in values if v is not None]
    if not known:
        return "—"
    mean, low, high = mean_ci(known)
    return f"{pattern.format(mean)} [{pattern.format(low)}, {pattern.format(high)}]"


def results_table(by_row: dict[str, list[dict[str, Any]]]) -> str:
    """One line per row and arm: seeds, success, collision, time to cross, final return (mean [95% CI])."""
    lines = []
    for row, results in by_row.items():
        spec = ROWS[row]
        for extractor in spec.arms:
            arm = [r for r in results if r["extractor"] == extractor]
            if not arm:
                continue
            lines.append([
                spec.env, spec.algo, extractor, len(arm), arm[0]["episodes"],
                fmt([r["success"] for r in arm], "{:.1f}", 100), fmt([r["crash"] for r in arm], "{:.1f}", 100),
                fmt([r["time_to_cross"] for r in arm], "{:.2f}"), fmt([r["return"] for r in arm], "{:.2f}"),
            ])  # fmt: skip
    header = ["env", "algo", "arm", "seeds", "eval episodes", "success %", "collision %", "time to cross", "return"]
    return markdown_table(header, lines)


def focus_table(by_row: dict[str, list[dict[str, Any]]]) -> str:
    """Where the attention arm looked: per row and focus method, relevant mass, entropy and faithfulness."""
    lines = []
    for row, results in by_row.items():
        arm = [r for r in results if r["extractor"] == "attention" and r.get("focus")]
        methods = list(arm[0]["focus"]) if arm else []
        for method in methods:
            values = {key: [r["focus"].get(method, {}).get(key) for r in arm] for key in FOCUS_FIGURES}
            lines.append([
                ROWS[row].env, ROWS[row].algo, method, len(arm), fmt(values["ego"], "{:.2f}"),
                fmt(values["relevant_mass"], "{:.2f}"), fmt(values["entropy"], "{:.2f}"),
                fmt(values["spearman"], "{:+.2f}"), fmt(values["deletion_ratio"], "{:.2f}"),
            ])  # fmt: skip
    header = ["env", "algo", "focus method", "seeds", "on the ego", "relevant mass", "entropy", "Spearman vs causal"]
    return markdown_table([*header, "deletion ratio"], lines)


def action_table(by_row: dict[str, list[dict[str, Any]]]) -> str:
    """What the greedy policies do: each action's share of the evaluation steps, mean [95% CI] over seeds.

    An action a run never took past its last counted index has the share 0 (its counts end there).
    """
    counted = {row: [r for r in results if r.get("action_counts")] for row, results in by_row.items()}
    width = max((len(r["action_counts"]) for runs in counted.values() for r in runs), default=0)
    lines = []
    for row, runs in counted.items():
        spec = ROWS[row]
        for extractor in spec.arms:
            arm = [r for r in runs if r["extractor"] == extractor]
            if arm:
                shares = [np.pad(r["action_counts"], (0, width - len(r["action_counts"]))) for r in arm]
                shares = [s / s.sum() for s in shares]  # (width,) each
                cells = [fmt([float(s[i]) for s in shares], "{:.1f}", 100) for i in range(width)]
                lines.append([spec.env, spec.algo, extractor, len(arm), *cells])
    if not lines:
        return ""
    envs = {ROWS[row].env for row, runs in counted.items() if runs}
    names = ACTION_NAMES.get(envs.pop(), ()) if len(envs) == 1 else ()  # indices where envs' actions differ
    header = [f"{names[i] if i < len(names) else f'action {i}'} %" for i in range(width)]
    return markdown_table(["env", "algo", "arm", "seeds", *header], lines)


def plot(by_row: dict[str, list[dict[str, Any]]], width: int, out: Path) -> Path | None:
    """The paper's curves against training episodes: return, length and (where recorded) the ego's mean speed.

    One column per row, every arm with its 95% band.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row, results in by_row.items() if any("curve_returns" in r for r in results)]
    if not rows:
        return None
    kinds = [("curve_returns", "episode return"), ("curve_lengths", "episode length")]
    if any("curve_speeds" in r for row in rows for r in by_row[row]):
        kinds.append(("curve_speeds", "ego's mean speed [m/s]"))
    figure, axes = plt.subplots(len(kinds), len(rows), figsize=(4.2 * len(rows), 3.0 * len(kinds)), squeeze=False)
    for column, row in enumerate(rows):
        for line, (key, label) in enumerate(kinds):
            axis = axes[line][column]
            for extractor in ROWS[row].arms:
                colour = ARM_COLOURS[extractor]
                arm = [r for r in by_row[row] if r["extractor"] == extractor]
                x, mean, band = curves(arm, key, width)
                if len(x):
                    seeds = sum(key in r for r in arm)
                    axis.plot(x, mean, color=colour, label=f"{extractor} ({seeds} seed{'s' * (seeds != 1)})")
                    axis.fill_between(x, band[0], band[1], color=colour, alpha=0.25)
            axis.set_xlabel("training episodes")
            axis.set_ylabel(f"{label} (mean of {width})")
            axis.set_title(f"{ROWS[row].env}, {ROWS[row].algo}")
            axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out


def progress_lines(by_row: dict[str, list[dict[str, Any]]], run_dir: Path) -> list[str]:
    """``Finished: N of S seeds per arm`` per row (S: what ``train`` was last asked for), while under way."""
    lines = []
    for row, results in by_row.items():
        folder = run_dir / "sweeps" / sweep_name(row)
        if (folder / TARGET_FILE).is_file():  # what `train` was asked for (its sweeps may cover part of it)
            target = int(yaml.safe_load((folder / TARGET_FILE).read_text())["seeds"])
        elif (folder / "sweep.yaml").is_file():
            sweep = yaml.safe_load((folder / "sweep.yaml").read_text())
            target = int(sweep.get("first_seed", 0)) + int(sweep.get("seeds", 0))
        else:
            continue
        done = {extractor: sum(r["extractor"] == extractor for r in results) for extractor in ROWS[row].arms}
        if min(done.values()) < target:
            counts = ", ".join(f"{extractor} {count}" for extractor, count in done.items())
            lines += [
                f"**Under way**: {ROWS[row].env} {ROWS[row].algo} has finished {counts} of its {target} seeds per",
                "arm; the same `train` command goes on from where it stopped and `report` updates this section.",
                "",
            ]
    return lines


def episode_counts(by_row: dict[str, list[dict[str, Any]]]) -> str:
    """`` Training episodes per run: ...`` from the kept training curves ('' when no run kept one)."""
    counts = []
    for row, results in by_row.items():
        episodes = [r["training_episodes"] for r in results if "training_episodes" in r]
        if episodes:
            counts.append(
                f"{ROWS[row].env} {ROWS[row].algo} {min(episodes):,}-{max(episodes):,} "
                f"(mean {np.mean(episodes):,.0f}, {len(episodes)} runs)"
            )
    return f" Training episodes per run, from the monitor files: {'; '.join(counts)}." if counts else ""


def training_times(by_row: dict[str, list[dict[str, Any]]]) -> str:
    """`` Training time per run: ...`` for the runs that recorded it ('' when none did)."""
    lines = []
    for row, results in by_row.items():
        seconds = [r["train_s"] for r in results if r.get("train_s")]
        if seconds:
            lines.append(
                f"{ROWS[row].env} {ROWS[row].algo} median {np.median(seconds) / 60:.0f} min "
                f"({min(seconds) / 60:.0f}-{max(seconds) / 60:.0f}, {len(seconds)} runs; "
                f"{sum(seconds) / 3600:.1f} hours in all)"
            )
    if not lines:
        return ""
    return (
        " Training wall time per run (the sweep reserves one CPU per run; other work ran beside them; SB3's "
        f"`time/time_elapsed`; the runs kept from before it was recorded are not counted): {'; '.join(lines)}."
    )


def section(by_row: dict[str, list[dict[str, Any]]], run_dir: Path, width: int, picture: Path | None) -> str:
    """The results section: the table and its commands, what it means, then the notes."""
    budgets = "; ".join(f"{ROWS[row].env} {ROWS[row].algo}: {ROWS[row].budget}" for row in by_row)
    parts = [
        START_MARKER,
        "### Reproduction: attention against the MLP",
        "",
        "```bash",
        "python benchmarks/social_attention.py train --seeds 20   # every row; started again, it resumes",
        "python benchmarks/social_attention.py report             # this table and the curves",
        "```",
        "",
        results_table(by_row) if any(by_row.values()) else f"No finished runs under `{run_dir}/sweeps/` yet.",
        "",
        *progress_lines(by_row, run_dir),
        "Mean over seeds with its 95% bootstrap interval (a single seed gives a single point). Success: the episode",
        "ended without a collision (on intersection-v0: the ego arrived); time to cross: decisions (seconds on",
        "intersection-v0) of the successful episodes; every figure from the final model's greedy episodes on",
        "highway-env's Python simulator (the adapter's fast road queries: step for step its own results).",
        "",
        f"Budgets: {budgets}.{episode_counts(by_row)}{training_times(by_row)}",
        "",
        "Arms: `attention` and `mlp` read highway-env's Kinematics rows. With DQN on intersection-v0 they have the",
        "paper's sizes (ego-attention; the flat list through [128, 128]) and `grid_cnn` is the paper's third arm,",
        "rl-agents' CNN on highway-env's OccupancyGrid (configs/dqn.yaml `intersection-v0@grid_cnn`; its training",
        "speed beside the other arms' is in 'Learning speed per simulator' above). With PPO both arms are what a",
        "user gets with no section for the env: configs/ppo.yaml's `default` (the attention extractor's defaults,",
        "SB3's MLP).",
    ]
    actions = action_table(by_row)
    if actions:
        parts += [
            "",
            "### What the greedy policies do",
            "",
            actions,
            "",
            "Each action's share of the steps of the final greedy evaluation (the episodes of the table above), mean",
            "over seeds with its 95% interval. On intersection-v0 the fidelity table's `faster` row is what",
            "always-FASTER scores on the original. `python benchmarks/social_attention.py actions` counts the runs",
            "evaluated before the evaluation counted actions (their evaluation again, checked episode by episode).",
        ]
    if any(r.get("focus") for results in by_row.values() for r in results):
        parts += [
            "",
            "### Where it looked",
            "",
            focus_table(by_row),
            "",
            "The attention arm's focus over the 15 vehicle rows on the same greedy evaluation episodes, mean over",
            "seeds with its 95% interval. On the ego: the share on the ego's own row. Relevant mass: the share on",
            "the vehicle the adapter names as most pressing (the smallest positive time to collision with the ego",
            "along its lane, else the nearest ahead). Spearman and the deletion ratio score each method's ranking of",
            "the parts against the causal focus (what the policy's action depends on; 1.0 and above: as faithful).",
        ]
    if VIDEO.is_file():
        parts += [
            "",
            f"![Greedy episodes of a reproduced attention policy, the causal focus on the vehicles]({VIDEO.name})",
            "",
            f"`python train_rl.py eval RUN --episodes 2 --video docs/{VIDEO.name} --video-episodes 2` on an attention",
            "run of the sweep: highway-env's own picture, the vehicles ringed by the causal focus, the vehicle the",
            "adapter names as most pressing in black and white dashes, and a bar per vehicle row.",
        ]
    if picture is not None:
        parts += [
            "",
            f"![Training curves]({picture.name})",
            "",
            f"Curves: bins of {width} training episodes, mean over seeds with its 95% bootstrap band. The ego's mean",
            "speed per episode is drawn for the runs whose monitor files record it (the adapter's `mean_speed`).",
        ]
    return "\n".join([*parts, END_MARKER]) + "\n"


def report(
    run_dir: Path, rows: Sequence[str], width: int, doc: Path = DOC, picture: Path = PLOT, results_file: Path = RESULTS
) -> str:
    """Collect every row's runs, keep them in ``results_file`` and write the section (and the curves) into ``doc``.

    The section shows the rows with finished runs (all of ``rows`` when none has one).
    """
    by_row = {row: collect(run_dir, row, results_file) for row in rows}
    keep(results_file, by_row)
    by_row = {row: results for row, results in by_row.items() if results} or by_row  # the rows that have runs
    drawn = plot(by_row, width, picture)
    text = section(by_row, run_dir, width, drawn)
    write_section(doc, text, START_MARKER, END_MARKER)
    return text


def parse_rows(text: str) -> list[str]:
    """Row names from ``a,b``; ``all`` for every row."""
    names = list(ROWS) if text == "all" else [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ROWS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown rows {unknown or [text]}: choose from {', '.join(ROWS)} or 'all'")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Train the rows' sweeps (``train``), write their results section (``report``) or count actions (``actions``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("train", "report", "actions"))
    parser.add_argument("--rows", type=parse_rows, default=list(ROWS), help=f"comma-separated: {', '.join(ROWS)}")
    parser.add_argument("--seeds", type=int, default=20, help="seeds per arm (train)")
    parser.add_argument("--eval-episodes", type=int, default=100, help="greedy episodes per finished run (train)")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs", help="root of the sweeps")
    parser.add_argument("--bin", type=int, default=100, help="training episodes per point of the curves (report)")
    parser.add_argument("--dry-run", action="store_true", help="print the sweep commands, run nothing (train)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the kept per-run figures (%(default)s)")
    args, extra = parser.parse_known_args(argv)
    if args.seeds < 1 or args.eval_episodes < 1 or args.bin < 1:
        parser.error("--seeds, --eval-episodes and --bin must be at least 1")
    if args.bin % CURVE_BIN:
        parser.error(f"--bin {args.bin}: the kept curves are means of {CURVE_BIN} episodes: use a multiple of it")
    if args.command in ("report", "actions") and extra:
        parser.error(f"{args.command} takes no sweep flags: {' '.join(extra)}")
    if args.command == "actions":
        print("\n".join(count_actions(args.run_dir, args.rows)) or "every finished run has its action counts")
        return 0
    if args.command == "report":
        print(report(args.run_dir, args.rows, args.bin, results_file=args.results))
        return 0
    for row in args.rows:
        plan = sweep_plan(list(stored(args.results, row).values()), ROWS[row].arms, args.seeds)
        if not plan:
            print(f"{row}: seeds 0..{args.seeds - 1} of every arm are in {args.results}", flush=True)
        if plan and not args.dry_run:
            folder = args.run_dir / "sweeps" / sweep_name(row)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / TARGET_FILE).write_text(yaml.safe_dump({"seeds": args.seeds}))
        for arms, first, end in plan:
            command = sweep_command(row, end, args.run_dir, args.eval_episodes, extra, first, arms)
            print("+", " ".join(command), flush=True)
            if args.dry_run:
                continue
            process = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            try:
                code = process.wait()
            except KeyboardInterrupt:  # the sweep got the same Ctrl-C: it records its trials and stops
                process.wait()
                print("stopped: the same command goes on from the last checkpoints", flush=True)
                return 130
            if code != 0:
                return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
