"""Torch threads: PPO training throughput with 1 thread against torch's default, on an idle and a loaded machine.

For each model in ``MODELS`` (the default run's attention preset, ``AttentionExtractor()`` with one block, SB3's
MLP on FindTarget, and NatureCNN and patch attention on PatchFind's pixels) and each thread count, it trains PPO
with the model's ``configs/ppo.yaml`` preset for ``--steps`` env steps after a warm-up rollout, in one process,
the thread counts interleaved (``torch.set_num_threads`` between rounds: A B A B ...), and takes the median
steps/s over ``--rounds``. Then it does the same while a second process trains beside it (``--load``: the
default run with torch's default threads, as a second user's training would), and reports the ratio of each
thread count's steps/s to one thread's.

It writes its table between ``<!-- threads:start -->`` and ``<!-- threads:end -->`` in ``docs/BENCHMARKS.md``.

Usage::

    python benchmarks/threads.py                       # idle and loaded, writes docs/BENCHMARKS.md
    python benchmarks/threads.py --quick --output /tmp/threads.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from doc_sections import machine_facts, write_section

from agents import RunConfig, resolve
from agents.evaluation.tables import markdown_table
from agents.setup.build import checked_model
from agents.setup.vec_envs import make_env

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
START_MARKER = "<!-- threads:start -->"
END_MARKER = "<!-- threads:end -->"


@dataclass(frozen=True)
class Model:
    """One row: an env and extractor trained with their PPO preset (``--set`` style overrides on top)."""

    name: str
    env: str
    extractor: str
    overrides: tuple[str, ...] = ()


MODELS = (
    Model("attention preset (default run)", "attn/FindTarget-v0", "attention"),
    Model("AttentionExtractor() defaults", "attn/FindTarget-v0", "attention", ("extractor_kwargs.num_layers=1",)),
    Model("MLP", "attn/FindTarget-v0", "mlp"),
    Model("NatureCNN (PatchFind)", "attn/PatchFind-v0", "mlp"),
    Model("patch attention (PatchFind preset)", "attn/PatchFind-v0", "attention"),
)


def build(model: Model) -> object:
    """The PPO model of ``model``'s preset on its own envs."""
    from agents.setup.overrides import apply_overrides

    config = resolve(apply_overrides(RunConfig(env=model.env, extractor=model.extractor), list(model.overrides)))
    ppo = checked_model(config)
    ppo.set_env(make_env(config, config.n_envs, config.seed))
    return ppo


def steps_per_second(ppo: object, steps: int) -> float:
    """Env steps per second of ``ppo.learn(steps)`` (rollouts and updates) from where it stands.

    SB3 finishes the rollout it is in, so a count below one rollout still runs a whole one: the steps taken are
    counted (``num_timesteps`` before and after), not ``steps``.
    """
    before = ppo.num_timesteps
    start = time.perf_counter()
    ppo.learn(steps, reset_num_timesteps=False, progress_bar=False)
    return (ppo.num_timesteps - before) / (time.perf_counter() - start)


def measure(threads: Sequence[int], steps: int, rounds: int) -> dict[str, dict[int, float]]:
    """Median steps/s per model and thread count, thread counts interleaved within each round."""
    results: dict[str, dict[int, list[float]]] = {}
    for model in MODELS:
        ppo = build(model)
        torch.set_num_threads(1)
        steps_per_second(ppo, ppo.n_steps * ppo.n_envs)  # warm-up
        per_threads: dict[int, list[float]] = {t: [] for t in threads}
        for _ in range(rounds):
            for t in threads:
                torch.set_num_threads(t)
                per_threads[t].append(steps_per_second(ppo, steps))
        results[model.name] = per_threads
        summary = ", ".join(f"{t} thread(s) {statistics.median(v):.0f}" for t, v in per_threads.items())
        print(f"  {model.name}: {summary} steps/s", flush=True)
    return {name: {t: statistics.median(v) for t, v in per.items()} for name, per in results.items()}


def start_load(run_root: str) -> subprocess.Popen:
    """A second training beside the benchmark: the default run with torch's default threads, no end in sight."""
    command = [
        sys.executable, str(REPO_ROOT / "train_rl.py"), "--timesteps", "100000000", "--no-progress-bar",
        "--run-dir", run_root, "--eval-freq", "0", "--save-freq", "0", "--eval-episodes", "0",
        "--threads", str(torch.get_num_threads()),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def verdict(idle: dict[str, dict[int, float]], loaded: dict[str, dict[int, float]], threads: Sequence[int]) -> str:
    """One paragraph: what more threads gain on the idle machine and lose on the loaded one."""
    if len(threads) < 2:
        return "Only one thread count was measured here (torch's default is 1 on this machine)."
    most = threads[-1]
    gains = [idle[m.name][most] / idle[m.name][1] for m in MODELS]
    losses = [loaded[m.name][most] / loaded[m.name][1] for m in MODELS]
    return (
        f"**Verdict.** {most} threads gain {min(gains):.2f}x-{max(gains):.2f}x over one on the idle machine and "
        f"run at {min(losses):.2f}x-{max(losses):.2f}x of one thread's speed as soon as a second training shares "
        "the cores. One thread is the default (`agents.setup.build.DEFAULT_THREADS`): it gives up at most "
        f"{100 * (1 - 1 / max(gains)):.0f}% on an idle machine and avoids a {1 / min(losses):.0f}x slowdown on a "
        "busy one; `--threads N` sets another count."
    )


def timing_args(description: str, quick_steps: int, argv: Sequence[str] | None) -> tuple[argparse.Namespace, int, int]:
    """The command line of an interleaved PPO timing (this script, ``pixel_speed.py``): ``(args, steps, rounds)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=4096, help="env steps per measurement (4096)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians; 3)")
    parser.add_argument(
        "--quick", action="store_true", help=f"1 round of {quick_steps} steps, writes only with --output"
    )
    parser.add_argument("--output", type=Path, default=None, help="markdown file (default docs/BENCHMARKS.md)")
    args = parser.parse_args(argv)
    for name in ("steps", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} {getattr(args, name)}: give at least 1.")
    return (args, quick_steps, 1) if args.quick else (args, args.steps, args.rounds)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print, and write the section."""
    args, steps, rounds = timing_args(__doc__.splitlines()[0], 1024, argv)
    default_threads = torch.get_num_threads()
    threads = sorted({1, default_threads})
    facts = machine_facts("cpu")
    print(f"idle: threads {threads}", flush=True)
    idle = measure(threads, steps, rounds)
    import tempfile

    with tempfile.TemporaryDirectory() as run_root:
        load = start_load(run_root)
        try:
            time.sleep(20)  # let the second training get past its start-up
            load_avg = os.getloadavg()[0]
            print(f"loaded (a second training beside it; 1-min load average {load_avg:.2f})", flush=True)
            loaded = measure(threads, steps, rounds)
        finally:
            load.terminate()
            load.wait()
    header = ["model", *(f"idle, {t} thr (steps/s)" for t in threads), *(f"loaded, {t} thr" for t in threads)]
    header += [f"{t} thr / 1 thr idle" for t in threads[1:]] + [f"{t} thr / 1 thr loaded" for t in threads[1:]]
    rows = []
    for model in MODELS:
        i, lo = idle[model.name], loaded[model.name]
        rows.append(
            [model.name, *(f"{i[t]:.0f}" for t in threads), *(f"{lo[t]:.0f}" for t in threads)]
            + [f"{i[t] / i[1]:.2f}x" for t in threads[1:]]
            + [f"{lo[t] / lo[1]:.2f}x" for t in threads[1:]]
        )
    command = "python benchmarks/threads.py" + (
        " " + shlex.join(argv or sys.argv[1:]) if (argv or sys.argv[1:]) else ""
    )
    section = "\n".join(
        [
            START_MARKER,
            "## Torch threads",
            "",
            f"`{command}` on {dt.date.today().isoformat()}: PPO with each model's `configs/ppo.yaml` preset, "
            f"{steps} env steps per measurement after a warm-up rollout, median of {rounds} rounds with the thread "
            "counts interleaved in one process; 'loaded' with a second training (the default run, torch's default "
            f"threads) running beside it (1-minute load average then {load_avg:.2f}).",
            "",
            *(f"- {fact}" for fact in facts),
            "",
            markdown_table(header, rows),
            "",
            verdict(idle, loaded, threads),
            "",
            END_MARKER,
        ]
    )
    print(section)
    if args.output is not None or not args.quick:
        write_section(args.output or DEFAULT_OUTPUT, section, START_MARKER, END_MARKER)


if __name__ == "__main__":
    main()
