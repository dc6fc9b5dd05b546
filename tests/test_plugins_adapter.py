"""An env adapter registered from outside the package, with its own env id: one call, the CLI's paths take it."""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import agents
import train_rl
from agents import RunConfig, make_env, resolve
from envs import check_part_env, register_adapter, unregister_adapter
from envs.adapters.registry import adapter_for, describe_adapter, make_adapted

ENV_ID = "plugtest/Lights-v0"


class Lights(gym.Env):
    """Four lights ``(x, y, lit)``, one lit; pressing the lit one's button (action = its index) scores 1."""

    observation_space = spaces.Box(-1.0, 1.0, (4, 3), np.float32)
    action_space = spaces.Discrete(4)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.lit = int(self.np_random.integers(4))
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        hit = int(action) == self.lit
        self.lit = int(self.np_random.integers(4))
        return self._obs(), float(hit), hit, False, {"hit": hit}

    def _obs(self) -> np.ndarray:
        obs = np.zeros((4, 3), np.float32)
        obs[:, :2] = np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]], np.float32)
        obs[self.lit, 2] = 1.0
        return obs


class LightParts(gym.Wrapper):
    """The adapter: names the lights and says which one matters (the lit one)."""

    part_names: ClassVar[list[str]] = ["light_0", "light_1", "light_2", "light_3"]

    def reset(self, **kwargs: object) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, "relevant_parts": [self.env.unwrapped.lit]}

    def step(self, action: int) -> tuple:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "relevant_parts": [self.env.unwrapped.lit], "is_success": bool(info["hit"])}
        return obs, reward, terminated, truncated, info


@pytest.fixture
def lights():
    register_adapter(
        "lights", LightParts, env_id=ENV_ID, entry_point=Lights, max_episode_steps=20, parts="light_0..light_3"
    )
    yield ENV_ID
    unregister_adapter("lights")


def test_one_call_registers_the_id_and_its_adapter(lights):
    assert lights in gym.registry and adapter_for(lights).name == "lights"
    env = make_adapted(lights)
    assert isinstance(env, LightParts)
    check_part_env(env)


def test_the_cli_paths_make_train_and_name_its_parts(lights, tmp_path, tiny_config, capsys):
    assert train_rl.main(["--env", lights, "--dry-run", "--threads", "1"]) == 0
    assert "adapter: lights (light_0..light_3)" in capsys.readouterr().out
    env = make_env(resolve(RunConfig(env=lights, n_envs=1)), 1, 0)
    try:
        assert env.get_attr("part_names", indices=[0])[0] == LightParts.part_names
    finally:
        env.close()
    run = agents.train(tiny_config(tmp_path, env=lights, attention_log_interval=0))
    model = agents.load(run.path)
    assert model.policy.features_extractor.part_names == LightParts.part_names


def test_registration_errors_and_unregistering(lights):
    with pytest.raises(ValueError, match=r"adapter 'lights' is already registered"):
        register_adapter("lights", LightParts, env_id="plugtest/Other-v0", entry_point=Lights)
    with pytest.raises(ValueError, match=r"entry_point=.* needs the env_id"):
        register_adapter("nowhere", LightParts, pattern=r"x-.*", entry_point=Lights)
    with pytest.raises(ValueError, match=r"Unknown adapter 'light'"):
        unregister_adapter("light")
    assert describe_adapter(lights) == "lights (light_0..light_3)"


def test_unregistering_removes_the_id_and_the_adapter():
    register_adapter("lights", LightParts, env_id=ENV_ID, entry_point=Lights)
    assert ENV_ID in gym.registry
    unregister_adapter("lights")
    assert ENV_ID not in gym.registry and adapter_for(ENV_ID) is None
