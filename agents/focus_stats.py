"""Focus statistics: what the training callback, ``eval`` and the video report of where a policy looked.

Statistics apart from the code that collects them (as SB3 keeps ``evaluation.py`` apart from ``callbacks.py``):
mean focus per part, entropy, top-1 mass, relevant mass, and the focus table printed by ``eval``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents.observations import ObsT, stack_obs
from policies import AttentionReport, attention_report


def summarize_report(report: AttentionReport, relevant: Sequence[np.ndarray | None]) -> dict[str, Any]:
    """Attention statistics of a report: mean focus per part, entropy, top-1 mass, relevant mass, focus table.

    Returns:
        ``{"focus": {part: mass}, "entropy", "top1_mass", "relevant_mass": float | None, "parts": [...]}``.
        Relevant mass is averaged over the observations whose env named their relevant parts. ``parts`` has
        one row per part: ``{"part", "focus", "relevant_share", "focus_when_relevant"}``, where
        ``relevant_share`` is the fraction of those observations in which the part was relevant and
        ``focus_when_relevant`` the part's mean focus then (None where never relevant or unknown).
    """
    masses = report.relevant_mass(relevant)  # (B,), NaN where unknown
    known = ~np.isnan(masses)
    is_relevant = np.zeros(report.focus.shape, dtype=bool)  # (B, N)
    for row, parts in enumerate(relevant):
        if parts is not None:
            is_relevant[row, np.asarray(parts, dtype=np.int64)] = True
    times_relevant = is_relevant.sum(axis=0)  # (N,)
    focus_when_relevant = (report.focus * is_relevant).sum(axis=0) / np.maximum(times_relevant, 1)
    mean_focus = report.focus.mean(axis=0)
    parts = [
        {
            "part": name,
            "focus": float(mean_focus[i]),
            "relevant_share": float(times_relevant[i] / known.sum()) if known.any() else None,
            "focus_when_relevant": float(focus_when_relevant[i]) if times_relevant[i] else None,
        }
        for i, name in enumerate(report.part_names)
    ]
    return {
        "focus": report.mean_focus(),
        "entropy": float(report.entropy.mean()),
        "top1_mass": float(report.focus.max(axis=1).mean()),
        "relevant_mass": float(masses[known].mean()) if known.any() else None,
        "parts": parts,
    }


def attention_summary(model: object, observations: Sequence[ObsT], relevant: Sequence[np.ndarray | None]) -> dict:
    """Attention statistics of a batch of single observations (see ``summarize_report``)."""
    return summarize_report(attention_report(model, stack_obs(observations)), relevant)


def format_focus_table(attention: Mapping[str, Any], max_parts: int = 16) -> list[str]:
    """Lines of the focus table, most attended part first, then the focus entropy and the relevant mass.

    Each row gives a part's mean focus and, where the env names relevant parts, how often the part was
    relevant and its mean focus then (the column that shows attention on shuffled entity rows).
    """
    rows = attention.get("parts") or [
        {"part": p, "focus": m, "relevant_share": None, "focus_when_relevant": None}
        for p, m in attention["focus"].items()
    ]
    rows = sorted(rows, key=lambda r: -r["focus"])
    with_relevance = any(r["relevant_share"] is not None for r in rows)
    width = max(len("part"), *(len(r["part"]) for r in rows))
    header = f"    {'part':<{width}}  focus"
    if with_relevance:
        header += "  relevant in  focus when relevant"
    lines = ["  mean focus per part:", header]
    for r in rows[:max_parts]:
        line = f"    {r['part']:<{width}}  {r['focus']:.3f}"
        if with_relevance:
            share = "" if r["relevant_share"] is None else f"{100 * r['relevant_share']:.0f}%"
            when = "" if r["focus_when_relevant"] is None else f"{r['focus_when_relevant']:.3f}"
            line += f"  {share:>11}  {when:>18}"
        lines.append(f"{line}  {'█' * round(30 * r['focus'])}")
    if len(rows) > max_parts:
        lines.append(f"    ... {len(rows) - max_parts} more parts in eval.json")
    lines.append(f"  focus entropy {attention['entropy']:.3f} (0 = one part, 1 = uniform)")
    if attention.get("relevant_mass") is not None:
        lines.append(f"  relevant mass {attention['relevant_mass']:.3f} (focus on the parts the env names)")
    return lines
