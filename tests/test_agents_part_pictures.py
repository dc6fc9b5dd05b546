"""Focus pictures for every adapter kind draw where the focus is: vehicles, grid cells, named features."""

import numpy as np
import pytest

import agents
from agents.evaluation.probe import collect_probe
from agents.pictures.drawing import FOCUS_COLOR
from agents.pictures.part_pictures import TITLE_HEIGHT, cell_overlay, feature_bars, parts_scene, ring_overlay, titled
from agents.pictures.probe_pictures import attention_pictures
from envs.adapters.registry import make_adapted
from policies import attention_report


def orange(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` True where a pixel is close to the focus colour."""
    return np.abs(image.astype(int) - np.array(FOCUS_COLOR)).sum(axis=-1) < 60


def test_ring_overlay_rings_the_attended_part_only():
    frame = np.full((120, 240, 3), 255, dtype=np.uint8)
    boxes = np.array([[40, 40, 60, 60], [180, 40, 200, 60], [np.nan] * 4], dtype=float)
    out = ring_overlay(frame, boxes, np.array([0.9, 0.05, 0.05]), np.array([True, True, True]))
    assert orange(out[:, :120]).sum() > 30  # a strong ring around part 0
    assert orange(out[:, 150:]).sum() == 0  # part 1: a faint grey ring only


def test_cell_overlay_tints_the_attended_cell():
    frame = np.full((64, 64, 3), 255, dtype=np.uint8)
    boxes = np.array([[0, 0, 32, 32], [32, 0, 64, 32], [0, 32, 32, 64], [32, 32, 64, 64]], dtype=float)
    focus = np.array([0.01, 0.01, 0.97, 0.01])
    out = cell_overlay(frame, boxes, focus, np.ones(4, dtype=bool), relevant=np.array([2]))
    inner = out[36:60, 4:28]  # cell 2, inside its green outline
    assert (inner[..., 0] > 200).all() and (inner[..., 2] < 120).all()  # orange-tinted white
    assert (out[4:28, 36:60] > 240).all()  # cell 1: almost untouched


def test_feature_bars_draw_the_longest_bar_for_the_most_attended_feature():
    focus = np.array([0.1, 0.8, 0.1])
    panel = feature_bars(focus, ["feature:x", "feature:velocity", "feature:angle"], height=60)
    rows = [orange(panel[int(4 + (i + 0.5) * (panel.shape[0] - 8) / 3)]).sum() for i in range(3)]
    assert rows[1] > 4 * max(rows[0], rows[2]) > 0


def test_parts_scene_puts_feature_bars_beside_a_frame_and_titles_it():
    frame = np.zeros((50, 60, 3), dtype=np.uint8)
    names = ["feature:a", "feature:b"]
    scene = parts_scene(frame, np.array([0.2, 0.8]), np.ones(2, dtype=bool), names)
    assert scene.shape[1] > 192 and orange(scene[:, 200:]).any()  # upscaled frame, then the bars
    assert parts_scene(frame, np.array([0.5, 0.5]), np.ones(2, dtype=bool), ["entity_0", "entity_1"]) is None
    pictured = titled(scene, "a title")
    assert pictured.shape[0] == scene.shape[0] + 30


def test_minigrid_cell_overlay_lands_on_the_relevant_cell():
    pytest.importorskip("minigrid")
    env = make_adapted("MiniGrid-Empty-5x5-v0", render_mode="rgb_array")
    try:
        env.reset(seed=0)
        for action in (1, 2):  # turn right, forward: the goal comes into view
            _, _, _, _, info = env.step(action)
        frame, boxes = env.render(), env.get_wrapper_attr("part_boxes")()
    finally:
        env.close()
    (goal,) = info["relevant_parts"]
    focus = np.full(len(boxes), 0.001)
    focus[goal] = 1.0
    scene = parts_scene(frame, focus / focus.sum(), np.ones(len(boxes), dtype=bool), ["cell"] * len(boxes), boxes,
                        "cell", info["relevant_parts"])  # fmt: skip
    scale = scene.shape[1] // frame.shape[1]
    x0, y0, x1, y1 = (int(v * scale) for v in boxes[goal])
    changed = np.abs(scene.astype(int) - np.kron(frame, np.ones((scale, scale, 1))).astype(int)).sum(-1) > 30
    inside = changed[y0 + 4 : y1 - 4, x0 + 4 : x1 - 4].mean()
    assert inside > 0.5 and changed.mean() < 0.2


def test_highway_ring_lands_on_the_ego_vehicle():
    pytest.importorskip("highway_env")
    env = make_adapted("highway-fast-v0", render_mode="rgb_array")
    try:
        env.reset(seed=0)
        frame, boxes = env.render(), env.get_wrapper_attr("part_boxes")()
    finally:
        env.close()
    focus = np.full(len(boxes), 0.001)
    focus[0] = 1.0
    mask = np.isfinite(boxes).all(axis=1)
    out = ring_overlay(frame, boxes, focus / focus.sum(), mask)
    x0, y0, x1, y1 = boxes[0]
    pad = int(x1 - x0)
    around = orange(out[max(int(y0) - pad, 0) : int(y1) + pad, max(int(x0) - pad, 0) : int(x1) + pad])
    assert around.sum() > 20 and orange(out).sum() - around.sum() < around.sum()


@pytest.mark.parametrize(("env_id", "package"), [("Acrobot-v1", "pygame"), ("MiniGrid-Empty-5x5-v0", "minigrid")])
def test_probe_overlay_of_a_feature_env_and_an_adapted_env(env_id, package):
    if package:
        pytest.importorskip(package)
    config = agents.resolve(agents.RunConfig(env=env_id, n_envs=1, threads=1))
    env = agents.make_env(config, 1, 0)
    try:
        model = agents.build_model(config, env)
    finally:
        env.close()
    probe = collect_probe(make_adapted(env_id, render_mode="rgb_array"), size=8, seed=0, stride=2, n_frames=4)
    pictures = attention_pictures(attention_report(model, probe.observations, method="readout"), probe)
    overlay = pictures["attention/overlay/readout"]  # attention_report: the readout focus
    assert (overlay.shape[0] > TITLE_HEIGHT and orange(overlay).any()) or (overlay[..., 2] < 120).any()
