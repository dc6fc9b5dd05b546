"""Focus statistics: what the training callback, ``eval`` and the video report of where a policy looked.

Statistics apart from the code that collects them (as SB3 keeps ``evaluation.py`` apart from ``callbacks.py``):
mean focus per part, entropy, top-1 mass, relevant mass, and the focus table printed by ``eval``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.setup.config import DEFAULT_FOCUS_METHODS
from envs.observations import ObsT, stack_obs
from policies import AttentionReport, focus_reports

if TYPE_CHECKING:
    from agents.trxl.focus import MemoryFocusRecorder


def summarize_report(report: AttentionReport, relevant: Sequence[np.ndarray | None]) -> dict[str, Any]:
    """Attention statistics of a report: mean focus per part, entropy, top-1 mass, relevant mass, focus table.

    Returns:
        ``{"focus": {part: mass}, "entropy", "top1_mass", "relevant_mass": float | None, "relevant_effect":
        float | None, "parts": [...]}``. Relevant mass is averaged over the observations whose env named their
        relevant parts, each counting as much as any other. ``relevant_effect`` (``causal`` only) is the relevant
        parts' share of the summed causal effects over the same observations: an observation counts as much as
        its action depends on the parts at all, so observations whose action no part moves (a step whose action
        is ignored, a decision a policy takes by default) do not dilute it. ``parts`` has
        one row per part: ``{"part", "focus", "relevant_share", "focus_when_relevant"}``, where
        ``relevant_share`` is the fraction of those observations in which the part was relevant and
        ``focus_when_relevant`` the part's mean focus then (None where never relevant or unknown).
    """
    relevant = on_part_axis(relevant, report.focus.shape[1])
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
        "relevant_effect": relevant_effect(report, is_relevant, known),
        "parts": parts,
    }


def relevant_effect(report: AttentionReport, is_relevant: np.ndarray, known: np.ndarray) -> float | None:
    """The ``(B, N)`` relevant parts' share of the ``causal`` report's effects summed over the ``known`` rows.

    None for another method, before the effects are computed, or when no known row has any effect.
    """
    if report.method != "causal" or report.effects is None or not known.any():
        return None
    effects = np.asarray(report.effects, dtype=np.float64)[known] * report.mask[known]  # (K, N)
    total = effects.sum()
    return float((effects * is_relevant[known]).sum() / total) if total > 0 else None


def on_part_axis(relevant: Sequence[np.ndarray | None], num_parts: int) -> list[np.ndarray | None]:
    """``relevant`` as it is, or all unknown (None) when an index lies beyond the ``num_parts`` parts.

    An env names its relevant parts on its own part axis (PatchFind: its patch grid); an extractor whose parts
    differ (conv cells on another grid) has no relevant mass to report, rather than a wrong one.
    """
    beyond = any(p is not None and np.size(p) and int(np.max(p)) >= num_parts for p in relevant)
    return [None] * len(relevant) if beyond else list(relevant)


def _finite(value: float) -> float | None:
    """A float for JSON, None for NaN (a score that the batch could not define)."""
    return None if value is None or np.isnan(value) else float(value)


def summarize_memory_focus(recorder: MemoryFocusRecorder) -> dict[str, Any] | None:
    """``summarize_reports`` of a ``ppo_trxl`` run's recorded steps (``readout`` scored against ``causal``).

    None when nothing was recorded.
    """
    if not len(recorder):
        return None
    return summarize_reports(recorder.reports(), recorder.relevant, faithfulness="causal" in recorder.methods)


def summarize_reports(
    reports: Mapping[str, AttentionReport], relevant: Sequence[np.ndarray | None], faithfulness: bool = True
) -> dict[str, Any]:
    """Statistics of the same observations under several focus methods, the first method's shown in full.

    Returns:
        ``summarize_report`` of the first method, with ``"method"`` (its name), a per-method focus in each
        ``parts`` row (``"by_method": {method: focus}``), and ``"methods": {method: {"entropy", "top1_mass",
        "relevant_mass", "relevant_effect", "faithfulness"}}``, where ``faithfulness`` is ``{"spearman",
        "deletion_ratio"}`` of that method against ``causal`` (None for ``causal`` itself or with
        ``faithfulness=False``; a score the batch cannot define is None).
    """
    summaries = {method: summarize_report(report, relevant) for method, report in reports.items()}
    method, first = next(iter(summaries.items()))
    for i, row in enumerate(first["parts"]):
        row["by_method"] = {m: s["parts"][i]["focus"] for m, s in summaries.items()}
    methods = {}
    for name, summary in summaries.items():
        scores = None
        if faithfulness and name != "causal":
            scores = {k: _finite(v) for k, v in reports[name].faithfulness().items()}
        methods[name] = {
            "entropy": summary["entropy"],
            "top1_mass": summary["top1_mass"],
            "relevant_mass": summary["relevant_mass"],
            "relevant_effect": summary["relevant_effect"],
            "faithfulness": scores,
        }
    return {"method": method, **first, "methods": methods}


def attention_summary(
    model: object,
    observations: Sequence[ObsT],
    relevant: Sequence[np.ndarray | None],
    methods: Sequence[str] = DEFAULT_FOCUS_METHODS,
) -> dict[str, Any]:
    """Attention statistics of a batch of single observations under ``methods`` (see ``summarize_reports``)."""
    return summarize_reports(focus_reports(model, stack_obs(observations), methods), relevant)


def format_focus_table(attention: Mapping[str, Any], max_parts: int = 16) -> list[str]:
    """Lines of the focus table, most focused part first (by the first method), then the scores per method.

    Each row gives a part's mean focus under each method and, where the env names relevant parts, how often
    the part was relevant and its mean focus then by the first method (the column that shows attention on
    shuffled entity rows). Below: focus entropy, relevant mass and faithfulness (against ``causal``) per method.
    """
    rows = attention.get("parts") or [
        {"part": p, "focus": m, "relevant_share": None, "focus_when_relevant": None}
        for p, m in attention["focus"].items()
    ]
    rows = sorted(rows, key=lambda r: -r["focus"])
    first = attention.get("method", "readout")
    methods = list(attention.get("methods") or {first: {}})
    with_relevance = any(r["relevant_share"] is not None for r in rows)
    width = max(len("part"), *(len(r["part"]) for r in rows))
    columns = max(7, *(len(m) for m in methods))
    header = f"    {'part':<{width}}" + "".join(f"  {m:>{columns}}" for m in methods)
    if with_relevance:
        header += f"  relevant in  {first} when relevant"
    lines = [f"  mean focus per part (by method; sorted and drawn by {first}):", header]
    for r in rows[:max_parts]:
        by_method = r.get("by_method") or {first: r["focus"]}
        line = f"    {r['part']:<{width}}" + "".join(f"  {by_method[m]:>{columns}.3f}" for m in methods)
        if with_relevance:
            share = "" if r["relevant_share"] is None else f"{100 * r['relevant_share']:.0f}%"
            when = "" if r["focus_when_relevant"] is None else f"{r['focus_when_relevant']:.3f}"
            line += f"  {share:>11}  {when:>{len(first) + 14}}"
        lines.append(f"{line}  {'█' * round(30 * r['focus'])}")
    if len(rows) > max_parts:
        lines.append(f"    ... {len(rows) - max_parts} more parts in eval.json")
    per_method = attention.get("methods") or {first: attention}
    lines.append("  focus entropy   " + _by_method(per_method, "entropy") + "  (0 = one part, 1 = uniform)")
    if any(s.get("relevant_mass") is not None for s in per_method.values()):
        lines.append(
            "  relevant mass   " + _by_method(per_method, "relevant_mass") + "  (focus on the parts the env names)"
        )
    effect = (per_method.get("causal") or {}).get("relevant_effect")
    if effect is not None:
        lines.append(
            f"  relevant effect causal {effect:.3f}  (the named parts' share of the summed causal effects: an "
            "observation weighs as much as its action depends on the parts)"
        )
    scored = {m: s["faithfulness"] for m, s in per_method.items() if s.get("faithfulness")}
    if scored:
        lines.append(
            "  faithfulness    "
            + "  ".join(f"{m} {_num(s['spearman'])}" for m, s in scored.items())
            + "  (Spearman rank correlation with causal: 1 = ranks the parts as removing them moves the policy)"
        )
        lines.append(
            "  deletion ratio  "
            + "  ".join(f"{m} {_num(s['deletion_ratio'], '.1f')}" for m, s in scored.items())
            + "  (removing the top part vs any other: > 1 = the top part matters more)"
        )
    return lines


def _num(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _by_method(per_method: Mapping[str, Mapping[str, Any]], key: str) -> str:
    return "  ".join(f"{m} {_num(s.get(key))}" for m, s in per_method.items())
