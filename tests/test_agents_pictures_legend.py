"""Pictures a reader cannot misread: the relevant marker is no env's colour, and methods share one colour scale."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from agents.pictures.drawing import RELEVANT_DASH, focus_bar, mark_relevant
from agents.pictures.heatmaps import heatmap_panels
from agents.pictures.part_pictures import LEGEND, cell_overlay, ring_overlay

GREEN = (0, 255, 0)  # MiniGrid's goal; highway-env's ego car is (50, 200, 0)


def _colours(image: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in c) for c in image.reshape(-1, 3)}


def test_the_relevant_marker_is_black_and_white_dashes_on_every_picture() -> None:
    frame = np.full((40, 40, 3), 128, np.uint8)
    boxes = np.array([[4, 4, 16, 16], [20, 20, 36, 36]], dtype=np.float64)
    focus, mask, relevant = np.array([0.8, 0.2]), np.ones(2, bool), np.array([1])
    for picture in (
        ring_overlay(frame, boxes, focus, mask, relevant),
        cell_overlay(frame, boxes, focus, mask, relevant),
        focus_bar(focus, ["a", "b"], 80, relevant=relevant),
        mark_relevant(frame, [(2, 2, 30, 30)]),
    ):
        colours = _colours(picture)
        assert set(RELEVANT_DASH) <= colours
        assert GREEN not in colours and (30, 170, 70) not in colours
    assert "black/white dashes" in LEGEND and "green" not in LEGEND


def test_methods_side_by_side_share_one_colour_scale() -> None:
    peaked = np.array([[0.9, 0.05, 0.05]])
    uniform = np.full((1, 3), 1 / 3)
    picture = heatmap_panels([(peaked, "causal"), (uniform, "readout")], ["a", "b", "c"], ["o0"])

    def colour_of(value: float) -> tuple[int, ...]:
        return tuple(int(v) for v in (np.asarray(colormaps["viridis"](value / 0.9)[:3]) * 255).astype(np.uint8))

    colours = _colours(picture)
    # On one scale (0 to 0.9), the uniform panel's 1/3 is a dim colour; on its own scale it would be yellow.
    assert colour_of(1 / 3) in colours and colour_of(0.9) in colours
    bottom = picture[-30:]  # the colour bar strip sits under the panels
    ramp = (colormaps["viridis"](np.linspace(0.0, 1.0, 5))[:, :3] * 255).astype(np.uint8)
    assert sum(tuple(int(v) for v in c) in _colours(bottom) for c in ramp) >= 2  # the colour bar is drawn


def test_short_names_drop_the_prefix_the_other_parts_share_when_the_first_stands_apart() -> None:
    from agents.pictures.drawing import short_names

    assert short_names(["ego", "vehicle_1", "vehicle_12"]) == ["ego", "1", "12"]
    assert short_names(["entity_0", "entity_1"]) == ["0", "1"]
    assert short_names(["entity_1", "entity_12"]) == ["1", "12"]  # never cut inside a number
    assert short_names(["x", "y"]) == ["x", "y"]
