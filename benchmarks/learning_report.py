"""The markdown section and the plot of ``learning.py``: per-row statistics, the table, the targets, the curves."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from learning_rows import CARTPOLE_ZOO, CONV_MASS_TARGET, END_MARKER, ROWS, SHUFFLED_FIND_TARGET, START_MARKER, Row

import envs
from agents.evaluation.statistics import RESAMPLES, mean_ci
from agents.evaluation.tables import markdown_table


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
    """The targets against what was measured (only those the measured rows can decide)."""
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
    """Conv-token rows: final success and return at least NatureCNN's, and the training-speed ratio."""
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
            f"{a_success[0]:.0%} vs {b_success[0]:.0%}, return {a_return[0]:.4f} vs {b_return[0]:.4f} ({seeds}; "
            f"difference in return {a_return[0] - b_return[0]:+.4f}). {speed}."
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


#: What the conv-token rows are, written into the section when it has one.
CONV_ROWS_TEXT = (
    "Conv-token rows (`conv`): attention over the cells of a small convolutional stem (`ConvTokenizer`, relational "
    "RL after Zambaldi et al. 2019), against NatureCNN (`CnnPolicy`) with the same PPO settings. PatchFind: the "
    "preset `attn/PatchFind-v0@conv` (`stem: medium`, 6x6 cells centred on the env's 8 px patches, each seeing 14 "
    "px, so `relevant_parts` index the cells; no self-attention block; each of the readout's 2 heads keeps its own "
    "3 cells, `top_k_per_head`); the egocentric=False row adds `env_kwargs={'egocentric': False}`. MiniGrid: "
    "`attn/MiniGridPixels-v0` (MiniGrid-DoorKey-5x5-v0's 7x7 egocentric view as the 56x56 RGB picture that "
    "`RGBImgPartialObsWrapper` draws; its preset: the MiniGrid cells' PPO settings, `stem: small`, 7x7 cells on the "
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
        "run's first focus method (the causal focus since it became the first method; the readout's weights before: "
        "the notes say which rows).\n"
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
