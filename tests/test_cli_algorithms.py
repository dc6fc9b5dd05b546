"""Every registered algorithm trains a tiny budget through the CLI on a fitting env, saves, and evaluates.

The CLI runs in-process (``train_rl.main``): the same parser and code path as the script, without paying
a Python start-up per algorithm. Budgets are a few hundred steps; nothing here checks learning.
"""

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

import agents
import train_rl
from agents import ALGORITHMS

ON_POLICY = ["hyperparams.n_steps=32", "hyperparams.batch_size=32", "hyperparams.n_epochs=1"]
OFF_POLICY = ["hyperparams.learning_starts=32", "hyperparams.buffer_size=1000", "hyperparams.batch_size=16"]
DISCRETE = ("attn/FindTarget-v0", ["env_kwargs.max_episode_steps=20"])
CONTINUOUS = ("Pendulum-v1", ["env_kwargs.max_episode_steps=20", "policy_kwargs.net_arch=[32]"])

# algo -> (env id, --set items): a fitting env for each, tiny settings.
CASES = {
    "ppo": (*DISCRETE[:1], DISCRETE[1] + ON_POLICY),
    "a2c": (*DISCRETE[:1], [*DISCRETE[1], "hyperparams.n_steps=8"]),
    "trpo": (
        *DISCRETE[:1],
        [*DISCRETE[1], "hyperparams.n_steps=32", "hyperparams.batch_size=32", "hyperparams.n_critic_updates=1"],
    ),
    "ppo_mask": (*DISCRETE[:1], DISCRETE[1] + ON_POLICY),
    "ppo_lstm": (
        "attn/CueMemory-v0",
        ["env_kwargs.max_episode_steps=20", "policy_kwargs.lstm_hidden_size=8", *ON_POLICY],
    ),
    "ppo_trxl": (
        "attn/CueMemory-v0",
        ["env_kwargs.max_episode_steps=20", "policy_kwargs.memory_length=8", "policy_kwargs.memory_dim=16", *ON_POLICY],
    ),
    "dqn": (*DISCRETE[:1], DISCRETE[1] + OFF_POLICY),
    "qrdqn": (*DISCRETE[:1], [*DISCRETE[1], *OFF_POLICY, "policy_kwargs.n_quantiles=5"]),
    "sac": (*CONTINUOUS[:1], CONTINUOUS[1] + OFF_POLICY),
    "td3": (*CONTINUOUS[:1], CONTINUOUS[1] + OFF_POLICY),
    "ddpg": (*CONTINUOUS[:1], CONTINUOUS[1] + OFF_POLICY),
    "tqc": (*CONTINUOUS[:1], [*CONTINUOUS[1], *OFF_POLICY, "policy_kwargs.n_quantiles=5"]),
}


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = train_rl.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def tiny_train(capsys, root: Path, algo: str, env: str, sets: list[str], *extra: str) -> Path:
    code, out, err = run_cli(
        capsys,
        "--algo", algo, "--env", env, "--run-dir", root, "--timesteps", "128", "--n-envs", "2",
        "--eval-episodes", "2", "--eval-freq", "64", "--save-freq", "64", "--no-progress-bar",
        *extra, "--set", "eval_freq_episodes=1", *sets,
    )  # fmt: skip
    assert code == 0, err
    run_dir = Path(out.split("run folder: ")[1].split()[0])
    return run_dir if run_dir.is_absolute() else Path.cwd() / run_dir


def test_the_cases_cover_the_registry():
    assert set(CASES) == set(ALGORITHMS.names())
    assert ALGORITHMS.names() == [
        "ppo",
        "a2c",
        "dqn",
        "sac",
        "td3",
        "ddpg",
        "qrdqn",
        "tqc",
        "trpo",
        "ppo_lstm",
        "ppo_mask",
        "ppo_trxl",
    ]


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("RecurrentPPO", "ppo_lstm"),
        ("MaskablePPO", "ppo_mask"),
        ("QRDQN", "qrdqn"),
        ("TQC", "tqc"),
        ("PPO", "ppo"),
        ("TrXLPPO", "ppo_trxl"),
    ],
)
def test_class_names_are_aliases(alias, name):
    assert ALGORITHMS.canonical(alias) == name and ALGORITHMS.get(alias) is ALGORITHMS.get(name)


@pytest.mark.slow
@pytest.mark.parametrize("algo", list(CASES))
def test_every_algorithm_trains_saves_and_evaluates(tmp_path, capsys, algo):
    env, sets = CASES[algo]
    run_dir = tiny_train(capsys, tmp_path, algo.upper() if algo == "ppo" else algo, env, sets)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["algo"] == algo and config["timesteps"] == 128
    for name in ("model.zip", "best_model.zip", "eval.json", "evaluations.npz"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "checkpoints").glob("model_*.zip"))
    if ALGORITHMS.get(algo).off_policy:
        assert len(list((run_dir / "checkpoints").glob("replay_buffer_*.pkl"))) == 1  # only the latest

    for which in ("best", "last"):
        code, out, err = run_cli(capsys, "eval", run_dir, "--episodes", "2", "--which", which, "--seed", "3")
        assert code == 0, err
        assert "mean return" in out and "IQM" in out and "mean length" in out
        assert f"written to {run_dir / f'eval_{which}.json'}" in out
        report = json.loads((run_dir / f"eval_{which}.json").read_text())
        assert report["model"].endswith("best_model.zip" if which == "best" else "model.zip")
        assert len(report["returns"]) == 2 and report["iqm_return"] == pytest.approx(np.mean(report["returns"]))
    model = agents.load(run_dir, which="best")
    assert type(model) is ALGORITHMS.get(algo).cls


@pytest.mark.slow
@pytest.mark.parametrize(("alias", "algo"), [("RecurrentPPO", "ppo_lstm"), ("TrXLPPO", "ppo_trxl")])
def test_recurrent_evaluation_carries_the_state(tmp_path, capsys, alias, algo):
    env, sets = CASES[algo]
    run_dir = tiny_train(capsys, tmp_path, alias, env, sets)
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["algo"] == algo
    first = agents.evaluate(run_dir, episodes=2, seed=5, write=False)
    again = agents.evaluate(run_dir, episodes=2, seed=5, write=False)
    assert first.actions_sha256 == again.actions_sha256  # states reset per episode: same seed, same actions


MASKED_ENV = textwrap.dedent(
    '''
    import gymnasium as gym
    import numpy as np
    from gymnasium import spaces
    from gymnasium.envs.registration import register


    class OnlyZero(gym.Env):
        """Three actions, only action 0 valid: an invalid action raises."""

        def __init__(self):
            self.observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
            self.action_space = spaces.Discrete(3)
            self.t = 0

        def action_masks(self):
            return np.array([True, False, False])

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.zeros(2, np.float32), {}

        def step(self, action):
            if int(action) != 0:
                raise RuntimeError(f"masked action {action} taken")
            self.t += 1
            return np.zeros(2, np.float32), 1.0, self.t >= 5, False, {}


    register("OnlyZero-v0", entry_point=OnlyZero)
    '''
)


def test_maskable_ppo_uses_the_env_masks_and_module_env_ids(tmp_path, capsys, monkeypatch):
    (tmp_path / "masked_toy.py").write_text(MASKED_ENV)
    monkeypatch.syspath_prepend(str(tmp_path))
    run_dir = tiny_train(
        capsys, tmp_path, "ppo_mask", "masked_toy:OnlyZero-v0", ON_POLICY, "--extractor", "mlp", "--vec-env", "dummy"
    )
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["returns"] == [5.0, 5.0]  # every step valid: the masks reached training and evaluation


def test_gym_packages_flag_registers_an_env(tmp_path, capsys, monkeypatch):
    (tmp_path / "masked_toy2.py").write_text(MASKED_ENV.replace("OnlyZero-v0", "OnlyZeroPkg-v0"))
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run_cli(
        capsys, "--env", "OnlyZeroPkg-v0", "--gym-packages", "masked_toy2", "--algo", "ppo_mask", "--dry-run"
    )
    assert code == 0, err
    assert "gym_packages:\n- masked_toy2" in out and "policy: MaskablePPO MlpPolicy" in out
    code, _, err = run_cli(capsys, "--env", "OnlyZeroPkg-v0", "--gym-packages", "no_such_module_xyz", "--dry-run")
    assert code == 2 and "Cannot import gym package 'no_such_module_xyz'" in err


@pytest.mark.slow
def test_vecnormalize_is_saved_and_restored(tmp_path, capsys):
    # VecNormalize wraps the vec env in this process, whichever kind it is (SubprocVecEnv: the highway test below).
    run_dir = tiny_train(capsys, tmp_path, "ppo", "CartPole-v1", [*ON_POLICY, "normalize={norm_reward: false}"])
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["normalize"] == {"norm_reward": False}
    for name in ("vecnormalize.pkl", "best_model_vecnormalize.pkl"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "checkpoints").glob("model_*_vecnormalize.pkl"))
    model = agents.load(run_dir)
    venv = model.get_vec_normalize_env()
    assert venv is not None and not venv.training and not venv.norm_reward
    assert venv.obs_rms.count > 100  # the training statistics, not fresh ones
    first = agents.evaluate(run_dir, episodes=2, seed=1, write=False)
    assert agents.evaluate(run_dir, episodes=2, seed=1, write=False).actions_sha256 == first.actions_sha256


@pytest.mark.slow
def test_render_rgb_array_keeps_frames(tmp_path, capsys):
    run_dir = tiny_train(capsys, tmp_path, "ppo", *CASES["ppo"][:1], CASES["ppo"][1])
    result = agents.evaluate(run_dir, episodes=1, render_mode="rgb_array", write=False)
    assert len(result.frames) == result.lengths[0] and result.frames[0].ndim == 3
    assert "frames" not in result.to_dict()
    code, out, err = run_cli(capsys, "eval", run_dir, "--episodes", "1", "--render", "rgb_array")
    lengths = json.loads((run_dir / "eval.json").read_text())["lengths"]
    assert code == 0 and f"rendered {lengths[0]} frames" in out, err


@pytest.mark.slow
def test_highway_preset_trains_in_subproc_workers(tmp_path, capsys):
    pytest.importorskip("highway_env")
    # No attention log: its probe (512 steps of a fresh highway env, 33 s here) is not what this test is about.
    sets = [*ON_POLICY, "env_kwargs.config.duration=8"]
    run_dir = tiny_train(capsys, tmp_path, "ppo", "highway-fast-v0", sets, "--vec-env", "subproc", "--no-attention-log")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["gym_packages"] == ["highway_env"]  # imported on demand, recorded for the workers
    assert config["extractor_kwargs"]["ego"] is True and config["extractor_kwargs"]["presence_column"] == 0
    report = json.loads((run_dir / "eval.json").read_text())
    focus = report["attention"]["focus"]
    assert "ego" in focus and set(focus) <= {"ego", *(f"vehicle_{i}" for i in range(1, 15))}  # the adapter's names
