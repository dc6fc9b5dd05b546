"""What a part env gives, written down (``PartEnv``), and a checker users run on their own env (``check_part_env``).

A *part env* is any Gymnasium env whose observation splits into named parts (entity rows, cells, sensors, time
steps) and that says which parts matter. The training CLI, the evaluation, tensorboard's focus and the pictures
read these names through ``env.get_wrapper_attr``, so a wrapper may provide them; each one but ``part_names`` is
optional, and a missing one only turns its feature off:

- ``part_names`` (attribute, required): one distinct name per part, in the order the extractor reads the
  parts. Used by the focus tags, tables and pictures.
- ``info["relevant_parts"]`` (reset and step info): ``int`` indices of the parts that matter now. Used by the
  relevant mass and the faithfulness scores.
- ``info["is_success"]`` (step info): a bool, read on the step that ends an episode (True for a success). Used
  by the success rates.
- ``part_boxes()`` (method): ``(P, 4)`` pixel boxes ``x0, y0, x1, y1`` of the parts in the last ``render()``
  frame (NaN rows are not drawn), or None. Used by overlays and videos.
- ``part_marker`` (attribute): how pictures mark a part, ``"ring"`` or ``"cell"``.
- ``entity_positions()`` (method of ``unwrapped``): ``(P, 2)`` positions of the rows in the arena's ``[0, 1]``
  square. Used by the pictures of the project's own envs.

Run ``check_part_env(env)`` on your env (like Gymnasium's ``check_env``): it steps the env with random actions and
raises ``ValueError`` naming the first thing that breaks the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

#: The markers pictures know how to draw.
PART_MARKERS: tuple[str, ...] = ("ring", "cell")


@runtime_checkable
class PartEnv(Protocol):
    """The one thing a part env must have; the rest of the contract is optional (see the module docstring)."""

    part_names: Sequence[str]


def _wrapper_attr(env: gym.Env, name: str) -> Any:
    try:
        return env.get_wrapper_attr(name)
    except AttributeError:
        return None


def part_names_of(env: gym.Env) -> list[str]:
    """The env's ``part_names`` (from any wrapper layer), checked: a non-empty list of distinct non-empty strings.

    Raises:
        ValueError: the env has no ``part_names`` or they are malformed.
    """
    names = _wrapper_attr(env, "part_names")
    if names is None:
        raise ValueError(
            f"{env} has no part_names: give the env (or a wrapper) a 'part_names' attribute, one name per part of "
            "the observation (e.g. ['ego', 'vehicle_1', ...])."
        )
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"part_names={names!r} must be a list of strings, one per part.")
    names = list(names)
    bad = [name for name in names if not isinstance(name, str) or not name]
    if not names or bad:
        raise ValueError(f"part_names must be non-empty strings, got {bad or names!r}.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"part_names must be distinct: {repeated} appear more than once.")
    return names


def check_relevant_parts(info: dict[str, Any], n_parts: int, where: str) -> None:
    """Raise ``ValueError`` unless ``info["relevant_parts"]`` (when present) holds distinct part indices."""
    if "relevant_parts" not in info:
        return
    raw = info["relevant_parts"]
    parts = np.asarray(raw)
    if parts.ndim != 1 or (parts.size and not np.issubdtype(parts.dtype, np.integer)):
        raise ValueError(f"info['relevant_parts'] at {where} must be a 1-D array of int part indices, got {raw!r}.")
    if parts.size and (parts.min() < 0 or parts.max() >= n_parts):
        raise ValueError(
            f"info['relevant_parts'] at {where} = {parts.tolist()} has indices outside [0, {n_parts}): there are "
            f"{n_parts} part_names."
        )
    if len(np.unique(parts)) != len(parts):
        raise ValueError(f"info['relevant_parts'] at {where} = {parts.tolist()} repeats a part.")


def _check_boxes(env: gym.Env, n_parts: int) -> None:
    boxes_of = _wrapper_attr(env, "part_boxes")
    if boxes_of is None or getattr(env, "render_mode", None) != "rgb_array":
        return
    env.render()
    boxes = boxes_of()
    if boxes is None:
        return
    boxes = np.asarray(boxes)
    if boxes.shape != (n_parts, 4):
        raise ValueError(
            f"part_boxes() must return an ({n_parts}, 4) array (x0, y0, x1, y1 per part), got {boxes.shape}."
        )


def check_part_env(env: gym.Env, steps: int = 50, seed: int = 0) -> None:
    """Check that ``env`` keeps the part-env contract, stepping it ``steps`` times with random actions.

    Args:
        env: the env, as the training would make it (wrappers included).
        steps: random steps to take (episodes restart as they end).
        seed: seed of the reset and of the actions.

    Raises:
        ValueError: naming the first broken promise: malformed ``part_names``, ``relevant_parts`` outside the
            parts, an ``is_success`` that is not a bool, a ``part_marker`` pictures cannot draw,
            ``part_boxes()`` of the wrong shape.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps={steps!r} must be an integer >= 1.")
    names = part_names_of(env)
    marker = _wrapper_attr(env, "part_marker")
    if marker is not None and marker not in PART_MARKERS:
        raise ValueError(f"part_marker={marker!r} is not one pictures can draw: use one of {list(PART_MARKERS)}.")
    env.action_space.seed(seed)
    _, info = env.reset(seed=seed)
    check_relevant_parts(info, len(names), "reset")
    _check_boxes(env, len(names))
    for step in range(1, steps + 1):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        check_relevant_parts(info, len(names), f"step {step}")
        success = info.get("is_success", False)
        if not isinstance(success, (bool, np.bool_)):
            raise ValueError(
                f"info['is_success'] at step {step} is {success!r}: it must be a bool (read on the step that ends the "
                "episode: True for a success)."
            )
        if terminated or truncated:
            _, info = env.reset()
            check_relevant_parts(info, len(names), f"the reset after step {step}")
