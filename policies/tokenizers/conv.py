"""Images as the cells of a small convolutional stem's output map (relational RL, Zambaldi et al. 2019).

A patch token must pick its content out of raw pixels with one linear map; a convolutional stem builds local
detectors (edges, colours, shapes) that a plus straddling a patch border does not break. Each cell of the
stem's last feature map, with its 2-D position, becomes one part, and attention relates the cells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from policies.registry import Registry
from policies.tokenizers.base import all_real
from policies.tokenizers.patches import MAX_PATCHES, GridImageTokenizer


@dataclass(frozen=True)
class Stem:
    """A stack of ``Conv2d + ReLU`` layers: one entry per layer in each tuple."""

    channels: tuple[int, ...]
    kernels: tuple[int, ...]
    strides: tuple[int, ...]
    padding: tuple[int, ...]

    def out_size(self, size: int) -> int:
        """Side of the output map for an input side of ``size`` (below 1: too small)."""
        for kernel, stride, pad in zip(self.kernels, self.strides, self.padding, strict=True):
            if size + 2 * pad < kernel:
                return 0
            size = (size + 2 * pad - kernel) // stride + 1
        return size

    def min_size(self) -> int:
        """The smallest input side that gives an output map of at least one cell."""
        size = 1
        for kernel, stride, pad in reversed(list(zip(self.kernels, self.strides, self.padding, strict=True))):
            size = max(1, (size - 1) * stride + kernel - 2 * pad)
        return size

    def receptive_field(self) -> tuple[float, float, float]:
        """``(jump, field, first_centre)`` in input pixels (pixel ``i`` covers ``[i, i + 1)``).

        ``jump``: pixels between neighbouring cells (the product of the strides); ``field``: side of a cell's
        receptive field; ``first_centre``: centre of cell 0's receptive field. Cell ``k`` is centred at
        ``first_centre + k * jump``.
        """
        jump, field, centre = 1.0, 1.0, 0.5
        for kernel, stride, pad in zip(self.kernels, self.strides, self.padding, strict=True):
            centre += ((kernel - 1) / 2 - pad) * jump
            field += (kernel - 1) * jump
            jump *= stride
        return jump, field, centre

    def describe(self) -> str:
        """``channels (32, 64, 64), kernels (8, 4, 3), strides (4, 2, 1), padding (0, 0, 0)``."""
        return f"channels {self.channels}, kernels {self.kernels}, strides {self.strides}, padding {self.padding}"


#: Named stems (the ``stem`` option). ``nature``: NatureCNN's convolutions (Mnih et al. 2015), for images of 36
#: pixels or more (84 x 84: a 7 x 7 cell grid). ``small``: for small images, a ``4 x 4`` stride-2 convolution
#: (padding 1) and two ``2 x 2`` stride-2 ones: a total stride of 8 and cells centred on the 8-pixel patches (a
#: 48 x 48 image gives the 6 x 6 grid of 8-pixel patches; cell ``(r, c)``'s centre region is patch ``(r, c)``),
#: each cell seeing its patch and one pixel around it (a receptive field of 10 pixels), so a cell's focus stays on
#: its own patch. ``medium``: the same cells, each seeing its patch and 3 pixels around it (14 pixels: the second
#: convolution ``4 x 4`` with padding 1), so a 5-pixel sprite whose centre lies in a patch is whole in that patch's
#: cell. ``wide``: three ``4 x 4`` stride-2 convolutions with padding 1: the same cells, each seeing 22 pixels (its
#: neighbours' patches too). ``fast``: NatureCNN's first layer (``8 x 8``, stride 4, 32 channels; padding 2) and a
#: ``2 x 2`` stride-2 convolution: the same cells, each seeing its patch and 2 pixels around it (12 pixels, so a
#: 5-pixel sprite whose centre lies in a patch is whole in that patch's cell), at NatureCNN's price: the first layer
#: strides to a map of a quarter of the picture's side at once, where ``small``, ``medium`` and ``wide`` run their
#: first layer at half the side.
STEMS: Registry[Stem] = Registry("stem")
STEMS.register("nature", Stem((32, 64, 64), (8, 4, 3), (4, 2, 1), (0, 0, 0)))
STEMS.register("small", Stem((16, 32, 64), (4, 2, 2), (2, 2, 2), (1, 0, 0)))
STEMS.register("medium", Stem((16, 32, 64), (4, 4, 2), (2, 2, 2), (1, 1, 0)))
STEMS.register("wide", Stem((16, 32, 64), (4, 4, 4), (2, 2, 2), (1, 1, 1)))
STEMS.register("fast", Stem((32, 64), (8, 2), (4, 2), (2, 0)))


def _int_tuple(name: str, value: object, layers: int | None, low: int) -> tuple[int, ...]:
    values = (value,) * (layers or 1) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"stem {name}={value!r} is invalid: give a list of integers, one per layer.")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < low for v in values):
        raise ValueError(f"stem {name}={value!r} is invalid: every entry must be an integer >= {low}.")
    if layers is not None and len(values) != layers:
        raise ValueError(f"stem {name}={value!r} has {len(values)} entries for {layers} layers: give one per layer.")
    return tuple(values)


def make_stem(stem: str | Mapping[str, object] | Stem) -> Stem:
    """A ``Stem`` from a name in ``STEMS`` or a mapping ``{channels, kernels, strides, padding}``.

    In a mapping, ``channels`` sets the number of layers; ``kernels``, ``strides`` and ``padding`` are lists of
    one integer per layer, or one integer for every layer (defaults: 3, 1 and 0).
    """
    if isinstance(stem, Stem):
        return stem
    if isinstance(stem, str):
        return STEMS.get(stem)
    if not isinstance(stem, Mapping):
        raise TypeError(f"stem={stem!r} is invalid: give a name ({', '.join(STEMS.names())}) or a mapping.")
    unknown = sorted(set(stem) - {"channels", "kernels", "strides", "padding"})
    if unknown:
        raise ValueError(f"stem keys {unknown} are unknown: use channels, kernels, strides and padding.")
    channels = _int_tuple("channels", stem.get("channels", (32, 64, 64)), None, 1)
    layers = len(channels)
    return Stem(
        channels,
        _int_tuple("kernels", stem.get("kernels", 3), layers, 1),
        _int_tuple("strides", stem.get("strides", 1), layers, 1),
        _int_tuple("padding", stem.get("padding", 0), layers, 0),
    )


def cell_geometry(stem: Stem, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cell_boxes, receptive_fields)``, each ``(rows * cols, 4)`` pixel boxes ``(x0, y0, x1, y1)``, row-major.

    A cell's box is the ``jump x jump`` square around its receptive field's centre (the cells' boxes tile the
    picture's middle without overlap); its receptive field is every pixel it can see, clipped to the picture.
    """
    jump, field, first = stem.receptive_field()
    rows, cols = stem.out_size(height), stem.out_size(width)
    cy = first + jump * np.arange(rows, dtype=np.float64)  # (rows,)
    cx = first + jump * np.arange(cols, dtype=np.float64)  # (cols,)
    y, x = np.meshgrid(cy, cx, indexing="ij")  # (rows, cols)
    y, x = y.reshape(-1), x.reshape(-1)

    def boxes(side: float) -> np.ndarray:
        half = side / 2
        out = np.stack([x - half, y - half, x + half, y + half], axis=1)  # (N, 4)
        return np.clip(out, 0.0, [width, height, width, height])

    return boxes(jump), boxes(field)


class ConvTokenizer(GridImageTokenizer):
    """Images as the cells of a convolutional stem's last feature map, each cell one part (relational RL).

    ``image -> stem (Conv2d + ReLU per layer) -> (B, C, rows, cols) -> each cell's C features -> Linear -> D``,
    plus a learned row embedding and a learned column embedding (2-D position, initialised as 2-D sine-cosine
    codes as the patch tokenizer's). Parts are named ``cell_r{row}c{col}``; ``grid`` is ``(rows, cols)``, so
    ``AttentionReport.focus_map()`` gives the focus on the cell grid. uint8 images arrive scaled to [0, 1] by
    SB3's preprocessing; float images are read as they are; channel-first and channel-last layouts both work.

    A cell sees a receptive field (10 x 10 pixels for ``small``, 12 for ``fast``, 22 for ``wide``, 36 for
    ``nature``), not a patch: the fields of neighbouring cells overlap. ``cell_boxes`` gives each cell's *centre
    region*, the ``jump x jump`` square (``jump`` = the product of the strides) around the centre of its receptive
    field: these tile the middle of the picture without overlap (a border of about ``(field - jump) / 2`` pixels
    that no cell is centred on stays outside them). ``receptive_fields`` gives every pixel each cell can see.
    Overlays tint the centre regions by focus and outline the most focused cell's whole receptive field
    (``agents.pictures.drawing``).

    Args:
        observation_space: a 3-D ``Box``, uint8 or float.
        embed_dim: token width ``D``.
        stem: a name from ``STEMS`` (``"nature"``, the default, or ``"fast"`` or ``"small"`` for images under 36
            pixels or a cell per 8 pixels) or a mapping
            ``{"channels": [...], "kernels": [...], "strides": [...], "padding": [...]}``.

    Raises:
        ValueError: the image is smaller than the stem needs (the message names both sizes and the fix), or the
            stem gives more than ``MAX_PATCHES`` cells.
    """

    def __init__(self, observation_space: spaces.Box, embed_dim: int, stem: str | Mapping | Stem = "nature") -> None:
        super().__init__()
        channels, height, width = self._image_layout(observation_space)
        self.stem_spec = make_stem(stem)
        rows, cols = self.stem_spec.out_size(height), self.stem_spec.out_size(width)
        name = f"'{stem}'" if isinstance(stem, str) else "given"
        if rows < 1 or cols < 1:
            need = self.stem_spec.min_size()
            raise ValueError(
                f"The {height}x{width} image is too small for the {name} conv stem ({self.stem_spec.describe()}): "
                f"it needs at least {need}x{need} pixels. Use stem='small' (at least "
                f"{STEMS.get('small').min_size()} pixels, a cell per 8 pixels), a stem with smaller kernels or "
                "strides, or a larger image."
            )
        if rows * cols > MAX_PATCHES:
            raise ValueError(
                f"The {name} conv stem turns the {height}x{width} image into {rows}x{cols} = {rows * cols} cells (more "
                f"than {MAX_PATCHES}): use larger strides, or stem='nature'."
            )
        layers: list[nn.Module] = []
        in_channels = channels
        spec = self.stem_spec
        for out, kernel, stride, pad in zip(spec.channels, spec.kernels, spec.strides, spec.padding, strict=True):
            layers += [nn.Conv2d(in_channels, out, kernel, stride, pad), nn.ReLU()]
            in_channels = out
        self.stem = nn.Sequential(*layers)
        self.project = nn.Linear(in_channels, embed_dim)
        self._init_grid(rows, cols, "cell", embed_dim)
        self.cell_boxes, self.receptive_fields = cell_geometry(spec, height, width)

    def part_of(self, index: tuple[int, ...]) -> str:
        """The cell whose centre region holds pixel ``index`` (``(c, y, x)`` or ``(y, x, c)``), else the nearest."""
        y, x = self._pixel(index)
        centres = (self.cell_boxes[:, :2] + self.cell_boxes[:, 2:]) / 2  # (N, 2): x, y
        nearest = int(np.argmin(np.abs(centres[:, 0] - x - 0.5) + np.abs(centres[:, 1] - y - 0.5)))
        return self.part_names[nearest]

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, C, H, W)`` or ``(B, H, W, C)`` -> tokens ``(B, rows * cols, D)``, mask (all real)."""
        cells = self.stem(self._images(observations))  # (B, C', rows, cols)
        cells = cells.flatten(2).transpose(1, 2)  # (B, N, C')
        tokens = self.project(cells) + self._positions()  # (B, N, D)
        return tokens, all_real(tokens)
