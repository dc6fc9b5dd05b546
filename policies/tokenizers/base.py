"""The tokenizer contract: one observation -> a set of named parts (tokens) and a padding mask."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import nn


class Tokenizer(nn.Module):
    """Base class of every tokenizer.

    A tokenizer maps a batch of (SB3-preprocessed) observations to ``tokens (B, N, D)`` and ``mask (B, N)``
    (True where a part is real, False for padding) and names its ``N`` parts in ``part_names``.

    Subclasses take ``(observation_space, embed_dim, **their options)`` in ``__init__`` (the options are its keyword
    parameters: ``option_names``), set ``part_names`` there, and implement ``supports`` and ``forward``; image-like
    tokenizers also set ``grid``. Register one with ``policies.tokenizers.register_tokenizer``.
    """

    #: ``tokenizer="auto"`` may pick this tokenizer for a space it ``supports`` (tried in registration order).
    auto: ClassVar[bool] = False
    #: A ``Dict`` key may get this tokenizer for a space it ``supports`` (tried in registration order).
    dict_key: ClassVar[bool] = False
    #: Its parts are the env's own parts one to one (the rows of ``Box(N, F)``, the features of ``Box(F,)``), so a
    #: run names them with the env's ``part_names``.
    env_parts: ClassVar[bool] = False
    part_names: list[str]
    #: ``(rows, cols)`` of the patch grid for image tokenizers, else None.
    grid: tuple[int, int] | None = None
    #: Image tokenizers whose parts do not tile the picture (``conv``): ``(N, 4)`` pixel boxes ``(x0, y0, x1, y1)``
    #: of each part's centre region and of its receptive field; None: the parts tile the picture as ``grid`` says.
    cell_boxes: np.ndarray | None = None
    receptive_fields: np.ndarray | None = None

    @classmethod
    def option_names(cls) -> list[str]:
        """The options this tokenizer takes: the keyword parameters of its ``__init__`` after ``embed_dim``."""
        return signature_options(cls)

    @classmethod
    def supports(cls, space: spaces.Space) -> bool:
        """Whether this tokenizer can read observations of ``space``."""
        raise NotImplementedError

    @property
    def num_parts(self) -> int:
        """Number of parts (tokens) per observation."""
        return len(self.part_names)

    def part_of(self, index: tuple[int, ...]) -> str:
        """Name of the part that holds element ``index`` of one observation (used in error messages)."""
        return self.part_names[index[0]]

    def check_finite(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> None:
        """Raise ``ValueError`` naming the part when an observation holds NaN, inf or a value beyond ``MAX_ABS``."""
        largest = observations.abs().amax() if observations.numel() else None  # one reduction; NaN propagates
        if largest is None or bool(largest <= MAX_ABS):
            return
        bad = tuple(out_of_range(observations).nonzero()[0].tolist())  # (batch, *element)
        raise_non_finite(bad[0], self.part_of(bad[1:]), bad[1:], observations[bad].item())

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``tokens (B, N, D)`` and ``mask (B, N)`` for a batch of observations."""
        raise NotImplementedError


def signature_options(cls: type) -> list[str]:
    """The named keyword parameters of ``cls.__init__`` after ``(self, observation_space, embed_dim)``."""
    params = list(inspect.signature(cls.__init__).parameters.values())[3:]
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


#: Observation values beyond this magnitude overflow attention's float32 arithmetic (a LayerNorm squares them).
MAX_ABS = 1e15


def out_of_range(observations: torch.Tensor) -> torch.Tensor:
    """``(B, ...)`` bool: NaN, inf, or beyond ``MAX_ABS``."""
    return ~torch.isfinite(observations) | (observations.abs() > MAX_ABS)


def raise_non_finite(row: int, part: str, index: tuple, value: float) -> None:
    """Raise the ``ValueError`` for a NaN, inf or huge value found in an observation."""
    raise ValueError(
        f"Observation {row} of the batch holds {value} in part '{part}' (element {index}). Attention cannot "
        f"mask NaN or inf, and values beyond ±{MAX_ABS:g} overflow its float32 arithmetic: fix the env, or wrap it "
        "so that it never emits them (e.g. clip, rescale or replace them before they reach the policy)."
    )


def check_names(what: str, names: Sequence[object]) -> list[str]:
    """``names`` as strings; ``ValueError`` for an empty or repeated one (focus tags and tables are keyed by name)."""
    texts = [str(name) for name in names]
    repeated = sorted({name for name in texts if texts.count(name) > 1})
    if repeated or "" in texts:
        problem = f"names {', '.join(map(repr, repeated))} more than once" if repeated else "holds an empty name"
        raise ValueError(
            f"{what} {problem}: the focus of each part is logged and tabled under its name, so parts without a "
            "name of their own would be merged or lost. Give each part its own non-empty name."
        )
    return texts


def all_real(tokens: torch.Tensor) -> torch.Tensor:
    """A ``(B, N)`` mask of True for tokenizers without padding."""
    return torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
