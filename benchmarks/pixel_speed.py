"""Training speed on pixels: conv-token attention and patch attention against NatureCNN, interleaved in one process.

For each model in ``MODELS`` (each pixel env's presets: conv tokens, patch attention where the env has a preset for it,
and SB3's NatureCNN, ``--extractor mlp``; and conv tokens with another stem, to compare stems) it builds PPO exactly as
``train_rl.py`` would (``configs/ppo.yaml``), runs one warm-up rollout and update, and then times ``--steps`` env steps
of ``learn`` (rollouts and updates, no callbacks: no evaluation or focus logging) for every model in turn, round after
round (A B C A B C ...), with one torch thread. It reports the median steps/s over ``--rounds`` and each model's time
per step as a multiple of NatureCNN's on the same env. The wall times of ``benchmarks/learning.py`` also count what only
attention runs pay on top (the focus logged every 10k steps and the periodic evaluations' focus); this table is the
training alone.

Models whose env needs an extra that is not installed (MiniGrid) are skipped with the reason in the section.

It writes its table between ``<!-- pixel_speed:start -->`` and ``<!-- pixel_speed:end -->`` in
``docs/BENCHMARKS.md``.

Usage::

    python benchmarks/pixel_speed.py                       # writes docs/BENCHMARKS.md
    python benchmarks/pixel_speed.py --quick --output /tmp/pixel_speed.md
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from doc_sections import machine_facts, write_section
from threads import Model, build, steps_per_second, timing_args

from agents.evaluation.tables import markdown_table

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
START_MARKER = "<!-- pixel_speed:start -->"
END_MARKER = "<!-- pixel_speed:end -->"
BASELINE_EXTRACTOR = "mlp"
"""``--extractor mlp`` on an image env: SB3's ``CnnPolicy`` with NatureCNN, the baseline of its env."""

MODELS = (
    Model("NatureCNN", "attn/PatchFind-v0", BASELINE_EXTRACTOR),
    Model("conv tokens, `fast` stem", "attn/PatchFind-v0", "conv", ("extractor_kwargs.stem=fast",)),
    Model("conv tokens, `medium` stem", "attn/PatchFind-v0", "conv", ("extractor_kwargs.stem=medium",)),
    Model("patch attention (preset)", "attn/PatchFind-v0", "attention"),
    Model("NatureCNN", "attn/MiniGridPixels-v0", BASELINE_EXTRACTOR),
    Model("conv tokens, `fast` stem", "attn/MiniGridPixels-v0", "conv", ("extractor_kwargs.stem=fast",)),
    Model("conv tokens, `small` stem", "attn/MiniGridPixels-v0", "conv", ("extractor_kwargs.stem=small",)),
)
"""Each pixel env's NatureCNN and patch attention presets, and its conv-token preset with two stems: ``fast``
(NatureCNN's first layer, run at a quarter of the picture's side) and the stem that runs its first layer at half the
side (``medium`` on PatchFind, ``small`` on MiniGrid pixels)."""


STEMS_NOTE = (
    "Conv stems (`policies.tokenizers.conv.STEMS`; each gives a cell per 8 px patch, centred on it): `fast` runs "
    "NatureCNN's first layer (8x8, stride 4, 32 channels) and then a 2x2 stride-2 layer, so its first map is a quarter "
    "of the picture's side (12x12 on PatchFind's 48 px, 14x14 on MiniGrid's 56 px), as NatureCNN's is; `small` and "
    "`medium` run three layers from a map of half the side (24x24, 28x28). On MiniGrid pixels the preset also has a "
    "self-attention block over the 49 cells, which NatureCNN has nothing like; on PatchFind it has none."
)


def build_all(models: Sequence[Model]) -> tuple[dict[Model, object], dict[Model, str]]:
    """PPO for every model that can be built, and the reason for each that cannot (a missing extra)."""
    built, skipped = {}, {}
    for model in models:
        try:
            built[model] = build(model)
        except ImportError as error:
            skipped[model] = str(error).splitlines()[0]
    return built, skipped


def measure(built: dict[Model, object], steps: int, rounds: int) -> dict[Model, float]:
    """Median steps/s of each model, the models interleaved within every round, one warm-up rollout each."""
    torch.set_num_threads(1)
    for ppo in built.values():
        steps_per_second(ppo, ppo.n_steps * ppo.n_envs)  # warm-up: first rollout and update
    samples: dict[Model, list[float]] = {model: [] for model in built}
    for round_ in range(rounds):
        for model, ppo in built.items():
            samples[model].append(steps_per_second(ppo, steps))
        print(f"  round {round_ + 1}: " + ", ".join(f"{m.env} {m.name} {v[-1]:.0f}" for m, v in samples.items()))
    return {model: statistics.median(values) for model, values in samples.items()}


def table_rows(speeds: dict[Model, float]) -> list[list[str]]:
    """One row per model: env, model, steps/s, time per step against its env's NatureCNN."""
    baselines = {m.env: v for m, v in speeds.items() if m.extractor == BASELINE_EXTRACTOR}
    rows = []
    for model, speed in speeds.items():
        base = baselines.get(model.env)
        ratio = "—" if base is None else f"{base / speed:.2f}x"
        flags = " ".join([f"--extractor {model.extractor}", *(f"--set {o}" for o in model.overrides)])
        rows.append([f"`{model.env}`", model.name, f"`{flags}`", f"{speed:.0f}", ratio])
    return rows


def render(command: str, steps: int, rounds: int, speeds: dict[Model, float], skipped: dict[Model, str]) -> str:
    """The markdown section, markers included."""
    header = ["env", "model", "train_rl.py", "steps/s (median)", "time per step vs NatureCNN"]
    lines = [
        START_MARKER,
        "## Training speed on pixels",
        "",
        f"`{command}` on {dt.date.today().isoformat()}: PPO with each env's `configs/ppo.yaml` preset as "
        f"`train_rl.py --env ENV --extractor X` builds it, {steps} env steps per measurement (rollouts and updates, "
        f"no callbacks) after a warm-up rollout, median of {rounds} rounds with the models interleaved in one "
        f"process, one torch thread (1-minute load average at the end: {os.getloadavg()[0]:.2f}).",
        "",
        *(f"- {fact}" for fact in machine_facts("cpu")),
        "",
        markdown_table(header, table_rows(speeds)),
    ]
    if skipped:
        lines += ["", *(f"- skipped `{m.env}` {m.name}: {reason}" for m, reason in skipped.items())]
    lines += ["", STEMS_NOTE]
    return "\n".join([*lines, "", END_MARKER])


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print, and write the section."""
    args, steps, rounds = timing_args(__doc__.splitlines()[0], 512, argv)
    built, skipped = build_all(MODELS)
    speeds = measure(built, steps, rounds)
    given = list(sys.argv[1:] if argv is None else argv)
    command = "python benchmarks/pixel_speed.py" + (" " + shlex.join(given) if given else "")
    section = render(command, steps, rounds, speeds, skipped)
    print(section)
    if args.output is not None or not args.quick:
        write_section(args.output or DEFAULT_OUTPUT, section, START_MARKER, END_MARKER)


if __name__ == "__main__":
    main()
