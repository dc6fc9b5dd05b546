"""Pictures of where a policy looked: heatmaps, patch overlays, entity highlights and focus bars.

Every function returns an ``(H, W, 3)`` uint8 RGB array (what SB3's ``Image(..., "HWC")``, tensorboard and
video writers take). Heatmaps are drawn with matplotlib (Agg, no pyplot state); frames are annotated with
NumPy and Pillow's default font, fast enough to run on every frame of an evaluation video.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from envs.rendering import draw_ring

#: Colours of the annotations (RGB).
FOCUS_COLOR = (255, 140, 0)
#: The relevant-part marker: dashes alternating black and white, a pattern no env draws its own objects in
#: (MiniGrid's goal and highway-env's ego car are green, its vehicles yellow and blue).
RELEVANT_DASH = ((0, 0, 0), (255, 255, 255))
#: Length of one dash, in pixels.
DASH = 4
#: What the marker means, for legends.
RELEVANT_LEGEND = "black/white dashes: parts the env calls relevant"
PANEL_BACKGROUND = (255, 255, 255)
TEXT_COLOR = (20, 20, 20)
#: Height of one text line in the annotated frames, in pixels.
LINE_HEIGHT = 14


def dashed_rectangle(draw: ImageDraw.ImageDraw, box: Sequence[float], width: int = 2) -> None:
    """Outline ``box`` ``(x0, y0, x1, y1)`` with the relevant-part marker (black and white dashes)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    for ax, ay, bx, by in ((x0, y0, x1, y0), (x1, y0, x1, y1), (x1, y1, x0, y1), (x0, y1, x0, y0)):
        dashes = max(1, int(max(abs(bx - ax), abs(by - ay)) // DASH))
        for k in range(dashes):
            t0, t1 = k / dashes, (k + 1) / dashes
            segment = (ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1)
            draw.line(segment, fill=RELEVANT_DASH[k % 2], width=width)


def dashed_ring(draw: ImageDraw.ImageDraw, box: Sequence[float], width: int = 2) -> None:
    """Ring the ellipse in ``box`` with the relevant-part marker (black and white arcs of 20 degrees)."""
    for k, start in enumerate(range(0, 360, 20)):
        draw.arc(tuple(float(v) for v in box), start, start + 20, fill=RELEVANT_DASH[k % 2], width=width)


def mark_relevant(image: np.ndarray, boxes: Sequence[Sequence[float]], width: int = 2) -> np.ndarray:
    """``image`` ``(H, W, 3)`` uint8 with each box ``(x0, y0, x1, y1)`` outlined by the relevant-part marker."""
    if not len(boxes):
        return image
    canvas = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    draw = ImageDraw.Draw(canvas)
    for box in boxes:
        dashed_rectangle(draw, box, width)
    return np.asarray(canvas).copy()


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render a matplotlib figure (with an Agg canvas) into an ``(H, W, 3)`` uint8 array."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def short_names(part_names: Sequence[str]) -> list[str]:
    """Part names without their shared prefix (``entity_3`` -> ``3``), for crowded axes.

    When the first part stands apart (``ego``, ``vehicle_1``, ``vehicle_2``...), the prefix the others share is
    dropped from them: ``ego``, ``1``, ``2``...
    """
    names = list(part_names)
    if len(names) < 2:
        return names
    prefix = _common_prefix(names) or (_common_prefix(names[1:]) if len(names) > 2 else "")
    return [name[len(prefix) :] or name if name.startswith(prefix) else name for name in names] if prefix else names


def _common_prefix(names: Sequence[str]) -> str:
    """The prefix all ``names`` share, never ending inside a number (``entity_1``, ``entity_12`` -> ``entity_``)."""
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    return prefix.rstrip("0123456789")


def upscale(frame: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of an ``(H, W, C)`` image by an integer factor."""
    return frame if factor <= 1 else np.repeat(np.repeat(frame, factor, axis=0), factor, axis=1)


def to_rgb(observation: np.ndarray) -> np.ndarray:
    """An image observation ``(H, W, C)`` or ``(C, H, W)``, uint8 or float in [0, 1], as ``(H, W, 3)`` uint8."""
    image = np.asarray(observation)
    if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[-1] not in (1, 3, 4):
        image = image.transpose(1, 2, 0)  # CHW -> HWC
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image[..., :3]


def patch_overlay(
    image: np.ndarray, focus_map: np.ndarray, relevant: np.ndarray | None = None, min_size: int = 192
) -> np.ndarray:
    """The image with the patch focus laid over it: the more focus, the more orange-red.

    Args:
        image: ``(H, W, 3)`` uint8 picture the patches were cut from.
        focus_map: ``(rows, cols)`` focus per patch (``AttentionReport.focus_map()[i]``).
        relevant: indices (row-major) of the patches the env calls relevant (``RELEVANT_DASH`` outlines).
        min_size: the picture is scaled up by an integer factor to at least this many pixels wide.
    """
    rows, cols = focus_map.shape
    factor = max(1, -(-min_size // image.shape[1]))
    frame = upscale(image, factor).astype(np.float32)
    height, width = frame.shape[:2]
    ph, pw = height // rows, width // cols
    strength = focus_map / max(float(focus_map.max()), 1e-6)  # (rows, cols) in [0, 1]
    cell = np.kron(strength, np.ones((ph, pw)))  # (rows * ph, cols * pw)
    alpha = np.zeros((height, width), dtype=np.float32)
    alpha[: rows * ph, : cols * pw] = 0.65 * cell
    color = colormaps["hot"](0.25 + 0.5 * np.kron(strength, np.ones((ph, pw))))[..., :3] * 255  # (h, w, 3)
    tint = np.zeros_like(frame)
    tint[: rows * ph, : cols * pw] = color
    frame = frame * (1 - alpha[..., None]) + tint * alpha[..., None]
    out = frame.astype(np.uint8)
    out[::ph, :] = (out[::ph, :] * 0.8).astype(np.uint8)  # faint grid
    out[:, ::pw] = (out[:, ::pw] * 0.8).astype(np.uint8)
    marked = [divmod(int(index), cols) for index in ([] if relevant is None else np.asarray(relevant).reshape(-1))]
    boxes = [(c * pw, r * ph, (c + 1) * pw - 1, (r + 1) * ph - 1) for r, c in marked]
    return mark_relevant(out, boxes, width=max(1, factor // 2))


def cell_focus_overlay(
    image: np.ndarray,
    cell_boxes: np.ndarray,
    receptive_fields: np.ndarray,
    focus: np.ndarray,
    relevant: np.ndarray | None = None,
    min_size: int = 192,
) -> np.ndarray:
    """The image with the focus on conv cells: centre regions tinted, the top cell's receptive field outlined.

    A conv cell sees a receptive field larger than its share of the picture, overlapping its neighbours'. Each
    cell's *centre region* (the stride-sized square around its field's centre, ``ConvTokenizer.cell_boxes``; the
    regions do not overlap) is tinted by its focus, as ``patch_overlay`` tints patches, and the whole receptive
    field of the most focused cell is outlined in orange: what that cell could have seen.

    Args:
        image: ``(H, W, 3)`` uint8 picture the cells were computed from.
        cell_boxes: ``(N, 4)`` pixel boxes ``(x0, y0, x1, y1)`` of the centre regions.
        receptive_fields: ``(N, 4)`` pixel boxes of the receptive fields.
        focus: ``(N,)`` focus per cell.
        relevant: indices of the cells the env calls relevant (``RELEVANT_DASH`` outlines).
        min_size: the picture is scaled up by an integer factor to at least this many pixels wide.
    """
    factor = max(1, -(-min_size // image.shape[1]))
    frame = upscale(image, factor).astype(np.float32)
    height, width = frame.shape[:2]
    strength = np.asarray(focus, dtype=np.float64) / max(float(np.max(focus)), 1e-6)  # (N,) in [0, 1]
    boxes = np.rint(np.asarray(cell_boxes, dtype=np.float64) * factor).astype(np.int64)
    boxes = np.clip(boxes, 0, [width, height, width, height])
    colors = colormaps["hot"](0.25 + 0.5 * strength)[:, :3] * 255  # (N, 3)
    for (x0, y0, x1, y1), alpha, color in zip(boxes, 0.65 * strength, colors, strict=True):
        frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - alpha) + color * alpha
    out = frame.astype(np.uint8)
    for x0, y0, x1, y1 in boxes:  # faint outlines of the centre regions
        if x1 > x0 and y1 > y0:
            _outline(out, y0, x0, y1 - y0, x1 - x0, (170, 170, 170), thickness=1)
    top = int(np.argmax(focus))
    x0, y0, x1, y1 = np.clip(np.rint(np.asarray(receptive_fields[top]) * factor).astype(np.int64), 0, None)
    x1, y1 = min(x1, width), min(y1, height)
    _outline(out, y0, x0, y1 - y0, x1 - x0, FOCUS_COLOR, thickness=max(1, factor // 2))
    indices = [] if relevant is None else [int(i) for i in np.asarray(relevant).reshape(-1)]
    marked = [boxes[i] for i in indices if 0 <= i < len(boxes)]
    return mark_relevant(out, [(x0, y0, x1 - 1, y1 - 1) for x0, y0, x1, y1 in marked], width=max(1, factor // 2))


def _outline(
    image: np.ndarray, top: int, left: int, height: int, width: int, color: tuple[int, int, int], thickness: int
) -> None:
    bottom, right = top + height, left + width
    image[top : top + thickness, left:right] = color
    image[bottom - thickness : bottom, left:right] = color
    image[top:bottom, left : left + thickness] = color
    image[top:bottom, right - thickness : right] = color


def entity_overlay(
    frame: np.ndarray,
    positions: np.ndarray,
    focus: np.ndarray,
    mask: np.ndarray,
    min_size: int = 256,
) -> np.ndarray:
    """A rendered arena with the attended entities ringed in orange: the more focus, the wider and stronger.

    Ring strength is absolute (full at a focus of 0.5 or more), so a uniform focus shows as faint rings
    everywhere; the three most attended entities get their focus written beside them.

    Args:
        frame: ``(S, S, 3)`` uint8 render of the arena (``[0, 1]^2`` with y up, as ``envs.rendering`` draws).
        positions: ``(N, 2)`` arena positions of the entity rows (``env.unwrapped.entity_positions()``).
        focus: ``(N,)`` focus per row.
        mask: ``(N,)`` True for real rows; padding rows get no ring.
        min_size: the frame is scaled up by an integer factor to at least this many pixels.
    """
    factor = max(1, -(-min_size // frame.shape[1]))
    out = upscale(frame, factor).copy()
    labels = []
    order = np.argsort(focus)  # strongest last, drawn on top
    top3 = set(order[-3:].tolist())
    for row in order:
        if not mask[row] or focus[row] < 0.02:
            continue
        strength = min(1.0, 2.0 * float(focus[row]))
        color = tuple(int(b + strength * (f - b)) for b, f in zip((225, 225, 225), FOCUS_COLOR, strict=True))
        draw_ring(out, positions[row], 0.065, 0.006 + 0.024 * strength, color)
        if row in top3:
            labels.append((positions[row], f"{100 * focus[row]:.0f}%"))
    size = out.shape[0]
    image = Image.fromarray(out)
    draw = ImageDraw.Draw(image)
    for position, text in labels:
        x = position[0] * (size - 1) + 0.07 * size
        y = (1 - position[1]) * (size - 1) - 0.07 * size
        draw.text((min(x, size - 30), max(y, 0)), text, fill=TEXT_COLOR, font=_font())
    return np.asarray(image)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def focus_bar(
    focus: np.ndarray,
    part_names: Sequence[str],
    width: int,
    height: int = 72,
    relevant: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """A bar per part on a fixed 0-1 scale, orange; the parts the env calls relevant framed by ``RELEVANT_DASH``.

    Part labels (without their shared prefix) are written under the bars when they fit.
    """
    n_parts = len(focus)
    panel = np.empty((height, width, 3), dtype=np.uint8)
    panel[:] = PANEL_BACKGROUND
    label_room = LINE_HEIGHT if n_parts <= 24 else 2
    plot_height = height - label_room - 2
    slot = width / n_parts
    relevant_set = set() if relevant is None else {int(i) for i in np.asarray(relevant).reshape(-1)}
    bar = max(1, int(slot * 0.75))
    for i, mass in enumerate(np.clip(focus, 0.0, 1.0)):
        left = int(i * slot + (slot - bar) / 2)
        top = plot_height - int(mass * (plot_height - 1) + 0.5)
        color = FOCUS_COLOR if mask is None or mask[i] else (200, 200, 200)
        panel[top:plot_height, left : left + bar] = color
    panel[plot_height, :] = (120, 120, 120)  # axis
    frames = [(int(i * slot), 1, int((i + 1) * slot) - 1, plot_height) for i in sorted(relevant_set) if i < n_parts]
    panel = mark_relevant(panel, frames, width=1)
    if n_parts <= 24:
        image = Image.fromarray(panel)
        draw = ImageDraw.Draw(image)
        for i, name in enumerate(short_names(part_names)):
            draw.text((int(i * slot + slot / 2), height - 1), name[:8], fill=TEXT_COLOR, font=_font(), anchor="md")
        panel = np.asarray(image).copy()
    return panel


def text_strip(lines: Sequence[str], width: int) -> np.ndarray:
    """White ``(LINE_HEIGHT * len(lines), width, 3)`` strip with the lines written on it."""
    image = Image.new("RGB", (width, LINE_HEIGHT * len(lines)), PANEL_BACKGROUND)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((4, i * LINE_HEIGHT + 1), line, fill=TEXT_COLOR, font=_font())
    return np.asarray(image)


def stack_panels(panels: Sequence[np.ndarray], multiple: int = 16) -> np.ndarray:
    """Stack panels vertically (centred on white), padded to a size divisible by ``multiple`` (video codecs)."""
    width = max(p.shape[1] for p in panels)
    width += -width % multiple
    padded = []
    for panel in panels:
        left = (width - panel.shape[1]) // 2
        canvas = np.empty((panel.shape[0], width, 3), dtype=np.uint8)
        canvas[:] = PANEL_BACKGROUND
        canvas[:, left : left + panel.shape[1]] = panel
        padded.append(canvas)
    out = np.concatenate(padded, axis=0)
    pad = -out.shape[0] % multiple
    if pad:
        out = np.concatenate([out, np.full((pad, width, 3), PANEL_BACKGROUND, dtype=np.uint8)], axis=0)
    return out


def tile_horizontally(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Images side by side on white (heights padded to the tallest)."""
    height = max(i.shape[0] for i in images)
    width = sum(i.shape[1] for i in images) + gap * (len(images) - 1)
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[:] = PANEL_BACKGROUND
    left = 0
    for image in images:
        out[: image.shape[0], left : left + image.shape[1]] = image
        left += image.shape[1] + gap
    return out


def scene_with_attention(
    frame: np.ndarray | None,
    observation: np.ndarray | dict[str, np.ndarray],
    focus: np.ndarray,
    mask: np.ndarray,
    grid: tuple[int, int] | None,
    positions: np.ndarray | None = None,
    relevant: np.ndarray | None = None,
    cells: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray | None:
    """The scene with the focus drawn on it, as the observation allows.

    - image observations with conv cells (``cells``: the report's ``(cell_boxes, receptive_fields)``): the
      observation with the cells' focus drawn by ``cell_focus_overlay``;
    - image observations (a patch grid): the observation with the patch focus overlaid;
    - entity sets with known ``positions`` and a rendered ``frame``: the frame with attended entities ringed;
    - otherwise the rendered frame as it is (None without one).
    """
    if cells is not None and isinstance(observation, np.ndarray):
        return cell_focus_overlay(to_rgb(observation), cells[0], cells[1], focus, relevant)
    if grid is not None and isinstance(observation, np.ndarray):
        return patch_overlay(to_rgb(observation), focus.reshape(grid), relevant)
    if frame is None:
        return None
    if positions is not None and len(positions) == len(focus):
        return entity_overlay(frame, positions, focus, mask)
    return upscale(frame, max(1, -(-192 // frame.shape[1])))


def report_cells(report: object) -> tuple[np.ndarray, np.ndarray] | None:
    """``(cell_boxes, receptive_fields)`` of a report on conv tokens (``AttentionReport``), else None."""
    boxes, fields = getattr(report, "cell_boxes", None), getattr(report, "receptive_fields", None)
    return None if boxes is None or fields is None else (boxes, fields)


def annotated_frame(
    scene: np.ndarray | None,
    focus: np.ndarray,
    part_names: Sequence[str],
    header: Sequence[str],
    relevant: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Header text, the scene with attention (if any) and the per-part focus bar, stacked into one frame."""
    width = 384 if scene is None else max(scene.shape[1], 256)
    panels = [text_strip(header, width)]
    if scene is not None:
        panels.append(scene)
    panels.append(focus_bar(focus, part_names, width, relevant=relevant, mask=mask))
    return stack_panels(panels)
