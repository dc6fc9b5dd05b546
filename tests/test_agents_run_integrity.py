"""A run folder missing a file, or edited, is never evaluated or resumed as if nothing happened."""

import shutil
import warnings

import numpy as np
import pytest
import torch

import agents
import train_rl
from agents.storage.layout import TRAINED_CONFIG

MISSING_STATS = r"trained with normalized observations, but its statistics \(vecnormalize\.{}\) are missing"


@pytest.fixture(scope="module")
def normalised_run(tmp_path_factory, tiny_config):
    """A finished CartPole run (64 steps, a checkpoint at 32) with ``VecNormalize``, copied by each test."""
    root = tmp_path_factory.mktemp("normalised")
    return agents.train(tiny_config(root, env="CartPole-v1", timesteps=64, normalize=True, save_freq=32)).path


@pytest.fixture
def run_copy(normalised_run, tmp_path):
    return shutil.copytree(normalised_run, tmp_path / "run")


@pytest.mark.slow
def test_evaluating_a_normalised_run_without_its_statistics_is_refused(run_copy, capsys):
    kept = agents.evaluate(run_copy, episodes=2, write=False, focus=["readout"])
    (run_copy / "vecnormalize.pkl").unlink()  # the pickle gone, the plain arrays left: those are used
    assert agents.evaluate(run_copy, episodes=2, write=False, focus=["readout"]).returns == kept.returns
    (run_copy / "vecnormalize.npz").unlink()
    with pytest.raises(ValueError, match=MISSING_STATS.format("pkl")):
        agents.evaluate(run_copy, episodes=2, write=False)
    with pytest.raises(ValueError, match=MISSING_STATS.format("pkl")):
        agents.load(run_copy)
    with pytest.raises(ValueError, match=MISSING_STATS.format("npz")):
        agents.evaluate(run_copy, episodes=2, write=False, safe=True)
    assert train_rl.main(["eval", str(run_copy), "--episodes", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoints/model_<steps>_vecnormalize.pkl" in err[0], err


def test_exporting_a_normalised_run_without_its_statistics_is_refused(run_copy):
    pytest.importorskip("onnx")
    from agents.export.onnx_export import export_onnx

    for name in ("vecnormalize.pkl", "vecnormalize.npz"):
        (run_copy / name).unlink()
    with pytest.raises(ValueError, match=MISSING_STATS.format("pkl")):
        export_onnx(run_copy, run_copy / "policy.onnx")
    assert not (run_copy / "policy.onnx").exists()


def test_a_run_that_normalised_only_rewards_evaluates_without_statistics(tmp_path, tiny_config):
    config = tiny_config(tmp_path, env="CartPole-v1", normalize={"norm_obs": False}, attention_log_interval=0)
    run = agents.train(config)
    for name in ("vecnormalize.pkl", "vecnormalize.npz"):
        (run.path / name).unlink()
    assert agents.evaluate(run.path, episodes=1, write=False, focus=["readout"]).episodes == 1


def test_resume_without_statistics_says_so(run_copy):
    for path in (run_copy / "checkpoints").glob("model_64_vecnormalize.*"):
        path.unlink()
    with pytest.warns(UserWarning, match=r"model_64.zip without its VecNormalize statistics .*fresh ones"):
        agents.resume(run_copy, timesteps=96)


def test_resume_uses_the_plain_array_statistics_when_the_pickle_is_gone(run_copy):
    (run_copy / "checkpoints" / "model_64_vecnormalize.pkl").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = agents.resume(run_copy, timesteps=96)
    assert not [w for w in caught if "Resuming from" in str(w.message)]
    assert resumed.model.get_vec_normalize_env().obs_rms.count > 64  # carried on, not fresh


@pytest.mark.slow
def test_resume_without_the_replay_buffer_says_so(tmp_path, tiny_config):
    dqn = {"learning_starts": 16, "buffer_size": 1000, "batch_size": 8}
    run = agents.train(tiny_config(tmp_path, algo="dqn", timesteps=64, save_freq=32, hyperparams=dqn))
    (run.path / "checkpoints" / "replay_buffer_64.pkl").unlink()
    with pytest.warns(UserWarning, match=r"without its replay buffer \(replay_buffer_64.pkl\): .* empty one"):
        resumed = agents.resume(run.path, timesteps=96)
    assert resumed.model.replay_buffer.size() == 32  # only the new transitions: what the warning said


@pytest.mark.parametrize(
    ("old", "new"), [("algo: ppo", "algo: a2c"), ("  learning_rate: 0.0003", "  learning_rate: 0.1")]
)
def test_resume_without_the_trained_config_is_refused(tmp_path, tiny_config, old, new):
    hyperparams = {"learning_rate": 3e-4, "n_steps": 32, "batch_size": 32, "n_epochs": 1}
    run = agents.train(tiny_config(tmp_path, save_freq=32, hyperparams=hyperparams))
    (run.path / TRAINED_CONFIG).unlink()  # a run made before it was recorded, or a file deleted
    text = (run.path / "config.yaml").read_text()
    assert old in text
    (run.path / "config.yaml").write_text(text.replace(old, new))
    with pytest.raises(FileNotFoundError, match=r"checkpoints/config.yaml: it records the settings .* copy it to"):
        agents.resume(run.path, timesteps=64)
    assert (run.path / "config.yaml").read_text() == text.replace(old, new)  # nothing written


def test_the_recorded_device_is_the_one_used(tmp_path, tiny_config):
    run = agents.train(tiny_config(tmp_path, device="auto"))
    used = str(run.model.device)
    assert run.config.device == used
    assert f"device: {used}\n" in (run.path / "config.yaml").read_text()
    assert f"device: {used}\n" in (run.path / TRAINED_CONFIG).read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_a_cuda_device_without_cuda_is_refused(tmp_path, capsys, device):
    code = train_rl.main(["--device", device, "--timesteps", "32", "--run-dir", str(tmp_path), "--dry-run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"device='{device}' is not available: this machine has no CUDA device" in err[0]


def test_a_cuda_index_beyond_the_devices_is_refused(tmp_path, tiny_config):
    index = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(ValueError, match=rf"device='cuda:{index}' is not available"):
        agents.dry_run(tiny_config(tmp_path, device=f"cuda:{index}"))


def test_eval_with_an_empty_focus_is_refused_as_training_refuses_it(normalised_run, tmp_path, capsys):
    assert train_rl.main(["--focus", "", "--dry-run", "--run-dir", str(tmp_path)]) == 2
    training = capsys.readouterr().err.strip().splitlines()
    assert train_rl.main(["eval", str(normalised_run), "--episodes", "1", "--focus", ""]) == 2
    evaluation = capsys.readouterr().err.strip().splitlines()
    assert len(evaluation) == 1 and "focus=[] is invalid: give one or more of" in evaluation[0]
    assert evaluation[0].split("error: ")[1] == training[0].split("error: ")[1]
    with pytest.raises(ValueError, match=r"focus=\[\] is invalid"):
        agents.evaluate(normalised_run, episodes=1, write=False, focus=[])
    with pytest.raises(TypeError, match=r"focus='causal' is one string"):
        agents.evaluate(normalised_run, episodes=1, write=False, focus="causal")


def test_a_run_recorded_with_an_empty_normalize_mapping_evaluates_with_its_statistics(run_copy, normalised_run):
    path = run_copy / "config.yaml"
    path.write_text(path.read_text().replace("normalize: true", "normalize: {}"))  # VecNormalize's defaults
    loaded, recorded = (
        agents.load(run_copy).get_vec_normalize_env(),
        agents.load(normalised_run).get_vec_normalize_env(),
    )
    assert loaded is not None and loaded.obs_rms.count == recorded.obs_rms.count > 1  # the run's, not fresh ones
    np.testing.assert_array_equal(loaded.obs_rms.mean, recorded.obs_rms.mean)
    np.testing.assert_array_equal(loaded.obs_rms.var, recorded.obs_rms.var)
    for name in ("vecnormalize.pkl", "vecnormalize.npz"):
        (run_copy / name).unlink()
    with pytest.raises(ValueError, match=MISSING_STATS.format("pkl")):
        agents.evaluate(run_copy, episodes=1, write=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_eval_on_a_cuda_device_without_cuda_is_refused(normalised_run):
    with pytest.raises(ValueError, match="device='cuda' is not available: this machine has no CUDA device"):
        agents.evaluate(normalised_run, episodes=1, write=False, device="cuda")
    with pytest.raises(ValueError, match="device='cuda' is not available"):
        agents.load(normalised_run, device="cuda")


def test_a_cpu_device_with_an_index_loads_on_the_cpu(normalised_run):
    assert agents.load(normalised_run, device="cpu:0").device.type == "cpu"
    assert agents.evaluate(normalised_run, episodes=1, write=False, device="cpu:0").episodes == 1


def test_loading_a_run_as_another_algorithm_is_refused(normalised_run):
    with pytest.raises(ValueError, match=r"was trained with ppo, not a2c: drop --algo .* or pass --algo ppo"):
        agents.evaluate(normalised_run, episodes=1, write=False, algo="a2c")
    with pytest.raises(ValueError, match="was trained with ppo, not dqn"):
        agents.load(normalised_run, algo="dqn")
    assert agents.load(normalised_run, algo="PPO").num_timesteps == 64  # the class name is an alias


def test_eval_refuses_non_finite_env_arguments(normalised_run):
    with pytest.raises(ValueError, match=r"env_kwargs.max_episode_steps=inf is not a finite number"):
        agents.evaluate(normalised_run, episodes=1, write=False, env_kwargs={"max_episode_steps": float("inf")})


def test_dry_run_shows_the_device_it_would_record(tmp_path, tiny_config):
    assert agents.dry_run(tiny_config(tmp_path, device="auto")).config.device in ("cpu", "cuda")


@pytest.mark.slow
@pytest.mark.parametrize(("trained", "named"), [("ppo", "a2c"), ("a2c", "ppo"), ("ppo", "trpo"), ("trpo", "ppo")])
def test_resume_refuses_a_checkpoint_of_another_algorithm(tmp_path, tiny_config, trained, named):
    hyperparams = {"n_steps": 32} | ({"batch_size": 32, "n_epochs": 1} if trained == "ppo" else {})
    run = agents.train(tiny_config(tmp_path, algo=trained, save_freq=32, hyperparams=hyperparams))
    for path in (run.path / "config.yaml", run.path / TRAINED_CONFIG):  # both edited: nothing left to compare
        path.write_text(path.read_text().replace(f"algo: {trained}", f"algo: {named}"))
    cls = agents.ALGORITHMS.get(named).cls.__name__
    with pytest.raises(ValueError, match=rf"model_32.zip was not trained by {cls}, the algo the run's config names"):
        agents.resume(run.path, timesteps=64)
