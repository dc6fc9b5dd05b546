"""Focus drawn on any env's picture: rings on vehicles, tinted grid cells, bars per named feature; with titles.

Each function takes one observation's ``focus (N,)`` over the parts, its ``mask (N,)``, the part names and
(optionally) the env's relevant parts, and returns an ``(H, W, 3)`` uint8 RGB array. Adapters say where their
parts are in the rendered frame (``part_boxes()``: pixel boxes, NaN where a part is not in the picture) and
how to mark them (``part_marker``: ``"ring"`` or ``"cell"``); flat-feature envs get a bar per feature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from agents.pictures.drawing import (
    FOCUS_COLOR,
    PANEL_BACKGROUND,
    RELEVANT_LEGEND,
    TEXT_COLOR,
    dashed_rectangle,
    dashed_ring,
    tile_horizontally,
    upscale,
)

#: Height of the title strip ``titled`` puts above a picture, in pixels.
TITLE_HEIGHT = 30
#: The legend written under every title.
LEGEND = f"orange: focus (the more, the stronger)   {RELEVANT_LEGEND}"


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def _strength(focus: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(N,)`` in [0, 1]: focus over the larger of its maximum and twice uniform (a uniform focus stays dim)."""
    real = max(int(mask.sum()), 1)
    return np.clip(focus / max(float(focus.max()), 2.0 / real, 1e-6), 0.0, 1.0)


def _relevant_set(relevant: np.ndarray | None) -> set[int]:
    return set() if relevant is None else {int(i) for i in np.asarray(relevant).reshape(-1)}


def _visible(boxes: np.ndarray, mask: np.ndarray) -> list[int]:
    return [i for i in range(len(boxes)) if mask[i] and np.all(np.isfinite(boxes[i]))]


def ring_overlay(
    frame: np.ndarray, boxes: np.ndarray, focus: np.ndarray, mask: np.ndarray, relevant: np.ndarray | None = None
) -> np.ndarray:
    """Rings around the parts' boxes (vehicles): the more focus, the thicker and more orange.

    Args:
        frame: ``(H, W, 3)`` uint8 render.
        boxes: ``(N, 4)`` pixel boxes ``(x0, y0, x1, y1)`` of the parts in ``frame`` (NaN: not drawn).
        focus: ``(N,)`` focus per part.
        mask: ``(N,)`` True for real parts.
        relevant: indices of the parts the env calls relevant (a ring of black and white dashes inside theirs).
    """
    image = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
    draw = ImageDraw.Draw(image)
    strength = _strength(focus, mask)
    relevant_set = _relevant_set(relevant)
    for i in sorted(_visible(boxes, mask), key=lambda i: strength[i]):  # strongest drawn last, on top
        x0, y0, x1, y1 = boxes[i]
        pad = 0.35 * (x1 - x0)
        color = tuple(int(b + strength[i] * (f - b)) for b, f in zip((200, 200, 200), FOCUS_COLOR, strict=True))
        width = 1 + round(5 * strength[i])
        draw.ellipse((x0 - pad, y0 - pad, x1 + pad, y1 + pad), outline=color, width=width)
        if i in relevant_set:
            dashed_ring(draw, (x0, y0, x1, y1), width=2)
        if strength[i] > 0.6:
            draw.text((x1 + pad + 1, y0 - pad), f"{100 * focus[i]:.0f}%", fill=TEXT_COLOR, font=_font())
    return np.asarray(image)


def cell_overlay(
    frame: np.ndarray, boxes: np.ndarray, focus: np.ndarray, mask: np.ndarray, relevant: np.ndarray | None = None
) -> np.ndarray:
    """The parts' boxes (grid cells) tinted orange by focus; relevant cells outlined in black and white dashes.

    Args:
        frame: ``(H, W, 3)`` uint8 render.
        boxes: ``(N, 4)`` pixel boxes ``(x0, y0, x1, y1)`` of the cells in ``frame`` (NaN: not drawn).
        focus: ``(N,)`` focus per cell.
        mask: ``(N,)`` True for real cells (seen ones).
        relevant: indices of the cells the env calls relevant.
    """
    out = np.asarray(frame[..., :3], dtype=np.float32).copy()
    height, width = out.shape[:2]
    strength = _strength(focus, mask)
    for i in _visible(boxes, mask):
        x0, y0, x1, y1 = (round(float(v)) for v in boxes[i])
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        alpha = 0.7 * strength[i]
        out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - alpha) + np.array(FOCUS_COLOR, dtype=np.float32) * alpha
    image = Image.fromarray(out.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for i in _relevant_set(relevant):
        if i < len(boxes) and np.all(np.isfinite(boxes[i])):
            dashed_rectangle(draw, boxes[i], width=3)
    return np.asarray(image)


def feature_bars(
    focus: np.ndarray,
    part_names: Sequence[str],
    height: int,
    relevant: np.ndarray | None = None,
    width: int = 260,
) -> np.ndarray:
    """One horizontal bar per part, named, on a fixed 0-1 scale, with its focus in percent.

    Args:
        focus: ``(N,)`` focus per part.
        part_names: ``N`` names (``feature:`` prefixes dropped).
        height: the panel's height in pixels (at least 14 per part).
        relevant: indices of the parts the env calls relevant (their rows framed in black and white dashes).
        width: the panel's width in pixels.
    """
    n_parts = len(focus)
    height = max(height, 14 * n_parts + 8)
    image = Image.new("RGB", (width, height), PANEL_BACKGROUND)
    draw = ImageDraw.Draw(image)
    names = [name.removeprefix("feature:")[:18] for name in part_names]
    label = 6 * max(len(name) for name in names) + 6
    bar_room = width - label - 40
    slot = (height - 8) / n_parts
    relevant_set = _relevant_set(relevant)
    for i, (name, mass) in enumerate(zip(names, np.clip(focus, 0.0, 1.0), strict=True)):
        top = 4 + i * slot
        middle = top + slot / 2
        draw.text((label - 4, middle), name, fill=TEXT_COLOR, font=_font(), anchor="rm")
        if i in relevant_set:
            dashed_rectangle(draw, (2, top + 1, width - 3, top + slot - 1), width=1)
        color = FOCUS_COLOR
        bar_height = min(10.0, 0.7 * slot)
        right = label + max(1.0, mass * bar_room)
        draw.rectangle((label, middle - bar_height / 2, right, middle + bar_height / 2), fill=color)
        draw.text((right + 4, middle), f"{100 * mass:.0f}%", fill=TEXT_COLOR, font=_font(), anchor="lm")
    draw.line((label, 2, label, height - 2), fill=(120, 120, 120))
    return np.asarray(image)


def titled(image: np.ndarray, title: str, legend: str = LEGEND) -> np.ndarray:
    """``image`` under a white strip with ``title`` and ``legend`` (two lines), at least as wide as the text."""
    width = max(image.shape[1], 6 * max(len(title), len(legend)) + 8)
    strip = Image.new("RGB", (width, TITLE_HEIGHT), PANEL_BACKGROUND)
    draw = ImageDraw.Draw(strip)
    draw.text((4, 2), title, fill=TEXT_COLOR, font=_font())
    draw.text((4, 16), legend, fill=(90, 90, 90), font=_font())
    body = np.full((image.shape[0], width, 3), PANEL_BACKGROUND, dtype=np.uint8)
    body[:, : image.shape[1]] = image[..., :3]
    return np.concatenate([np.asarray(strip), body], axis=0)


#: Part markers by name (the adapters' ``part_marker``).
MARKERS: dict[str, Callable[..., np.ndarray]] = {"ring": ring_overlay, "cell": cell_overlay}


def parts_scene(
    frame: np.ndarray | None,
    focus: np.ndarray,
    mask: np.ndarray,
    part_names: Sequence[str],
    boxes: np.ndarray | None = None,
    marker: str | None = None,
    relevant: np.ndarray | None = None,
) -> np.ndarray | None:
    """The focus drawn on an env's frame as its parts allow; None when there is nothing to draw on.

    - an adapter that places its parts (``boxes`` and a ``marker``): rings on vehicles, tinted cells;
    - otherwise, when the parts are named features (flat vectors): the frame with a bar per feature beside it;
    - otherwise None (the caller keeps its own picture).
    """
    if frame is not None and boxes is not None and marker in MARKERS and len(boxes) == len(focus):
        scale = max(1, -(-192 // frame.shape[1]))
        return MARKERS[marker](upscale(frame, scale), np.asarray(boxes) * scale, focus, mask, relevant)
    if any(name.startswith("feature:") for name in part_names):
        if frame is None:
            return feature_bars(focus, part_names, 14 * len(focus) + 8, relevant)
        shown = upscale(frame, max(1, -(-192 // frame.shape[1])))
        return tile_horizontally([shown, feature_bars(focus, part_names, shown.shape[0], relevant)])
    return None
