"""Gather a sweep's trials into one table (CSV + markdown), one comparison plot and a best-config preset."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents.evaluation.statistics import mean_ci
from agents.evaluation.tables import markdown_table
from agents.setup.config import RunConfig
from agents.setup.presets import read_preset_file
from agents.storage.runs import write_atomic

#: Files a sweep folder receives.
TABLE_CSV = "results.csv"
TABLE_MD = "results.md"
PLOT_FILE = "results.png"
BEST_FILE = "best.yaml"

#: Per-trial figures taken from ``eval.json`` (the final evaluation), in table order.
METRICS = ("mean_return", "std_return", "iqm_return", "success_rate", "relevant_mass", "mean_length")

#: ``--metric`` (the name reported to Ray Tune) -> the table column holding its final value.
METRIC_COLUMNS = {"eval/mean_reward": "mean_return", "eval/success_rate": "success_rate"}


def summary_from_eval(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The table's figures from an ``eval.json`` dict (None where the env or policy does not give one)."""
    attention = evaluation.get("attention") or {}
    data = {name: evaluation.get(name) for name in METRICS if name != "relevant_mass"}
    data["relevant_mass"] = attention.get("relevant_mass")
    return {name: data[name] for name in METRICS}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def table_columns(param_keys: Sequence[str]) -> list[str]:
    """Columns of the per-trial table: identity, grid values, status, final figures, where, error."""
    return ["trial", "extractor", *param_keys, "seed", "status", *METRICS, "timesteps", "wall_s", "run_dir", "error"]


def group_label(row: dict[str, Any], param_keys: Sequence[str]) -> str:
    """What seeds are pooled by: the extractor and the grid values (``attention lr=1e-3``)."""
    params = " ".join(f"{k.rsplit('.', 1)[-1]}={row.get(k, '')}" for k in param_keys)
    return f"{row['extractor']} {params}".strip()


def groups(rows: Sequence[dict[str, Any]], param_keys: Sequence[str], column: str) -> dict[str, list[float]]:
    """Finished trials' ``column`` values by group (extractor x grid point), in first-seen order."""
    grouped: dict[str, list[float]] = {}
    for row in rows:
        label = group_label(row, param_keys)
        grouped.setdefault(label, [])
        if row["status"] == "ok" and row.get(column) is not None:
            grouped[label].append(float(row[column]))
    return grouped


def write_table(
    rows: Sequence[dict[str, Any]], sweep_dir: Path, param_keys: Sequence[str], title: str
) -> tuple[Path, Path]:
    """Write ``results.csv`` (one row per trial) and ``results.md`` (per group, then per trial)."""
    columns = table_columns(param_keys)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c)) for c in columns})
    write_atomic(sweep_dir / TABLE_CSV, buffer.getvalue())

    returns = groups(rows, param_keys, "mean_return")
    successes = groups(rows, param_keys, "success_rate")
    summary = []
    for label, values in returns.items():
        total = sum(1 for row in rows if group_label(row, param_keys) == label)
        mean = "{:.3f} [{:.3f}, {:.3f}]".format(*mean_ci(values)) if values else ""
        success = f"{np.mean(successes[label]):.2f}" if successes[label] else ""
        summary.append([label, f"{len(values)}/{total}", mean, success])
    text = (
        f"# {title}\n\n## Final evaluation return by group (mean [95% bootstrap CI] over seeds)\n\n"
        + markdown_table(["group", "finished", "mean return", "success rate"], summary)
        + "\n\n## Trials\n\n"
        + markdown_table(columns, [[_cell(row.get(c)) for c in columns] for row in rows], align_numbers=False)
        + "\n"
    )
    write_atomic(sweep_dir / TABLE_MD, text)
    return sweep_dir / TABLE_CSV, sweep_dir / TABLE_MD


def write_plot(rows: Sequence[dict[str, Any]], path: Path, param_keys: Sequence[str], title: str) -> Path:
    """One comparison plot: final return per group, each seed a point, the mean and its 95% CI as an error bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = groups(rows, param_keys, "mean_return")
    labels = list(grouped)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) + 2), 3.6))
    rng = np.random.default_rng(0)
    for x, label in enumerate(labels):
        values = grouped[label]
        if not values:
            continue
        ax.scatter(x + rng.uniform(-0.12, 0.12, len(values)), values, s=18, alpha=0.6, color="tab:blue")
        mean, low, high = mean_ci(values)
        ax.errorbar(x + 0.25, mean, yerr=[[mean - low], [high - mean]], fmt="o", color="black", capsize=4)
    failed = [label for label in labels if not grouped[label]]
    ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 3 else 0, ha="right")
    ax.set_ylabel("final eval return")
    ax.set_title(title + (f" (no finished trial: {', '.join(failed)})" if failed else ""), fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def preset_section(config: RunConfig) -> dict[str, Any]:
    """A resolved run config as a preset section (what ``--config FILE`` merges over the built-in preset)."""
    section: dict[str, Any] = {
        "extractor": config.extractor,
        "n_envs": config.n_envs,
        "n_timesteps": config.timesteps,
        "normalize": config.normalize,
    }
    for key in ("hyperparams", "policy_kwargs", "extractor_kwargs", "env_kwargs"):
        if getattr(config, key):
            section[key] = dict(getattr(config, key))
    return section


def write_best_preset(path: Path, config: RunConfig, note: str) -> Path:
    """Write ``{env: section}`` with a comment line, then check that ``--config`` would accept it."""
    text = f"# {note}\n# train it: python train_rl.py --env {config.env} --algo {config.algo} --config {path}\n"
    write_atomic(path, text + yaml.safe_dump({config.env: preset_section(config)}, sort_keys=False))
    read_preset_file(path)
    return path
