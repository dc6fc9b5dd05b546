"""The tensorboard pictures of a probe report: heatmaps of the weights and the focus drawn on the scenes."""

from __future__ import annotations

import numpy as np

from agents.observations import index_obs
from agents.part_pictures import parts_scene, titled
from agents.probe import Probe, picture_indices
from agents.visualize import heatmap_image, scene_with_attention, tile_horizontally
from policies import AttentionReport


def attention_pictures(report: AttentionReport, probe: Probe, max_rows: int = 8) -> dict[str, np.ndarray]:
    """The pictures of a probe report, by tensorboard tag, as ``(H, W, 3)`` uint8 arrays.

    - ``attention/heatmap/head{h}``: per head, the last layer's weights as queries x parts for the first
      probe observation; a one-query readout (query pooling) instead shows its weights for ``max_rows``
      probe observations, one per row, the env's relevant parts outlined in green.
    - ``attention/overlay``: up to 4 probe observations with the focus drawn on them (patch focus over
      images, rings around the attended entities), when the env can show them.
    """
    weights = report.weights  # (B, H, Q, N)
    shown = picture_indices(len(weights), max_rows)
    pictures = {}
    for head in range(weights.shape[1]):
        if weights.shape[2] == 1:
            matrix, labels = weights[shown, head, 0], [f"obs {i}" for i in shown]
            relevant = [probe.relevant[i] for i in shown]
            title = f"head {head}: readout weights, one probe observation per row (green: relevant)"
        else:
            matrix, labels = weights[0, head], [f"query {q}" for q in range(weights.shape[2])]
            relevant, title = None, f"head {head}: queries x parts, probe observation 0"
        pictures[f"attention/heatmap/head{head}"] = heatmap_image(matrix, report.part_names, labels, title, relevant)
    drawable = [i for i, frame in enumerate(probe.frames) if frame is not None or report.grid is not None]
    scenes = []
    for k in picture_indices(len(drawable), 4) if drawable else []:
        i = drawable[k]
        observation = index_obs(probe.observations, i)
        scene = parts_scene(
            probe.frames[i], report.focus[i], report.mask[i], report.part_names,
            probe.boxes[i] if probe.boxes else None, probe.marker, probe.relevant[i],
        )  # fmt: skip
        if scene is None:
            scene = scene_with_attention(
                probe.frames[i], observation, report.focus[i], report.mask[i], report.grid, probe.positions[i],
                probe.relevant[i],
            )  # fmt: skip
        if scene is not None:
            scenes.append(scene)
    if scenes:
        title = "focus of the readout on 4 probe observations (attention/overlay)"
        pictures["attention/overlay"] = titled(tile_horizontally(scenes), title)
    return pictures
