"""Speed of the attention extractors against SB3's MLP on ``attn/FindTarget-v0``, for growing entity counts.

For each extractor configuration in ``EXTRACTOR_SPECS`` and each number of entities ``N`` it measures:

- forward + backward time of one batch of 256 observations through ``policy.evaluate_actions`` (features
  extractor, MLP heads, PPO-like loss, ``backward``), median over repeats after warm-up, in ms;
- PPO training throughput (steps/s) with the ``configs/ppo.yaml`` preset (8 envs in a ``DummyVecEnv``,
  ``n_steps=256``, ``batch_size=256``, ``n_epochs=10``) after one warm-up rollout, and its ratio to the MLP's;
- single-observation ``model.predict(obs, deterministic=True)`` latency, median over calls after warm-up;
- for the rows of ``COMPILED_SPECS``, the same figures with the extractor compiled (``torch.compile``, inductor)
  and what compiling cost: the warm-up's CPU time (the C++ compiler's included) over the eager row's.

It prints the tables and writes them, with the machine, the command and the targets (met or not, computed from
the measurements), between ``<!-- extractor_speed:start -->`` and ``<!-- extractor_speed:end -->`` in
``docs/BENCHMARKS.md``, keeping the rest of that file as it is.

Usage::

    python benchmarks/extractor_speed.py                                   # full run, writes docs/BENCHMARKS.md
    python benchmarks/extractor_speed.py --quick --output /tmp/bench.md    # N = 4, 8, few repeats (smoke test)
    python benchmarks/extractor_speed.py --entities 8 64 256 --threads 2 --ppo-steps 16384
    python benchmarks/extractor_speed.py --device cuda                     # on a GPU machine
    python benchmarks/extractor_speed.py --entities 8 --no-compile         # without the compiled rows

``--quick`` writes nothing unless ``--output`` is given. Run the full benchmark on a quiet machine: it is one
run, and its medians are only as steady as the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from doc_sections import write_section
from speed_report import render_section
from speed_specs import (
    BATCH,
    COMPILED_SPECS,
    DEFAULT_OUTPUT,
    END_MARKER,
    ENV_ID,
    EXTRACTOR_SPECS,
    FULL_ENTITIES,
    QUICK_ENTITIES,
    REPO_ROOT,
    START_MARKER,
    ExtractorSpec,
    Measurement,
    Settings,
    with_compiled,
)
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.setup.build import DEFAULT_THREADS
from agents.setup.presets import load_preset

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
    model = PPO(
        "MlpPolicy",
        venv,
        policy_kwargs=spec.policy_kwargs(),
        device=settings.device,
        seed=settings.seed,
        verbose=0,
        **preset.get("hyperparams", {}),
    )
    if spec.compile:
        model.policy.features_extractor.compile()  # in place, as agents.setup.build does for ``compile: true``
    return model


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


def forward_backward_step(model: PPO, observations: np.ndarray, actions: np.ndarray) -> Callable[[], None]:
    """One ``evaluate_actions`` + a PPO-shaped loss + ``backward`` on a batch (the call that is timed).

    Args:
        model: the model whose policy is timed.
        observations: ``(B, N, 5)`` observations.
        actions: ``(B,)`` actions.
    """
    policy = model.policy
    obs_tensor, _ = policy.obs_to_tensor(observations)
    action_tensor = torch.as_tensor(actions, device=policy.device)

    def step() -> None:
        policy.set_training_mode(True)
        policy.zero_grad(set_to_none=True)
        values, log_prob, entropy = policy.evaluate_actions(obs_tensor, action_tensor)
        loss = -log_prob.mean() + 0.5 * values.pow(2).mean() - 0.01 * entropy.mean()
        loss.backward()

    return step


def predict_call(model: PPO, observation: np.ndarray) -> Callable[[], None]:
    """One ``model.predict`` of one unbatched observation (the call that is timed)."""

    def call() -> None:
        model.policy.set_training_mode(False)
        model.predict(observation, deterministic=True)

    return call


def cpu_seconds() -> float:
    """CPU time of this process and of the children it waited for (the C++ compiler runs ``torch.compile`` starts)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def time_training(model: PPO, steps: int, device: str) -> tuple[float, float, int]:
    """``model.learn`` of ``steps`` more timesteps: ``(steps per second, CPU us per step, timesteps)``.

    Args:
        model: the model (already past one warm-up rollout).
        steps: timesteps to learn (SB3 rounds them up to whole rollouts).
        device: the torch device, synchronized around the timing.
    """
    first = model.num_timesteps
    synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    model.learn(steps, reset_num_timesteps=False)
    synchronize(device)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    timesteps = model.num_timesteps - first
    return timesteps / elapsed, 1e6 * cpu / timesteps, timesteps


def tensor_counts(model: PPO) -> tuple[int, int]:
    """``(parameter tensors of the policy, of its features extractors)``."""
    extractors = [m for m in model.policy.modules() if isinstance(m, BaseFeaturesExtractor)]
    in_extractors = {id(p) for m in extractors for p in m.parameters()}
    return sum(1 for _ in model.policy.parameters()), len(in_extractors)


def measure_interleaved(
    specs: Sequence[ExtractorSpec], n_entities: int, preset: Mapping[str, Any], settings: Settings
) -> dict[str, Measurement]:
    """Every row at one ``N``, interleaved: ``settings.rounds`` rounds, each timing every row once in turn.

    Each round times ``fwd_bwd_repeats / rounds`` forward + backward passes, ``predict_calls / rounds`` predicts
    and ``ppo_steps / rounds`` training steps per row; a row's figure is the median over rounds, so a spell of
    load from other processes falls on every row alike instead of on whichever row ran then.
    """
    models = {spec.name: make_model(spec, n_entities, preset, settings) for spec in specs}
    observations, actions = sample_batch(n_entities, BATCH, settings.seed)
    steps = {name: forward_backward_step(model, observations, actions) for name, model in models.items()}
    calls = {name: predict_call(model, observations[0]) for name, model in models.items()}
    per_round = {
        "fwd_bwd": max(1, settings.fwd_bwd_repeats // settings.rounds),
        "predict": max(1, settings.predict_calls // settings.rounds),
        "ppo": max(1, settings.ppo_steps // settings.rounds),
    }
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in models}
    timesteps = dict.fromkeys(models, 0)
    warmup_cpu = {}
    try:
        for name, model in models.items():  # warm-up: one rollout and its update, untimed calls (compiles, if asked)
            start = cpu_seconds()
            model.learn(model.n_steps * model.n_envs)
            median_ms(steps[name], settings.fwd_bwd_warmup, 1, settings.device)
            median_ms(calls[name], settings.predict_warmup, 1, settings.device)
            warmup_cpu[name] = cpu_seconds() - start
        for _ in range(settings.rounds):
            for name, model in models.items():
                record = figures[name]
                device = settings.device
                record.setdefault("fwd_bwd", []).append(median_ms(steps[name], 0, per_round["fwd_bwd"], device))
                record.setdefault("predict", []).append(median_ms(calls[name], 0, per_round["predict"], device))
                rate, cpu, done = time_training(model, per_round["ppo"], settings.device)
                record.setdefault("rate", []).append(rate)
                record.setdefault("cpu", []).append(cpu)
                timesteps[name] += done
    finally:
        for model in models.values():
            model.get_env().close()
    results = {}
    for name, model in models.items():
        med = {key: statistics.median(values) for key, values in figures[name].items()}
        tensors, in_extractor = tensor_counts(model)
        results[name] = Measurement(
            name, n_entities, med["fwd_bwd"], med["rate"], timesteps[name], med["predict"], med["cpu"],
            tensors, in_extractor, warmup_cpu[name],
        )  # fmt: skip
    return results


def run_benchmark(
    specs: Sequence[ExtractorSpec], preset: Mapping[str, Any], settings: Settings
) -> dict[tuple[str, int], Measurement]:
    """Measure every extractor at every ``N`` (rows interleaved at each ``N``), printing one line per row.

    Args:
        specs: the rows.
        preset: the PPO preset.
        settings: what to measure.

    Returns:
        Measurements keyed by ``(spec name, N)``.
    """
    results: dict[tuple[str, int], Measurement] = {}
    for n_entities in settings.entities:
        start = time.perf_counter()
        for name, m in measure_interleaved(specs, n_entities, preset, settings).items():
            results[name, n_entities] = m
            print(
                f"N={n_entities:<4} {name:<14} fwd+bwd {m.fwd_bwd_ms:8.2f} ms  PPO {m.steps_per_s:7.0f} steps/s "
                f"({m.cpu_us_per_step:6.0f} us CPU/step)  predict {m.predict_ms:6.3f} ms  tensors {m.param_tensors}",
                flush=True,
            )
        print(f"N={n_entities}: {time.perf_counter() - start:.0f} s", flush=True)
    return results


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
    parser.add_argument("--rounds", type=int, help="interleaved rounds over the rows (default: 5; quick: 2)")
    parser.add_argument(
        "--compiled",
        nargs="*",
        default=list(COMPILED_SPECS),
        metavar="ROW",
        help="rows also measured compiled (torch.compile, inductor; minutes to compile each); none with --no-compile "
        "(default: %(default)s)",
    )
    parser.add_argument("--no-compile", action="store_true", help="measure no compiled row (same as --compiled)")
    parser.add_argument(
        "--output",
        type=Path,
        help=f"markdown file to write the section into (default: {DEFAULT_OUTPUT.relative_to(REPO_ROOT)}; "
        "with --quick: none)",
    )
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available on this machine.")
    unknown = sorted(set(args.compiled) - {spec.name for spec in EXTRACTOR_SPECS if spec.extractor_class is not None})
    if unknown:
        parser.error(f"--compiled {' '.join(unknown)}: not a row with an extractor to compile (rows: see --help).")
    if args.no_compile:
        args.compiled = []
    if args.entities and min(args.entities) < 2:
        parser.error("--entities: every N must be >= 2 (the target and one distractor).")
    for name in ("ppo_steps", "threads", "rounds"):
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
        fwd_bwd_repeats=6 if quick else 30,
        ppo_steps=args.ppo_steps or (2048 if quick else 8192),
        predict_warmup=10 if quick else 50,
        predict_calls=100 if quick else 500,
        seed=args.seed,
        rounds=args.rounds or (2 if quick else 5),
        compiled=tuple(args.compiled),
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

    if settings.compiled:
        # A cold compile, as a machine's first compiled run pays it: inductor's cache (kept across runs) starts empty.
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="extractor_speed_inductor_"))
        import torch._inductor.config as inductor_config

        inductor_config.compile_threads = 1  # the compiler runs as this process's child: its CPU time counts
    specs = with_compiled(EXTRACTOR_SPECS, settings.compiled)
    start = time.perf_counter()
    results = run_benchmark(specs, preset, settings)
    section = render_section(results, specs, preset, settings, command, time.perf_counter() - start)
    print("\n" + section)
    if output is not None:
        write_section(output, section, START_MARKER, END_MARKER)
        print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
