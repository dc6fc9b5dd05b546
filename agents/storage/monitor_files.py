"""Read what a run leaves on disk as numbers: SB3's ``*.monitor.csv`` episodes and the logger's ``progress.csv``.

Plain ``csv`` and NumPy (SB3's ``load_results`` needs pandas, which a core install lacks). The learning-curve
plot, the learning benchmark and anything else that reads finished episodes go through ``read_monitor``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agents.storage.runs import regular_file_size, write_atomic

#: The file name pattern of SB3's ``Monitor`` (``0.monitor.csv``, one per env of a run).
MONITOR_GLOB = "*monitor.csv"


@dataclass(frozen=True)
class Episodes:
    """The finished training episodes of a run, all its envs merged in the order the episodes ended."""

    steps: np.ndarray
    """``(E,)`` int64: env steps when each episode ended, counted as the sum of the lengths of every episode that
    ended before it and of itself (SB3 ``results_plotter``'s ``timesteps``: it lags the true step count by the
    unfinished episodes)."""
    returns: np.ndarray
    """``(E,)`` float64 episode returns."""
    lengths: np.ndarray
    """``(E,)`` int64 episode lengths, in the same order."""
    info: dict[str, np.ndarray] = field(default_factory=dict)
    """``(E,)`` float64 per ``info`` column asked of ``read_monitor`` (Monitor's ``info_keywords``), in the same
    order; NaN where an episode's line lacks it."""

    def __len__(self) -> int:
        return len(self.returns)


def has_monitor_files(folder: Path) -> bool:
    """True when ``folder`` holds SB3 ``*.monitor.csv`` files."""
    return any(folder.glob(MONITOR_GLOB))


def _header_start(path: Path, first: str) -> float:
    """The ``t_start`` of a monitor file's first line (0.0 for a file without SB3's JSON header line)."""
    try:
        return float(json.loads(first[1:]).get("t_start", 0.0)) if first.startswith("#") else 0.0
    except (ValueError, TypeError, AttributeError):  # JSONDecodeError is a ValueError
        raise ValueError(
            f"{path}: its first line is not the JSON header SB3's Monitor writes ('#{{\"t_start\": ...}}'): "
            "move the file out of the monitor folder."
        ) from None


def monitor_start(path: str | Path) -> float | None:
    """The wall-clock ``t_start`` in the header of the monitor file ``path`` (None when there is no such file).

    A resumed run's ``Monitor`` appends to the file with its own clock started again; giving it this ``t_start``
    keeps every ``t`` of the file on one clock, so episodes stay in the order they ended.
    """
    path = Path(path)
    if not path.is_file() or not regular_file_size(path):
        return None
    with path.open(newline="") as file:
        return _header_start(path, file.readline())


def read_monitor(folder: str | Path, info_keywords: Sequence[str] = ()) -> Episodes:
    """Episodes of every ``*.monitor.csv`` in ``folder``, merged by wall-clock end time.

    Each file's ``t`` column counts from its own ``t_start`` (its JSON header line), so the files are put on one
    clock before they are merged. A line cut short (a run still writing) is skipped. ``info_keywords``: columns
    the Monitor recorded from the episodes' last ``info`` (``mean_speed``), read as floats into ``Episodes.info``.

    Raises:
        FileNotFoundError: ``folder`` holds no monitor file.
    """
    paths = sorted(Path(folder).glob(MONITOR_GLOB))
    if not paths:
        raise FileNotFoundError(f"No {MONITOR_GLOB} files in {folder}: expected the monitor/ folder of a run.")
    ends: list[float] = []
    lengths: list[int] = []
    returns: list[float] = []
    extra: dict[str, list[float]] = {key: [] for key in info_keywords}
    for path in paths:
        regular_file_size(path)
        with path.open(newline="") as file:
            t_start = _header_start(path, file.readline())
            for row in csv.DictReader(file):
                try:
                    ret, length, end = float(row["r"]), int(row["l"]), float(row["t"])
                except (TypeError, ValueError, KeyError):
                    continue
                returns.append(ret)
                lengths.append(length)
                ends.append(t_start + end)
                for key, values in extra.items():
                    values.append(_float_or_nan(row.get(key)))
    order = np.argsort(np.asarray(ends, dtype=np.float64), kind="stable")
    ordered_lengths = np.asarray(lengths, dtype=np.int64)[order]
    info = {key: np.asarray(values, dtype=np.float64)[order] for key, values in extra.items()}
    return Episodes(np.cumsum(ordered_lengths), np.asarray(returns, dtype=np.float64)[order], ordered_lengths, info)


def _float_or_nan(text: str | None) -> float:
    """A monitor cell as a float; NaN when it is missing or not a number."""
    try:
        return float(text) if text is not None else math.nan
    except ValueError:
        return math.nan


def trim_monitor(folder: str | Path, steps_per_env: int) -> int:
    """Keep, in each ``*.monitor.csv`` of ``folder``, only the episodes that ended within its env's first steps.

    A run resumed from a checkpoint plays again the steps after it, so the episodes the stopped run finished after
    the checkpoint would be counted twice: each file keeps its header lines and its episodes while their summed
    lengths stay within ``steps_per_env`` (the steps by the checkpoint of the envs one file records); a line cut short
    goes too. Files are rewritten atomically, and only when something goes.

    Returns:
        How many episodes were dropped over all the files.
    """
    if steps_per_env < 0:
        raise ValueError(f"steps_per_env={steps_per_env}: a step count is 0 or more.")
    dropped = 0
    for path in sorted(Path(folder).glob(MONITOR_GLOB)):
        regular_file_size(path)
        lines = path.read_text().splitlines(keepends=True)
        kept: list[str] = []
        column: int | None = None
        steps = 0
        for index, line in enumerate(lines):
            if line.startswith("#") or column is None:
                kept.append(line)
                if not line.startswith("#"):
                    names = next(csv.reader([line]))
                    column = names.index("l") if "l" in names else None
                    if column is None:
                        break  # not a Monitor file: left as it is
                continue
            try:
                length = int(next(csv.reader([line]))[column])
            except (ValueError, IndexError, StopIteration):
                length = -1
            if length < 0 or not line.endswith("\n") or steps + length > steps_per_env:
                dropped_here = sum(1 for rest in lines[index:] if rest.strip())
                dropped += dropped_here
                write_atomic(path, "".join(kept))
                break
            steps += length
            kept.append(line)
    return dropped


def read_progress(path: str | Path, columns: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The rows of an SB3 ``progress.csv`` where every one of ``columns`` has a value, one array per column.

    Returns None when the file is missing or empty, lacks a column, or no row has them all.
    """
    path = Path(path)
    if not path.is_file() or not path.stat().st_size:
        return None
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames is None or not set(columns) <= set(reader.fieldnames):
            return None
        values: list[list[float]] = []
        for row in reader:
            cells = [row.get(column) or "" for column in columns]
            try:
                numbers = [float(cell) for cell in cells]
            except ValueError:
                continue
            if not any(math.isnan(number) for number in numbers):
                values.append(numbers)
    if not values:
        return None
    table = np.asarray(values, dtype=np.float64)  # (rows, columns)
    return {column: table[:, i] for i, column in enumerate(columns)}
