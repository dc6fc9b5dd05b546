"""The default run's wall time on an idle machine against its time while a second training runs beside it.

The promise: ``python train_rl.py`` (the README's first command, 100k steps with the project's defaults)
stays within 2x of its idle-machine time when the machine is shared. Each round times the default run three
times, interleaved: alone, beside a second default run (the project's defaults: one torch thread), and beside a
second training with torch's default thread count (as a training outside this project would run). The second
training starts first and never ends during the measurement; it is stopped after each timed run. Figures are
medians over ``--rounds``; wall time includes start-up and the final evaluation, as a user sees it.

It writes its table between ``<!-- default-run-load:start -->`` and ``<!-- default-run-load:end -->`` in
``docs/BENCHMARKS.md``.

Usage::

    python benchmarks/default_run_load.py                 # 2 rounds, writes docs/BENCHMARKS.md
    python benchmarks/default_run_load.py --rounds 1 --timesteps 20000 --output /tmp/load.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from doc_sections import machine_facts, write_section

from agents.evaluation.tables import markdown_table

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
START_MARKER = "<!-- default-run-load:start -->"
END_MARKER = "<!-- default-run-load:end -->"
TRAIN = [sys.executable, str(REPO_ROOT / "train_rl.py"), "--no-progress-bar"]

#: Each condition's second training: None (alone) or the ``--threads`` of a never-ending default run beside it.
CONDITIONS: dict[str, int | None] = {
    "alone": None,
    "beside a second default run (1 thread)": 1,
    f"beside a training with torch's default threads ({torch.get_num_threads()})": torch.get_num_threads(),
}


def start_second(run_dir: str, threads: int) -> subprocess.Popen:
    """A second training that runs until it is stopped."""
    command = [
        *TRAIN, "--timesteps", "100000000", "--run-dir", run_dir, "--eval-freq", "0", "--save-freq", "0",
        "--eval-episodes", "0", "--threads", str(threads), "--seed", "1",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def time_default_run(run_dir: str, timesteps: int | None) -> float:
    """Seconds of wall time of ``python train_rl.py`` (its defaults; ``timesteps`` overrides the budget)."""
    command = [*TRAIN, "--run-dir", run_dir] + (["--timesteps", str(timesteps)] if timesteps else [])
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(rounds: int, timesteps: int | None, root: str) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall times per condition and the 1-minute load average seen at the end of each timed run."""
    seconds: dict[str, list[float]] = {name: [] for name in CONDITIONS}
    loads: dict[str, list[float]] = {name: [] for name in CONDITIONS}
    for round_index in range(rounds):
        for index, (name, threads) in enumerate(CONDITIONS.items()):
            second = start_second(f"{root}/second_{round_index}_{index}", threads) if threads else None
            try:
                if second is not None:
                    time.sleep(15)  # past its start-up: training when the timed run starts
                seconds[name].append(time_default_run(f"{root}/run_{round_index}_{index}", timesteps))
                loads[name].append(os.getloadavg()[0])
            finally:
                if second is not None:
                    second.terminate()
                    second.wait()
            print(f"round {round_index + 1}: {name}: {seconds[name][-1]:.1f} s, load {loads[name][-1]:.2f}", flush=True)
            time.sleep(5)  # let the load settle between conditions
    return seconds, loads


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print, and write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (medians)")
    parser.add_argument("--timesteps", type=int, default=None, help="the default run's budget (default: its own)")
    parser.add_argument("--output", type=Path, default=None, help="markdown file (default docs/BENCHMARKS.md)")
    args = parser.parse_args(argv)
    facts = machine_facts("cpu")
    with tempfile.TemporaryDirectory() as root:
        seconds, loads = measure(args.rounds, args.timesteps, root)
    alone = statistics.median(seconds["alone"])
    rows = [
        [
            name,
            f"{statistics.median(times):.1f}",
            f"{statistics.median(times) / alone:.2f}x",
            f"{statistics.median(loads[name]):.2f}",
            "met" if statistics.median(times) <= 2 * alone else "not met",
        ]
        for name, times in seconds.items()
    ]
    header = ["default run", "wall time (s, median)", "vs alone", "1-min load at its end", "target <= 2x"]
    given = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python benchmarks/default_run_load.py", *([shlex.join(given)] if given else [])])
    budget = f"{args.timesteps:,} steps" if args.timesteps else "its default budget"
    section = "\n".join(
        [
            START_MARKER,
            "## The default run on a shared machine",
            "",
            f"`{command}` on {dt.date.today().isoformat()}: `python train_rl.py` ({budget}, wall time from start-up "
            f"to the end of its final evaluation), {args.rounds} rounds, the three conditions interleaved in each "
            "round; the second training starts 15 s before the timed run and trains until it ends.",
            "",
            *(f"- {fact}" for fact in facts),
            "",
            markdown_table(header, rows),
            "",
            END_MARKER,
        ]
    )
    print(section)
    write_section(args.output or DEFAULT_OUTPUT, section, START_MARKER, END_MARKER)


if __name__ == "__main__":
    main()
