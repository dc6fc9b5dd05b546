"""``--vec-env envpool``: SB3's VecEnv contract, the highway adapter's observations, the run and its errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from agents import RunConfig, train
from agents.setup.resolution import resolve
from agents.setup.vec_envs import make_single_env

pytest.importorskip("highway_env", reason="highway-env is not installed (pip install 'attention-rl[highway]')")
envpool = pytest.importorskip("envpool", reason="envpool is not installed (pip install 'attention-rl[envpool]')")

from agents.setup.envpool_vec_env import EnvpoolVecEnv, check_envpool_config  # noqa: E402

FASTER, SLOWER = 3, 4


def python_vec_env(env_id: str, n: int, seed: int, **env_kwargs: object) -> DummyVecEnv:
    """SB3's reference: the Python original through the adapter, in a ``DummyVecEnv`` seeded like ``make_env``."""
    venv = DummyVecEnv([lambda: make_single_env(env_id, dict(env_kwargs))] * n)
    venv.seed(seed)
    return venv


def check_step_contract(venv: VecEnv, actions: Callable[[int], np.ndarray], steps: int) -> dict[str, int]:
    """Step ``venv`` and check every return against SB3's VecEnv contract; counts of what was seen."""
    n, space = venv.num_envs, venv.observation_space
    obs = venv.reset()
    assert obs.dtype == np.float32 and obs.shape == (n, *space.shape)
    seen = {"terminated": 0, "truncated": 0}
    for t in range(steps):
        obs, rewards, dones, infos = venv.step(actions(t))
        assert obs.dtype == np.float32 and obs.shape == (n, *space.shape)
        assert rewards.dtype == np.float32 and rewards.shape == (n,)
        assert dones.dtype == bool and dones.shape == (n,)
        assert isinstance(infos, (list, tuple)) and len(infos) == n
        for i, info in enumerate(infos):
            assert space.contains(obs[i])
            assert info["relevant_parts"].dtype == np.int64 and set(info["relevant_parts"]) <= set(
                range(1, len(obs[i]))
            )
            assert isinstance(info["is_success"], (bool, np.bool_))
            assert dones[i] or not info["TimeLimit.truncated"]
            if dones[i]:
                terminal = info["terminal_observation"]
                assert terminal.shape == space.shape and space.contains(terminal)
                assert not np.array_equal(terminal, obs[i]), "the returned observation must be the new episode's"
                seen["truncated" if info["TimeLimit.truncated"] else "terminated"] += 1
                assert not (info["is_success"] and info.get("crashed"))
            else:
                assert "terminal_observation" not in info
    return seen


@pytest.fixture(scope="module")
def venv() -> EnvpoolVecEnv:
    env = EnvpoolVecEnv("highway-fast-v0", 4, seed=0)
    yield env
    env.close()


# ====================================================================== SB3's contract
@pytest.mark.slow
def test_the_same_contract_as_dummy_vec_env_on_the_python_original() -> None:
    actions = np.random.default_rng(0).integers(0, 5, size=(60, 2))
    ours = check_step_contract(EnvpoolVecEnv("highway-fast-v0", 2, seed=1), lambda t: actions[t], 60)
    reference = check_step_contract(python_vec_env("highway-fast-v0", 2, seed=1), lambda t: actions[t], 60)
    assert ours["terminated"] + ours["truncated"] > 0 and reference["terminated"] + reference["truncated"] > 0


def test_a_finished_env_is_reset_at_once_and_no_step_is_lost() -> None:
    """Against envpool's own pool with the same seed: it returns the new episode one step late, ignoring an action."""
    ours = EnvpoolVecEnv("highway-fast-v0", 1, seed=7)
    raw = envpool.make_gymnasium("highway-fast-v0", num_envs=1, env_seed=[7], **ours._pool_kwargs)
    convert = ours.layout.convert
    np.testing.assert_array_equal(ours.reset(), convert(raw.reset()[0]))
    ended = 0
    for _ in range(80):
        obs, _, dones, infos = ours.step(np.array([FASTER]))
        raw_obs, _, terminated, truncated, _ = raw.step(np.array([FASTER]))
        if dones[0]:
            ended += 1
            np.testing.assert_array_equal(infos[0]["terminal_observation"], convert(raw_obs)[0])
            assert terminated[0] or truncated[0]
            raw_obs, reward, terminated, truncated, info = raw.step(np.array([SLOWER]))  # envpool resets here
            assert info["elapsed_step"][0] == 0 and reward[0] == 0
        np.testing.assert_array_equal(obs, convert(raw_obs))
    assert ended >= 2
    ours.close()


def test_time_limit_truncation_and_success(venv: EnvpoolVecEnv) -> None:
    venv.seed(3)
    venv.reset()
    lengths, truncations = np.zeros(4, dtype=int), []
    for _ in range(120):
        _, _, dones, infos = venv.step(np.full(4, SLOWER))
        lengths += 1
        for i in np.flatnonzero(dones):
            truncated = infos[i]["TimeLimit.truncated"]
            assert truncated == (lengths[i] == 30 and not infos[i]["crashed"])
            assert infos[i]["is_success"] == truncated  # highway-fast-v0: success = surviving the 30 steps
            truncations.append(truncated)
            lengths[i] = 0
    assert any(truncations)


def test_seed_then_reset_reproduces_and_env_i_gets_seed_plus_i(venv: EnvpoolVecEnv) -> None:
    def rollout(seed: int) -> np.ndarray:
        venv.seed(seed)
        frames = [venv.reset()]
        frames += [venv.step(np.array([FASTER, SLOWER, 1, 0]))[0] for _ in range(40)]
        return np.stack(frames)

    first, again, other = rollout(11), rollout(11), rollout(12)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[0], other[0])
    np.testing.assert_array_equal(first[0, 1], other[0, 0])  # env 1 of seed 11 is env 0 of seed 12
    assert not np.array_equal(venv.reset(), venv.reset()), "an unseeded reset starts new episodes"


def test_attributes_and_methods(venv: EnvpoolVecEnv) -> None:
    assert venv.get_attr("spec", indices=[0])[0].id == "highway-fast-v0"
    assert venv.get_attr("part_names")[0][:2] == ["ego", "vehicle_1"] and venv.has_attr("part_names")
    assert venv.env_is_wrapped(object) == [False] * 4
    with pytest.raises(AttributeError, match="cannot read 'road'"):
        venv.get_attr("road")
    with pytest.raises(AttributeError, match="cannot set 'config'"):
        venv.set_attr("config", {})
    with pytest.raises(AttributeError, match="cannot call 'action_masks'"):
        venv.env_method("action_masks")


# ====================================================================== observations as the adapter gives them
@pytest.mark.parametrize(("env_id", "kwargs"), [("highway-fast-v0", {}),
                                                ("highway-fast-v0", {"config": {"lanes_count": 4}})])  # fmt: skip
def test_observation_layout_and_ranges_equal_the_python_adapters(env_id: str, kwargs: dict) -> None:
    reference = make_single_env(env_id, kwargs)
    ours = EnvpoolVecEnv(env_id, 2, env_kwargs=kwargs, seed=0)
    assert ours.observation_space == reference.observation_space and ours.action_space == reference.action_space
    assert ours.get_attr("part_names")[0] == reference.part_names
    assert ours.layout.features == reference.features == ("presence", "x", "y", "vx", "vy", "cos_h", "sin_h")
    reference.reset(seed=0)
    assert ours.layout.features_range == {
        name: tuple(reference.unwrapped.observation_type.features_range[name]) for name in ("x", "y", "vx", "vy")
    }
    obs = ours.reset()
    for _ in range(40):
        for o in obs:
            assert ours.observation_space.contains(o) and o[0, 0] == 1  # the ego row first
            present = o[:, 0]
            assert set(np.unique(present)) <= {0.0, 1.0} and np.all(np.diff(present) <= 0)  # padding rows last
            assert not o[present == 0].any()
        obs, _, _, _ = ours.step(np.array([FASTER, 1]))
    ours.close()


@pytest.mark.parametrize(("env_id", "kwargs"), [("highway-fast-v0", {}),
                                                ("highway-fast-v0", {"config": {"lanes_count": 4}})])  # fmt: skip
def test_rows_match_the_simulators_own_state(env_id: str, kwargs: dict) -> None:
    """The ego row is its state normalised by the Python env's ranges; each row's heading is its vehicle's."""
    ours = EnvpoolVecEnv(env_id, 2, env_kwargs=kwargs, seed=2)
    ranges = ours.layout.features_range
    ours.reset()
    checked = 0
    for t in range(30):
        obs, _, dones, _ = ours.step(np.array([t % 5, FASTER]))
        for i, state in enumerate(ours._pool.debug_states()):
            if dones[i]:
                continue
            ego = state.vehicles[0]
            x, y = (np.clip(v / ranges[n][1], -1, 1) for v, n in ((ego.x, "x"), (ego.y, "y")))
            np.testing.assert_allclose(obs[i, 0, 1:3], [x, y], atol=1e-5)
            for row in obs[i][obs[i][:, 0] == 1][1:]:
                position = np.array([ego.x + row[1] * ranges["x"][1], ego.y + row[2] * ranges["y"][1]])
                things = [*state.vehicles, *state.road_objects]  # road objects are observed, as in Python
                vehicle = min(things, key=lambda v: np.hypot(v.x - position[0], v.y - position[1]))
                np.testing.assert_allclose(row[5:7], [np.cos(vehicle.heading), np.sin(vehicle.heading)], atol=1e-3)
                checked += 1
    assert checked > 100
    ours.close()


def test_merge_has_never_more_in_sight_than_envpools_five_rows_hold() -> None:
    pool = envpool.make_gymnasium("merge-v0", num_envs=4, seed=0)
    pool.reset()
    actions = np.random.default_rng(0).integers(0, 5, size=(150, 4))
    for t in range(150):
        pool.step(actions[t])
        for state in pool.debug_states():
            ego = state.vehicles[0]
            others = [*state.vehicles[1:], *state.road_objects]
            in_sight = [v for v in others if np.hypot(v.x - ego.x, v.y - ego.y) < 200 and v.x - ego.x > -10]
            assert len(in_sight) <= 4


def test_relevant_parts_follow_the_adapters_rule(venv: EnvpoolVecEnv) -> None:
    from envs.adapters.highway import HighwayEntities

    reference = make_single_env("highway-fast-v0", {})
    reference.reset(seed=0)
    assert isinstance(reference, HighwayEntities)
    venv.seed(0)
    obs = venv.reset()
    for _ in range(20):
        obs, _, _, infos = venv.step(np.full(4, FASTER))
        for o, info in zip(obs, infos, strict=True):
            if "terminal_observation" not in info:  # the Python adapter's rule on the same rows (straight road)
                np.testing.assert_array_equal(info["relevant_parts"], reference.relevant_parts(o))


@pytest.mark.slow
def test_initial_traffic_statistics_are_close_to_the_python_originals() -> None:
    """Vehicles in sight and the ego's speed at reset, 40 episodes each: within two standard errors and a bit."""
    reference = make_single_env("highway-fast-v0", {})
    python = np.stack([reference.reset(seed=s)[0] for s in range(40)])
    ours = EnvpoolVecEnv("highway-fast-v0", 40, seed=0).reset()
    for values in (lambda o: o[:, :, 0].sum(1), lambda o: o[:, 0, 3]):
        a, b = values(python), values(ours)
        spread = np.hypot(a.std(), b.std()) / np.sqrt(40)
        assert abs(a.mean() - b.mean()) < 2 * spread + 0.05 * abs(a.mean()), (a.mean(), b.mean())


# ====================================================================== runs, console, config
@pytest.mark.slow
def test_ppo_and_dqn_train_on_envpool_and_evaluate_on_python(
    tmp_path: Path, tiny_config: Callable[..., RunConfig], capsys: pytest.CaptureFixture
) -> None:
    from agents.evaluation.evaluate import evaluate

    dqn = {"learning_starts": 50, "buffer_size": 500, "batch_size": 16, "train_freq": 1, "target_update_interval": 50}
    for algo, hyperparams in (("ppo", {"n_steps": 64, "batch_size": 64, "n_epochs": 1}), ("dqn", dqn)):
        config = tiny_config(
            tmp_path, env="highway-fast-v0", algo=algo, vec_env="envpool", n_envs=2, timesteps=256,
            hyperparams=hyperparams, eval_episodes=1, attention_log_interval=0,
        )  # fmt: skip
        run = train(config)
        assert run.model.num_timesteps >= 256
        assert "vec_env: envpool" in (run.path / "config.yaml").read_text()
        assert (run.path / "monitor" / "envpool.monitor.csv").is_file()
        assert run.evaluation.extra["simulators"] == (
            "trained on envpool's C++ port of highway-fast-v0; evaluated on highway-env's Python original of "
            "highway-fast-v0"
        )
        out = capsys.readouterr().out
        assert (
            "This run trains on envpool's C++ port of highway-fast-v0; evaluations run on highway-env's Python "
            "original." in out
        )
        result = evaluate(run.path, episodes=1, write=False)
        assert "DummyVecEnv" not in result.extra["simulators"] and "Python original" in result.extra["simulators"]


@pytest.mark.slow
def test_cli_trains_with_vec_env_envpool_and_eval_names_both_simulators(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import train_rl

    args = ["--env", "highway-fast-v0", "--vec-env", "envpool", "--timesteps", "128", "--n-envs", "2",
            "--run-dir", str(tmp_path), "--eval-episodes", "0", "--eval-freq", "0", "--no-progress-bar",
            "--no-attention-log", "--set", "hyperparams.n_steps=64", "hyperparams.batch_size=64"]  # fmt: skip
    assert train_rl.main(args) == 0
    assert "trains on envpool's C++ port of highway-fast-v0" in capsys.readouterr().out
    run = tmp_path / "highway-fast-v0" / "ppo_attention_s0"
    assert train_rl.main(["eval", str(run), "--episodes", "1"]) == 0
    assert "evaluated on highway-env's Python original of highway-fast-v0" in capsys.readouterr().out


@pytest.mark.slow
def test_resume_continues_on_envpool_and_appends_to_the_monitor_file(
    tmp_path: Path, tiny_config: Callable[..., RunConfig]
) -> None:
    from agents import resume

    config = tiny_config(tmp_path, env="highway-fast-v0", vec_env="envpool", n_envs=2, timesteps=128,
                         save_freq=64, attention_log_interval=0, hyperparams={"n_steps": 32, "batch_size": 64,
                                                                             "n_epochs": 1})  # fmt: skip
    run = train(config)
    monitor = run.path / "monitor" / "envpool.monitor.csv"
    episodes = len(monitor.read_text().splitlines())
    resumed = resume(run.path, timesteps=256)
    assert resumed.config.vec_env == "envpool" and resumed.model.num_timesteps >= 256
    assert len(monitor.read_text().splitlines()) > episodes


def test_a_preset_section_can_choose_envpool(tmp_path: Path) -> None:
    preset = tmp_path / "preset.yaml"
    preset.write_text("highway-fast-v0:\n  vec_env: envpool\n")
    assert resolve(RunConfig(env="highway-fast-v0", config_file=str(preset))).vec_env == "envpool"
    assert resolve(RunConfig(env="highway-fast-v0", config_file=str(preset), vec_env="dummy")).vec_env == "dummy"
    assert resolve(RunConfig(env="highway-fast-v0")).vec_env == "dummy"


# ====================================================================== errors
def test_missing_extra_is_one_line_with_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import train_rl

    monkeypatch.setitem(sys.modules, "envpool", None)  # import envpool now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "attention-rl\[envpool\]"'):
        check_envpool_config("highway-fast-v0", "ppo")
    assert train_rl.main(["--env", "highway-fast-v0", "--vec-env", "envpool", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and 'pip install "attention-rl[envpool]"' in err


@pytest.mark.parametrize(
    ("env_id", "algo", "match"),
    [
        ("attn/FindTarget-v0", "ppo", r"envpool has no port of 'attn/FindTarget-v0' \(its highway-env ports: .*merge"),
        ("intersection-v0", "ppo", "rejected: envpool 1.2.5 starts every episode from the identical state"),
        ("roundabout-v0", "dqn", "rejected: envpool 1.2.5 starts every episode from the identical state"),
        ("merge-v0", "ppo", "rejected: envpool 1.2.5's starts vary ten times less than the Python original's"),
        ("highway-v0", "ppo", "has not been compared with highway-env's Python original"),
        ("highway-fast-v0", "ppo_mask", "action masks"),
    ],
)
def test_refused_envs_and_algorithms(env_id: str, algo: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_envpool_config(env_id, algo)
    with pytest.raises(ValueError, match=match):
        resolve(RunConfig(env=env_id, algo=algo, vec_env="envpool"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"config": {"observation": {"type": "Kinematics", "features": ["presence", "x", "y", "vx", "vy", "cos_d"]}}},
         "cannot give the observation setting.*feature cos_d"),
        ({"config": {"observation": {"type": "Kinematics", "order": "shuffled"}}}, "order='shuffled'"),
        ({"config": {"other_vehicles_type": "highway_env.vehicle.behavior.AggressiveVehicle"}},
         "does not take the highway-env setting other_vehicles_type"),
    ],
)  # fmt: skip
def test_settings_the_port_cannot_simulate_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EnvpoolVecEnv("highway-fast-v0", 1, env_kwargs=kwargs)
