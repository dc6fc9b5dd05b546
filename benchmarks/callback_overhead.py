"""What logging attention to tensorboard costs: PPO steps/s with and without ``AttentionLogCallback``.

Trains the default agent (PPO + attention on ``attn/FindTarget-v0`` with its ``configs/ppo.yaml`` preset) for
``--timesteps`` steps, logging to tensorboard in every variant, and times ``model.learn``:

- ``off``: no attention callback (``--no-attention-log``);
- ``default``: the callback at its default intervals (scalars every 10,000 steps and at the first rollout,
  pictures every 50,000 and at the end, the probe batch collected at the start);
- ``every rollout``: scalars, histogram and pictures at every rollout end (the most it can log).

Variants are interleaved within each repeat so that machine load hits them alike; the table gives the
median steps/s, and the seconds spent inside the callback's logging itself (timed directly, which noise
on a shared machine disturbs far less) as a share of the training time.

It writes its section between ``<!-- callback_overhead:start -->`` and ``<!-- callback_overhead:end -->`` in
``docs/BENCHMARKS.md``.

Usage::

    python benchmarks/callback_overhead.py                       # 50k steps, 3 repeats
    python benchmarks/callback_overhead.py --timesteps 100000 --repeats 5 --output /tmp/overhead.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from doc_sections import machine_facts, write_section
from stable_baselines3.common.logger import configure

from agents import RunConfig, build_model, make_env, resolve
from agents.evaluation.tables import markdown_table
from agents.setup.build import set_threads
from agents.setup.config import DEFAULT_LOG_INTERVAL
from agents.training.callbacks import DEFAULT_IMAGE_INTERVAL, AttentionLogCallback

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
START_MARKER = "<!-- callback_overhead:start -->"
END_MARKER = "<!-- callback_overhead:end -->"
#: The claim this benchmark checks: at its default interval the callback costs less than this.
MAX_OVERHEAD = 0.05

#: variant -> callback arguments (None: no callback).
VARIANTS: dict[str, dict[str, int] | None] = {
    "off": None,
    "default": {"interval": DEFAULT_LOG_INTERVAL, "image_interval": DEFAULT_IMAGE_INTERVAL},
    "every rollout": {"interval": 1, "image_interval": 1},
}


class TimedCallback(AttentionLogCallback):
    """``AttentionLogCallback`` that adds up the seconds spent logging and collecting the probe."""

    def __init__(self, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.seconds = 0.0
        self.logs = 0
        self.picture_logs = 0

    def _init_callback(self) -> None:
        start = time.perf_counter()
        super()._init_callback()
        self.seconds += time.perf_counter() - start

    def log_attention(self, pictures: bool = True) -> None:
        """Time the parent's logging."""
        start = time.perf_counter()
        super().log_attention(pictures)
        self.seconds += time.perf_counter() - start
        self.logs += 1
        self.picture_logs += int(pictures)


def measure(config: RunConfig, variant: str, log_dir: Path) -> tuple[float, float, int, int]:
    """Train once; return ``(steps/s of learn, seconds inside the callback, logs, picture logs)``."""
    env = make_env(config, config.n_envs, config.seed)
    model = build_model(config, env)
    model.set_logger(configure(str(log_dir), ["tensorboard"]))
    kwargs = VARIANTS[variant]
    callback = None if kwargs is None else TimedCallback(**kwargs)
    start = time.perf_counter()
    model.learn(config.timesteps, callback=callback)
    wall = time.perf_counter() - start
    model.logger.close()
    env.close()
    if callback is None:
        return model.num_timesteps / wall, 0.0, 0, 0
    return model.num_timesteps / wall, callback.seconds, callback.logs, callback.picture_logs


def render_section(results: dict[str, list[tuple[float, float, int, int]]], args: argparse.Namespace, command: str,
                   config: RunConfig, minutes: float) -> str:  # fmt: skip
    """The markdown section with the table and the verdict."""
    off = statistics.median(r[0] for r in results["off"])
    rows = []
    verdict = ""
    for variant, runs in results.items():
        sps = statistics.median(r[0] for r in runs)
        inside = statistics.median(r[1] * r[0] / config.timesteps for r in runs)  # seconds logging / seconds training
        logs, pictures = runs[0][2], runs[0][3]
        slowdown = 1 - sps / off
        rows.append([
            f"`{variant}`", f"{sps:,.0f}", ", ".join(f"{r[0]:,.0f}" for r in runs),
            "—" if variant == "off" else f"{-100 * slowdown:+.1f}%",
            "—" if variant == "off" else f"{100 * inside:.1f}%", str(logs), str(pictures),
        ])  # fmt: skip
        if variant == "default":
            off_runs = [r[0] for r in results["off"]]
            spread = max(off_runs) / min(off_runs) - 1
            verdict = (
                f"At the default interval the callback's own logging takes {100 * inside:.1f}% of training time: "
                + ("within" if inside < MAX_OVERHEAD else "**not within**")
                + f" the {100 * MAX_OVERHEAD:.0f}% budget. The median steps/s is {-100 * slowdown:+.1f}% against `off`"
                + (
                    f", but the `off` runs alone spread by {100 * spread:.0f}%, so this comparison cannot resolve "
                    f"{100 * MAX_OVERHEAD:.0f}%; the directly timed share is the measure."
                    if spread > MAX_OVERHEAD
                    else "."
                )
            )
    hp = config.hyperparams
    return "\n\n".join(
        [
            START_MARKER,
            "## Attention logging overhead",
            f"Produced by `{command}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC (the run took "
            f"{minutes:.1f} min).",
            "The steps/s of single runs vary with what else the machine runs (load below), so the variants are "
            "interleaved in each repeat and the medians compared; the time spent inside the callback's logging is "
            "timed directly and is the steadier figure.",
            "\n".join(f"- {fact}" for fact in machine_facts(str(config.device))),
            f"`agents.train`'s default agent: PPO + `AttentionExtractor` on `{config.env}` with the preset "
            f"({config.n_envs} envs, n_steps={hp.get('n_steps')}, batch_size={hp.get('batch_size')}, "
            f"n_epochs={hp.get('n_epochs')}, extractor {config.extractor_kwargs}), {config.timesteps:,} steps, "
            f"{args.repeats} repeats, tensorboard logger in every variant. Steps/s is steps / wall time of `learn`. "
            f"`default` logs scalars and the histogram every {DEFAULT_LOG_INTERVAL:,} steps and pictures every "
            f"{DEFAULT_IMAGE_INTERVAL:,} steps (scalars also at the first rollout, the probe and pictures also at "
            "the end)"
            + ("; `every rollout` logs everything at every rollout end." if "every rollout" in results else "."),
            markdown_table(
                ["variant", "median steps/s", "runs (steps/s)", "vs off", "time in callback", "logs", "with pictures"],
                rows,
            ),
            verdict,
            END_MARKER,
        ]
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Steps/s of PPO with and without the attention callback.")
    parser.add_argument("--timesteps", type=int, default=50_000, help="steps per training run (default: 50000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant (default: 3)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), help="variants")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file to write the section into")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every variant, print the section and write it into the output file."""
    args = parse_args(argv)
    if "off" not in args.variants:
        args.variants.insert(0, "off")
    command = shlex.join(["python", "benchmarks/callback_overhead.py", *(sys.argv[1:] if argv is None else argv)])
    config = resolve(RunConfig(timesteps=args.timesteps, device=args.device, progress_bar=False))
    set_threads(config.threads)  # as training does
    results: dict[str, list[tuple[float, float, int, int]]] = {v: [] for v in args.variants}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for variant in args.variants:
                result = measure(config, variant, Path(tmp) / f"{variant.replace(' ', '_')}_{repeat}")
                results[variant].append(result)
                print(f"repeat {repeat} {variant}: {result[0]:,.0f} steps/s, {result[1]:.2f} s in callback", flush=True)
    section = render_section(results, args, command, config, (time.perf_counter() - start) / 60)
    print(section)
    write_section(args.output, section, START_MARKER, END_MARKER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
