"""Learning curves of several runs, grouped by label, with the mean over seeds and a 95% bootstrap band."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from agents.evaluation.statistics import bootstrap_ci, rolling_mean
from agents.setup.config import DEFAULT_FOCUS_METHODS
from agents.setup.presets import read_yaml
from agents.storage.layout import CONFIG_FILE, MONITOR_DIR, PROGRESS_FILE
from agents.storage.monitor_files import has_monitor_files, read_monitor, read_progress
from agents.storage.outputs import check_output
from agents.storage.runs import save_atomic
from envs.validation import check_int
from policies import FOCUS_METHODS

#: Points on the common timestep grid each group's runs are interpolated onto.
GRID_POINTS = 200
#: Bootstrap resamples of the seeds for the confidence band (one interval per grid point).
BOOTSTRAP = 1000


def relevant_tags() -> list[str]:
    """The relevant-mass columns a plot looks for; the first one a run logged is drawn.

    The default focus methods first (causal first), then every other registered one (``policies.FOCUS_METHODS``),
    then the tag of older runs.
    """
    others = [name for name in FOCUS_METHODS if name not in DEFAULT_FOCUS_METHODS]
    return [*(f"attention/{m}/relevant_mass" for m in (*DEFAULT_FOCUS_METHODS, *others)), "attention/relevant_mass"]


@dataclass
class Curve:
    """One run's learning curve."""

    run_dir: Path
    label: str
    timesteps: np.ndarray
    """``(E,)`` env steps at the end of each episode (all envs of the run, in time order)."""
    returns: np.ndarray
    """``(E,)`` episode returns."""
    relevant: tuple[np.ndarray, np.ndarray] | None = None
    """``(timesteps, relevant mass)`` from ``progress.csv`` when the run logged attention."""
    env: str = ""
    """The run's env id (``config.yaml``), else the folder above the run; each env gets its own panels."""


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders (holding ``monitor/*.monitor.csv``) at or below each path, in a stable order.

    Raises:
        FileNotFoundError: a path does not exist, or holds no monitor files.
    """
    runs: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: pass run folders made by train_rl.py (or their parents).")
        if has_monitor_files(path / MONITOR_DIR):
            found = [path]
        else:
            found = sorted(p.parent for p in path.rglob(MONITOR_DIR) if p.is_dir() and has_monitor_files(p))
        if not found:
            raise FileNotFoundError(
                f"No monitor files under {path}: expected <run>/monitor/*.monitor.csv as train_rl.py writes them."
            )
        runs += [run for run in found if run not in runs]
    return runs


def run_names(run_dir: Path) -> dict[str, str]:
    """The string settings ``env``, ``algo`` and ``extractor`` of the run's ``config.yaml`` that it has.

    Another tool's config (a list, other keys, values of other types) gives none of them, and the plot falls back
    to folder names; a file that is no YAML, or no regular file, raises one ``ValueError`` naming it.
    """
    path = run_dir / CONFIG_FILE
    config = read_yaml(path) if path.exists() else None
    if not isinstance(config, dict):
        return {}
    return {key: config[key] for key in ("env", "algo", "extractor") if isinstance(config.get(key), str)}


def run_label(run_dir: Path) -> str:
    """``env algo + extractor`` from the run's ``config.yaml``, else the folder name without ``_s<seed>``."""
    names = run_names(run_dir)
    if len(names) == 3:
        return f"{names['env']} {names['algo']} + {names['extractor']}"
    return re.sub(r"_s\d+(_\d+)?$", "", run_dir.name)


def load_curve(run_dir: Path) -> Curve:
    """Read a run's monitor files and the relevant mass its ``progress.csv`` logged (``relevant_tags()``)."""
    episodes = read_monitor(run_dir / MONITOR_DIR)
    relevant = None
    for tag in relevant_tags():
        logged = read_progress(run_dir / PROGRESS_FILE, ["time/total_timesteps", tag])
        if logged is not None:
            relevant = (logged["time/total_timesteps"], logged[tag])
            break
    return Curve(
        run_dir, run_label(run_dir), episodes.steps.astype(float), episodes.returns, relevant, run_env(run_dir)
    )


def run_env(run_dir: Path) -> str:
    """The env id in the run's ``config.yaml``, else the name of the folder above the run (``runs/<env>/...``)."""
    return run_names(run_dir).get("env", run_dir.parent.name)


def smoothed(curve: Curve, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the returns over full windows of ``window`` episodes (fewer when the run has fewer)."""
    window = max(1, min(window, len(curve.returns) // 2 or 1))
    return curve.timesteps[window - 1 :], rolling_mean(curve.returns, window)[window - 1 :]


def _group_on_grid(xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate every run onto a common grid up to the shortest run's end: ``grid (G,)``, ``values (S, G)``."""
    end = min(x[-1] for x in xs)
    start = max(x[0] for x in xs)
    grid = np.linspace(start, end, GRID_POINTS) if end > start else np.array([end])
    return grid, np.stack([np.interp(grid, x, y) for x, y in zip(xs, ys, strict=True)])


def plot_runs(
    paths: Sequence[str | Path], out: str | Path, window: int = 50, title: str | None = None, *, overwrite: bool = False
) -> Path:
    """Plot the learning curves of the runs at ``paths`` into a PNG and return its path.

    One row of panels per env (returns of different envs do not share a scale: Acrobot's -500 would flatten
    FindTarget's 0-1.4). Within an env, runs are grouped by ``run_label`` (algorithm and extractor: the seeds
    of one set-up form a group); each group is drawn as the mean over its runs of the smoothed episode return,
    with a 95% bootstrap band over the runs when it has several. When runs logged a relevant mass
    (``relevant_tags()``: causal first) a second column shows it.

    ``out`` is written atomically; it may not replace a model, a run's config or a run's file unless ``overwrite``
    (see ``agents.storage.outputs.check_output``).

    Raises:
        FileNotFoundError: a path does not exist or holds no monitor files.
        ValueError: no run has a finished episode, or ``out`` is a file kept from replacement.
    """
    check_int("window", window, 1)
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder: give the PNG file to write, e.g. {out / 'learning_curves.png'}.")
    out = out if out.suffix else out.with_suffix(".png")  # what matplotlib writes for a name without one
    out = check_output(out, overwrite=overwrite)
    curves = [load_curve(run) for run in find_runs(paths)]
    empty = [c.run_dir for c in curves if len(c.returns) == 0]
    curves = [c for c in curves if len(c.returns)]
    if not curves:
        raise ValueError(f"No finished episode in the monitor files of {', '.join(map(str, empty))}: nothing to plot.")
    by_env: dict[str, dict[str, list[Curve]]] = {}
    for curve in curves:
        by_env.setdefault(curve.env, {}).setdefault(curve.label, []).append(curve)
    with_relevance = any(c.relevant is not None for c in curves)
    columns = 2 if with_relevance else 1
    fig = Figure(figsize=(11 if with_relevance else 7, 3.6 * len(by_env) + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(by_env), columns, squeeze=False)
    labels = sorted({c.label for c in curves})
    colors = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    for row, (env, groups) in enumerate(sorted(by_env.items())):
        _plot_env(axes[row], env, groups, colors, window, with_relevance)
    fig.suptitle(title or "Learning curves per env: mean over runs, 95% bootstrap band", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_atomic(out, fig.savefig)


def _band(axis: object, grid: np.ndarray, values: np.ndarray, color: str) -> None:
    """The 95% bootstrap band of the mean over runs (``values (S, G)``), when there are several."""
    if len(values) > 1:
        low, high = bootstrap_ci(values, resamples=BOOTSTRAP)
        axis.fill_between(grid, low, high, color=color, alpha=0.2, linewidth=0)


def _plot_env(
    axes: Sequence, env: str, groups: dict[str, list[Curve]], colors: dict[str, str], window: int, relevance: bool
) -> None:
    """One env's row of panels: returns (and relevant mass) of each group of runs."""
    for label, members in sorted(groups.items()):
        color = colors[label]
        short = label.removeprefix(f"{env} ") if env else label
        xs, ys = zip(*(smoothed(c, window) for c in members), strict=True)
        grid, values = _group_on_grid(list(xs), list(ys))
        n = len(members)
        axes[0].plot(grid, values.mean(axis=0), color=color, label=f"{short} ({n} run{'s' if n > 1 else ''})")
        _band(axes[0], grid, values, color)
        rel = [c.relevant for c in members if c.relevant is not None]
        if relevance and rel:
            grid, values = _group_on_grid([r[0] for r in rel], [r[1] for r in rel])
            axes[1].plot(grid, values.mean(axis=0), color=color, label=short)
            _band(axes[1], grid, values, color)
    axes[0].set_xlabel("env steps")
    axes[0].set_ylabel(f"return (mean of {window} episodes)")
    axes[0].set_title(env or "runs", fontsize=10)
    axes[0].legend(fontsize=8)
    axes[0].grid(alpha=0.3)
    if relevance:
        axes[1].set_xlabel("env steps")
        axes[1].set_ylabel("focus on the relevant parts")
        axes[1].set_title(f"{env}: relevant mass (causal focus where logged)" if env else "relevant mass", fontsize=10)
        axes[1].set_ylim(0, 1)
        axes[1].grid(alpha=0.3)
