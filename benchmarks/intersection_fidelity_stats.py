"""Statistics and tables of the intersection fidelity benchmark, from its JSON results (no simulator needed).

A row of results (one candidate, one policy) holds one record per episode and running sums of the observations;
:func:`summarize` turns it into figures with 95% normal confidence intervals (mean +- 1.96 standard errors over
episodes), :func:`differences` names the figures of a row that differ from the reference row's (the 95% interval
of the difference of the two means excludes 0), and :func:`fidelity_table` / :func:`speed_table` write them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluation.tables import markdown_table

#: z of a two-sided 95% normal interval.
Z95 = 1.959964
#: Column names of the Kinematics rows.
COLUMNS = ("presence", "x", "y", "vx", "vy", "cos_h", "sin_h")
#: Episode figures with a confidence interval, in table order: (key, label, record field).
EPISODE_FIGURES = (
    ("return", "return", "return"),
    ("length", "length", "length"),
    ("crash", "crash rate", "crashed"),
    ("arrival", "arrival rate", "arrived"),
)


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """``(mean, half-width)`` of the 95% normal interval of the mean (half-width 0 for one value).

    Raises:
        ValueError: no values.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("mean_ci needs at least one value, got none.")
    half = Z95 * float(np.std(data, ddof=1)) / math.sqrt(len(data)) if len(data) > 1 else 0.0
    return float(np.mean(data)), half


def new_row(
    candidate: str, policy: str, layout: str, columns: Sequence[str] = COLUMNS, rows: int = 15
) -> dict[str, Any]:
    """An empty row of results: no episodes yet, zero sums; ``columns`` names the observation's columns."""
    return {
        "candidate": candidate,
        "policy": policy,
        "layout": layout,
        "columns": list(columns),
        "episodes": [],
        "wall_s": 0.0,
        "obs_sum": [0.0] * len(columns),
        "obs_sumsq": [0.0] * len(columns),
        "obs_count": [0] * len(columns),
        "first_sum": np.zeros((rows, len(columns))).tolist(),
        "first_sumsq": np.zeros((rows, len(columns))).tolist(),
    }


def row_columns(row: dict[str, Any]) -> tuple[str, ...]:
    """The observation's column names of a row (:data:`COLUMNS` for rows written before rows named them)."""
    return tuple(row.get("columns", COLUMNS))


def add_episode(row: dict[str, Any], record: dict[str, Any], first: np.ndarray, observations: np.ndarray) -> None:
    """Add one episode to a row: its record (with its per-column observation means) and the running sums.

    Column statistics count the presence column over all rows and every other column over present rows
    (presence 1): padding rows are not vehicles.

    Args:
        row: a row from :func:`new_row`.
        record: the episode's record (``run_episode``); ``obs_mean`` is added to it.
        first: ``(V, F)`` the first observation.
        observations: ``(T + 1, V, F)`` every observation of the episode, the first included.
    """
    flat = observations.reshape(-1, observations.shape[-1]).astype(np.float64)  # (steps * V, F)
    present = flat[:, 0] > 0.5  # (steps * V,)
    sums, sumsqs, counts = [], [], []
    for column in range(flat.shape[1]):
        values = flat[:, column] if column == 0 else flat[present, column]
        sums.append(float(values.sum()))
        sumsqs.append(float((values**2).sum()))
        counts.append(int(values.size))
    record["obs_mean"] = [round(s / c, 5) if c else None for s, c in zip(sums, counts, strict=True)]
    row["episodes"].append(record)
    row["obs_sum"] = [a + b for a, b in zip(row["obs_sum"], sums, strict=True)]
    row["obs_sumsq"] = [a + b for a, b in zip(row["obs_sumsq"], sumsqs, strict=True)]
    row["obs_count"] = [a + b for a, b in zip(row["obs_count"], counts, strict=True)]
    row["first_sum"] = (np.asarray(row["first_sum"]) + first).tolist()
    row["first_sumsq"] = (np.asarray(row["first_sumsq"]) + first.astype(np.float64) ** 2).tolist()


def summarize(row: dict[str, Any]) -> dict[str, Any]:
    """Figures of a row: ``(mean, half-width)`` per episode figure and per column mean; spreads without CI.

    Keys: ``n``, ``columns``, the :data:`EPISODE_FIGURES` keys, ``mean_<column>`` (per-episode column means,
    their mean and CI), ``std_<column>`` (pooled over all steps, no CI), ``distinct_first`` (distinct first
    observations), ``first_std`` (the std across episodes of each cell of the first observation, averaged over cells).

    Raises:
        ValueError: the row has no episodes.
    """
    episodes = row["episodes"]
    if not episodes:
        raise ValueError(f"row {row['candidate']}/{row['policy']} has no episodes to summarize.")
    n = len(episodes)
    out: dict[str, Any] = {"n": n, "columns": row_columns(row)}
    for key, _, field in EPISODE_FIGURES:
        out[key] = mean_ci([float(e[field]) for e in episodes])
    for j, name in enumerate(out["columns"]):
        values = [e["obs_mean"][j] for e in episodes if e["obs_mean"][j] is not None]
        out[f"mean_{name}"] = mean_ci(values) if values else (float("nan"), 0.0)
        count = row["obs_count"][j]
        mean = row["obs_sum"][j] / count if count else float("nan")
        out[f"std_{name}"] = math.sqrt(max(row["obs_sumsq"][j] / count - mean**2, 0.0)) if count else float("nan")
    first_mean = np.asarray(row["first_sum"]) / n
    first_var = np.maximum(np.asarray(row["first_sumsq"]) / n - first_mean**2, 0.0)
    out["distinct_first"] = len({e["first"] for e in episodes})
    out["first_std"] = float(np.sqrt(first_var).mean())
    return out


def differences(summary: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """Labels of the figures whose mean differs from the reference's: the 95% CI of the difference excludes 0.

    Also ``initial states`` when the row has a single distinct first observation and the reference more.
    """
    columns = [c for c in summary["columns"] if c in reference["columns"]]
    labels = [(key, label) for key, label, _ in EPISODE_FIGURES] + [(f"mean_{c}", f"mean {c}") for c in columns]
    out = []
    for key, label in labels:
        (m1, h1), (m0, h0) = summary[key], reference[key]
        if math.isnan(m1) or math.isnan(m0):
            continue
        if abs(m1 - m0) > math.hypot(h1, h0) + 1e-12:
            out.append(label)
    if summary["distinct_first"] == 1 and reference["distinct_first"] > 1:
        out.append("initial states")
    return out


def paired_differences(row: dict[str, Any], reference_row: dict[str, Any]) -> list[str]:
    """Labels of the figures whose per-seed difference from the reference has a 95% CI excluding 0.

    For candidates that honour the episode seeds: episode i of both rows starts from the same seed, so the
    difference of each pair is a sharper test than the difference of two independent means. Needs at least two
    seeds in common (else no label).
    """
    reference = {e["seed"]: e for e in reference_row["episodes"]}
    pairs = [(e, reference[e["seed"]]) for e in row["episodes"] if e["seed"] in reference]
    if len(pairs) < 2:
        return []
    fields = [(label, lambda e, f=field: float(e[f])) for _, label, field in EPISODE_FIGURES]
    fields += [(f"mean {c}", lambda e, j=j: e["obs_mean"][j]) for j, c in enumerate(row_columns(row))]
    out = []
    for label, value in fields:
        diffs = [value(a) - value(b) for a, b in pairs if value(a) is not None and value(b) is not None]
        if len(diffs) >= 2:
            mean, half = mean_ci(diffs)
            if abs(mean) > half + 1e-12:
                out.append(label)
    return out


#: The fields of an episode record compared by :func:`identical_pairs` (all but the seed).
RECORD_FIELDS = ("return", "length", "crashed", "arrived", "first", "obs_mean")


def identical_pairs(row: dict[str, Any], reference_row: dict[str, Any]) -> tuple[int, int]:
    """``(identical, paired)``: of the row's episodes whose seed the reference row also ran, how many equal it.

    Equal: every :data:`RECORD_FIELDS` field, i.e. the same return (6 decimals), length, crash, arrival, first
    observation (bit for bit, by its hash) and per-column observation means (5 decimals).
    """
    reference = {e["seed"]: e for e in reference_row["episodes"]}
    pairs = [(e, reference[e["seed"]]) for e in row["episodes"] if e["seed"] in reference]
    same = sum(all(a[f] == b[f] for f in RECORD_FIELDS) for a, b in pairs)
    return same, len(pairs)


def all_identical(row: dict[str, Any], reference_row: dict[str, Any]) -> bool:
    """Whether every episode of the row has a reference episode of the same seed, equal to it (at least one)."""
    same, paired = identical_pairs(row, reference_row)
    return paired == len(row["episodes"]) > 0 and same == paired


def row_differences(row: dict[str, Any], reference_row: dict[str, Any], paired: bool) -> list[str]:
    """:func:`differences` of two rows, then (with ``paired``) the :func:`paired_differences` not yet named.

    None with ``paired`` when every episode equals the reference's of its seed (:func:`all_identical`): the
    figures of the two rows differ then only in which seeds the reference ran beyond them.
    """
    if paired and all_identical(row, reference_row):
        return []
    found = differences(summarize(row), summarize(reference_row))
    if paired:
        found += [f"{label} (paired)" for label in paired_differences(row, reference_row) if label not in found]
    return found


def _ci(value: tuple[float, float], digits: int = 2, percent: bool = False) -> str:
    mean, half = value
    if percent:
        return f"{100 * mean:.1f}% ±{100 * half:.1f}"
    return f"{mean:.{digits}f} ±{half:.{digits}f}"


def policy_label(policy: str) -> str:
    """A policy as the tables name it: ``trained:/runs/.../dqn_attention_s0`` -> ``trained (dqn_attention_s0)``."""
    kind, _, run = policy.partition(":")
    return f"{kind} ({Path(run).name})" if run else policy


def fidelity_table(
    rows: dict[str, dict[str, Any]], reference: str, order: Sequence[str], paired: Sequence[str] = ()
) -> str:
    """The fidelity table: one line per candidate and policy, the reference candidate's lines first.

    Args:
        rows: ``"<candidate>/<policy>"`` -> row of results.
        reference: the reference candidate's name.
        order: candidate names in table order.
        paired: candidates whose episodes are also compared seed by seed with the reference's.
    """
    header = ["candidate", "policy", "episodes", "return", "length", "crash rate", "arrival rate"]
    header += [f"mean {c}" for c in COLUMNS[1:3]] + ["distinct starts", "start std", "differs from the original in"]
    lines = []
    for key in sorted(rows, key=lambda k: (order.index(rows[k]["candidate"]), rows[k]["policy"])):
        row = rows[key]
        if not row["episodes"]:
            continue
        summary = summarize(row)
        reference_key = f"{reference}/{row['policy']}"
        if row["candidate"] == reference:
            verdict = "(the reference)"
        elif reference_key in rows and rows[reference_key]["episodes"]:
            found = row_differences(row, rows[reference_key], row["candidate"] in paired)
            verdict = ", ".join(found) if found else "nothing: matches"
            if row["candidate"] in paired and all_identical(row, rows[reference_key]):
                verdict = f"nothing: identical, episode by episode ({len(row['episodes'])} of its seeds)"
        else:
            verdict = "no reference row"
        lines.append(
            [
                row["candidate"],
                policy_label(row["policy"]),
                summary["n"],
                _ci(summary["return"]),
                _ci(summary["length"]),
                _ci(summary["crash"], percent=True),
                _ci(summary["arrival"], percent=True),
                *(_ci(summary[f"mean_{c}"], 3) for c in COLUMNS[1:3]),
                summary["distinct_first"],
                f"{summary['first_std']:.3f}",
                verdict,
            ]
        )
    return markdown_table(header, lines)


def column_table(rows: dict[str, dict[str, Any]], order: Sequence[str]) -> str:
    """Per-column observation statistics: mean ±CI (per-episode means) and pooled std, per row."""
    columns = next((row_columns(row) for row in rows.values()), COLUMNS)
    header = ["candidate", "policy", *columns]
    lines = []
    for key in sorted(rows, key=lambda k: (order.index(rows[k]["candidate"]), rows[k]["policy"])):
        if not rows[key]["episodes"]:
            continue
        summary = summarize(rows[key])
        cells = [f"{_ci(summary[f'mean_{c}'], 3)} (sd {summary[f'std_{c}']:.3f})" for c in columns]
        lines.append([rows[key]["candidate"], policy_label(rows[key]["policy"]), *cells])
    return markdown_table(header, lines)


def speed_table(speed: dict[str, Any]) -> str:
    """Raw env steps/s per candidate (median of the rounds) and its ratio to the first candidate's median."""
    medians = {name: float(np.median(values)) for name, values in speed["steps_per_s"].items()}
    base = next(iter(medians.values()))
    lines = [
        [name, len(speed["steps_per_s"][name]), f"{value:,.1f}", f"{value / base:.2f}x"]
        for name, value in medians.items()
    ]
    return markdown_table(["candidate", "rounds", "steps/s (median)", "ratio to the first"], lines)
