"""Videos of evaluation episodes with the policy's attention drawn on every frame.

``AttentionFrames`` is a Gymnasium wrapper whose ``render()`` returns the env's picture with the attention
of the current observation drawn on it (``MemoryFrames``, for ``ppo_trxl``: the focus over the memory's steps as a
timeline); Gymnasium's ``RecordVideo`` (MoviePy, ``pip install
"attention-rl[video]"``) writes those frames to an mp4. Without MoviePy the frames go to an animated gif
through Pillow (which matplotlib already installs).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import RecordVideo
from PIL import Image
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import is_image_space

from agents.evaluation.evaluate import eval_target, load
from agents.evaluation.focus_stats import on_part_axis
from agents.evaluation.probe import wrapper_attr
from agents.evaluation.safe_load import guarded_when_safe
from agents.pictures.drawing import annotated_frame, report_cells, scene_with_attention
from agents.pictures.episode_frames import EpisodeFrames, PlainFrames, has_attention
from agents.pictures.memory_video import MemoryFrames, has_memory_focus
from agents.pictures.part_pictures import parts_scene
from agents.setup.config import DEFAULT_FOCUS_METHODS
from agents.setup.env_ids import check_env_id, import_gym_packages
from agents.setup.resolution import check_focus_methods
from agents.storage.outputs import check_output
from agents.storage.runs import save_atomic
from envs.adapters.registry import make_adapted
from envs.observations import as_relevant
from policies import attention_report

#: Episodes recorded by default.
DEFAULT_VIDEO_EPISODES = 3


def has_moviepy() -> bool:
    """True when MoviePy (needed for mp4) can be imported."""
    return importlib.util.find_spec("moviepy") is not None


class AttentionFrames(EpisodeFrames):
    """``render()`` gives the env's frame with the policy's attention on the current observation drawn on it.

    The frame stacks a header (episode, step, return, most attended part, relevant mass), the scene (patch
    focus over image observations, rings around attended entities for envs with ``entity_positions()``,
    else the env's own render) and a bar per part (the parts ``info["relevant_parts"]`` names framed in black and
    white dashes).
    The attention is computed only when a frame is rendered.

    Args:
        env: the env, made with ``render_mode="rgb_array"`` (or without one for image observations).
        model: an SB3 model whose policy uses an ``AttentionExtractor``.
        policy_obs: what the policy sees of an env observation (the run's frozen ``VecNormalize`` statistics);
            None: the observation as it is.
        method: the focus method drawn (``causal``, ``rollout`` or ``readout``), named in the header.
    """

    def __init__(
        self,
        env: gym.Env,
        model: BaseAlgorithm,
        policy_obs: Callable[[Any], Any] | None = None,
        method: str = DEFAULT_FOCUS_METHODS[0],
    ) -> None:
        super().__init__(env, model, policy_obs, method)

    def check_method(self, method: str) -> str:
        """A focus method over the observation's parts (``causal``, ``rollout`` or ``readout``)."""
        return check_focus_methods([method])[0]

    def render(self) -> np.ndarray:
        """The annotated frame, ``(H, W, 3)`` uint8 (sizes divisible by 16, as video codecs like)."""
        frame = self.env.render() if self.env.render_mode == "rgb_array" else None
        report = attention_report(self.model, self.policy_obs(self._obs), method=self.method)
        focus, mask = report.focus[0], report.mask[0]
        relevant = on_part_axis([as_relevant(self._info)], len(report.part_names))[0]
        positions_of = getattr(self.env.unwrapped, "entity_positions", None)
        positions = positions_of() if positions_of is not None else None
        boxes_of, marker = wrapper_attr(self.env, "part_boxes"), wrapper_attr(self.env, "part_marker")
        scene = None  # adapters place their parts (rings on vehicles, tinted grid cells)
        if boxes_of is not None and frame is not None and isinstance(marker, str):
            scene = parts_scene(frame, focus, mask, report.part_names, boxes_of(), marker, relevant)
        if scene is None:
            scene = scene_with_attention(
                frame, self._obs, focus, mask, report.grid, positions, relevant, cells=report_cells(report)
            )
        top = int(focus.argmax())
        summary = f"{self.method} focus: {report.part_names[top]} ({100 * focus[top]:.0f}%)"
        if relevant is not None:
            summary += f", relevant mass {100 * report.relevant_mass([relevant])[0]:.0f}%"
        header = [f"episode {self.episode + 1}  step {self.t}  return {self.episode_return:.2f}", summary]
        out = annotated_frame(scene, focus, report.part_names, header, relevant, mask)
        self.frame_size = out.shape[:2]
        return out


class FrameList(gym.Wrapper):
    """Keeps ``render()`` of every reset and step in ``frames`` (for the gif fallback)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.frames: list[np.ndarray] = []

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        """Reset and keep the frame."""
        out = self.env.reset(**kwargs)
        self.frames.append(self.env.render())
        return out

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step and keep the frame."""
        out = self.env.step(action)
        self.frames.append(self.env.render())
        return out


def write_gif(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """Write frames as a looping animated gif with Pillow, atomically (a link at ``path`` is replaced, not followed)."""
    images = [Image.fromarray(frame) for frame in frames]
    save_atomic(
        path,
        lambda tmp: images[0].save(tmp, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0),
    )


def video_file(path: str | Path) -> tuple[Path, str]:
    """``(the file written for path, note)``: without MoviePy, any suffix but ``.gif`` becomes a gif beside it."""
    path = Path(path)
    if path.suffix.lower() == ".gif" or has_moviepy():
        return path, ""
    path = path.with_suffix(".gif")
    return path, f'MoviePy is not installed, so the video is a gif; pip install "attention-rl[video]" for mp4 ({path}).'


@dataclass
class VideoResult:
    """What ``record_video`` wrote."""

    path: Path
    """The video file (mp4, or gif without MoviePy)."""
    frames: int
    """Frames in it: one per step plus one per episode start."""
    size: tuple[int, int]
    """``(height, width)`` of the frames."""
    returns: list[float] = field(default_factory=list)
    """Return of each recorded episode."""
    note: str = ""
    """Why the format differs from the one asked, if it does."""


def video_env(env_id: str, env_kwargs: dict[str, Any] | None = None) -> gym.Env:
    """``env_id`` made to be filmed: with ``render_mode="rgb_array"``, or without one for image observations."""
    kwargs = {**(env_kwargs or {}), "render_mode": "rgb_array"}
    try:
        return make_adapted(env_id, **kwargs)
    except (TypeError, ValueError):  # no renderer: image observations are drawn from the observation itself
        kwargs.pop("render_mode")
        return make_adapted(env_id, **kwargs)


def _has_image(space: gym.Space) -> bool:
    if isinstance(space, gym.spaces.Dict):
        return any(_has_image(s) for s in space.spaces.values())
    return is_image_space(space, check_channels=False)


def check_filmable(env: gym.Env, env_id: str, seed: int | None = None) -> None:
    """``ValueError`` naming the fix unless ``env`` gives a frame to draw on (call it before any episode runs).

    A frame is ``env.render()``'s ``(H, W, 3)`` array under ``render_mode="rgb_array"``, or the observation itself
    when it is an image. The env is reset and rendered once.
    """
    without = "or evaluate without --video"
    if env.render_mode != "rgb_array":
        if _has_image(env.observation_space):
            return
        raise ValueError(
            f"{env_id} cannot be filmed: it takes no render_mode='rgb_array' and its observations are not images. "
            f"Give the env a render_mode='rgb_array' whose render() returns an (H, W, 3) array, {without}."
        )
    env.reset(seed=seed)
    try:
        frame = env.render()
    except gym.error.DependencyNotInstalled as error:
        raise ValueError(f"{env_id} cannot draw its frames here: {error} ({without}).") from None
    if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[-1] in (3, 4)):
        shape = getattr(frame, "shape", None)
        raise ValueError(
            f"{env_id}'s render() returned {type(frame).__name__} {shape or ''} under render_mode='rgb_array', not "
            f"an (H, W, 3) array: fix its render(), {without}."
        )


def record_video(
    model: BaseAlgorithm,
    env_id: str,
    path: str | Path,
    env_kwargs: dict[str, Any] | None = None,
    episodes: int = DEFAULT_VIDEO_EPISODES,
    seed: int = 0,
    deterministic: bool = True,
    focus: str = DEFAULT_FOCUS_METHODS[0],
    *,
    overwrite: bool = False,
    own: Sequence[str | Path] = (),
) -> VideoResult:
    """Run ``episodes`` episodes and write them, attention drawn on each frame, to ``path``.

    The episodes are those ``evaluate_model`` runs with the same seed (the first reset takes ``seed``, the
    next ones continue its random stream). A model that trained on normalised observations acts, and shows
    its attention, on observations normalised with its ``VecNormalize`` statistics, as in evaluation
    (``model.get_vec_normalize_env()``, which ``agents.load`` attaches). A ``.gif`` path gives a gif; any
    other suffix an mp4 through Gymnasium's ``RecordVideo``, or, without MoviePy, a gif beside it (``note``
    says so). ``focus`` is the focus method drawn. The file is written atomically and may not replace a model, a
    run's file or a link unless ``overwrite``; ``own`` are earlier videos of this run it may replace
    (``agents.storage.outputs.check_output``).
    """
    check_env_id(env_id)
    if episodes < 1:
        raise ValueError(f"episodes={episodes} is invalid: record at least 1 episode.")
    path, note = video_file(path)
    check_output(path, overwrite=overwrite, own=own)
    path.parent.mkdir(parents=True, exist_ok=True)
    env = video_env(env_id, env_kwargs)
    try:
        check_filmable(env, env_id, seed)
    except ValueError:
        env.close()
        raise
    fps = env.metadata.get("render_fps") or 10
    normalizer = model.get_vec_normalize_env()
    policy_obs = normalizer.normalize_obs if normalizer is not None else (lambda obs: obs)
    # ppo_trxl: the focus over time; an MLP or CNN baseline: the frames without a focus
    frames = MemoryFrames if has_memory_focus(model) else AttentionFrames if has_attention(model) else PlainFrames
    annotated = frames(env, model, policy_obs, method=focus)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".video.") as tmp:
        if path.suffix.lower() == ".gif":
            recorder: gym.Env = FrameList(annotated)
        else:
            recorder = RecordVideo(
                annotated,
                str(Path(tmp) / "frames"),
                episode_trigger=lambda episode: episode == 0,  # one recording over all episodes, saved on close
                video_length=2**62,
                name_prefix="eval",
                fps=fps,
            )
        returns, steps = [], 0
        try:
            obs, _ = recorder.reset(seed=seed)
            for episode in range(episodes):
                done, state, start = False, None, np.ones(1, dtype=bool)  # a memory is carried through the episode
                while not done:
                    action, state = model.predict(policy_obs(obs), state, start, deterministic=deterministic)
                    annotated.state, start = state, np.zeros(1, dtype=bool)
                    obs, _, terminated, truncated, _ = recorder.step(action)
                    done, steps = terminated or truncated, steps + 1
                returns.append(annotated.episode_return)
                if episode + 1 < episodes:
                    obs, _ = recorder.reset()
            if isinstance(recorder, RecordVideo) and recorder.recorded_frames:
                # MoviePy sums 1/fps per frame and may lose the clip's last frame to rounding: hold it once more.
                recorder.recorded_frames.append(recorder.recorded_frames[-1])
        finally:
            recorder.close()  # RecordVideo writes its file here
        if isinstance(recorder, FrameList):
            write_gif(recorder.frames, path, fps)
        else:
            written = sorted(Path(tmp).glob("frames/*.mp4"))
            if not written:
                raise RuntimeError(f"RecordVideo wrote no video into {tmp}.")
            os.replace(written[0], path)  # the same folder: a rename, which replaces a link instead of following it
    return VideoResult(path, steps + episodes, annotated.frame_size, returns, note)


@guarded_when_safe
def record_evaluation_video(
    path: str | Path,
    video: str | Path | None = None,
    episodes: int = DEFAULT_VIDEO_EPISODES,
    deterministic: bool | None = None,
    seed: int | None = None,
    env_id: str | None = None,
    algo: str | None = None,
    which: str = "last",
    env_kwargs: dict[str, Any] | None = None,
    focus: str | None = None,
    *,
    safe: bool = False,
    trusted_packages: Sequence[str] = (),
    overwrite: bool = False,
) -> VideoResult:
    """Record ``episodes`` evaluation episodes of the model at ``path`` (a run folder or a ``.zip``).

    The defaults are ``evaluate``'s (the run's env and env kwargs, seed = run seed + 10000), so the video
    shows the first episodes of the evaluation; ``video`` defaults to ``eval.mp4`` beside the model.
    ``deterministic=None`` acts as the run was evaluated (its ``eval_deterministic``); ``which`` picks
    ``last`` (``model.zip``) or ``best`` (``best_model.zip``) in a run folder; ``env_kwargs`` go over the run's;
    ``focus`` is the focus method drawn (None: the run's first, else ``causal``); ``safe`` and
    ``trusted_packages`` load as ``agents.load`` does with them; ``overwrite`` lets ``video`` replace a model, a run's
    file or a link (the default video of the run is updated without it).
    """
    target = eval_target(path, which, env_id, env_kwargs, seed=seed, deterministic=deterministic, algo=algo)
    out, own = evaluation_video_path(target.model_path, target.run_dir, video, overwrite)
    if target.config is not None and not safe:
        import_gym_packages(target.config.gym_packages)
    model = load(target.model_path, algo=target.algo, safe=safe, trusted_packages=trusted_packages)
    if focus is None:
        focus = target.config.focus[0] if target.config is not None else DEFAULT_FOCUS_METHODS[0]
    return record_video(
        model, target.env_id, out, target.env_kwargs,
        episodes=episodes, seed=target.seed, deterministic=target.deterministic,
        focus=focus, overwrite=overwrite, own=own,
    )  # fmt: skip


@guarded_when_safe
def check_evaluation_video(
    path: str | Path,
    video: str | Path | None = None,
    which: str = "last",
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    seed: int | None = None,
    algo: str | None = None,
    *,
    safe: bool = False,
    trusted_packages: Sequence[str] = (),
    overwrite: bool = False,
) -> None:
    """What ``record_evaluation_video`` with these arguments would refuse, refused now, before anything runs.

    The video's path (``evaluation_video_path``) and whether the env can be filmed (``check_filmable``); with
    ``safe``, the model is loaded safely first, so nothing the run names is imported unchecked.
    """
    target = eval_target(path, which, env_id, env_kwargs, seed=seed, algo=algo)
    evaluation_video_path(target.model_path, target.run_dir, video, overwrite)
    if safe:
        load(target.model_path, algo=target.algo, safe=True, trusted_packages=trusted_packages)
    elif target.config is not None:
        import_gym_packages(target.config.gym_packages)
    env = video_env(target.env_id, target.env_kwargs)
    try:
        check_filmable(env, target.env_id, target.seed)
    finally:
        env.close()


def evaluation_video_path(
    model_path: Path, run_dir: Path | None, video: str | Path | None, overwrite: bool = False
) -> tuple[Path, list[Path]]:
    """``(the video to write, the run's own default videos)``, checked before anything runs (``check_output``).

    The default is ``eval.mp4`` beside the model (in the run folder); ``eval --video`` checks it before it evaluates.
    """
    default = (run_dir or model_path.parent) / "eval.mp4"
    own = [default, default.with_suffix(".gif")]
    out = Path(video) if video is not None else default
    check_output(video_file(out)[0], overwrite=overwrite, own=own)
    return out, own
