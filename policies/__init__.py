"""Attention feature extractors for Stable-Baselines3 policies, and reports of where they look.

``EXTRACTORS`` maps the names used by configs and the CLI (``--extractor``) to extractor classes;
``"mlp"`` maps to None, meaning SB3's default extractor for the policy.
"""

from __future__ import annotations

from policies.attention import MultiHeadAttention, TransformerBlock
from policies.extractor import AttentionExtractor
from policies.registry import Registry, did_you_mean
from policies.report import AttentionReport, attention_report, capture_attention, find_attention_extractor
from policies.tokenizers import TOKENIZERS, EntityTokenizer, Tokenizer

#: Extractors by name; None means SB3's own default (FlattenExtractor for vectors, NatureCNN for images).
EXTRACTORS: Registry[type | None] = Registry("extractor")
EXTRACTORS.register("attention", AttentionExtractor)
EXTRACTORS.register("mlp", None)

__all__ = [
    "EXTRACTORS",
    "TOKENIZERS",
    "AttentionExtractor",
    "AttentionReport",
    "EntityTokenizer",
    "MultiHeadAttention",
    "Registry",
    "Tokenizer",
    "TransformerBlock",
    "attention_report",
    "capture_attention",
    "did_you_mean",
    "find_attention_extractor",
]
