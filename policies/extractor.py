"""``AttentionExtractor``: an SB3 features extractor that attends over the parts of an observation."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from envs.validation import check_int
from policies.attention import (
    LAYERS_WHY,
    MAX_LAYERS,
    MultiHeadAttention,
    attention_rollout,
    capture_attention,
    check_heads,
)
from policies.block import MLP_RATIO, TransformerBlock
from policies.heads import check_features_norm, check_head, make_head
from policies.inputs import as_batch, check_not_empty, check_part_count, check_shape
from policies.lean_readout import FOLDING_SCORES, LEAN_READOUTS, LeanEgoReadout
from policies.readouts import READOUTS, EgoReadout, check_top_k
from policies.tokenizers import TOKENIZERS, auto_tokenizer_name, make_tokenizer
from policies.tokenizers.base import check_names, signature_options


@dataclass
class Explanation:
    """What one captured forward pass of an extractor looked at (tensors, batch first)."""

    features: torch.Tensor
    """``(B, features_dim)``."""
    focus: torch.Tensor
    """``(B, N)`` the readout's focus over the parts; each row sums to 1 (an empty set: uniform)."""
    rollout: torch.Tensor
    """``(B, N)`` attention rollout over the parts (through every block into the readout); rows sum to 1."""
    weights: torch.Tensor
    """``(B, heads, queries, N)``: raw weights of the last layer that attends over the parts."""
    mask: torch.Tensor
    """``(B, N)``: True where a part is real."""
    layers: list[torch.Tensor]
    """Weights of every attention layer, in module order."""


def check_top_k_fits(top_k: int | None, available: int, what: str) -> None:
    """Raise ``ValueError`` when hard attention would keep more tokens than the readout has."""
    if top_k is not None and top_k > available:
        raise ValueError(
            f"top_k={top_k} keeps more {what} than the readout has ({available}): use a top_k of at most "
            f"{available}, or None for soft attention."
        )


class AttentionExtractor(BaseFeaturesExtractor):
    """Tokenize, self-attend, read out: an attention features extractor for any SB3 policy.

    ``observation -> tokenizer -> num_layers x pre-LN TransformerBlock -> LayerNorm -> readout (pooling)
    -> Linear + ReLU -> features (B, features_dim)``.

    Example::

        from stable_baselines3 import PPO
        from policies import AttentionExtractor

        model = PPO("MlpPolicy", env, policy_kwargs=dict(
            features_extractor_class=AttentionExtractor,
            features_extractor_kwargs=dict(embed_dim=64, num_heads=2, presence_column=-1)))

    The tokenizer is picked from the observation space (entity sets ``Box(N, F)``, images, flat vectors,
    ``Dict``; time windows with ``tokenizer="time"``). Padding parts are masked out of every attention; a set
    with no real part gives finite features; an observation holding NaN or inf raises ``ValueError`` naming
    the part. Training runs on the fused ``scaled_dot_product_attention`` path; weights are computed only by
    :meth:`explain` (and ``policies.attention_report``).

    Args:
        observation_space: the env's observation space; every size is derived from it.
        features_dim: width of the output features.
        embed_dim: token width inside the extractor.
        num_heads: attention heads; must divide ``embed_dim``.
        num_layers: self-attention blocks before the readout (0 = the readout reads the parts directly; its
            focus is then exactly where it looked, which the FindTarget preset uses).
        mlp_ratio: hidden width of each block's MLP, as a multiple of ``embed_dim`` (a saved model loads with the
            width it was saved with).
        score: attention score function: ``scaled_dot`` (default), ``general`` (Luong) or ``additive``
            (Bahdanau).
        pooling: readout: ``query`` (learned query, default), ``ego`` (the first part, or ``ego_part``, as query),
            ``mean``, ``max`` (feature-wise, relational RL), ``cls``.
        top_k: hard attention: the readout keeps only its ``top_k`` most attended parts (``query``/``ego``).
        top_k_per_head: with ``top_k``, each readout head keeps its own ``top_k`` parts (up to ``num_heads * top_k``
            parts in all) instead of one choice for every head, so a part that is in every observation (the
            observer at the centre of an egocentric picture) need not take a slot from the target.
        num_queries: ``query`` / ``ego`` readouts: how many queries read the parts (default 1); their reads are
            concatenated (``num_queries * embed_dim`` into the head). With ``ego`` the observer's token is the
            first query. Not with ``lean``.
        tokenizer: ``"auto"`` (from the space) or a name from ``policies.TOKENIZERS``.
        tokenizer_kwargs: options of the tokenizer (its ``__init__``'s keyword parameters, ``option_names()``),
            e.g. ``{"presence_column": -1}``; a name it does not take raises with a suggestion.
        **tokenizer_options: the same options as keywords (shorthand, merged into ``tokenizer_kwargs``), e.g. for
            entity sets ``presence_column`` (the presence feature's column, or None to mask all-zero rows), ``ego``
            (the first row is the observer) and ``embed_layers`` (2 or 1 layers of the row MLP); for images
            ``patch_size``, ``patch_embed`` (``"linear"`` or ``"mlp"``) and, for ``tokenizer="conv"``, ``stem``; for
            flat vectors ``feature_names``, ``value_embed`` and ``squash``; for ``Dict`` observations
            ``image_tokenizer`` (``"conv"``) and the options of its keys. Each tokenizer's docstring says more.
        ego_part: the part whose token is the ``ego`` readout's query (a name from ``part_names``; default: the first
            part), e.g. ``"cell_r6c3"``, the agent's own cell at the bottom centre of MiniGrid's 7x7 egocentric view.
            Needs ``pooling="ego"``.
        part_names: one name per part, replacing the tokenizer's (``entity_3``...), e.g. the names an env adapter
            gives its parts (``cell_r2c3``, ``vehicle_1``); ``agents`` passes an env's ``part_names`` here.
        readout_norm: the LayerNorm over the tokens before the readout (default: True, False with ``lean``); False
            skips it (less work per part; the blocks, when there are any, keep their own).
        lean: the fast path (``policies.lean_readout``): the ``query`` / ``ego`` readout folded to its least work
            (folded queries and one value ``Linear`` that also does the head's ``Linear``: 3 parameter tensors
            instead of 9, no projection of any part), and unless set otherwise ``embed_layers=1`` and
            ``readout_norm=False``. Same capabilities (masks, heads, ``top_k``, focus); ``additive`` scores keep
            the projected readout (they cannot fold).
        features_norm: the L2 norm every output feature vector is given (a LayerNorm with no parameters, then a
            fixed scale), or None (default) for the raw ``Linear + ReLU`` features. SB3's tanh policy and value
            MLPs read the features; ``1.0`` gives them a raw classic-env observation's scale, which kept the policy
            MLP unsaturated on Pendulum-v1 with lr 1e-3 (docs/BENCHMARKS.md, "No preset").
        head: the output layer, ``"relu"`` (``Linear + ReLU``, default) or ``"layernorm_tanh"`` (``Linear +
            LayerNorm + Tanh``: features bounded in [-1, 1] and centred per observation, so their scale cannot
            grow; the CLI's defaults for an env with no preset, where it learned MountainCar-v0 and the ReLU head
            did not, docs/BENCHMARKS.md, "No preset").
    """

    #: The readout pools the parts themselves (``LatentAttentionExtractor``'s pools its latents).
    readout_reads_parts = True

    @classmethod
    def extra_kwargs(cls) -> list[str]:
        """The keywords ``**tokenizer_options`` takes: every option of a registered tokenizer."""
        return list(dict.fromkeys(option for _, tok in TOKENIZERS.items() for option in tok.option_names()))

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 64,
        embed_dim: int = 64,
        num_heads: int = 2,
        num_layers: int = 1,
        mlp_ratio: float = MLP_RATIO,
        score: str = "scaled_dot",
        pooling: str = "query",
        top_k: int | None = None,
        top_k_per_head: bool = False,
        num_queries: int = 1,
        tokenizer: str = "auto",
        tokenizer_kwargs: Mapping[str, object] | None = None,
        ego_part: str | None = None,
        part_names: Sequence[str] | None = None,
        readout_norm: bool | None = None,
        lean: bool = False,
        features_norm: float | None = None,
        head: str = "relu",
        **tokenizer_options: object,
    ) -> None:
        check_int("features_dim", features_dim, 1)
        for name, flag in (("readout_norm", readout_norm), ("lean", lean)):
            if not isinstance(flag, bool) and not (name == "readout_norm" and flag is None):
                raise TypeError(f"{name}={flag!r} must be True or False.")
        readout_norm = (not lean) if readout_norm is None else readout_norm
        check_features_norm(features_norm)
        check_head(head)
        check_int("num_layers", num_layers, 0, MAX_LAYERS, why=LAYERS_WHY)
        check_heads(embed_dim, num_heads)
        readout_cls = READOUTS.get(pooling)
        check_top_k(pooling.lower(), top_k, top_k_per_head, num_queries)
        if readout_cls.uses_cls and num_layers == 0:
            raise ValueError("pooling='cls' reads the CLS token after self-attention: set num_layers >= 1.")
        check_not_empty(observation_space)
        check_part_count(observation_space)
        super().__init__(observation_space, features_dim)
        self.embed_dim, self.num_heads, self.mlp_ratio, self.score = embed_dim, num_heads, mlp_ratio, score
        options = merged_tokenizer_options(tokenizer_kwargs, tokenizer_options)
        if (
            lean
            and options.get("embed_layers") is None
            and "embed_layers" in lean_tokenizer_options(tokenizer, observation_space)
        ):
            options["embed_layers"] = 1
        self.tokenizer = make_tokenizer(tokenizer, observation_space, embed_dim, **options)
        check_part_count(observation_space, self.tokenizer.num_parts)
        if part_names is not None:
            self.tokenizer.part_names = checked_part_names(part_names, self.tokenizer.part_names)
        self.blocks = nn.ModuleList(
            TransformerBlock(embed_dim, num_heads, mlp_ratio, score=score) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(embed_dim) if readout_norm else nn.Identity()
        if self.readout_reads_parts:
            check_top_k_fits(top_k, self.tokenizer.num_parts, "parts")
        if lean and num_queries > 1:
            raise ValueError(f"lean=True folds one query's readout, but num_queries={num_queries}: set lean=False, "
                             "or num_queries=1.")  # fmt: skip
        folded_head = lean and score.lower() in FOLDING_SCORES and readout_cls in LEAN_READOUTS
        if folded_head:  # the lean readout's value map ends at features_dim: the head keeps no Linear of its own
            self.readout = LEAN_READOUTS[readout_cls](
                embed_dim, num_heads, score=score, top_k=top_k, out_dim=features_dim, top_k_per_head=top_k_per_head
            )
        else:
            self.readout = readout_cls(
                embed_dim, num_heads, score=score, top_k=top_k, top_k_per_head=top_k_per_head, num_queries=num_queries
            )
        pooled_dim = self.readout.out_dim(embed_dim)  # D, or num_queries * D
        self.head = make_head(head, pooled_dim, features_dim, features_norm, linear=not folded_head)
        if ego_part is not None:
            self.readout.ego_index = self._ego_index(ego_part, pooling)
        #: ``(B, N)`` bool, True for parts to remove from this forward pass (masked out of every attention, as
        #: padding is); set only by ``policies.causal.removing_parts`` for the causal focus, else None.
        self.part_drop: torch.Tensor | None = None

    def _ego_index(self, ego_part: object, pooling: str) -> int:
        """The position of ``ego_part`` among the parts (the ``ego`` readout's query), or a clear error."""
        if not isinstance(ego_part, str):
            raise TypeError(f"ego_part={ego_part!r} must be a part name (e.g. {self.part_names[0]!r}) or None.")
        if not isinstance(self.readout, EgoReadout | LeanEgoReadout):
            raise ValueError(f"ego_part={ego_part!r} names the ego readout's query, but pooling={pooling!r}: set "
                             "pooling='ego', or leave ego_part unset.")  # fmt: skip
        if not self.readout_reads_parts:
            raise ValueError(f"ego_part={ego_part!r} names a part, but this extractor's readout reads its latents, "
                             "not the parts: leave ego_part unset.")  # fmt: skip
        if ego_part not in self.part_names:
            close = difflib.get_close_matches(ego_part, self.part_names, n=3)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"parts: {self.part_names[0]!r}..."
            raise ValueError(f"ego_part={ego_part!r} is not a part of these observations ({hint}).")
        return self.part_names.index(ego_part)

    @property
    def part_names(self) -> list[str]:
        """Names of the parts, in order."""
        return self.tokenizer.part_names

    @property
    def grid(self) -> tuple[int, int] | None:
        """``(rows, cols)`` of the patch grid for image observations, else None."""
        return self.tokenizer.grid

    @property
    def cell_boxes(self) -> np.ndarray | None:
        """``(N, 4)`` pixel boxes of the parts' centre regions for conv tokens (see ``ConvTokenizer``), else None."""
        return self.tokenizer.cell_boxes

    @property
    def receptive_fields(self) -> np.ndarray | None:
        """``(N, 4)`` pixel boxes of the parts' receptive fields for conv tokens, else None."""
        return self.tokenizer.receptive_fields

    def encode(
        self, tokens: torch.Tensor, attend: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The encoder between tokenizer and readout (here: [CLS +] the self-attention blocks).

        Args:
            tokens: ``(B, N, D)`` part tokens.
            attend: ``(B, N)`` safe key mask (see ``safe_key_mask``).
            mask: ``(B, N)`` True for real parts.

        Returns:
            The ``(B, L, D)`` tokens the readout pools, with their safe key mask and real mask ``(B, L)``.
        """
        if self.readout.uses_cls:
            tokens, attend = self.readout.prepend(tokens, attend)  # (B, 1 + N, D)
            mask = torch.cat([attend[:, :1], mask], dim=1)  # (B, 1 + N)
        for block in self.blocks:
            tokens = block(tokens, attend)  # (B, L, D)
        return tokens, attend, mask

    def _run(
        self, observations: torch.Tensor | dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``features (B, features_dim)``, part mask ``(B, N)``, mask of the pooled tokens ``(B, L)``."""
        if not torch.compiler.is_compiling():  # a data-dependent branch: compiled graphs skip the check
            weight = next(self.parameters())  # the dtype and device of the weights
            observations = as_batch(observations, weight.dtype, weight.device)
            check_shape(self._observation_space, observations)
            self.tokenizer.check_finite(observations)
        tokens, mask = self.tokenizer(observations)  # (B, N, D), (B, N)
        if self.part_drop is not None:
            mask = mask & ~self.part_drop  # the causal focus removes parts as padding is removed
        empty = ~mask.any(dim=-1, keepdim=True)  # (B, 1)
        encoded, attend, real = self.encode(tokens, mask | empty, mask)  # (B, L, D), (B, L), (B, L)
        pooled = self.readout(self.norm(encoded), attend, real)  # (B, D)
        pooled = pooled.masked_fill(empty, 0.0)  # an empty set reads out zeros
        return self.head(pooled), mask, real

    def forward(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """``observations (B, *obs_shape)`` -> ``features (B, features_dim)``."""
        return self._run(observations)[0]

    def _last_block(self) -> MultiHeadAttention | None:
        return self.blocks[-1].attn if len(self.blocks) else None

    def _focus_on_parts(self, pooled_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(focus (B, N), weights (B, H, Q, N))`` over the parts, after a captured forward pass.

        Args:
            pooled_mask: ``(B, L)`` real-token mask of what the readout pooled (parts, or [CLS +] parts).
        """
        return self.readout.explain(pooled_mask, self._last_block())

    def _rollout_on_parts(self, pooled_mask: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` attention rollout over the parts, after a captured forward pass (see ``attention_rollout``).

        The readout's contribution over the pooled tokens (the CLS token alone for ``cls``) is carried back
        through every self-attention block; with ``cls`` the CLS token's own share is dropped and the rest
        renormalised over the parts.
        """
        start = self.readout.token_weights(pooled_mask)  # (B, L)
        flow = attention_rollout([block.attn.last_weights for block in self.blocks], start)  # (B, L)
        if self.readout.uses_cls:
            flow = flow[:, 1:]
            flow = flow / flow.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return flow

    def explain(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> Explanation:
        """One forward pass with weight capture: the features and where they came from."""
        with torch.no_grad(), capture_attention(self) as layers:
            features, mask, pooled_mask = self._run(observations)
            focus, weights = self._focus_on_parts(pooled_mask)
            rollout = self._rollout_on_parts(pooled_mask)
        empty = ~mask.any(dim=1, keepdim=True)  # (B, 1): a set with no real part gets a uniform focus
        focus, rollout = (normalized_focus(f, mask, empty) for f in (focus, rollout))
        return Explanation(features, focus, rollout, weights, mask, [layer.last_weights for layer in layers])


def lean_tokenizer_options(tokenizer: str, space: gym.Space) -> list[str]:
    """The options in the ``__init__`` of the tokenizer ``tokenizer`` (a name or ``"auto"``) picks for ``space``.

    A ``Dict`` tokenizer's own options, not its keys'.
    """
    return signature_options(TOKENIZERS.get(auto_tokenizer_name(space) if tokenizer == "auto" else tokenizer))


def merged_tokenizer_options(kwargs: Mapping[str, object] | None, shorthands: Mapping[str, object]) -> dict:
    """``tokenizer_kwargs`` and the keyword shorthands as one dict; ``TypeError``/``ValueError`` when malformed."""
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise TypeError(f"tokenizer_kwargs={kwargs!r} must be a dict of tokenizer options, e.g. {{'patch_size': 8}}.")
    twice = sorted(set(kwargs or {}) & set(shorthands))
    if twice:
        raise ValueError(f"{', '.join(twice)} is given both in tokenizer_kwargs and as a keyword: give it once.")
    return {**(kwargs or {}), **shorthands}


def normalized_focus(focus: torch.Tensor, mask: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` focus with padding at exactly 0, rows summing to 1, and a uniform row for an empty set."""
    focus = torch.where(empty, torch.ones_like(focus), focus * mask)
    return focus / focus.sum(dim=1, keepdim=True).clamp_min(1e-12)


def checked_part_names(names: Sequence[str], tokenizer_names: Sequence[str]) -> list[str]:
    """``names`` as a list, when there is one per part of the tokenizer; else ``ValueError``."""
    if len(names) != len(tokenizer_names):
        raise ValueError(
            f"part_names has {len(names)} names for the tokenizer's {len(tokenizer_names)} parts "
            f"({tokenizer_names[0]}...{tokenizer_names[-1]}): give one name per part, or leave part_names unset."
        )
    return check_names("part_names", names)


class EntityAttentionExtractor(AttentionExtractor):
    """``AttentionExtractor`` with ``tokenizer="entity"`` (registry name ``entity``)."""

    def __init__(self, observation_space: gym.Space, **kwargs: object) -> None:
        super().__init__(observation_space, **{"tokenizer": "entity", **kwargs})


class PatchAttentionExtractor(AttentionExtractor):
    """``AttentionExtractor`` with ``tokenizer="patch"`` (registry name ``patch``)."""

    def __init__(self, observation_space: gym.Space, **kwargs: object) -> None:
        super().__init__(observation_space, **{"tokenizer": "patch", **kwargs})


class ConvAttentionExtractor(AttentionExtractor):
    """``AttentionExtractor`` with ``tokenizer="conv"`` (registry name ``conv``): attention over conv-stem cells."""

    def __init__(self, observation_space: gym.Space, **kwargs: object) -> None:
        super().__init__(observation_space, **{"tokenizer": "conv", **kwargs})


class FeatureAttentionExtractor(AttentionExtractor):
    """``AttentionExtractor`` with ``tokenizer="features"`` (registry name ``features``)."""

    def __init__(self, observation_space: gym.Space, **kwargs: object) -> None:
        super().__init__(observation_space, **{"tokenizer": "features", **kwargs})


class TimeAttentionExtractor(AttentionExtractor):
    """``AttentionExtractor`` with ``tokenizer="time"`` (registry name ``time``)."""

    def __init__(self, observation_space: gym.Space, **kwargs: object) -> None:
        super().__init__(observation_space, **{"tokenizer": "time", **kwargs})
