"""A user's own env, by the documented path: its part names and relevant parts picked up from the CLI and Python."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from stable_baselines3 import PPO
from stable_baselines3.common.logger import configure

import train_rl
from agents import AttentionLogCallback, attention_policy_kwargs, load
from envs import check_part_env
from policies import attention_report

MODULE = "beacons_own_env"
NAMES = ["beacon_0", "beacon_1", "beacon_2", "beacon_3"]
SOURCE = textwrap.dedent(
    '''
    import gymnasium as gym
    import numpy as np
    from gymnasium import spaces


    class Beacons(gym.Env):
        """Four beacons (x, y, lit); the lit one is the part that matters."""

        observation_space = spaces.Box(-1.0, 1.0, (4, 3), np.float32)
        action_space = spaces.Discrete(4)
        part_names = ["beacon_0", "beacon_1", "beacon_2", "beacon_3"]

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.lit, self.t = int(self.np_random.integers(4)), 0
            return self._obs(), {"relevant_parts": np.array([self.lit])}

        def step(self, action):
            self.t += 1
            found = int(action) == self.lit
            info = {"relevant_parts": np.array([self.lit]), "is_success": found}
            return self._obs(), float(found), found, self.t >= 20, info

        def _obs(self):
            obs = self.np_random.uniform(-1, 1, (4, 3)).astype(np.float32)
            obs[:, 2] = 0.0
            obs[self.lit, 2] = 1.0
            return obs


    gym.register("Beacons-v0", entry_point=f"{__name__}:Beacons")
    '''
)


@pytest.fixture
def own_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``beacons_own_env.py`` in a folder on ``sys.path``, as PYTHONPATH would put it; unregistered afterwards."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop(MODULE, None)
    gym.registry.pop("Beacons-v0", None)


def test_the_cli_trains_an_own_env_by_module_id_with_its_part_names(own_module: Path, tmp_path: Path) -> None:
    argv = ["--env", f"{MODULE}:Beacons-v0", "--timesteps", "128", "--eval-episodes", "2", "--run-dir", str(tmp_path)]
    assert train_rl.main([*argv, "--set", "hyperparams.n_steps=64", "hyperparams.batch_size=64"]) == 0
    run = next(tmp_path.rglob("model.zip")).parent
    model = load(run)
    assert list(model.policy.features_extractor.part_names) == NAMES
    assert yaml.safe_load((run / "config.yaml").read_text())["env"] == f"{MODULE}:Beacons-v0"
    evaluation = yaml.safe_load((run / "eval.json").read_text())  # JSON is YAML
    assert evaluation["attention"]["relevant_mass"] is not None  # info["relevant_parts"] was read


def test_python_picks_up_the_same_part_names_and_relevant_parts(own_module: Path, tmp_path: Path) -> None:
    __import__(MODULE)
    env = gym.make("Beacons-v0")
    check_part_env(env)
    kwargs = attention_policy_kwargs(env, num_layers=0, presence_column=None)
    assert kwargs["features_extractor_kwargs"]["part_names"] == NAMES
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, policy_kwargs=kwargs, seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(128, callback=AttentionLogCallback(interval=64, image_interval=0, probe_size=0))
    logged = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert "attention/causal/relevant_mass" in logged  # info["relevant_parts"] reached the callback
    assert any(column.endswith("/beacon_0") for column in logged)  # the focus per part, by the env's names
    obs, info = env.reset(seed=3)
    report = attention_report(model, obs[None])
    assert report.part_names == NAMES and report.method == "causal"
    assert np.isfinite(report.relevant_mass([info["relevant_parts"]])).all()


def test_an_own_module_off_the_path_names_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_rl.main(["--env", "nowhere_own_env:Beacons-v0", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "Cannot import gym package 'nowhere_own_env'" in err
    assert "PYTHONPATH" in err and "nowhere_own_env.py" in err and "gymnasium.register" in err
