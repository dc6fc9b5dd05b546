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
from speed_references import EgoAttentionPeer, MinimalReadout
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
    compile: bool = False
    """Compile the extractor with ``torch.compile`` (as ``compile: true`` in a run does)."""

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
        MappingProxyType({"presence_column": -1, "num_layers": 0, "lean": True}),
        note="FindTarget preset, what `train_rl.py` trains by default: the lean learned-query readout only "
        "(`lean=True`: folded readout, Linear-ReLU rows, no readout LayerNorm)",
    ),
    ExtractorSpec(
        "attention-l0-compiled",
        AttentionExtractor,
        MappingProxyType({"presence_column": -1, "num_layers": 0, "lean": True}),
        note="the same, compiled (`--set compile=true`: `torch.compile`, inductor, on the extractor)",
        compile=True,
    ),
    ExtractorSpec(
        "attention-l0-projected",
        AttentionExtractor,
        MappingProxyType({"presence_column": -1, "num_layers": 0}),
        note="the FindTarget preset before the fast path: projected multi-head readout, two-layer rows, LayerNorm",
    ),
    ExtractorSpec(
        "attention-l1",
        AttentionExtractor,
        MappingProxyType({"presence_column": -1, "num_layers": 1}),
        note="AttentionExtractor defaults: 1 self-attention block + readout",
    ),
    ExtractorSpec(
        "attention-l1-lean",
        AttentionExtractor,
        MappingProxyType({"presence_column": -1, "num_layers": 1, "lean": True}),
        note="AttentionExtractor(lean=True): 1 self-attention block + the lean readout",
    ),
    ExtractorSpec(
        "latent",
        LatentAttentionExtractor,
        MappingProxyType({"presence_column": -1, "num_latents": 8, "num_layers": 1}),
        note="linear-cost mode: 8 latents cross-attend to the parts, 1 block over the latents",
    ),
    ExtractorSpec(
        "minimal",
        MinimalReadout,
        note="the floor, written for this benchmark (`benchmarks/speed_references.py`): one Linear + ReLU row "
        "embedding, one learned query, masked softmax, one pooling matmul; no heads, projections or checks",
    ),
    ExtractorSpec(
        "ego-peer",
        EgoAttentionPeer,
        note="the peer: HighwayEnv's published ego-attention design re-implemented (per-entity two-layer MLP "
        "embedding, the first row as query, 2 heads, 64 wide)",
    ),
)
BASELINE = EXTRACTOR_SPECS[0].name

# Targets (from issue 14), at N = 8 unless said otherwise.
TARGET_N = 8
TRAIN_TARGETS = (("attention-l0", 0.70, " (what `train_rl.py` trains by default)"), ("attention-l1", 0.40, ""))
"""``(row, least ratio to the MLP's PPO steps/s, note)``."""
PREDICT_TARGETS = (("attention-l0", 0.25), ("*", 0.5))
"""``(row or * for every attention row, most ms per single-observation predict)``."""
ATTENTION_SPECS = ("attention-l0", "attention-l0-compiled", "attention-l0-projected", "attention-l1", "attention-l1-lean", "latent")
"""The project's rows (the targets are theirs; ``minimal`` and ``ego-peer`` are references)."""
LINEAR_SPEC, QUADRATIC_SPEC = "latent", "attention-l1"
LATENT_TARGETS = ((16, 1.0), (64, 2.0))
"""``(N, least speed-up of latent's fwd+bwd over attention-l1's)``."""
GROWTH_FROM_N, GROWTH_TO_N = 64, 256
PEER_SPEC, DEFAULT_SPEC = "ego-peer", "attention-l0"


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
    rounds: int = 5
    """Rounds over the rows (A B C, A B C, ...): each figure is the median over rounds of that round's figure."""


@dataclass(frozen=True)
class Measurement:
    """The three figures of one extractor at one ``N``."""

    spec: str
    n_entities: int
    fwd_bwd_ms: float
    steps_per_s: float
    ppo_timesteps: int
    predict_ms: float
    cpu_us_per_step: float = float("nan")
    """CPU time (``time.process_time``, all threads) per PPO timestep, in microseconds."""
    param_tensors: int = 0
    """Parameter tensors of the whole policy (what Adam, clipping and ``zero_grad`` loop over)."""
    extractor_tensors: int = 0
    """Parameter tensors in the features extractor(s)."""


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
        model.policy.features_extractor.compile()  # in place, as agents.build does for ``compile: true``
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
    try:
        for name, model in models.items():  # warm-up: one rollout and its update, untimed calls
            model.learn(model.n_steps * model.n_envs)
            median_ms(steps[name], settings.fwd_bwd_warmup, 1, settings.device)
            median_ms(calls[name], settings.predict_warmup, 1, settings.device)
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
            tensors, in_extractor,
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


def _ratio_line(title: str, value: float | None, bound: float, at_least: bool, figures: str) -> str:
    if value is None:
        return f"{title}: not measured."
    met = value >= bound if at_least else value <= bound
    return f"{title}: {verdict(met)}: {figures}."


def training_targets(results: Mapping[tuple[str, int], Measurement]) -> list[str]:
    """Target lines: each row of ``TRAIN_TARGETS`` trains at its least ratio of the MLP's steps/s at N = 8."""
    baseline = results.get((BASELINE, TARGET_N))
    lines = []
    for name, bound, note in TRAIN_TARGETS:
        m = results.get((name, TARGET_N))
        title = f"`{name}`{note} trains at >= {bound:.2f}x the MLP's PPO steps/s at N = {TARGET_N}"
        ratio = m.steps_per_s / baseline.steps_per_s if m and baseline else None
        figures = f"{ratio:.2f}x ({m.steps_per_s:.0f} vs {baseline.steps_per_s:.0f} steps/s)" if ratio else ""
        lines.append(_ratio_line(title, ratio, bound, True, figures))
    return lines


def predict_targets(results: Mapping[tuple[str, int], Measurement]) -> list[str]:
    """Target lines: single-observation ``predict`` at N = 8 within ``PREDICT_TARGETS``' bounds."""
    lines = []
    for name, bound in PREDICT_TARGETS:
        names = ATTENTION_SPECS if name == "*" else (name,)
        at_n = [results[n, TARGET_N] for n in names if (n, TARGET_N) in results]
        which = "every attention row" if name == "*" else f"`{name}`"
        title = f"`predict` of one observation <= {bound:g} ms for {which} at N = {TARGET_N}"
        worst = max((m.predict_ms for m in at_n), default=None)
        figures = ", ".join(f"`{m.spec}` {m.predict_ms:.3f} ms" for m in at_n)
        lines.append(_ratio_line(title, worst, bound, False, figures))
    return lines


def latent_targets(results: Mapping[tuple[str, int], Measurement]) -> list[str]:
    """Target lines: ``latent``'s fwd+bwd beats ``attention-l1``'s by ``LATENT_TARGETS``' factors."""
    lines = []
    for n, bound in LATENT_TARGETS:
        latent, quadratic = results.get((LINEAR_SPEC, n)), results.get((QUADRATIC_SPEC, n))
        title = f"`{LINEAR_SPEC}` fwd+bwd >= {bound:g}x as fast as `{QUADRATIC_SPEC}`'s at N = {n}"
        speedup = quadratic.fwd_bwd_ms / latent.fwd_bwd_ms if latent and quadratic else None
        figures = f"{speedup:.2f}x ({latent.fwd_bwd_ms:.2f} vs {quadratic.fwd_bwd_ms:.2f} ms)" if speedup else ""
        lines.append(_ratio_line(title, speedup, bound, True, figures))
    return lines


def peer_targets(results: Mapping[tuple[str, int], Measurement], entities: Sequence[int]) -> list[str]:
    """Target lines: each attention row trains faster (PPO steps/s) than the ego-attention peer at every N."""
    lines = []
    for name in ATTENTION_SPECS:
        pairs = [(n, results[name, n], results[PEER_SPEC, n]) for n in entities if (name, n) in results]
        pairs = [(n, m, p) for n, m, p in pairs if p is not None]
        title = f"`{name}` trains faster than the peer `{PEER_SPEC}` at every N"
        if not pairs:
            lines.append(f"{title}: not measured.")
            continue
        worst = min(m.steps_per_s / p.steps_per_s for _, m, p in pairs)
        figures = ", ".join(f"N = {n}: {m.steps_per_s / p.steps_per_s:.2f}x" for n, m, p in pairs)
        lines.append(_ratio_line(title, worst, 1.0 + 1e-9, True, figures))
    return lines


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


def tensors_table(results: Mapping[tuple[str, int], Measurement], specs: Sequence[ExtractorSpec]) -> str:
    """Parameter tensors per row (they do not depend on N): the policy's and its extractors'."""
    rows = []
    for spec in specs:
        m = next((m for (name, _), m in results.items() if name == spec.name), None)
        if m is not None:
            rows.append([f"`{spec.name}`", str(m.param_tensors), str(m.extractor_tensors)])
    return markdown_table(["extractor", "policy parameter tensors", "of which in the extractor"], rows)


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
    targets = [
        *training_targets(results), *predict_targets(results), *latent_targets(results),
        growth_target(results, specs), *peer_targets(results, settings.entities),
    ]  # fmt: skip
    parts = [
        START_MARKER,
        "## Extractor speed",
        f"Produced by `{command}` on {date} (the run took {elapsed_s / 60:.1f} min).\n\n"
        f"At each N the rows are interleaved in one process: {settings.rounds} rounds, each timing every row in "
        "turn, and every figure is the median over the rounds of that round's figure, so load from other "
        "processes falls on every row alike; ratios are steadier than the absolute figures (load below). The "
        "targets (issue 14) were set for a 2-core CPU.\n\n"
        + "\n".join(f"- {fact}" for fact in machine_facts(settings.device)),
        f'Env `{ENV_ID}` with `n_entities = N`; `PPO("MlpPolicy")` with SB3\'s default `net_arch` on top of each '
        f"extractor and the `configs/ppo.yaml` preset ({preset.get('n_envs', 8)} envs in a `DummyVecEnv`, "
        + ", ".join(f"{k}={v}" for k, v in hyper.items())
        + "). Rows:\n\n"
        + rows,
        f"### Forward + backward, ms per batch of {BATCH}\n\n"
        f"`policy.evaluate_actions` + PPO-shaped loss + `backward()` on {BATCH} observations from seeded env "
        f"resets; {max(1, settings.fwd_bwd_repeats // settings.rounds)} passes per round after "
        f"{settings.fwd_bwd_warmup} warm-up.\n\n"
        + grid_table(results, specs, settings.entities, lambda m: f"{m.fwd_bwd_ms:.2f}"),
        "### PPO training, steps/s (ratio to `mlp`)\n\n"
        f"`model.learn` of {' / '.join(map(str, timesteps))} timesteps in all (a share per round) after one "
        "warm-up rollout; timesteps / wall time.\n\n"
        + grid_table(results, specs, settings.entities, training_cell(results)),
        "### PPO training, CPU time per timestep, microseconds\n\n"
        "`time.process_time()` (every thread of the process) over the same `model.learn` calls: what a step costs "
        "the machine, whatever else runs on it.\n\n"
        + grid_table(results, specs, settings.entities, lambda m: f"{m.cpu_us_per_step:.0f}"),
        "### Parameter tensors\n\n"
        "What Adam, gradient clipping and `zero_grad` loop over, one Python-level step each.\n\n"
        + tensors_table(results, specs),
        "### Single-observation `predict` latency, ms\n\n"
        f"`model.predict(obs, deterministic=True)` on one unbatched observation; "
        f"{max(1, settings.predict_calls // settings.rounds)} calls per round after {settings.predict_warmup} "
        "warm-up.\n\n" + grid_table(results, specs, settings.entities, lambda m: f"{m.predict_ms:.3f}"),
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
    parser.add_argument("--rounds", type=int, help="interleaved rounds over the rows (default: 5; quick: 2)")
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
