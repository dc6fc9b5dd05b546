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
from agents.evaluate import read_config
from agents.vec_envs import make_env
from agents.vecnormalize_arrays import load_arrays


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
