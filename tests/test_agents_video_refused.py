"""``eval --video`` on an env that cannot be filmed is refused before the evaluation runs, naming the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import train_rl
from agents.pictures.eval_video import check_filmable

ENV_ID = "VideoTest/NoRender-v0"


class NoRender(gym.Env):
    """Four numbers in, two actions out, and no picture of itself."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, render_mode: str | None = None) -> None:
        if render_mode is not None:
            raise ValueError(f"NoRender draws nothing: render_mode={render_mode!r} is not supported.")
        self.render_mode = None
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return self.observation_space.sample(), float(action), self.t >= 8, False, {}


class BadFrame(NoRender):
    """Says it renders ``rgb_array`` but returns a grey level."""

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.t = 0

    def render(self) -> np.ndarray:
        return np.zeros((8, 8), np.uint8)


@pytest.fixture(scope="module")
def no_render_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gym.register(ENV_ID, entry_point=NoRender, max_episode_steps=8)
    root = tmp_path_factory.mktemp("runs")
    argv = ["--env", ENV_ID, "--extractor", "mlp", "--timesteps", "64", "--eval-episodes", "1", "--run-dir", str(root)]
    assert train_rl.main(argv) == 0
    yield next(root.rglob("model.zip")).parent
    gym.registry.pop(ENV_ID, None)


def test_eval_video_on_an_env_without_frames_is_refused_before_any_episode(no_render_run: Path, capsys) -> None:
    video = no_render_run / "clip.mp4"
    code = train_rl.main(["eval", str(no_render_run), "--episodes", "3", "--video", str(video)])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot be filmed" in err and "render_mode='rgb_array'" in err and "without --video" in err
    assert not (no_render_run / "eval_last.json").exists()  # the evaluation never ran
    assert not video.exists()


def test_a_render_that_is_not_an_rgb_frame_is_named() -> None:
    env = BadFrame(render_mode="rgb_array")
    with pytest.raises(ValueError, match=r"render\(\) returned ndarray \(8, 8\).*not an \(H, W, 3\) array"):
        check_filmable(env, "BadFrame")


def test_image_observations_are_filmable_without_a_renderer() -> None:
    class Pixels(NoRender):
        observation_space = gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)

    check_filmable(Pixels(), "Pixels")  # drawn from the observation itself: nothing to refuse
