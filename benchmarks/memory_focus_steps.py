"""Where a trained ``ppo_trxl`` looked back on CueMemory, step by step: the answer against the steps before it.

The memory section of docs/BENCHMARKS.md gives the causal focus on the cue's step over every greedy evaluation step.
This script splits it for runs of the CueMemory rows (kept with ``benchmarks/memory.py --keep-runs DIR``): the
*answer* steps (the observation carries the ``query`` flag: the action taken on it is the only one scored) against
the *delay* steps before them (their actions are ignored by the env), and the answer steps by the option cued. For
each it prints the per-step relevant mass (every step weighing the same), the cue's share of the summed causal
effect (``relevant_effect``), and the mean KL of the action distribution when the cue's step is masked out against
when every step is masked out one at a time (summed).

Usage::

    python benchmarks/memory.py --rows cue-long-steps --arms ppo_trxl --seeds 0 1 2 --keep-runs runs/memory
    python benchmarks/memory_focus_steps.py runs/memory/attn-CueMemory-v0/ppo_trxl_mlp_s* --episodes 100
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

import envs  # noqa: F401  (registers the attn/ ids)
from agents import load
from agents.evaluation.evaluate import read_config
from agents.evaluation.focus_stats import summarize_report
from agents.evaluation.tables import markdown_table
from agents.trxl.focus import MemoryFocusRecorder
from envs.adapters.registry import make_adapted
from policies import AttentionReport


def record_episodes(run_dir: Path, episodes: int, seed: int) -> tuple[MemoryFocusRecorder, list[str], list[int]]:
    """Greedy episodes of the run's env with the causal memory focus of every step an action is taken on.

    Returns the recorder, each recorded step's kind (``answer`` or ``delay``) and each step's episode cue option.
    """
    config = read_config(run_dir)
    if config.algo != "ppo_trxl" or config.env != "attn/CueMemory-v0":
        raise ValueError(
            f"{run_dir} is {config.algo} on {config.env}: this script reads ppo_trxl runs of attn/CueMemory-v0 "
            "(benchmarks/memory.py --rows cue-long-steps --arms ppo_trxl --keep-runs DIR)."
        )
    model = load(run_dir)
    env = make_adapted(config.env, **config.env_kwargs)
    names = list(env.unwrapped.feature_names)
    query, cue_columns = names.index("query"), [i for i, n in enumerate(names) if n.startswith("cue_")]
    recorder = MemoryFocusRecorder(model.policy, ["causal"], max_samples=10**7)
    kinds: list[str] = []
    cues: list[int] = []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        cue = int(np.argmax(np.asarray(obs).reshape(-1, len(names))[-1, cue_columns]))
        state, start, done = None, True, False
        while not done:
            if not start:  # the first step attends over no memory: nothing to record (as in evaluation)
                recorder.record(obs, state, info)
                kinds.append("answer" if np.asarray(obs).reshape(-1, len(names))[-1, query] > 0.5 else "delay")
                cues.append(cue)
            action, state = model.predict(obs, state, np.array([start]), deterministic=True)
            obs, _, terminated, truncated, info = env.step(action.item())
            start, done = False, terminated or truncated
    env.close()
    return recorder, kinds, cues


def shares(report: AttentionReport, relevant: list[np.ndarray | None], rows: np.ndarray) -> tuple[float, ...]:
    """``(relevant mass, relevant effect, mean KL of the cue's step, mean summed KL)`` of the ``rows``.

    ``report`` is the causal one; the first two figures are ``summarize_report``'s, as the evaluation gives them.
    """
    part = dataclasses.replace(
        report, focus=report.focus[rows], weights=report.weights[rows], entropy=report.entropy[rows],
        mask=report.mask[rows], effects=report.effects[rows],
    )  # fmt: skip
    summary = summarize_report(part, [relevant[i] for i in np.flatnonzero(rows)])
    is_relevant = np.zeros(part.focus.shape, dtype=bool)  # (S, M + 1)
    for i, row in enumerate(np.flatnonzero(rows)):
        if relevant[row] is not None:
            is_relevant[i, relevant[row]] = True
    return (
        summary["relevant_mass"],
        summary["relevant_effect"],
        float((part.effects * is_relevant).sum(axis=1).mean()),
        float(part.effects.sum(axis=1).mean()),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print one table per run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="ppo_trxl run folders of a CueMemory row")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode (then +1 per episode)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    header = ["steps", "count", "relevant mass", "cue's share of the effect", "KL: cue's step", "KL: summed"]
    for run_dir in args.runs:
        try:
            recorder, kinds, cues = record_episodes(run_dir, args.episodes, args.seed)
        except (ValueError, FileNotFoundError) as exc:
            parser.error(str(exc))
        kinds_a, cues_a = np.array(kinds), np.array(cues)
        groups = {"every step": np.ones(len(kinds_a), dtype=bool), "delay": kinds_a == "delay",
                  "answer": kinds_a == "answer"}  # fmt: skip
        for option in sorted(set(cues)):
            groups[f"answer, cue {option}"] = (kinds_a == "answer") & (cues_a == option)
        report = recorder.reports()["causal"]
        rows = [[name, int(mask.sum()), *(f"{v:.3g}" for v in shares(report, recorder.relevant, mask))]
                for name, mask in groups.items() if mask.any()]  # fmt: skip
        print(f"\n{run_dir} ({args.episodes} greedy episodes, seeds {args.seed}-{args.seed + args.episodes - 1})\n")
        print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
