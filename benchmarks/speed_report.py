"""The markdown section of ``extractor_speed.py``: tables over N, the speed targets (met or not)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from doc_sections import machine_facts
from speed_specs import (
    AMORTISE_STEPS,
    ATTENTION_SPECS,
    BASELINE,
    BATCH,
    COMPILED_SUFFIX,
    END_MARKER,
    ENV_ID,
    GROWTH_FROM_N,
    GROWTH_TO_N,
    LATENT_TARGETS,
    LINEAR_SPEC,
    PEER_SPEC,
    PREDICT_TARGETS,
    QUADRATIC_SPEC,
    START_MARKER,
    TARGET_N,
    TRAIN_TARGETS,
    ExtractorSpec,
    Measurement,
    Settings,
)

from agents.evaluation.tables import markdown_table

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


def to_mlp(m: Measurement, baseline: Measurement | None) -> str:
    """`` (0.52x)``: ``m``'s PPO steps/s as a ratio to the baseline's, or nothing without a baseline."""
    return f" ({m.steps_per_s / baseline.steps_per_s:.2f}x)" if baseline else ""


def compile_table(
    results: Mapping[tuple[str, int], Measurement], specs: Sequence[ExtractorSpec], entities: Sequence[int]
) -> str:
    """Each compiled row beside its eager twin at each ``N``: PPO steps/s, ``predict``, compile cost, balance.

    The balance sets the compile's CPU time against the CPU time per step it saves over ``AMORTISE_STEPS``
    timesteps (negative: compiling costs more than it saves there).
    """
    header = [
        "extractor", "N", "PPO steps/s eager", "compiled", "compiled / eager", "predict ms eager", "compiled",
        "compile, CPU s", f"balance over {AMORTISE_STEPS:,} steps, CPU s",
    ]  # fmt: skip
    rows = []
    for spec in (s for s in specs if s.compile):
        eager_name = spec.name.removesuffix(COMPILED_SUFFIX)
        for n in entities:
            comp, eager, base = (results.get((name, n)) for name in (spec.name, eager_name, BASELINE))
            if comp is None or eager is None:
                continue
            cost = comp.warmup_cpu_s - eager.warmup_cpu_s
            saved = AMORTISE_STEPS * (eager.cpu_us_per_step - comp.cpu_us_per_step) / 1e6
            rows.append([
                f"`{eager_name}`", str(n), f"{eager.steps_per_s:.0f}{to_mlp(eager, base)}",
                f"{comp.steps_per_s:.0f}{to_mlp(comp, base)}",
                f"{comp.steps_per_s / eager.steps_per_s:.2f}x", f"{eager.predict_ms:.3f}", f"{comp.predict_ms:.3f}",
                f"{cost:.0f}", f"{saved - cost:+.0f}",
            ])  # fmt: skip
    return markdown_table(header, rows)


#: What the runs say, written by hand from the measurements (2026-12-02); rendered before the targets.
READING = [
    "**The default run's extractor is the lean fast path** (`lean=True` in FindTarget's preset: the folded readout "
    "whose value map also does the output layer's `Linear`, Linear-ReLU rows, no readout LayerNorm; "
    "`attention-l0-projected` is the preset before the fast path). This table ran 16:45-17:08 UTC while two of my "
    "trainings shared the 2 cores (3 processes on 2 cores most of the time): at N = 8 it trains at 0.51x the MLP's "
    "PPO steps/s against 0.37x for the projected readout, 1.4-1.9x its speed at every N, with 5 extractor parameter "
    "tensors instead of 15. `python benchmarks/extractor_speed.py --entities 8 --output FILE`: at 17:15 UTC with one "
    "training beside it (load 1.1-1.4) 0.62x (projected 0.46x, `minimal` 0.77x); at 17:30 and 17:32 UTC with nothing "
    "else of mine running (load 0.7-1.0) 0.65x and 0.65x (projected 0.42x and 0.48x, `minimal` 0.73x and 0.70x), "
    "predict 0.235 and 0.328 ms (the MLP's 0.115 and 0.226 ms: the second run was slower on every row). The fold "
    "of the output layer's `Linear` (`python benchmarks/lean_fold_ab.py`: the default run's PPO with the extractor "
    "folded and unfolded and the MLP, interleaved in one process, 7 rounds): 1.10x and 1.09x the unfolded "
    "extractor's steps/s at 17:18 and 17:19 UTC (one training beside it, load 1.4 and 1.7), 1.01x at 17:31 (load "
    "1.0); 0.59-0.68x the MLP's. Before the fold the idle runs gave 0.60x and 0.53x. The ratio moves by 0.1 "
    "between runs (the MLP's own steps/s varies most: 3929-8437 in these runs): 0.70x is not met.",
    "**What is left to the floor.** `minimal` (one head, no value projection, no output layer, no checks) stays "
    "0.1-0.2x of the MLP ahead; the lean path keeps what the project promises on top of it: 2 heads, the value "
    "map, the output layer's activation (ReLU or LayerNorm + Tanh), padding and empty-set handling, the NaN/inf "
    "check with the part named, focus capture.",
    "**`AttentionExtractor()` defaults (`attention-l1`) stay at 0.17-0.22x, lean or not (0.21-0.25x)**: the "
    "self-attention block is arithmetic, not overhead. Per token its q/k/v/out projections and 2x MLP cost about "
    "65k FLOPs forward (D = 64), 134 M per batch of 256 at N = 8 and about 0.4 G with the backward pass, where the "
    "MLP policy's whole forward is about 30 M. Self-attention now projects its keys instead of folding the key "
    "projection into each token's query (`policies.attention.folds`: at N = 8, D = 64, 2 heads about 74k "
    "multiply-adds per token against 82k, and fewer operations); the outputs are the same. 0.40x would take a "
    "smaller block (`embed_dim=32` or `mlp_ratio=1`), a change of the defaults that every preset with a block "
    "inherits; not made.",
    "**`predict`** latencies in this table are 25-40% above the morning's for every row, the MLP's too (0.212 "
    "against 0.168 ms; the machine was busier), so `attention-l0`'s 0.332 ms misses 0.25 ms here; in the 17:30 "
    "idle run it met it (0.235 ms), and `attention-l1`, its lean form and `latent` took 0.527, 0.450 and 0.663 ms "
    "(0.5 ms met by the lean form only): a one-observation forward of a block is many small operations.",
    "**`torch.compile`** (`--set compile=true`, inductor): PPO steps/s within the noise of eager (0.54x against "
    "0.51x here, 0.60x against 0.62x in the 17:15 run), and it costs compile time at the start and on each new batch "
    "shape; not worth it here.",
]


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
    compiled = [spec for spec in specs if spec.compile]
    specs = [spec for spec in specs if not spec.compile]
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
        "targets were set for a 2-core CPU.\n\n" + "\n".join(f"- {fact}" for fact in machine_facts(settings.device)),
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
        "### `torch.compile`\n\n"
        "The rows above compiled (`torch.compile`, inductor, on the extractor, as a run's `--set compile=true` "
        "does), measured in the same rounds as their eager twins. Compile: the warm-up's CPU time (this process "
        "and the C++ compiler it ran; one rollout and update, the fwd+bwd and predict warm-up: each batch shape "
        "compiles once) over the eager twin's. Balance: the CPU time per PPO step saved, times "
        f"{AMORTISE_STEPS:,} steps, minus the compile.\n\n"
        + (compile_table(results, compiled, settings.entities) if compiled else "Not measured (`--no-compile`)."),
        "### Reading\n\n" + "\n".join(f"- {line}" for line in READING),
        "### Targets\n\n" + "\n".join(f"- {line}" for line in targets),
        END_MARKER,
    ]
    return "\n\n".join(parts)
