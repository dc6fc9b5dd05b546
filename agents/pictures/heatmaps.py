"""Heatmaps of focus and attention weights (rows x parts), drawn with NumPy and Pillow.

A matplotlib figure with tick labels takes about half a second to render; these take milliseconds, so the
training callback can log a heatmap per focus method without slowing training (see ``benchmarks/
callback_overhead.py``). Colours are matplotlib's viridis table, on one scale for every panel of a picture (so
methods side by side compare at a glance): from 0 to the largest value of all panels, but never below twice
uniform (so a uniform row stays dim). A colour bar under the panels gives the scale; the parts the env calls
relevant are outlined in black and white dashes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from agents.pictures.drawing import (
    LINE_HEIGHT,
    PANEL_BACKGROUND,
    RELEVANT_LEGEND,
    TEXT_COLOR,
    dashed_rectangle,
    short_names,
)

#: Height of a row of cells, and the bounds of a cell's width, in pixels.
ROW_HEIGHT = 18
CELL_WIDTH = (10, 36)
#: Width of the row-label column and height of the part-label strip, in pixels.
LABEL_WIDTH = 52
NAME_HEIGHT = 64


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def _vertical_text(text: str) -> Image.Image:
    """``text`` written bottom to top (a part name under its column)."""
    width = int(_font().getlength(text)) + 2
    strip = Image.new("RGB", (width, LINE_HEIGHT), PANEL_BACKGROUND)
    ImageDraw.Draw(strip).text((1, 1), text, fill=TEXT_COLOR, font=_font())
    return strip.rotate(90, expand=True)


def _panel(
    weights: np.ndarray,
    title: str,
    names: Sequence[str],
    row_labels: Sequence[str] | None,
    relevant: Sequence,
    vmax: float,
) -> np.ndarray:
    rows, n_parts = weights.shape
    cell = int(np.clip(560 // max(n_parts, 1), *CELL_WIDTH))
    left = LABEL_WIDTH if row_labels is not None else 4
    top = LINE_HEIGHT + 4
    width, height = left + cell * n_parts + 4, top + ROW_HEIGHT * rows + NAME_HEIGHT
    colours = (colormaps["viridis"](np.clip(weights / vmax, 0.0, 1.0))[..., :3] * 255).astype(np.uint8)  # (R, N, 3)
    canvas = np.full((height, width, 3), PANEL_BACKGROUND, dtype=np.uint8)
    cells = np.repeat(np.repeat(colours, ROW_HEIGHT, axis=0), cell, axis=1)  # (R * rh, N * cw, 3)
    canvas[top : top + ROW_HEIGHT * rows, left : left + cell * n_parts] = cells
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for row, parts in enumerate(relevant or []):
        for part in [] if parts is None else np.asarray(parts).reshape(-1):
            y, x = top + row * ROW_HEIGHT, left + int(part) * cell
            dashed_rectangle(draw, (x, y, x + cell - 1, y + ROW_HEIGHT - 1), width=2)
    draw.text((left, 1), title, fill=TEXT_COLOR, font=_font())
    for row, label in enumerate(row_labels or []):
        draw.text((2, top + row * ROW_HEIGHT + 3), label[:8], fill=TEXT_COLOR, font=_font())
    step = max(1, n_parts // 40)  # at most ~40 part labels
    for index in range(0, n_parts, step):
        label = _vertical_text(names[index][:10])
        image.paste(label, (left + index * cell + max(0, (cell - label.width) // 2), top + ROW_HEIGHT * rows + 2))
    return np.asarray(image)


def heatmap_panels(
    panels: Sequence[tuple[np.ndarray, str]],
    part_names: Sequence[str],
    row_labels: Sequence[str],
    relevant: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """Heatmaps side by side on one colour scale, as an ``(H, W, 3)`` uint8 array, the colour bar under them.

    Each panel is ``(R, N)`` rows x parts under its own title.

    Args:
        panels: ``(weights (R, N), title)`` per panel; every panel has the same rows and parts.
        part_names: ``N`` names for the columns (without their shared prefix when there are many).
        row_labels: ``R`` names for the rows (on the first panel).
        relevant: per row, the indices of the parts the env calls relevant (outlined in black and white dashes),
            or None.
    """
    n_parts = panels[0][0].shape[1]
    names = list(part_names) if n_parts <= 8 else short_names(part_names)
    largest = max((float(weights.max()) for weights, _ in panels if weights.size), default=0.0)
    vmax = max(largest, 2.0 / max(n_parts, 1))
    images = [
        _panel(weights, title, names, row_labels if index == 0 else None, relevant or [], vmax)
        for index, (weights, title) in enumerate(panels)
    ]
    height = max(image.shape[0] for image in images)
    gap = np.full((height, 8, 3), PANEL_BACKGROUND, dtype=np.uint8)
    tiles = []
    for image in images:
        tiles += [image, gap]
    body = np.concatenate(tiles[:-1], axis=1)
    return np.concatenate([body, _colour_bar(vmax, body.shape[1], relevant is not None)], axis=0)


def _colour_bar(vmax: float, width: int, with_relevant: bool) -> np.ndarray:
    """A ``(2 * LINE_HEIGHT + 4, width, 3)`` strip: the viridis bar from 0 to ``vmax``, and the legend."""
    bar_width = min(160, max(40, width - 120))
    strip = Image.new("RGB", (width, 2 * LINE_HEIGHT + 4), PANEL_BACKGROUND)
    ramp = (colormaps["viridis"](np.linspace(0.0, 1.0, bar_width))[:, :3] * 255).astype(np.uint8)  # (bar_width, 3)
    strip.paste(Image.fromarray(np.repeat(ramp[None], LINE_HEIGHT - 4, axis=0)), (24, 3))
    draw = ImageDraw.Draw(strip)
    draw.text((4, 2), "0", fill=TEXT_COLOR, font=_font())
    draw.text((28 + bar_width, 2), f"{vmax:.2f} (one scale for every panel)", fill=TEXT_COLOR, font=_font())
    if with_relevant:
        draw.text((4, LINE_HEIGHT + 3), RELEVANT_LEGEND, fill=TEXT_COLOR, font=_font())
    return np.asarray(strip)


def heatmap_image(
    weights: np.ndarray,
    part_names: Sequence[str],
    row_labels: Sequence[str],
    title: str,
    relevant: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """One heatmap of ``(R, N)`` weights (see ``heatmap_panels``)."""
    return heatmap_panels([(weights, title)], part_names, row_labels, relevant)
