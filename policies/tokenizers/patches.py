"""Images ``Box(H, W, C)`` or ``Box(C, H, W)``: non-overlapping patches (ViT style) with 2-D positions."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
from gymnasium import spaces
from torch import nn

from policies.registry import Registry
from policies.tokenizers.base import Tokenizer, all_real

#: The default patch size aims at about this many patches per side.
TARGET_GRID = 8
#: More patches than this needs an explicit ``patch_size``.
MAX_PATCHES = 1024


def sincos_positions(length: int, dim: int) -> torch.Tensor:
    """``(length, dim)`` sine-cosine codes of positions ``0 .. length-1`` (Vaswani et al. 2017).

    The first ``ceil(dim / 2)`` columns are sines, the rest cosines, at frequencies ``10000 ** (-k / n)``.
    """
    n_sin = (dim + 1) // 2
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (length, 1)
    frequency = 10000.0 ** (-torch.arange(n_sin, dtype=torch.float32) / max(n_sin, 1))  # (n_sin,)
    angles = position * frequency  # (length, n_sin)
    return torch.cat([angles.sin(), angles.cos()[:, : dim - n_sin]], dim=1)  # (length, dim)


def grid_position_codes(rows: int, cols: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """2-D sine-cosine codes (MAE style) of a ``rows x cols`` grid: ``(rows, 1, dim)`` and ``(1, cols, dim)``.

    The row's code fills the first half of a token, the column's the second; their sum codes a grid position.
    """
    half = dim // 2
    row_code = torch.zeros(rows, 1, dim)
    row_code[:, 0, :half] = sincos_positions(rows, half)
    col_code = torch.zeros(1, cols, dim)
    col_code[0, :, half:] = sincos_positions(cols, dim - half)
    return row_code, col_code


def linear_embedding(patch_features: int, embed_dim: int) -> nn.Module:
    """ViT's patch embedding: one linear map of the patch's raw pixels."""
    return nn.Linear(patch_features, embed_dim)


def mlp_embedding(patch_features: int, embed_dim: int) -> nn.Module:
    """A two-layer MLP per patch (linear, ReLU, linear).

    One linear map of raw pixels cannot tell two shapes of the same colour and pixel count apart (a plus
    from a diagonal cross) wherever they sit in the patch: summed over positions they cover the same
    pixels. The hidden layer's ReLU units act as position-specific shape detectors. It costs one extra
    ``D x D`` product per patch over ``linear``.
    """
    return nn.Sequential(nn.Linear(patch_features, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim))


#: Patch embeddings by name (the ``patch_embed`` option): ``(patch features C*p*p, D) -> module``.
PATCH_EMBEDS: Registry[Callable[[int, int], nn.Module]] = Registry("patch_embed")
PATCH_EMBEDS.register("linear", linear_embedding)
PATCH_EMBEDS.register("mlp", mlp_embedding)


def channels_first(shape: tuple[int, ...]) -> bool:
    """SB3's rule: an image is channel-first when its smallest dimension comes first."""
    return min(range(3), key=lambda i: shape[i]) == 0


def divisors(n: int) -> list[int]:
    """All divisors of ``n``, ascending."""
    return [d for d in range(1, n + 1) if n % d == 0]


def default_patch_size(height: int, width: int) -> int:
    """The common divisor of ``height`` and ``width`` that gives a grid closest to 8 x 8 patches."""
    target = max(height, width) / TARGET_GRID
    return min(divisors(math.gcd(height, width)), key=lambda p: (abs(p - target), -p))


class GridImageTokenizer(Tokenizer):
    """Base of the image tokenizers whose parts lie on a grid (patches, conv cells).

    It reads the image layout (SB3's smallest-dimension rule), names the parts ``{prefix}_r{row}c{col}``, holds
    the learned row and column embeddings (started as 2-D sine-cosine codes) and brings a batch to
    ``(B, C, H, W)`` float.
    """

    def _image_layout(self, observation_space: spaces.Space) -> tuple[int, int, int]:
        """``(channels, height, width)`` of a 3-D image ``Box``; sets ``channels_first``; ``TypeError`` otherwise."""
        if not self.supports(observation_space):
            raise TypeError(
                f"{type(self).__name__} needs a 3-D image Box(H, W, C) or Box(C, H, W), got {observation_space}."
            )
        shape = observation_space.shape
        self.channels_first = channels_first(shape)
        return shape if self.channels_first else (shape[2], shape[0], shape[1])

    def _init_grid(self, rows: int, cols: int, prefix: str, embed_dim: int) -> None:
        """Set ``grid``, ``part_names`` and the ``(rows, 1, D)`` / ``(1, cols, D)`` position parameters."""
        self.grid = (rows, cols)
        self.part_names = [f"{prefix}_r{r}c{c}" for r in range(rows) for c in range(cols)]
        row_code, col_code = grid_position_codes(rows, cols, embed_dim)
        self.row_position = nn.Parameter(row_code)  # (rows, 1, D)
        self.col_position = nn.Parameter(col_code)  # (1, cols, D)

    @classmethod
    def supports(cls, space: spaces.Space) -> bool:
        """A 3-D ``Box``."""
        return isinstance(space, spaces.Box) and len(space.shape) == 3

    def _pixel(self, index: tuple[int, ...]) -> tuple[int, int]:
        """``(y, x)`` of element ``index`` of one observation (``(c, y, x)`` or ``(y, x, c)``)."""
        return (index[1], index[2]) if self.channels_first else (index[0], index[1])

    def _images(self, observations: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` or ``(B, H, W, C)`` -> ``(B, C, H, W)`` float."""
        images = observations.float()
        return images if self.channels_first else images.permute(0, 3, 1, 2)

    def _positions(self) -> torch.Tensor:
        """``(1, rows * cols, D)``: each part's 2-D position embedding, in part order."""
        rows, cols = self.grid
        return (self.row_position + self.col_position).reshape(1, rows * cols, -1)


class PatchTokenizer(GridImageTokenizer):
    """Images as non-overlapping ``patch_size x patch_size`` patches, each one token.

    Each patch (all channels) is flattened and embedded, linearly (``patch_embed="linear"``, ViT) or by a
    two-layer MLP (``patch_embed="mlp"``), then a learned row embedding and a learned column embedding (2-D
    position) are added. They start as 2-D sine-cosine codes (MAE style: the row's in the first half of the
    token, the column's in the second), so from the first update a token says where its patch is, at the
    scale of its content: a policy that attends to one patch can read off its position before the
    position embeddings have learned anything. Parts are named ``patch_r{row}c{col}``; ``grid`` gives the
    ``(rows, cols)`` shape, so a focus vector reshapes to a map over the image. uint8 images are scaled to
    [0, 1] by SB3's preprocessing before they get here; channel-first and channel-last layouts both work
    (SB3's smallest-dimension rule tells them apart).

    Args:
        observation_space: a 3-D ``Box``, uint8 or float.
        embed_dim: token width ``D``.
        patch_size: side of a square patch; must divide height and width. Default: the divisor giving a
            grid closest to 8 x 8.
        patch_embed: ``"linear"`` (default) or ``"mlp"`` (see ``PATCH_EMBEDS``), for targets that only their
            shape tells apart.
    """

    auto: ClassVar[bool] = True
    dict_key: ClassVar[bool] = True

    def __init__(
        self,
        observation_space: spaces.Box,
        embed_dim: int,
        patch_size: int | None = None,
        patch_embed: str = "linear",
    ) -> None:
        super().__init__()
        channels, height, width = self._image_layout(observation_space)
        if patch_size is None:
            patch_size = default_patch_size(height, width)
        common = divisors(math.gcd(height, width))
        if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size not in common:
            raise ValueError(
                f"patch_size={patch_size!r} does not tile the {height}x{width} image: it must divide both height "
                f"and width. Valid sizes: {common}."
            )
        rows, cols = height // patch_size, width // patch_size
        if rows * cols > MAX_PATCHES:
            raise ValueError(
                f"patch_size={patch_size} cuts the {height}x{width} image into {rows * cols} patches (more than "
                f"{MAX_PATCHES}): choose a larger patch_size from {[p for p in common if p > patch_size]}."
            )
        self.patch_size = patch_size
        self._init_grid(rows, cols, "patch", embed_dim)
        self.embed = PATCH_EMBEDS.get(patch_embed)(channels * patch_size * patch_size, embed_dim)

    def part_of(self, index: tuple[int, ...]) -> str:
        """The patch holding pixel ``index`` (``(c, y, x)`` or ``(y, x, c)``)."""
        y, x = self._pixel(index)
        return f"patch_r{y // self.patch_size}c{x // self.patch_size}"

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, C, H, W)`` or ``(B, H, W, C)`` -> tokens ``(B, rows * cols, D)``, mask (all real)."""
        images = self._images(observations)  # (B, C, H, W)
        batch, channels = images.shape[:2]
        rows, cols = self.grid
        p = self.patch_size
        patches = images.reshape(batch, channels, rows, p, cols, p).permute(0, 2, 4, 1, 3, 5)  # (B, r, c, C, p, p)
        patches = patches.reshape(batch, rows * cols, channels * p * p)  # (B, N, C*p*p)
        tokens = self.embed(patches) + self._positions()  # (B, N, D)
        return tokens, all_real(tokens)
