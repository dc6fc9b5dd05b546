"""Speed of the attention extractors against SB3's MLP on ``attn/FindTarget-v0``, for growing entity counts.

For each extractor configuration in ``EXTRACTOR_SPECS`` and each number of entities ``N`` it measures:

- forward + backward time of one batch of 256 observations through ``policy.evaluate_actions`` (features
  extractor, MLP heads, PPO-like loss, ``backward``), median over repeats after warm-up, in ms;
- PPO training throughput (steps/s) with the ``configs/ppo.yaml`` preset (8 envs in a ``DummyVecEnv``,
  ``n_steps=256``, ``batch_size=256``, ``n_epochs=10``) after one warm-up rollout, and its ratio to the MLP's;
- single-observation ``model.predict(obs, deterministic=True)`` latency, median over calls after warm-up.

It prints the tables and writes them, with the machine, the command and the targets (met or not, computed from
the measurements), between ``<!-- extractor_speed:start -->`` and ``<!-- extractor_speed:end -->`` in
``docs/BENCHMARKS.md``, keeping the rest of that file as it is.

Usage::

    python benchmarks/extractor_speed.py                                   # full run, writes docs/BENCHMARKS.md
    python benchmarks/extractor_speed.py --quick --output /tmp/bench.md    # N = 4, 8, few repeats (smoke test)
    python benchmarks/extractor_speed.py --entities 8 64 256 --threads 2 --ppo-steps 16384
    python benchmarks/extractor_speed.py --device cuda                     # on a GPU machine

``--quick`` writes nothing unless ``--output`` is given. Run the full benchmark on a quiet machine: it is one
run, and its medians are only as steady as the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from doc_sections import machine_facts, write_section
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import DummyVecEnv

import envs
from agents.build import DEFAULT_THREADS
from agents.presets import load_preset
from agents.tables import markdown_table
from policies import AttentionExtractor, LatentAttentionExtractor

ENV_ID = f"{envs.NAMESPACE}/FindTarget-v0"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
START_MARKER = "<!-- extractor_speed:start -->"
END_MARKER = "<!-- extractor_speed:end -->"

FULL_ENTITIES = (4, 8, 16, 64, 256)
QUICK_ENTITIES = (4, 8)
BATCH = 256
"""Observations per forward + backward batch (the preset's ``batch_size``)."""


@dataclass(frozen=True)
class ExtractorSpec:
    """One row of the tables: a features extractor and its arguments (None = SB3's default extractor)."""

    name: str
    extractor_class: type[BaseFeaturesExtractor] | None
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    note: str = ""

    def policy_kwargs(self) -> dict[str, Any]:
        """``policy_kwargs`` for ``PPO("MlpPolicy", ...)``; empty for SB3's default extractor."""
        if self.extractor_class is None:
            return {}
        return {"features_extractor_class": self.extractor_class, "features_extractor_kwargs": dict(self.kwargs)}

    def describe(self) -> str:
        """The extractor as a constructor call, e.g. ``AttentionExtractor(num_layers=0)``."""
        if self.extractor_class is None:
            return "FlattenExtractor()"
        return f"{self.extractor_class.__name__}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"


#: The rows measured, in order. Add a configuration here to benchmark it; the first row is the baseline.
EXTRACTOR_SPECS: tuple[ExtractorSpec, ...] = (
    ExtractorSpec("mlp", None, note="SB3's default for `MlpPolicy` (the baseline)"),
    ExtractorSpec(
        "attention-l0",
        AttentionExtractor,
        MappingProxyType({"presence_column": -1, "num_layers": 0}),
        note="FindTarget preset, what `train_rl.py` trains by default: learned-query readout only",
    ),
    ExtractorSpec(
        "attention-l1",
        AttentionExtractor,
        MappingProxyType({"presence_column": -1, "num_layers": 1}),
        note="AttentionExtractor defaults: 1 self-attention block + readout",
    ),
    ExtractorSpec(
        "latent",
        LatentAttentionExtractor,
        MappingProxyType({"presence_column": -1, "num_latents": 8, "num_layers": 1}),
        note="linear-cost mode: 8 latents cross-attend to the parts, 1 block over the latents",
    ),
)
BASELINE = EXTRACTOR_SPECS[0].name

# Targets (from the issue).
TRAIN_TARGET_SPECS = ("attention-l0", "attention-l1")
"""Rows checked against the training-speed target; the first is the CLI's default on FindTarget."""
TRAIN_TARGET_RATIO = 0.8
TRAIN_TARGET_N = 8
PREDICT_TARGET_MS = 1.0
PREDICT_TARGET_N = 8
LINEAR_SPEC = "latent"
GROWTH_FROM_N, GROWTH_TO_N = 64, 256


@dataclass(frozen=True)
class Settings:
    """What to measure and how often."""

    entities: tuple[int, ...]
    device: str
    fwd_bwd_warmup: int
    fwd_bwd_repeats: int
    ppo_steps: int
    predict_warmup: int
    predict_calls: int
    seed: int = 0


@dataclass(frozen=True)
class Measurement:
    """The three figures of one extractor at one ``N``."""

    spec: str
    n_entities: int
    fwd_bwd_ms: float
    steps_per_s: float
    ppo_timesteps: int
    predict_ms: float


# ---------------------------------------------------------------------------------------------- measuring


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that a timer read after it counts it (no-op on CPU).

    Args:
        device: the torch device name in use.
    """
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_ms(fn: Callable[[], object], warmup: int, repeats: int, device: str) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls.

    Args:
        fn: the call to time.
        warmup: untimed calls first.
        repeats: timed calls.
        device: the torch device, synchronized around each timed call.

    Returns:
        The median time of one call, in milliseconds.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def make_model(spec: ExtractorSpec, n_entities: int, preset: Mapping[str, Any], settings: Settings) -> PPO:
    """PPO with ``spec``'s extractor on a ``DummyVecEnv`` of FindTarget envs with ``n_entities`` rows.

    Args:
        spec: the extractor configuration.
        n_entities: the env's ``n_entities``.
        preset: the PPO preset of ``configs/ppo.yaml`` for FindTarget (``n_envs``, ``hyperparams``).
        settings: the device and the seed.

    Returns:
        The untrained model.
    """
    venv = make_vec_env(
        ENV_ID,
        n_envs=int(preset.get("n_envs", 8)),
        seed=settings.seed,
        env_kwargs={"n_entities": n_entities},
        vec_env_cls=DummyVecEnv,
    )
    return PPO(
        "MlpPolicy",
        venv,
        policy_kwargs=spec.policy_kwargs(),
        device=settings.device,
        seed=settings.seed,
        verbose=0,
        **preset.get("hyperparams", {}),
    )


def sample_batch(n_entities: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Observations from ``size`` env resets with seeds ``seed, seed + 1, ...`` and random actions.

    Args:
        n_entities: the env's ``n_entities``.
        size: batch size.
        seed: first reset seed; also seeds the actions.

    Returns:
        ``observations (size, n_entities, 5)`` float32 and ``actions (size,)`` int64.
    """
    env = gym.make(ENV_ID, n_entities=n_entities)
    try:
        observations = np.stack([env.reset(seed=seed + i)[0] for i in range(size)])
        actions = np.random.default_rng(seed).integers(0, env.action_space.n, size=size)
    finally:
        env.close()
    return observations, actions


def time_forward_backward(model: PPO, observations: np.ndarray, actions: np.ndarray, settings: Settings) -> float:
    """Median time of ``evaluate_actions`` + a PPO-shaped loss + ``backward`` on one batch, in ms.

    Args:
        model: the model whose policy is timed.
        observations: ``(B, N, 5)`` observations.
        actions: ``(B,)`` actions.
        settings: repeats and device.
    """
    policy = model.policy
    policy.set_training_mode(True)
    obs_tensor, _ = policy.obs_to_tensor(observations)
    action_tensor = torch.as_tensor(actions, device=policy.device)

    def step() -> None:
        policy.zero_grad(set_to_none=True)
        values, log_prob, entropy = policy.evaluate_actions(obs_tensor, action_tensor)
        loss = -log_prob.mean() + 0.5 * values.pow(2).mean() - 0.01 * entropy.mean()
        loss.backward()

    return median_ms(step, settings.fwd_bwd_warmup, settings.fwd_bwd_repeats, settings.device)


def time_predict(model: PPO, observation: np.ndarray, settings: Settings) -> float:
    """Median latency of ``model.predict`` on one unbatched observation, in ms.

    Args:
        model: the model.
        observation: ``(N, 5)`` observation.
        settings: calls and device.
    """
    model.policy.set_training_mode(False)
    return median_ms(
        lambda: model.predict(observation, deterministic=True),
        settings.predict_warmup,
        settings.predict_calls,
        settings.device,
    )


def time_training(model: PPO, settings: Settings) -> tuple[float, int]:
    """PPO training throughput after one untimed warm-up rollout.

    Args:
        model: the untrained model.
        settings: ``ppo_steps`` (rounded up by SB3 to whole rollouts) and device.

    Returns:
        ``(steps per second, timesteps timed)``.
    """
    model.learn(model.n_steps * model.n_envs)  # warm-up: one rollout and its update
    first = model.num_timesteps
    synchronize(settings.device)
    start = time.perf_counter()
    model.learn(settings.ppo_steps, reset_num_timesteps=False)
    synchronize(settings.device)
    elapsed = time.perf_counter() - start
    timesteps = model.num_timesteps - first
    return timesteps / elapsed, timesteps


def measure(spec: ExtractorSpec, n_entities: int, preset: Mapping[str, Any], settings: Settings) -> Measurement:
    """All three figures for one extractor at one ``N`` (one fresh model, seeded).

    Args:
        spec: the extractor configuration.
        n_entities: the env's ``n_entities``.
        preset: the PPO preset.
        settings: what to measure.
    """
    model = make_model(spec, n_entities, preset, settings)
    try:
        observations, actions = sample_batch(n_entities, BATCH, settings.seed)
        fwd_bwd = time_forward_backward(model, observations, actions, settings)
        predict = time_predict(model, observations[0], settings)
        steps_per_s, timesteps = time_training(model, settings)
    finally:
        model.get_env().close()
    return Measurement(spec.name, n_entities, fwd_bwd, steps_per_s, timesteps, predict)


def run_benchmark(
    specs: Sequence[ExtractorSpec], preset: Mapping[str, Any], settings: Settings
) -> dict[tuple[str, int], Measurement]:
    """Measure every extractor at every ``N``, printing one progress line each.

    Args:
        specs: the rows.
        preset: the PPO preset.
        settings: what to measure.

    Returns:
        Measurements keyed by ``(spec name, N)``.
    """
    results: dict[tuple[str, int], Measurement] = {}
    for n_entities in settings.entities:
        for spec in specs:
            start = time.perf_counter()
            m = measure(spec, n_entities, preset, settings)
            results[spec.name, n_entities] = m
            print(
                f"N={n_entities:<4} {spec.name:<14} fwd+bwd {m.fwd_bwd_ms:8.2f} ms  PPO {m.steps_per_s:7.0f} steps/s  "
                f"predict {m.predict_ms:6.3f} ms  ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    return results


# ---------------------------------------------------------------------------------------------- reporting


def grid_table(
    results: Mapping[tuple[str, int], Measurement],
    specs: Sequence[ExtractorSpec],
    entities: Sequence[int],
    cell: Callable[[Measurement], str],
) -> str:
    """An extractor x ``N`` table whose cells ``cell`` formats ("-" where not measured).

    Args:
        results: the measurements.
        specs: the rows.
        entities: the columns.
        cell: formats one measurement.
    """
    header = ["extractor", *(f"N = {n}" for n in entities)]
    rows = [
        [f"`{spec.name}`", *(cell(results[key]) if (key := (spec.name, n)) in results else "-" for n in entities)]
        for spec in specs
    ]
    return markdown_table(header, rows)


def training_cell(results: Mapping[tuple[str, int], Measurement]) -> Callable[[Measurement], str]:
    """Formatter of a training cell: steps/s and the ratio to the baseline's steps/s at the same ``N``.

    Args:
        results: the measurements (for the baseline).
    """

    def cell(m: Measurement) -> str:
        baseline = results.get((BASELINE, m.n_entities))
        ratio = f" ({m.steps_per_s / baseline.steps_per_s:.2f}x)" if baseline else ""
        return f"{m.steps_per_s:.0f}{ratio}"

    return cell


def verdict(met: bool) -> str:
    """``**met**`` or ``**NOT met**``.

    Args:
        met: whether the target was met.
    """
    return "**met**" if met else "**NOT met**"


def training_targets(results: Mapping[tuple[str, int], Measurement]) -> list[str]:
    """Target lines: each of ``TRAIN_TARGET_SPECS`` trains at >= 0.8x the MLP's steps/s at N = 8.

    Args:
        results: the measurements.
    """
    baseline = results.get((BASELINE, TRAIN_TARGET_N))
    lines = []
    for i, name in enumerate(TRAIN_TARGET_SPECS):
        which = " (the CLI default on FindTarget)" if i == 0 else ""
        title = f"`{name}`{which} trains at >= {TRAIN_TARGET_RATIO}x the MLP's PPO steps/s at N = {TRAIN_TARGET_N}"
        m = results.get((name, TRAIN_TARGET_N))
        if m is None or baseline is None:
            lines.append(f"{title}: not measured (run with N = {TRAIN_TARGET_N}).")
            continue
        ratio = m.steps_per_s / baseline.steps_per_s
        lines.append(
            f"{title}: {verdict(ratio >= TRAIN_TARGET_RATIO)}: {ratio:.2f}x "
            f"({m.steps_per_s:.0f} vs {baseline.steps_per_s:.0f} steps/s)."
        )
    return lines


def predict_target(results: Mapping[tuple[str, int], Measurement], specs: Sequence[ExtractorSpec]) -> str:
    """Target line: single-observation ``predict`` under 1 ms for every attention row at N = 8.

    Args:
        results: the measurements.
        specs: the rows.
    """
    title = f"single-observation `predict` under {PREDICT_TARGET_MS:g} ms (every extractor, N = {PREDICT_TARGET_N})"
    at_n = [results[spec.name, PREDICT_TARGET_N] for spec in specs if (spec.name, PREDICT_TARGET_N) in results]
    if not at_n:
        return f"{title}: not measured (run with N = {PREDICT_TARGET_N})."
    worst_at_n = max(at_n, key=lambda m: m.predict_ms)
    figures = ", ".join(f"`{m.spec}` {m.predict_ms:.3f} ms" for m in at_n)
    worst = max(results.values(), key=lambda m: m.predict_ms)
    return (
        f"{title}: {verdict(worst_at_n.predict_ms < PREDICT_TARGET_MS)}: {figures}. "
        f"Slowest over all N measured: `{worst.spec}` at N = {worst.n_entities}, {worst.predict_ms:.3f} ms."
    )


def growth_target(results: Mapping[tuple[str, int], Measurement], specs: Sequence[ExtractorSpec]) -> str:
    """Target line: the linear-cost row's fwd+bwd time grows at most 4x from N = 64 to N = 256.

    Also gives every row's growth, for comparison, and the growth of the PPO time per step.

    Args:
        results: the measurements.
        specs: the rows.
    """
    bound = GROWTH_TO_N / GROWTH_FROM_N
    title = (
        f"`{LINEAR_SPEC}` (linear-cost mode): fwd+bwd time grows no faster than linearly from N = {GROWTH_FROM_N} "
        f"to N = {GROWTH_TO_N} (time ratio <= {bound:g}x)"
    )
    low, high = results.get((LINEAR_SPEC, GROWTH_FROM_N)), results.get((LINEAR_SPEC, GROWTH_TO_N))
    if low is None or high is None:
        return f"{title}: not measured (run with N = {GROWTH_FROM_N} and {GROWTH_TO_N})."
    ratio = high.fwd_bwd_ms / low.fwd_bwd_ms
    ppo_ratio = low.steps_per_s / high.steps_per_s
    growth = {
        spec.name: results[spec.name, GROWTH_TO_N].fwd_bwd_ms / results[spec.name, GROWTH_FROM_N].fwd_bwd_ms
        for spec in specs
        if spec.name != LINEAR_SPEC and (spec.name, GROWTH_FROM_N) in results and (spec.name, GROWTH_TO_N) in results
    }
    others = ", ".join(f"`{name}` {value:.2f}x" for name, value in growth.items())
    return (
        f"{title}: {verdict(ratio <= bound)}: {high.fwd_bwd_ms:.2f} ms / {low.fwd_bwd_ms:.2f} ms = {ratio:.2f}x "
        f"(PPO time per step: {ppo_ratio:.2f}x). Other rows, fwd+bwd: {others or 'none'}."
    )


def render_section(
    results: Mapping[tuple[str, int], Measurement],
    specs: Sequence[ExtractorSpec],
    preset: Mapping[str, Any],
    settings: Settings,
    command: str,
    elapsed_s: float,
) -> str:
    """The markdown section written between the markers (markers included).

    Args:
        results: the measurements.
        specs: the rows.
        preset: the PPO preset used.
        settings: what was measured.
        command: the command line that produced it.
        elapsed_s: wall time of the whole run.
    """
    hyper = preset.get("hyperparams", {})
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    timesteps = sorted({m.ppo_timesteps for m in results.values()})
    rows = "\n".join(f"- `{spec.name}`: `{spec.describe()}`: {spec.note}" for spec in specs)
    targets = [*training_targets(results), predict_target(results, specs), growth_target(results, specs)]
    parts = [
        START_MARKER,
        "## Extractor speed",
        f"Produced by `{command}` on {date} (the run took {elapsed_s / 60:.1f} min).\n\n"
        "One run, so its figures are only as steady as the machine (load below); medians (fwd+bwd and `predict`; "
        "PPO steps/s is total timesteps / wall time). The targets were set for a 2-core CPU.\n\n"
        + "\n".join(f"- {fact}" for fact in machine_facts(settings.device)),
        f'Env `{ENV_ID}` with `n_entities = N`; `PPO("MlpPolicy")` with SB3\'s default `net_arch` on top of each '
        f"extractor and the `configs/ppo.yaml` preset ({preset.get('n_envs', 8)} envs in a `DummyVecEnv`, "
        + ", ".join(f"{k}={v}" for k, v in hyper.items())
        + "). Rows:\n\n"
        + rows,
        f"### Forward + backward, ms per batch of {BATCH}\n\n"
        f"`policy.evaluate_actions` + PPO-shaped loss + `backward()` on {BATCH} observations from seeded env "
        f"resets; median of {settings.fwd_bwd_repeats} after {settings.fwd_bwd_warmup} warm-up.\n\n"
        + grid_table(results, specs, settings.entities, lambda m: f"{m.fwd_bwd_ms:.2f}"),
        "### PPO training, steps/s (ratio to `mlp`)\n\n"
        f"`model.learn` of {' / '.join(map(str, timesteps))} timesteps after one warm-up rollout; "
        "timesteps / wall time.\n\n" + grid_table(results, specs, settings.entities, training_cell(results)),
        "### Single-observation `predict` latency, ms\n\n"
        f"`model.predict(obs, deterministic=True)` on one unbatched observation; median of "
        f"{settings.predict_calls} calls after {settings.predict_warmup} warm-up.\n\n"
        + grid_table(results, specs, settings.entities, lambda m: f"{m.predict_ms:.3f}"),
        "### Targets\n\n" + "\n".join(f"- {line}" for line in targets),
        END_MARKER,
    ]
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        description="Time the attention extractors against SB3's MLP on attn/FindTarget-v0.",
    )
    parser.add_argument("--quick", action="store_true", help="N = 4, 8, few repeats, 2048 PPO steps; no file written")
    parser.add_argument(
        "--entities", type=int, nargs="+", metavar="N", help=f"entity counts (default: {FULL_ENTITIES})"
    )
    parser.add_argument("--ppo-steps", type=int, help="timed PPO timesteps per model (default: 8192; quick: 2048)")
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="torch.set_num_threads (default: %(default)s, as training)"
    )
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the envs, models and batches (default: 0)")
    parser.add_argument(
        "--output",
        type=Path,
        help=f"markdown file to write the section into (default: {DEFAULT_OUTPUT.relative_to(REPO_ROOT)}; "
        "with --quick: none)",
    )
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available on this machine.")
    if args.entities and min(args.entities) < 2:
        parser.error("--entities: every N must be >= 2 (the target and one distractor).")
    for name in ("ppo_steps", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    return args


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The measurement settings for the parsed flags (``--quick``: fewer repeats).

    Args:
        args: the parsed command line.
    """
    quick = args.quick
    return Settings(
        entities=tuple(args.entities or (QUICK_ENTITIES if quick else FULL_ENTITIES)),
        device=args.device,
        fwd_bwd_warmup=2 if quick else 5,
        fwd_bwd_repeats=5 if quick else 30,
        ppo_steps=args.ppo_steps or (2048 if quick else 8192),
        predict_warmup=10 if quick else 50,
        predict_calls=100 if quick else 500,
        seed=args.seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the section and write it to the output file.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = settings_from_args(args)
    output = args.output if args.output is not None or args.quick else DEFAULT_OUTPUT
    command = shlex.join(["python", sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    preset = load_preset("ppo", ENV_ID)

    start = time.perf_counter()
    results = run_benchmark(EXTRACTOR_SPECS, preset, settings)
    section = render_section(results, EXTRACTOR_SPECS, preset, settings, command, time.perf_counter() - start)
    print("\n" + section)
    if output is not None:
        write_section(output, section, START_MARKER, END_MARKER)
        print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
