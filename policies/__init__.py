"""Attention feature extractors for Stable-Baselines3 policies, and reports of where they look.

``EXTRACTORS`` maps the names used by configs and the CLI (``--extractor``) to extractor classes;
``"mlp"`` maps to None, meaning SB3's default extractor for the policy; ``"grid_cnn"`` is a plain CNN over
highway-env's occupancy grid (Social Attention's convolutional baseline).
"""

from __future__ import annotations

from policies.attention import SCORES, MultiHeadAttention, capture_attention
from policies.block import TransformerBlock
from policies.causal import MAX_CAUSAL_PARTS, causal_effects
from policies.extractor import (
    AttentionExtractor,
    ConvAttentionExtractor,
    EntityAttentionExtractor,
    Explanation,
    FeatureAttentionExtractor,
    PatchAttentionExtractor,
    TimeAttentionExtractor,
)
from policies.focus_methods import FOCUS_METHODS, FocusInputs, FocusMethod, MemoryInputs, register_focus_method
from policies.grid_cnn import GridCNN
from policies.latent import LatentAttentionExtractor
from policies.readouts import READOUTS
from policies.registry import Registry, did_you_mean
from policies.report import AttentionReport, attention_report, find_attention_extractor, focus_reports
from policies.tokenizers import STEMS, TOKENIZERS, Tokenizer

#: Extractors by name; None means SB3's own default (FlattenExtractor for vectors, NatureCNN for images).
EXTRACTORS: Registry[type | None] = Registry("extractor")
EXTRACTORS.register("attention", AttentionExtractor)
EXTRACTORS.register("entity", EntityAttentionExtractor)
EXTRACTORS.register("patch", PatchAttentionExtractor)
EXTRACTORS.register("conv", ConvAttentionExtractor)
EXTRACTORS.register("features", FeatureAttentionExtractor)
EXTRACTORS.register("time", TimeAttentionExtractor)
EXTRACTORS.register("latent", LatentAttentionExtractor)
EXTRACTORS.register("grid_cnn", GridCNN)
EXTRACTORS.register("mlp", None)

__all__ = [
    "EXTRACTORS",
    "FOCUS_METHODS",
    "MAX_CAUSAL_PARTS",
    "READOUTS",
    "SCORES",
    "STEMS",
    "TOKENIZERS",
    "AttentionExtractor",
    "AttentionReport",
    "ConvAttentionExtractor",
    "EntityAttentionExtractor",
    "Explanation",
    "FeatureAttentionExtractor",
    "FocusInputs",
    "FocusMethod",
    "GridCNN",
    "LatentAttentionExtractor",
    "MemoryInputs",
    "MultiHeadAttention",
    "PatchAttentionExtractor",
    "Registry",
    "TimeAttentionExtractor",
    "Tokenizer",
    "TransformerBlock",
    "attention_report",
    "capture_attention",
    "causal_effects",
    "did_you_mean",
    "find_attention_extractor",
    "focus_reports",
    "register_focus_method",
]
