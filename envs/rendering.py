"""Tiny NumPy drawing helpers shared by the envs' ``render_mode="rgb_array"`` (no pygame needed)."""

from __future__ import annotations

import numpy as np

Color = tuple[int, int, int]

BACKGROUND: Color = (245, 245, 240)
AGENT: Color = (40, 90, 220)
TARGET: Color = (30, 170, 70)
DISTRACTOR: Color = (210, 60, 50)


def check_render_mode(render_mode: str | None, supported: list[str]) -> None:
    """Raise ``ValueError`` unless ``render_mode`` is None or one of ``supported`` (the env's metadata)."""
    if render_mode is not None and render_mode not in supported:
        raise ValueError(f"render_mode={render_mode!r} is not supported: use one of {supported} or None.")


def blank_canvas(size: int, color: Color = BACKGROUND) -> np.ndarray:
    """Return an ``(size, size, 3)`` uint8 canvas filled with ``color``."""
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[:] = color
    return canvas


def draw_disc(canvas: np.ndarray, center: np.ndarray, radius: float, color: Color) -> None:
    """Draw a filled disc in place.

    Args:
        canvas: ``(S, S, 3)`` uint8 image; arena coordinates ``[0, 1]^2`` map onto it with y pointing up.
        center: ``(2,)`` position in arena coordinates.
        radius: radius in arena units.
        color: RGB colour.
    """
    size = canvas.shape[0]
    rows, cols = np.ogrid[:size, :size]
    cx = center[0] * (size - 1)
    cy = (1.0 - center[1]) * (size - 1)
    mask = (cols - cx) ** 2 + (rows - cy) ** 2 <= (radius * size) ** 2
    canvas[mask] = color


def draw_ring(canvas: np.ndarray, center: np.ndarray, radius: float, width: float, color: Color) -> None:
    """Draw a circle outline (used to mark attended entities)."""
    size = canvas.shape[0]
    rows, cols = np.ogrid[:size, :size]
    cx = center[0] * (size - 1)
    cy = (1.0 - center[1]) * (size - 1)
    dist = np.sqrt((cols - cx) ** 2 + (rows - cy) ** 2)
    mask = np.abs(dist - radius * size) <= width * size / 2
    canvas[mask] = color
