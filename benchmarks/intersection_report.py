"""The "Simulator fidelity" subsection of docs/BENCHMARKS.md's "Social Attention on intersection", from the JSON.

``intersection_fidelity.py --report`` calls :func:`write_report`; the subsection sits between its own markers
under the ``## Social Attention on intersection`` heading (added when the document has none yet), so the other
parts of that section can be written by other scripts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from doc_sections import write_section
from intersection_candidates import CANDIDATES, REFERENCE
from intersection_fidelity_stats import (
    all_identical,
    column_table,
    fidelity_table,
    policy_label,
    row_differences,
    speed_table,
)

HEADING = "## Social Attention on intersection"
START_MARKER = "<!-- intersection_fidelity:start -->"
END_MARKER = "<!-- intersection_fidelity:end -->"
PROFILE_JSON = Path(__file__).resolve().parent.parent / "docs" / "intersection_profile.json"
#: Which fidelity candidate each raw-speed candidate runs (its table rows decide whether it is faithful).
SPEED_SIMULATOR = {name: name for name in ("python-15hz", "python-15hz-fast", "python-5hz", "envpool")}


def runs_of(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs recorded in ``meta``: its ``runs`` list, or the single run of results written before it existed."""
    if "runs" in meta:
        return list(meta["runs"])
    keys = ("command", "started", "load_at_start", "finished", "load_at_end")
    return [{key: meta.pop(key) for key in keys if key in meta}] if "command" in meta else []


def verdicts(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """``candidate -> policy -> figures that differ from the reference`` (candidates with a reference row)."""
    out: dict[str, dict[str, list[str]]] = {}
    for row in rows.values():
        reference = rows.get(f"{REFERENCE}/{row['policy']}")
        if row["candidate"] == REFERENCE or not row["episodes"] or not reference or not reference["episodes"]:
            continue
        paired = CANDIDATES[row["candidate"]].takes_seed
        out.setdefault(row["candidate"], {})[row["policy"]] = row_differences(row, reference, paired)
    return out


def simulator_of(speed_name: str) -> str:
    """The fidelity candidate a raw-speed candidate runs (by the name's first word)."""
    head = speed_name.split(",")[0].split()[0]
    return SPEED_SIMULATOR.get(head, head)


def identical(candidate: str, rows: dict[str, dict[str, Any]]) -> int:
    """Episodes of ``candidate`` when every row of it equals the reference's episode by episode, else 0."""
    own = [row for row in rows.values() if row["candidate"] == candidate and row["episodes"]]
    pairs = [(row, rows.get(f"{REFERENCE}/{row['policy']}")) for row in own]
    if not own or not CANDIDATES[candidate].takes_seed or any(ref is None for _, ref in pairs):
        return 0
    return sum(len(row["episodes"]) for row in own) if all(all_identical(r, ref) for r, ref in pairs) else 0


def faithful(candidate: str, found: dict[str, dict[str, list[str]]]) -> bool:
    """The reference is faithful by definition; another candidate when no row of it differs."""
    return candidate == REFERENCE or (candidate in found and not any(found[candidate].values()))


def summary_sentences(results: dict[str, Any], found: dict[str, dict[str, list[str]]]) -> str:
    """Three sentences: the fastest faithful candidate (measured), then what rules out each other one."""
    speed = results.get("speed")
    if not speed:
        return "No raw-speed measurement in the results yet: run the benchmark without `--speed-rounds 0`."
    medians = {name: float(np.median(v)) for name, v in speed["steps_per_s"].items()}
    base = next(iter(medians.values()))
    ok = {name: value for name, value in medians.items() if faithful(simulator_of(name), found)}
    best = max(ok, key=ok.get)
    if simulator_of(best) == REFERENCE:
        why = "it runs highway-env's own 15 Hz simulation, so its episodes are the original's"
    elif identical(simulator_of(best), results["rows"]):
        why = f"its `{simulator_of(best)}` episodes are the original's, seed by seed"
    else:
        why = f"no figure of its `{simulator_of(best)}` rows differs from the original's"
    text = [
        f"The fastest faithful simulator measured here is **{best}** ({ok[best]:,.1f} raw steps/s, "
        f"{ok[best] / base:.2f}x the original as shipped): {why}."
    ]
    for candidate in (name for name in CANDIDATES if name != REFERENCE):
        if candidate not in found:
            continue
        rate = [medians[n] / base for n in medians if simulator_of(n) == candidate]
        speedup = f" although it steps {rate[0]:.1f}x faster than the original as shipped" if rate else ""
        wrong = {policy: figs for policy, figs in found[candidate].items() if figs}
        same = identical(candidate, results["rows"])
        if same:
            text.append(
                f"`{candidate}` is identical to the original{speedup.replace('although it', 'and')}: each of its "
                f"{same} episodes (return, "
                "length, crash, arrival, first observation bit for bit, column means) equals the original's "
                "episode of the same seed."
            )
        elif wrong:
            detail = "; ".join(f"{policy_label(policy)}: {', '.join(figs)}" for policy, figs in sorted(wrong.items()))
            text.append(f"`{candidate}` is not faithful{speedup}: it differs from the original in {detail}.")
        else:
            text.append(f"`{candidate}` matches the original on every figure of every policy{speedup}.")
    return " ".join(text)


def subproc_note(speed: dict[str, Any]) -> str:
    """A sentence per ``SubprocVecEnv`` candidate slower than the same settings in one process (else nothing)."""
    medians = {name: float(np.median(v)) for name, v in speed["steps_per_s"].items()}
    out = ""
    for name, value in medians.items():
        head, _, tail = name.partition(", SubprocVecEnv")
        single = [
            other for other in medians if other.startswith(head.split(",")[0] + ",") and "SubprocVecEnv" not in other
        ]
        if tail and single and value < medians[single[-1]]:
            out += (
                f" `{name}` stepped slower ({value:,.1f}/s) than `{single[-1]}` in one process "
                f"({medians[single[-1]]:,.1f}/s): the load average was above the core count, so no core was idle for "
                "its workers to add."
            )
    return out


def notes(results: dict[str, Any]) -> list[str]:
    """The notes under the tables: settings, statistics, envpool's options, machine, the adapter's profile."""
    meta, rows = results.get("meta", {}), results["rows"]
    sizes: dict[str, list[int]] = {}
    for row in rows.values():
        sizes.setdefault(row["candidate"], []).append(len(row["episodes"]))
    counts = sorted((c, f"{min(n)}" if min(n) == max(n) else f"{min(n)}-{max(n)}") for c, n in sizes.items())
    out = [
        "Candidates: "
        + "; ".join(f"`{c.name}`: {c.description}" for c in CANDIDATES.values())
        + ". highway-env's `HighwayEnvFast` (highway-fast-v0) sets `simulation_frequency` 5, fewer lanes and "
        "vehicles and a longer duration (highway's own keys; intersection keeps its `initial_vehicle_count` 10 and "
        "`spawn_probability` 0.6) and turns off collision checks between uncontrolled vehicles: only the 5 Hz "
        "simulation is applied here (collision checks are a few percent of a profiled step, and dropping them "
        "would change intersection's traffic, where other vehicles do crash into each other).",
        "Episodes per row: " + ", ".join(f"`{c}` {n}" for c, n in counts) + f"; episode i uses seed "
        f"{meta.get('seed_base', '?')} + i on every candidate (envpool ignores it). Policies act by highway-env's "
        "DiscreteMetaAction names (`action_type.actions_indexes`; envpool takes the same three indices, "
        "SLOWER 0, IDLE 1, FASTER 2).",
        "Observations: the raw 15 x 7 Kinematics rows each candidate returns with highway-env's default "
        "intersection observation (presence, x, y, vx, vy, cos_h, sin_h; absolute, normalised by x, y in "
        "[-100, 100] m and vx, vy in [-20, 20] m/s, clipped to [-1, 1]); envpool's port returns the same layout, "
        "so no conversion. The Python rows' observations come from the adapter's NumPy copy of highway-env's "
        "Kinematics code (`envs/adapters/highway_kinematics.py`), equal to highway-env's bit for bit "
        "(`tests/test_envs_highway_kinematics.py`). Column means average each episode's mean over present rows "
        "(presence: over all rows); `start std` is the std across episodes of each cell of the first "
        "observation, averaged over the 105 cells; `distinct starts` counts distinct first observations.",
        "Statistics: each mean with its 95% normal interval (mean ± 1.96 standard errors over episodes). A figure "
        "*differs* when the 95% normal interval of the difference of the two means excludes 0 (so about one "
        "figure in twenty differs by chance for an identical simulator; the rule 'outside the original's "
        "interval' would flag about one in six), and `initial states` when every episode starts alike while the "
        "original's do not. Candidates that honour the seeds (the Python ones) are also compared seed by seed: "
        "*(paired)* marks a figure whose mean per-seed difference has a 95% normal interval excluding 0 (a "
        "sharper test, since both episodes start from the same seed). Eleven figures per policy, three policies "
        "and two tests make about three chance flags for a simulator identical to the original: a lone small "
        "flag is weak evidence; the same figure flagged under several policies, or a large difference, is not.",
        "envpool's `intersection-v0` config keys: "
        + ", ".join(f"`{k}`" for k in meta.get("envpool_config", {}))
        + ". None restores random traffic: different `seed`s, per-env `env_seed`s and `reset(seed=...)` (ignored, "
        "with a warning) all give the same first observation, and `reset(options=...)` rejects any option "
        "(`Unsupported Gymnasium reset options`). Its `intersection-v1` is the continuous-action variant "
        "(`Box(2)` actions, 5 x 8 observation), so the FASTER/SLOWER policies do not apply: not run.",
        f"Machine: {meta.get('cpu', '?')}; 1-minute load average "
        + "; ".join(
            f"{run.get('load_at_start', float('nan')):.2f} when run {i} started ({run.get('started', '?')}), "
            f"{run.get('load_at_end', float('nan')):.2f} when it ended ({run.get('finished', 'not finished')})"
            for i, run in enumerate(runs_of(dict(meta)), 1)
        )
        + ": other work shared the two cores, which slows every timing.",
        "A trained policy: `--policy RUN_DIR` adds its greedy rows on the Python candidates, acting on the "
        "project adapter's rows (other vehicles relative to the ego), so their column statistics are in that "
        "layout; on envpool it needs the envpool observation conversion.",
    ]
    speed = results.get("speed")
    if speed:
        rounds = len(next(iter(speed["steps_per_s"].values())))
        out.append(
            f"Raw speed: random actions, one process, candidates interleaved ({rounds} rounds of "
            f"{speed['seconds']:.0f} s each, order alternating; medians), load average "
            f"{speed['load_before']:.2f} before and {speed['load_after']:.2f} after; the SubprocVecEnv candidates "
            "count the steps of both their processes." + subproc_note(speed)
        )
    if PROFILE_JSON.is_file():
        profile = json.loads(PROFILE_JSON.read_text())
        split = {
            name: ", ".join(f"{k} {v:.0%}" for k, v in parts.items() if k not in ("total_s", "steps") and v >= 0.005)
            for name, parts in profile["split"].items()
        }
        out.append(
            "Where a step of `make_adapted('intersection-v0')` goes (cProfile, random actions, "
            f"`{profile['command']}`, {profile['started']}): with highway-env's pandas observation "
            f"{split['pandas']}; with the adapter's NumPy observation {split['numpy']}. Steps/s interleaved without "
            f"the profiler: NumPy {profile['ratio_numpy_to_pandas']:.2f}x pandas (medians of "
            f"{len(profile['steps_per_s']['numpy'])} rounds, load average {profile['load_at_start']:.2f} at the start)."
        )
    return out


def section(results: dict[str, Any]) -> str:
    """The subsection's markdown, markers included."""
    rows = results["rows"]
    order = list(CANDIDATES)
    found = verdicts(rows)
    meta = results.get("meta", {})
    parts = [
        START_MARKER,
        "### Simulator fidelity",
        "",
        fidelity_table(rows, REFERENCE, order, [c.name for c in CANDIDATES.values() if c.takes_seed]),
        "",
        "Reproduce: "
        + ", then ".join(f"`{shown_command(run['command'])}`" for run in runs_of(dict(meta)) if "command" in run)
        + " (each run adds its rows to the JSON; runs stopped at a set time ran fewer episodes than asked: the table "
        "counts those that ran; RUN: the trained row's run folder, an attention run of the DQN reproduction), then "
        "`python benchmarks/intersection_fidelity.py --report` (and "
        "`python benchmarks/intersection_profile.py` for the adapter's profile).",
        "",
        summary_sentences(results, found),
        "",
    ]
    if results.get("speed"):
        parts += ["#### Raw speed (env steps/s, random actions)", "", speed_table(results["speed"]), ""]
    parts += ["#### Observation columns (mean ±95% CI over episodes, pooled sd)", "", column_table(rows, order), ""]
    parts += ["#### Notes", "", *(f"- {line}" for line in notes(results)), END_MARKER]
    return "\n".join(parts)


def shown_command(command: str) -> str:
    """A recorded command as the doc shows it: the trained policy's folder as ``RUN``, without ``--until``.

    ``--until`` only said when that machine stopped starting chunks; the folder is that machine's.
    """
    command = re.sub(r"--policy \S+", "--policy RUN", command)
    return re.sub(r" --until \S+", "", command)


def write_report(results: dict[str, Any], doc: Path) -> None:
    """Write the subsection into ``doc``, adding the section heading first when the document lacks it."""
    if not results.get("rows"):
        raise ValueError("the results have no rows yet: run benchmarks/intersection_fidelity.py first.")
    text = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    if HEADING not in text and START_MARKER not in text:
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(text.rstrip("\n") + f"\n\n{HEADING}\n")
    write_section(doc, section(results), START_MARKER, END_MARKER)
