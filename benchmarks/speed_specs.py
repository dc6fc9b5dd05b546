"""What ``extractor_speed.py`` measures: the rows (extractor configurations), the settings, the figures, the targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from speed_references import EgoAttentionPeer, MinimalReadout
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

import envs
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
        "(`lean=True`: folded readout whose value map also does the head's Linear, Linear-ReLU rows, no readout "
        "LayerNorm)",
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
        "attention-l1-mlp1",
        AttentionExtractor,
        MappingProxyType({"presence_column": -1, "num_layers": 1, "mlp_ratio": 1.0}),
        note="the same with the block's MLP as wide as its tokens (`mlp_ratio=1.0`; the default is 2.0)",
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

# Targets, at N = 8 unless said otherwise.
TARGET_N = 8
TRAIN_TARGETS = (("attention-l0", 0.70, " (what `train_rl.py` trains by default)"), ("attention-l1", 0.40, ""))
"""``(row, least ratio to the MLP's PPO steps/s, note)``."""
PREDICT_TARGETS = (("attention-l0", 0.25), ("*", 0.5))
"""``(row or * for every attention row, most ms per single-observation predict)``."""
COMPILED_SPECS = ("attention-l0", "attention-l1", "latent")
"""Rows also measured compiled (``torch.compile``, inductor, on the extractor: a run's ``compile: true``)."""
COMPILED_SUFFIX = "+compile"
ATTENTION_SPECS = (
    "attention-l0",
    "attention-l0-projected",
    "attention-l1",
    "attention-l1-mlp1",
    "attention-l1-lean",
    "latent",
)
"""The project's rows (the targets are theirs; ``minimal`` and ``ego-peer`` are references)."""
#: Timesteps over which a compile's cost is set against what it saves per step (the length of a default run).
AMORTISE_STEPS = 100_000


def compiled_twin(spec: ExtractorSpec) -> ExtractorSpec:
    """``spec`` with its extractor compiled, named ``<name>+compile``."""
    return ExtractorSpec(f"{spec.name}{COMPILED_SUFFIX}", spec.extractor_class, spec.kwargs, spec.note, compile=True)


def with_compiled(
    specs: tuple[ExtractorSpec, ...], compiled: tuple[str, ...] = COMPILED_SPECS
) -> tuple[ExtractorSpec, ...]:
    """``specs`` and, for each row named in ``compiled``, its compiled twin."""
    return (*specs, *(compiled_twin(spec) for spec in specs if spec.name in compiled))


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
    compiled: tuple[str, ...] = COMPILED_SPECS
    """Rows also measured compiled (their twins, ``with_compiled``)."""


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
    warmup_cpu_s: float = float("nan")
    """CPU seconds (this process and the compilers it ran) of the warm-up: one rollout and update, fwd+bwd and
    ``predict`` calls; a compiled row's minus its eager twin's is what compiling cost."""
