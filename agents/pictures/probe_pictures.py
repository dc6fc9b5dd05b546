"""The tensorboard pictures of a probe report: heatmaps of the weights and the focus drawn on the scenes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from agents.evaluation.probe import Probe, picture_indices
from agents.pictures.drawing import report_cells, scene_with_attention, tile_horizontally
from agents.pictures.heatmaps import heatmap_panels
from agents.pictures.part_pictures import parts_scene, titled
from envs.observations import index_obs
from policies import AttentionReport


def attention_pictures(
    reports: Mapping[str, AttentionReport] | AttentionReport, probe: Probe, max_rows: int = 8
) -> dict[str, np.ndarray]:
    """The pictures of probe reports (one per focus method), by tensorboard tag, as ``(H, W, 3)`` uint8 arrays.

    - ``attention/heatmap``: each method's focus over the parts for ``max_rows`` probe observations, one per
      row, the methods side by side, the env's relevant parts outlined in black and white dashes, one colour scale;
    - ``attention/weights``: the raw weights of the last layer that attends over the parts, one panel per head:
      for a one-query readout its weights for the same observations, else queries x parts for the first probe
      observation;
    - ``attention/overlay/<method>``: up to 4 probe observations with that method's focus drawn on them (patch
      focus over images, rings around the focused entities, the adapters' parts), when the env can show them.
    """
    if isinstance(reports, AttentionReport):
        reports = {reports.method: reports}
    any_report = next(iter(reports.values()))
    shown = picture_indices(len(any_report.focus), max_rows)
    relevant = [probe.relevant[i] for i in shown]
    labels = [f"obs {i}" for i in shown]
    panels = [(report.focus[shown], f"{method} focus") for method, report in reports.items()]
    pictures = {"attention/heatmap": heatmap_panels(panels, any_report.part_names, labels, relevant)}
    weights = any_report.weights  # (B, H, Q, N)
    if weights.shape[2] == 1:
        heads = [(weights[shown, h, 0], f"head {h}: raw readout weights") for h in range(weights.shape[1])]
        rows, outlined = labels, relevant
    else:
        heads = [(weights[0, h], f"head {h}: raw weights, queries x parts, obs 0") for h in range(weights.shape[1])]
        rows, outlined = [f"query {q}" for q in range(weights.shape[2])], None
    pictures["attention/weights"] = heatmap_panels(heads, any_report.part_names, rows, outlined)
    for method, report in reports.items():
        overlay = probe_overlay(report, probe)
        if overlay is not None:
            pictures[f"attention/overlay/{method}"] = overlay
    return pictures


def probe_overlay(report: AttentionReport, probe: Probe, count: int = 4) -> np.ndarray | None:
    """Up to ``count`` probe scenes side by side with the report's focus drawn, titled with its method.

    None when the env can show none.
    """
    drawable = [i for i, frame in enumerate(probe.frames) if frame is not None or report.grid is not None]
    scenes = []
    for k in picture_indices(len(drawable), count) if drawable else []:
        i = drawable[k]
        observation = index_obs(probe.observations, i)
        scene = parts_scene(
            probe.frames[i], report.focus[i], report.mask[i], report.part_names,
            probe.boxes[i] if probe.boxes else None, probe.marker, probe.relevant[i],
        )  # fmt: skip
        if scene is None:
            scene = scene_with_attention(
                probe.frames[i], observation, report.focus[i], report.mask[i], report.grid, probe.positions[i],
                probe.relevant[i], cells=report_cells(report),
            )  # fmt: skip
        if scene is not None:
            scenes.append(scene)
    if not scenes:
        return None
    return titled(tile_horizontally(scenes), f"{report.method} focus on {len(scenes)} probe observations")
