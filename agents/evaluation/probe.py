"""The probe batch: fixed observations from a seeded random rollout, reported on during training."""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from envs.adapters.registry import make_adapted
from envs.observations import ObsT, as_relevant, stack_obs


def picture_indices(size: int, count: int) -> np.ndarray:
    """``count`` indices spread evenly over a probe of ``size`` observations (the ones drawn in pictures)."""
    return np.unique(np.linspace(0, size - 1, min(size, count)).astype(np.int64))


@dataclass
class Probe:
    """A fixed batch of observations to report on during training, with what is needed to draw them."""

    observations: ObsT
    """The batch, as the env gives it (stacked)."""
    relevant: list[np.ndarray | None]
    """``info["relevant_parts"]`` per observation (None where the env does not name them)."""
    frames: list[np.ndarray | None]
    """``env.render()`` at the probed step for the first few observations (None without a renderer)."""
    positions: list[np.ndarray | None]
    """``env.unwrapped.entity_positions()`` at the probed step, for entity envs that have it."""
    boxes: list[np.ndarray | None] = field(default_factory=list)
    """An adapter's ``part_boxes()`` (pixel boxes of its parts in the frame) at the rendered steps, else None."""
    marker: str | None = None
    """How the adapter marks a part in pictures (``part_marker``: ``"ring"``, ``"cell"``), or None."""


def wrapper_attr(env: gym.Env, name: str) -> object | None:
    """``env.get_wrapper_attr(name)`` (an adapter's method or attribute), or None when no layer has it."""
    try:
        return env.get_wrapper_attr(name)
    except AttributeError:
        return None


def collect_probe(env: gym.Env, size: int = 64, seed: int = 0, stride: int = 8, n_frames: int = 8) -> Probe:
    """Roll ``env`` with random actions from ``reset(seed=seed)`` and keep every ``stride``-th step.

    Args:
        env: the env to probe; with ``render_mode="rgb_array"``, ``n_frames`` kept steps spread evenly over
            the probe (``picture_indices``) are rendered.
        size: observations to keep.
        seed: seed of the reset and of the random actions (the same seed gives the same probe).
        stride: steps between two kept observations (so the probe spans several episodes).
        n_frames: kept steps that are also rendered (and whose entity positions are kept).
    """
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    positions_of = getattr(env.unwrapped, "entity_positions", None)
    boxes_of = wrapper_attr(env, "part_boxes")
    renders = getattr(env, "render_mode", None) == "rgb_array"
    observations, relevant, frames, positions, boxes = [], [], [], [], []
    pictured = set(picture_indices(size, n_frames).tolist())
    step = 0
    while len(observations) < size:
        if step % stride == 0:
            keep_frame = len(observations) in pictured
            observations.append(obs)
            relevant.append(as_relevant(info))
            frame = None
            if renders and keep_frame:
                frame = _render_or_none(env)
                renders = frame is not None
            frames.append(frame)
            positions.append(positions_of() if positions_of is not None and keep_frame else None)
            boxes.append(boxes_of() if boxes_of is not None and renders and keep_frame else None)
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, info = env.reset()
        step += 1
    marker = wrapper_attr(env, "part_marker")
    marker = marker if isinstance(marker, str) else None
    return Probe(stack_obs(observations), relevant, frames, positions, boxes, marker)


def _render_or_none(env: gym.Env) -> np.ndarray | None:
    """``env.render()``, or None when the renderer's package is missing (CartPole without pygame).

    Gymnasium's classic-control envs accept ``render_mode="rgb_array"`` and import pygame only at the first
    ``render()``; without it (a core install) the probe goes on without frames.
    """
    try:
        return env.render()
    except (gym.error.DependencyNotInstalled, ImportError):
        return None


def make_probe_env(spec: gym.envs.registration.EnvSpec) -> gym.Env:
    """A fresh env like the training one (same id, kwargs and adapter), rendering ``rgb_array`` if it can."""
    kwargs = {k: v for k, v in (spec.kwargs or {}).items() if k != "render_mode"}
    try:
        return make_adapted(spec.id, render_mode="rgb_array", **kwargs)
    except (TypeError, ValueError, gym.error.Error):
        return make_adapted(spec.id, **kwargs)
