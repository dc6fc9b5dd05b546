"""Safe loading (``agents.load(safe=True)``, ``eval --safe``): runs you did not make run none of their code."""

import base64
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import TINY_PPO

import agents
import train_rl
from agents.evaluation.evaluate import read_config
from agents.setup.vec_envs import make_env
from agents.storage.vecnormalize_arrays import load_arrays


class _Planted:
    """Unpickling it creates the file it names: the stand-in for ``os.system`` in a crafted file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def normalized_run(tmp_path_factory):
    """A finished run of 64 steps that normalised its observations (trained once for the module)."""
    root = tmp_path_factory.mktemp("runs")
    config = agents.RunConfig(
        run_root=str(root), timesteps=64, n_envs=1, eval_episodes=0, eval_freq=0, progress_bar=False,
        hyperparams=dict(TINY_PPO), normalize=True, env="CartPole-v1",
    )  # fmt: skip
    return agents.train(config)


def _observations(run_path: Path, n: int = 16) -> np.ndarray:
    config = read_config(run_path)
    env = make_env(config, 1, 123, vec_env="dummy")
    obs = [env.reset()]
    for _ in range(n - 1):
        obs.append(env.step(np.array([env.action_space.sample()]))[0])
    env.close()
    return np.concatenate(obs)


def _copy_run(run_path: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run_path, to)
    return to


def _plant_in_data(model_zip: Path, marker: Path) -> None:
    """Rewrite ``model_zip`` with a crafted serialized entry in its ``data`` JSON (SB3 decodes those)."""
    with zipfile.ZipFile(model_zip) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(files["data"])
    payload = base64.b64encode(pickle.dumps(_Planted(marker))).decode()
    data["observation_space"] = {":type:": "<class 'x'>", ":serialized:": payload}
    files["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(model_zip, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)


@pytest.mark.slow
def test_safe_load_acts_as_the_default_load_and_keeps_the_statistics(normalized_run):
    obs = _observations(normalized_run.path)
    trusted = agents.load(normalized_run.path)
    safe = agents.load(normalized_run.path, safe=True)
    assert safe.num_timesteps == trusted.num_timesteps == 64
    np.testing.assert_array_equal(
        safe.get_vec_normalize_env().normalize_obs(obs), trusted.get_vec_normalize_env().normalize_obs(obs)
    )
    normalized = trusted.get_vec_normalize_env().normalize_obs(obs)
    np.testing.assert_array_equal(
        safe.predict(normalized, deterministic=True)[0], trusted.predict(normalized, deterministic=True)[0]
    )
    for key, value in trusted.policy.state_dict().items():
        torch.testing.assert_close(safe.policy.state_dict()[key], value, rtol=0, atol=0)


def test_safe_load_runs_no_code_planted_in_the_zip_or_the_statistics(normalized_run, tmp_path):
    run = _copy_run(normalized_run.path, tmp_path / "run")
    marker = tmp_path / "code_ran"
    _plant_in_data(run / "model.zip", marker)
    (run / "vecnormalize.pkl").write_bytes(pickle.dumps(_Planted(marker)))
    result = agents.evaluate(run, episodes=1, write=False, safe=True)
    assert result.episodes == 1 and not marker.exists()
    with pytest.raises(ValueError):  # the default load trusts the zip: the planted code runs (what --safe avoids)
        agents.load(run)
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_safe_load_refuses_weights_that_are_not_plain_tensors(normalized_run, tmp_path):
    run = _copy_run(normalized_run.path, tmp_path / "run")
    marker = tmp_path / "code_ran"
    with zipfile.ZipFile(run / "model.zip") as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    files["policy.pth"] = pickle.dumps({"weight": _Planted(marker)})
    with zipfile.ZipFile(run / "model.zip", "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    with pytest.raises(ValueError, match=r"policy\.pth holds more than tensors"):
        agents.load(run, safe=True)
    assert not marker.exists()


def test_safe_load_imports_no_module_the_run_names_unless_trusted(normalized_run, tmp_path, monkeypatch):
    run = _copy_run(normalized_run.path, tmp_path / "run")
    marker = tmp_path / "imported"
    (tmp_path / "planted_pkg.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["gym_packages"] = ["planted_pkg"]
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"asks to import planted_pkg.*--gym-packages planted_pkg"):
        agents.load(run, safe=True)
    assert not marker.exists()
    assert agents.load(run, safe=True, trusted_packages=["planted_pkg"]).num_timesteps == 64
    assert marker.exists()


def test_safe_load_explains_what_it_cannot_read(normalized_run, tmp_path):
    run = _copy_run(normalized_run.path, tmp_path / "run")
    (run / "vecnormalize.npz").unlink()  # a run made before the plain-array statistics existed
    with pytest.raises(ValueError, match=r"vecnormalize\.npz .*missing.*without --safe"):
        agents.load(run, safe=True)
    with pytest.raises(ValueError, match=r"rebuilds the model from its run's config\.yaml"):
        bare = tmp_path / "bare.zip"
        bare.write_bytes((run / "model.zip").read_bytes())
        agents.load(bare, algo="ppo", safe=True)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["policy_kwargs"] = {"net_arch": [7]}  # the weights no longer fit the model the config describes
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "vecnormalize.npz").write_bytes((normalized_run.path / "vecnormalize.npz").read_bytes())
    with pytest.raises(ValueError, match=r"weights do not fit the model config\.yaml describes"):
        agents.load(run, safe=True)


def test_plain_array_statistics_equal_the_pickled_ones(normalized_run):
    from stable_baselines3.common.vec_env import VecNormalize

    config = read_config(normalized_run.path)
    pickled = VecNormalize.load(str(normalized_run.path / "vecnormalize.pkl"), make_env(config, 1, 0, vec_env="dummy"))
    arrays = load_arrays(normalized_run.path / "vecnormalize.npz", make_env(config, 1, 0, vec_env="dummy"))
    for name in ("clip_obs", "clip_reward", "gamma", "epsilon", "norm_obs", "norm_reward"):
        assert getattr(arrays, name) == getattr(pickled, name)
    for mine, theirs in ((arrays.obs_rms, pickled.obs_rms), (arrays.ret_rms, pickled.ret_rms)):
        np.testing.assert_array_equal(mine.mean, theirs.mean)
        np.testing.assert_array_equal(mine.var, theirs.var)
        assert mine.count == theirs.count
    with pytest.raises(ValueError, match=r"not a statistics file"):
        (normalized_run.path / "junk.npz").write_bytes(b"junk")
        load_arrays(normalized_run.path / "junk.npz", make_env(config, 1, 0, vec_env="dummy"))


def test_eval_safe_on_the_command_line(normalized_run, tmp_path, capsys):
    run = _copy_run(normalized_run.path, tmp_path / "run")
    assert train_rl.main(["eval", str(run), "--episodes", "1", "--safe"]) == 0
    assert "mean return" in capsys.readouterr().out.lower()
    assert train_rl.main(["eval", str(run), "--episodes", "1", "--gym-packages", "x"]) == 2
    assert "add --safe" in capsys.readouterr().err


def _planted_module(folder: Path, name: str, marker: Path) -> None:
    """A module that creates ``marker`` when it is imported (the stand-in for an attacker's code)."""
    (folder / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\nIDMVehicle = object\n")


def _edit_config(run: Path, **changes) -> None:
    config = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**config, **changes}))


def test_modules_named_finds_class_paths_at_any_depth_of_env_kwargs():
    from agents.evaluation.safe_load import modules_named

    config = agents.RunConfig(
        env="my_envs:Grid-v0", gym_packages=["registers"],
        env_kwargs={
            "other_vehicles_type": "planted.sub.IDMVehicle", "config": {"lanes": [{"cls": " other:Lane "}]},
            "observation": {"type": "Kinematics", "features": ["x", "vx"]}, "render_mode": "rgb_array",
            "scale": "1.5", "known": "highway_env.vehicle.behavior.AggressiveVehicle", "file": "map.json",
            "env_id": "id_pkg:Grid-v0", "plain_id": "MiniGrid-Empty-5x5-v0",
        },
    )  # fmt: skip
    assert modules_named(config) == [
        ("registers", "gym_packages"), ("my_envs", "env"), ("planted.sub", "env_kwargs.other_vehicles_type"),
        ("other", "env_kwargs.config.lanes[0].cls"), ("map", "env_kwargs.file"), ("id_pkg", "env_kwargs.env_id"),
    ]  # fmt: skip


@pytest.mark.slow
def test_safe_load_refuses_a_class_path_the_env_would_import(normalized_run, tmp_path, monkeypatch):
    pytest.importorskip("highway_env")
    run = _copy_run(normalized_run.path, tmp_path / "run")
    marker = tmp_path / "imported"
    (tmp_path / "planted_vehicles.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nfrom highway_env.vehicle.behavior import IDMVehicle\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for env_kwargs, where in [
        ({"other_vehicles_type": "planted_vehicles.IDMVehicle"}, r"env_kwargs\.other_vehicles_type"),
        ({"config": {"other_vehicles_type": "planted_vehicles.IDMVehicle"}}, r"env_kwargs\.config\.other_vehic"),
    ]:
        _edit_config(run, env="attn/Highway-v0", normalize=False, env_kwargs=env_kwargs)
        with pytest.raises(ValueError, match=rf"import planted_vehicles \({where}.*--gym-packages planted_vehicles"):
            agents.evaluate(run, episodes=1, write=False, safe=True)
        assert not marker.exists()
    with pytest.raises(ValueError):  # trusted: imported at the env's reset, then the CartPole weights do not fit
        agents.load(run, safe=True, trusted_packages=["planted_vehicles"])
    assert marker.exists()


def test_trust_is_given_by_a_list_of_module_names_only(normalized_run, tmp_path, monkeypatch):
    from agents.export.onnx_eval import evaluate_onnx
    from agents.setup.env_ids import check_env_id

    run = _copy_run(normalized_run.path, tmp_path / "run")
    marker = tmp_path / "imported"
    _planted_module(tmp_path, "planted", marker)
    monkeypatch.syspath_prepend(str(tmp_path))
    _edit_config(run, gym_packages=["planted"])
    with pytest.raises(TypeError, match=r"trusted_packages='planted_pkg' must be a list of module names"):
        agents.load(run, safe=True, trusted_packages="planted_pkg")  # never a substring test
    with pytest.raises(TypeError, match=r"trusted_packages=\('planted', 3\) must be a list of module names"):
        agents.evaluate(run, episodes=1, safe=True, trusted_packages=("planted", 3))
    with pytest.raises(ValueError, match=r"trusted_packages: 'planted; x' is not a module name"):
        agents.load(run, safe=True, trusted_packages=["planted; x"])
    with pytest.raises(TypeError, match=r"safe='no' must be True or False"):
        agents.load(run, safe="no")
    with pytest.raises(TypeError, match=r"trusted_packages='planted' must be a list"):
        agents.load(run, trusted_packages="planted")
    with pytest.raises(TypeError, match=r"gym_packages='planted' must be a list of module names"):
        check_env_id("CartPole-v1", "planted")
    with pytest.raises(TypeError, match=r"gym_packages='planted' must be a list"):
        evaluate_onnx(tmp_path / "none.onnx", gym_packages="planted")
    with pytest.raises(TypeError, match=r"env_id=\['CartPole-v1'\] must be a string"):
        check_env_id(["CartPole-v1"])
    assert not marker.exists()


def test_local_imports_blocked_takes_the_current_and_run_folders_off_sys_path(tmp_path, monkeypatch):
    import importlib.util
    import sys

    from agents.evaluation.safe_load import local_imports_blocked

    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    (run / "lib").mkdir(parents=True)
    elsewhere.mkdir()
    for folder, name in ((run, "in_run"), (run / "lib", "in_run_lib"), (elsewhere, "in_cwd")):
        (folder / f"{name}.py").write_text("")
    monkeypatch.chdir(elsewhere)
    for entry in (str(run), str(run / "lib"), "", str(elsewhere), "."):
        monkeypatch.syspath_prepend(entry)
    before = list(sys.path)
    with local_imports_blocked(run):
        assert all(importlib.util.find_spec(name) is None for name in ("in_run", "in_run_lib", "in_cwd"))
    assert sys.path == before
    assert importlib.util.find_spec("in_cwd") is not None


@pytest.mark.slow
def test_safe_evaluate_imports_nothing_shipped_in_the_run_folder(normalized_run, tmp_path):
    import os
    import subprocess
    import sys

    run = _copy_run(normalized_run.path, tmp_path / "run")
    marker = tmp_path / "imported"
    for name in ("statistics", "sympy", "highway_env", "minigrid", "moviepy"):  # imported while loading or evaluating
        _planted_module(run, name, marker)
    code = (
        "import sys, agents; result = agents.evaluate('.', episodes=1, write=False, safe=True); "
        "assert '' in sys.path; print('episodes', result.episodes)"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], cwd=run, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "episodes 1" in done.stdout and not marker.exists()


@pytest.mark.slow
def test_eval_onnx_imports_no_module_its_metadata_names(
    normalized_run, tmp_path, tmp_path_factory, monkeypatch, capsys
):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from agents.export.onnx_eval import evaluate_onnx

    exported = agents.export_onnx(normalized_run.path, tmp_path / "policy.onnx").path
    graph = onnx.load(str(exported))
    for prop in graph.metadata_props:
        if prop.key == "env_id":
            prop.value = "planted_envs:CartPole-v1"
    shipped = tmp_path / "shipped.onnx"
    onnx.save(graph, str(shipped))
    marker, site = tmp_path / "imported", tmp_path_factory.mktemp("site")  # the file's folder is not importable
    _planted_module(site, "planted_envs", marker)
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(ValueError, match=r"would import planted_envs: nothing in an ONNX file is imported.*--env"):
        evaluate_onnx(shipped, episodes=1)
    assert train_rl.main(["eval", "--onnx", str(shipped), "--episodes", "1"]) == 2
    assert "--gym-packages planted_envs" in capsys.readouterr().err
    assert evaluate_onnx(shipped, "CartPole-v1", episodes=1).episodes == 1  # the user names the env
    assert not marker.exists()
    assert train_rl.main(["eval", "--onnx", str(shipped), "--episodes", "1", "--gym-packages", "planted_envs"]) == 0
    assert marker.exists()  # named on the command line: trusted
