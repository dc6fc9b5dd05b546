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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from doc_sections import machine_facts, write_section

import envs
from agents import RunConfig, dry_run, load_preset, train
from agents.grid import run_tasks
from agents.monitor_files import read_monitor
from agents.statistics import RESAMPLES, SOLVED_WINDOW, mean_ci, rolling_mean, steps_to_solve
from agents.tables import markdown_table
from envs.wrappers import ShuffleParts
from policies.registry import did_you_mean

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
PLOT_NAME = "learning_curves.png"
RESULTS_NAME = "learning_results.json"
START_MARKER = "<!-- learning:start -->"
END_MARKER = "<!-- learning:end -->"
#: Points of the learning curves kept per run (in the JSON and the plot).
CURVE_POINTS = 50
#: Attention is logged to tensorboard every this many steps (the default, every rollout, costs on CartPole).
ATTENTION_LOG_INTERVAL = 10_000
#: ``FindTarget`` with its rows shuffled again at every step by ``envs.wrappers.ShuffleParts``.
SHUFFLED_FIND_TARGET = "bench/ShuffledFindTarget-v0"
#: Relevant mass conv-token attention should reach where one part matters (issue 17).
CONV_MASS_TARGET = 0.6


#: rl-baselines3-zoo's PPO hyperparameters for CartPole-v1 (``hyperparams/ppo.yml``): 500 ± 0 at 1e5 steps.
CARTPOLE_ZOO = {
    "n_envs": 8,
    "hyperparams": {
        "n_steps": 32,
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": 0.98,
        "n_epochs": 20,
        "ent_coef": 0.0,
        "learning_rate": "lin_2.5e-4",  # rl-zoo's linear schedules, as a preset writes them
        "clip_range": "lin_0.2",
    },
}


def register_bench_envs() -> None:
    """Register the suite's wrapped envs (idempotent; also called in every worker process)."""
    if SHUFFLED_FIND_TARGET not in gym.registry:
        entry_point, max_steps = envs.ENV_SPECS[f"{envs.NAMESPACE}/FindTarget-v0"]
        gym.register(
            SHUFFLED_FIND_TARGET,
            entry_point=entry_point,
            max_episode_steps=max_steps,
            additional_wrappers=(ShuffleParts.wrapper_spec(per="step", keep_first=False),),
        )


@dataclass(frozen=True)
class Row:
    """One row of the suite: an env, its budget and what counts as solved."""

    key: str
    """Name on the command line (``--envs``)."""
    label: str
    """Name in the table."""
    env: str
    """Registered env id."""
    timesteps: int
    """Training budget per run (steps)."""
    solved: float
    """Solved score: the mean training return over the last 100 episodes that counts as solved."""
    solved_note: str
    """Where ``solved`` comes from."""
    one_part: bool | None
    """True where one part matters (relevant-mass target), False where several do, None: no relevant parts."""
    attention: str = "attention"
    """The attention extractor's registry name."""
    preset_env: str | None = None
    """Take the preset of this env id (for an env id that ``configs/ppo.yaml`` does not know)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    """``RunConfig`` fields over the preset (``n_envs``, ``hyperparams``...), for both extractors."""
    mass_target: float = 0.8
    """Relevant mass the attention should reach where one part matters."""
    extra: tuple[str, ...] = ()
    """More attention extractors compared on the same row (same budget, seeds and baseline runs)."""

    @property
    def extractors(self) -> tuple[str, ...]:
        """Every extractor of the row, the baseline (``mlp``) last."""
        return (self.attention, *self.extra, "mlp")

    @property
    def baseline(self) -> str:
        """What SB3's own extractor is for this env: ``mlp`` or ``cnn`` (images)."""
        return "cnn" if any(name in self.env for name in PIXEL_ENVS) else "mlp"


#: Envs whose observations are pictures (SB3 trains them with ``CnnPolicy``, NatureCNN).
PIXEL_ENVS = ("PatchFind", "MiniGridPixels")
FT = f"{envs.NAMESPACE}/FindTarget-v0"
PF = f"{envs.NAMESPACE}/PatchFind-v0"
PF_SOLVED = "about 90% of walking straight to the target, 1.34; the random policy scores 0.64"
FT_SOLVED = "about 90% of walking straight to the target, 1.44"
SUITE: tuple[Row, ...] = (
    Row("findtarget-4", "FindTarget N=4", FT, 100_000, 1.3, FT_SOLVED, True, env_kwargs={"n_entities": 4}),
    Row("findtarget-8", "FindTarget N=8", FT, 100_000, 1.3, FT_SOLVED, True, env_kwargs={"n_entities": 8}),
    Row("findtarget-16", "FindTarget N=16", FT, 100_000, 1.3, FT_SOLVED, True, env_kwargs={"n_entities": 16}),
    Row(
        "findtarget-shuffled", "ShuffleParts(FindTarget N=8, per step)", SHUFFLED_FIND_TARGET, 100_000, 1.3,
        FT_SOLVED, True, preset_env=FT, env_kwargs={"n_entities": 8},
    ),
    Row("patchfind", "PatchFind", PF, 150_000, 1.2, PF_SOLVED, True, extra=("conv",)),
    Row(
        "patchfind-allo", "PatchFind egocentric=False (conv tokens)", PF, 150_000, 1.3,
        "about 90% of walking straight to the target, 1.46; the random policy scores 0.44", True, attention="conv",
        env_kwargs={"egocentric": False}, mass_target=CONV_MASS_TARGET,
    ),
    Row(
        "minigrid-pixels", "MiniGrid DoorKey-5x5 pixels (conv tokens)", f"{envs.NAMESPACE}/MiniGridPixels-v0",
        100_000, 0.9, "the goal within 28 steps (1 - 0.9 * 28 / 250)", False, attention="conv",
    ),
    Row(
        "sensors", "Sensors", f"{envs.NAMESPACE}/Sensors-v0", 100_000, 18.0,
        "90% accuracy, the env's success line; the cued-sensor reader scores 20.0", False,
    ),
    Row(
        "cuememory", "CueMemory (difficulty=3, 8 options)", f"{envs.NAMESPACE}/CueMemory-v0", 100_000, 0.95,
        "95% right answers; the cue reader scores 1.0, the random policy 0.13", True,
        env_kwargs={"difficulty": 3, "n_options": 8},
    ),
    Row(
        "cartpole", "CartPole-v1 (feature tokens)", "CartPole-v1", 100_000, 475.0,
        "Gymnasium's `reward_threshold`", None, attention="features", overrides=CARTPOLE_ZOO,
    ),
)  # fmt: skip
ROWS = {row.key: row for row in SUITE}
QUICK_ROWS = ("findtarget-8",)
QUICK_TIMESTEPS = 30_000


def run_config(row: Row, extractor: str, seed: int, timesteps: int, run_root: str, eval_episodes: int) -> RunConfig:
    """The ``RunConfig`` of one run: the env's preset, the row's overrides, the budget."""
    fields: dict[str, Any] = {}
    if row.preset_env is not None:
        preset = load_preset("ppo", row.preset_env)
        fields = {
            key: preset[key] for key in ("n_envs", "hyperparams", "extractor_kwargs", "policy_kwargs") if key in preset
        }
    fields.update(row.overrides)
    return RunConfig(
        env=row.env,
        extractor=extractor,
        timesteps=timesteps,
        seed=seed,
        run_root=run_root,
        env_kwargs=dict(row.env_kwargs),
        eval_episodes=eval_episodes,
        attention_log_interval=ATTENTION_LOG_INTERVAL,
        progress_bar=False,
        **fields,
    )


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
    steps, returns = episodes.steps, episodes.returns
    evaluation = run.evaluation
    attention = (evaluation.attention or {}) if evaluation is not None else {}
    return {
        "row": row_key,
        "extractor": extractor,
        "seed": seed,
        "timesteps": int(run.model.num_timesteps),
        "wall_s": run.wall_time_s,
        "eval_return": None if evaluation is None else evaluation.mean_return,
        "eval_success": None if evaluation is None else evaluation.success_rate,
        "relevant_mass": attention.get("relevant_mass"),
        "steps_to_solve": steps_to_solve(steps, returns, row.solved),
        "train_episodes": len(returns),
        "curve": curve(steps, returns, timesteps),
        "policy": type(run.model.policy).__name__,
        "features_extractor": type(run.model.policy.features_extractor).__name__,
    }


# ---------------------------------------------------------------------------------------------- statistics
@dataclass
class Summary:
    """One (row, extractor) over its seeds."""

    runs: list[dict[str, Any]]

    def values(self, key: str) -> list[float]:
        """The per-seed values of ``key`` that are known."""
        return [r[key] for r in self.runs if r[key] is not None]

    def mean_ci(self, key: str) -> tuple[float, float, float] | None:
        """``(mean, ci_low, ci_high)`` over seeds, or None when nothing is known."""
        values = self.values(key)
        return mean_ci(values) if values else None

    def solved_at(self) -> tuple[float | None, int]:
        """Median steps to solve over seeds (None when more than half never solved) and how many solved."""
        steps = [np.inf if r["steps_to_solve"] is None else r["steps_to_solve"] for r in self.runs]
        median = float(np.median(steps))
        return (None if not np.isfinite(median) else median), sum(np.isfinite(steps))


def summarize(results: Sequence[dict[str, Any]]) -> dict[tuple[str, str], Summary]:
    """Group the per-run results by (row, extractor), seeds in order."""
    groups: dict[tuple[str, str], Summary] = {}
    for r in sorted(results, key=lambda r: r["seed"]):
        groups.setdefault((r["row"], r["extractor"]), Summary([])).runs.append(r)
    return groups


# ---------------------------------------------------------------------------------------------- rendering
def fmt_ci(stats: tuple[float, float, float] | None, pattern: str) -> str:
    """``mean [low, high]`` or an em dash."""
    if stats is None:
        return "—"
    mean, low, high = stats
    return f"{pattern.format(mean)} [{pattern.format(low)}, {pattern.format(high)}]"


def fmt_steps(summary: Summary) -> str:
    """``42k (3/3)`` or ``not reached (1/3)``."""
    median, solved = summary.solved_at()
    n = len(summary.runs)
    return f"not reached ({solved}/{n})" if median is None else f"{median / 1000:.0f}k ({solved}/{n})"


def extractor_label(row: Row, extractor: str) -> str:
    """The table's name for an extractor of a row."""
    return row.baseline if extractor == "mlp" else f"attention (`{extractor}`)"


def results_table(groups: dict[tuple[str, str], Summary], rows: Sequence[Row]) -> str:
    """The main table: one line per (row, extractor)."""
    lines = []
    for row in rows:
        for extractor in row.extractors:
            summary = groups.get((row.key, extractor))
            if summary is None:
                continue
            first = summary.runs[0]
            lines.append([
                row.label, extractor_label(row, extractor), f"{first['timesteps']:,}", str(len(summary.runs)),
                fmt_ci(summary.mean_ci("eval_return"), "{:.2f}"), fmt_ci(summary.mean_ci("eval_success"), "{:.0%}"),
                f"{row.solved:g}", fmt_steps(summary), fmt_ci(summary.mean_ci("relevant_mass"), "{:.2f}"),
                f"{np.mean(summary.values('wall_s')):.0f} s",
            ])  # fmt: skip
    header = [
        "env", "extractor", "steps", "seeds", "final return [95% CI]", "final success [95% CI]", "solved at",
        "steps to solved (median, seeds)", "relevant mass [95% CI]", "wall time / run",
    ]  # fmt: skip
    return markdown_table(header, lines)


def separated(groups: dict[tuple[str, str], Summary], row: Row) -> str | None:
    """Is attention's final-return CI above the baseline's? The verdict and the figures; None: a side is missing.

    With one seed on a side there is no CI, so no verdict: only which side scored higher.
    """
    att, base = groups.get((row.key, row.attention)), groups.get((row.key, "mlp"))
    if att is None or base is None:
        return None
    a, b = att.mean_ci("eval_return"), base.mean_ci("eval_return")
    text = f"attention {fmt_ci(a, '{:.2f}')} vs {row.baseline} {fmt_ci(b, '{:.2f}')}"
    if min(len(att.runs), len(base.runs)) < 2:
        higher = "attention higher" if a[0] > b[0] else f"attention not higher (equal or below the {row.baseline})"
        return f"**not decided** (one seed on a side, no CI): {higher}: {text}"
    return f"{verdict(a[1] > b[2])}: {text}"


def verdict(ok: bool) -> str:
    """``met`` or a bold ``NOT met``."""
    return "met" if ok else "**NOT met**"


def targets(groups: dict[tuple[str, str], Summary], rows: Sequence[Row]) -> list[str]:
    """The issue's targets against what was measured (only those the measured rows can decide)."""
    lines = []
    keys = {row.key for row in rows}
    if "findtarget-8" in keys:
        row = ROWS["findtarget-8"]
        att, base = groups.get((row.key, row.attention)), groups.get((row.key, "mlp"))
        if att is not None and base is not None:
            a, b = att.mean_ci("eval_success"), base.mean_ci("eval_success")
            steps = att.runs[0]["timesteps"]
            ok = a[0] >= 0.9 and b[0] < 0.5 and steps <= 100_352
            seeds_a = ", ".join(f"{v:.0%}" for v in att.values("eval_success"))
            seeds_b = ", ".join(f"{v:.0%}" for v in base.values("eval_success"))
            lines.append(
                f"FindTarget N=8: attention >= 90% success within 100k steps while the MLP stays below 50%: "
                f"{verdict(ok)}: attention {a[0]:.0%} (seeds: {seeds_a}), MLP {b[0]:.0%} (seeds: {seeds_b}) after "
                f"{steps:,} steps."
            )
    for row in rows:
        if not row.env.startswith(f"{envs.NAMESPACE}/") and row.env != SHUFFLED_FIND_TARGET:
            continue
        sep = separated(groups, row)
        if sep is not None:
            lines.append(f"{row.label}: attention's final return above the {row.baseline}'s, CIs apart: {sep}.")
    for row in rows:
        att = groups.get((row.key, row.attention))
        if row.one_part and att is not None and att.values("relevant_mass"):
            mass, goal = att.mean_ci("relevant_mass"), row.mass_target
            lines.append(f"{row.label} (one part matters): relevant mass >= {goal:g} at the end: "
                         f"{verdict(mass[0] >= goal)}: {fmt_ci(mass, '{:.2f}')}.")  # fmt: skip
        conv = groups.get((row.key, "conv"))
        if row.one_part and "conv" in row.extra and conv is not None and conv.values("relevant_mass"):
            mass = conv.mean_ci("relevant_mass")
            ok = verdict(mass[0] >= CONV_MASS_TARGET)
            lines.append(f"{row.label}, conv tokens (one part matters): relevant mass >= {CONV_MASS_TARGET:g} at the "
                         f"end: {ok}: {fmt_ci(mass, '{:.2f}')}.")  # fmt: skip
    lines += conv_targets(groups, rows)
    if "cartpole" in keys:
        att = groups.get(("cartpole", ROWS["cartpole"].attention))
        if att is not None:
            values = att.values("eval_return")
            ok = all(v >= 500 for v in values)
            per_seed = ", ".join(f"{v:.1f}" for v in values)
            lines.append(
                f"CartPole-v1 reaches 500 with attention (feature tokens): {verdict(ok)}: final return per seed "
                f"{per_seed} (rl-zoo's PPO: 500 ± 0 at 100k steps)."
            )
    return lines


def conv_targets(groups: dict[tuple[str, str], Summary], rows: Sequence[Row]) -> list[str]:
    """Conv-token rows (issue 17): final success and return at least NatureCNN's, and the training-speed ratio."""
    lines = []
    for row in rows:
        att, base = groups.get((row.key, "conv")), groups.get((row.key, "mlp"))
        if "conv" not in row.extractors or att is None or base is None:
            continue
        a_success, b_success = att.mean_ci("eval_success"), base.mean_ci("eval_success")
        a_return, b_return = att.mean_ci("eval_return"), base.mean_ci("eval_return")
        ok = a_success[0] >= b_success[0] and a_return[0] >= b_return[0]
        seeds = f"{len(att.runs)} and {len(base.runs)} seeds"
        ratio = np.mean(att.values("wall_s")) / np.mean(base.values("wall_s"))
        commands = {r.get("command_id") for r in att.runs + base.runs}
        speed = (
            f"Training time per run {ratio:.2f}x NatureCNN's ({np.mean(att.values('wall_s')):.0f} s vs "
            f"{np.mean(base.values('wall_s')):.0f} s, same command)"
            if len(commands) == 1
            else "Training times come from different commands (other load, other parallel jobs): no speed ratio here"
        )
        lines.append(
            f"{row.label}: conv-token attention's final success and return >= NatureCNN's: {verdict(ok)}: success "
            f"{a_success[0]:.0%} vs {b_success[0]:.0%}, return {a_return[0]:.2f} vs {b_return[0]:.2f} ({seeds}; "
            f"difference in return {a_return[0] - b_return[0]:+.2f}). {speed}."
        )
    return lines


def plot_curves(groups: dict[tuple[str, str], Summary], rows: Sequence[Row], path: Path) -> None:
    """Learning curves: mean over seeds of the rolling training return, with the seeds' min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(rows))
    nrows = -(-len(rows) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for ax, row in zip(axes.flat, rows, strict=False):
        colors = (*("tab:blue", "tab:green", "tab:purple")[: len(row.extractors) - 1], "tab:orange")
        for extractor, color in zip(row.extractors, colors, strict=True):
            summary = groups.get((row.key, extractor))
            if summary is None:
                continue
            data = np.array([[np.nan if v is None else v for v in r["curve"]] for r in summary.runs])  # (seeds, points)
            x = np.linspace(1, len(data[0]), len(data[0])) * summary.runs[0]["timesteps"] / len(data[0])
            with warnings.catch_warnings():  # grid points before a seed's first episode are NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                ax.plot(
                    x,
                    np.nanmean(data, axis=0),
                    color=color,
                    label=f"{row.baseline if extractor == 'mlp' else extractor} (n={len(data)})",
                )
                ax.fill_between(x, np.nanmin(data, axis=0), np.nanmax(data, axis=0), color=color, alpha=0.2)
        ax.axhline(row.solved, color="gray", linestyle=":", linewidth=1)
        ax.set_title(row.label, fontsize=10)
        ax.set_xlabel("timesteps")
        ax.set_ylabel("return (last 100 episodes)")
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    fig.suptitle("PPO: attention vs SB3's default extractor (mean over seeds, band: min-max; dotted: solved)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def groups_steps(results: Sequence[dict[str, Any]], row: Row) -> int:
    """The budget the row's runs were given (their step count; PPO rounds up to whole rollouts)."""
    return max((r["timesteps"] for r in results if r["row"] == row.key), default=0)


def produced_by(data: dict[str, Any]) -> str:
    """The sentence naming the command(s), date(s) and wall time(s)."""

    def one(part: dict[str, Any]) -> str:
        load = f", {part['load']}" if part.get("load") else ""
        return (
            f"`{part['command']}` on {part['date']} ({part['wall_min']:.0f} min with {part['jobs']} parallel "
            f"job(s), {part['threads']} torch thread(s) each{load})"
        )

    if "commands" not in data:
        return f"Produced by {one(data)}."
    return "Produced by these commands, one after the other: " + "; then ".join(map(one, data["commands"])) + "."


#: What the conv-token rows are (issue 17), written into the section when it has one.
CONV_ROWS_TEXT = (
    "Conv-token rows (`conv`): attention over the cells of a small convolutional stem (`ConvTokenizer`, relational "
    "RL after Zambaldi et al. 2019), against NatureCNN (`CnnPolicy`) with the same PPO settings. PatchFind: the "
    "preset `attn/PatchFind-v0@conv` (`stem: small`, 6x6 cells centred on the env's 8 px patches, so "
    "`relevant_parts` index the cells); the egocentric=False row adds `env_kwargs={'egocentric': False}`. MiniGrid: "
    "`attn/MiniGridPixels-v0` (MiniGrid-DoorKey-5x5-v0's 7x7 egocentric view as the 56x56 RGB picture that "
    "`RGBImgPartialObsWrapper` draws; its preset: rl-zoo's MiniGrid PPO settings, `stem: small`, 7x7 cells on the "
    "view's cells, relevant parts: the goal's cell when in view), evaluated with sampled actions as rl-zoo does.\n\n"
)


def render_section(data: dict[str, Any], out: Path, plot: Path) -> str:
    """The markdown section (markers included) from the saved results."""
    rows = [ROWS[key] for key in data["rows"]]
    groups = summarize(data["results"])
    plot_link = os.path.relpath(plot, out.parent)
    budgets = "; ".join(f"{row.label} {groups_steps(data['results'], row):,}" for row in rows)
    solved = "; ".join(f"{row.label}: {row.solved:g} ({row.solved_note})" for row in rows)
    zoo = ", ".join(f"{k}={v}" for k, v in CARTPOLE_ZOO["hyperparams"].items())
    target_lines = targets(groups, rows)
    parts = [
        START_MARKER,
        "## Learning: attention against SB3's default extractor",
        produced_by(data)
        + " One run; wall times are comparable only within this table.\n\n"
        + "\n".join(f"- {fact}" for fact in data["machine"]),
        "PPO through `agents.train`, the same preset (`configs/ppo.yaml`), budget and seeds "
        f"for both extractors of a row (from {', '.join(map(str, data['seeds']))}; the seeds column says how many "
        "runs each line has); the only difference is `--extractor`: the row's "
        "attention extractor, or `mlp` = SB3's own (`FlattenExtractor` + MLP; on PatchFind's pixels `CnnPolicy` with "
        "NatureCNN). CartPole-v1 uses rl-baselines3-zoo's PPO hyperparameters (set in `benchmarks/learning.py`: "
        f"n_envs=8, {zoo}). ShuffleParts row: `envs.wrappers.ShuffleParts(per='step')` around FindTarget (N=8, "
        "its preset) registered as `bench/ShuffledFindTarget-v0`; FindTarget already shuffles its rows once per "
        "episode. CueMemory row: `difficulty=3` (each episode draws its delay from 2-14 steps, distractor flashes "
        "0.3) with `n_options=8`. At the defaults (a fixed delay) the cue sits at the same row of the window at "
        "every query, and a flat MLP reads it there: in this benchmark's earlier one-seed run (2026-11-21 02:33 "
        "UTC) the MLP and attention both reached 100% at about 11k steps, so that setting does not tell the two "
        "apart.\n\n"
        + (CONV_ROWS_TEXT if any("conv" in row.extractors for row in rows) else "")
        + f"Budgets (steps per run): {budgets}.\n\n"
        "- **final return / success**: the final deterministic evaluation of each run "
        f"({data['eval_episodes']} episodes on seeds training never used), averaged over seeds; in brackets a 95% "
        f"percentile bootstrap CI of that mean over the seeds ({RESAMPLES:,} resamples). With so few "
        "seeds the CI is coarse: it never reaches outside the seeds' range, and a line with one seed has none "
        "(shown as `[x, x]`).\n"
        "- **steps to solved**: the first timestep at which the mean return of the last 100 training episodes "
        "(stochastic policy, `monitor/` CSVs) reaches the solved score; median over seeds and how many seeds got "
        f"there. Solved scores: {solved}.\n"
        '- **relevant mass**: the share of the focus on `info["relevant_parts"]` during the final evaluation, by the '
        "run's first focus method (the causal focus for runs made since issue 13; the readout's weights before: the "
        "notes say which rows).\n"
        "- **wall time**: seconds in `model.learn` per run, mean over seeds.",
        results_table(groups, rows),
        f"![learning curves]({plot_link})\n\nLearning curves of the same runs: the rolling training return (last 100 "
        "episodes), mean over seeds, band from the lowest to the highest seed.",
        "### Targets\n\n" + "\n".join(f"- {line}" for line in target_lines),
    ]
    if data.get("notes"):
        parts.append("### Notes\n\n" + "\n".join(f"- {note}" for note in data["notes"]))
    parts.append(END_MARKER)
    return "\n\n".join(parts)


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
