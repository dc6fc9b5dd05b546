"""Checkpoints, --resume and interruption: nothing a crash, SIGKILL or Ctrl-C could cost is lost."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from subprocesses import default_sigint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import agents
import train_rl
from agents.setup.build import build_model
from agents.setup.config import RunConfig
from agents.setup.resolution import resolve
from agents.setup.vec_envs import make_env
from agents.training.checkpoints import latest_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
PPO_TINY = ["hyperparams.n_steps=32", "hyperparams.batch_size=32", "hyperparams.n_epochs=1"]


def scalars(path: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(path))
    events.Reload()
    if tag not in events.Tags()["scalars"]:
        return []
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.mark.slow
def test_sigkill_then_resume_continues_steps_schedules_and_tensorboard(tmp_path, capsys):
    proc = subprocess.Popen(
        [
            sys.executable, str(ROOT / "train_rl.py"), "--timesteps", "1000000", "--n-envs", "2", "--threads", "1",
            "--save-freq", "128", "--eval-freq", "0", "--eval-episodes", "1", "--no-progress-bar",
            "--set", *PPO_TINY, "hyperparams.learning_rate=lin_0.001", "env_kwargs.max_episode_steps=20",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    run_dir = tmp_path / "runs" / "attn-FindTarget-v0" / "ppo_attention_s0"
    deadline = time.time() + 120
    while len(list((run_dir / "checkpoints").glob("model_*.zip"))) < 3 and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    proc.kill()  # SIGKILL: no handler runs, no final save
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "model.zip").exists()
    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint is not None and checkpoint.steps >= 384 and checkpoint.steps % 128 == 0
    (old_events,) = run_dir.glob("events.out.tfevents.*")
    killed_steps = [step for step, _ in scalars(old_events, "time/fps")]
    # The checkpoint is saved on the rollout's last step and that rollout's logs are written just after it: the
    # kill can land between the two, so the events may end one rollout (2 envs x 32 steps) before the checkpoint.
    assert killed_steps and max(killed_steps) >= checkpoint.steps - 64

    target = checkpoint.steps + 256
    code = train_rl.main(["--resume", str(run_dir), "--timesteps", str(target), "--no-progress-bar"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"resumed from {checkpoint.steps} steps, trained to {target}" in out
    model = agents.load(run_dir)
    assert model.num_timesteps == target

    (new_events,) = set(run_dir.glob("events.out.tfevents.*")) - {old_events}
    resumed = scalars(new_events, "time/fps")
    assert resumed[0][0] == checkpoint.steps + 64 and resumed[-1][0] == target  # the step axis continues
    # The linear schedule went on from the checkpoint's progress instead of starting again at 0.001.
    learning_rates = scalars(new_events, "train/learning_rate")
    assert learning_rates and all(lr < 0.001 * (1 - checkpoint.steps / target) + 1e-9 for _, lr in learning_rates)
    # One tensorboard run: the folder holds both files, read together by tensorboard.
    assert max(step for step, _ in scalars(run_dir, "time/fps")) == target
    assert (run_dir / "progress_resume1.csv").is_file() and (run_dir / "progress.csv").is_file()
    commands = (run_dir / "command.txt").read_text().splitlines()
    assert len(commands) == 2 and "--resume" in commands[1]
    # The episodes the killed run finished after its checkpoint were played again: each env counts them once.
    # The resumed Monitor's clock goes on from the file's t_start: the episodes stay in the order they ended.
    for monitor in (run_dir / "monitor").glob("*.monitor.csv"):
        rows = [line.split(",") for line in monitor.read_text().splitlines()[2:]]
        assert sum(int(row[1]) for row in rows) <= target // 2
        ends = [float(row[2]) for row in rows]
        assert ends == sorted(ends)


@pytest.mark.slow
def test_resume_carries_the_replay_buffer(tmp_path, capsys):
    sets = ["hyperparams.learning_starts=16", "hyperparams.buffer_size=1000", "hyperparams.batch_size=8"]
    args = ["--algo", "dqn", "--run-dir", str(tmp_path), "--timesteps", "96", "--save-freq", "32", "--eval-freq", "0"]
    code = train_rl.main([*args, "--eval-episodes", "0", "--no-progress-bar", "--set", *sets])
    run_dir = tmp_path / "attn-FindTarget-v0" / "dqn_attention_s0"
    assert code == 0, capsys.readouterr().err
    assert [p.name for p in (run_dir / "checkpoints").glob("replay_buffer_*.pkl")] == ["replay_buffer_96.pkl"]
    monitor = run_dir / "monitor" / "0.monitor.csv"
    trained = monitor.read_text()
    monitor.write_text(trained + "-7.0,97,999.0\n")  # an episode a stopped run finished after its checkpoint
    run = agents.resume(run_dir, timesteps=160, eval_episodes=0, progress_bar=False)
    assert run.resumed_from == 96 and run.model.num_timesteps == 160
    assert run.model.replay_buffer.size() == 160  # 96 carried over + 64 new transitions
    resumed = monitor.read_text()
    assert resumed.startswith(trained) and "-7.0,97,999.0" not in resumed  # the steps after 96 count once


@pytest.mark.parametrize("vec_env", ["dummy", "subproc"])
def test_appended_monitors_keep_the_clock_of_their_file(tmp_path, tiny_config, vec_env):
    monitor_dir = tmp_path / "monitor"
    monitor_dir.mkdir()
    started = time.time() - 1000.0  # a run that started 1000 s ago; env 1 has no file yet
    (monitor_dir / "0.monitor.csv").write_text(f'#{{"t_start": {started}, "env_id": "x"}}\nr,l,t\n1.0,5,2.0\n')
    config = tiny_config(tmp_path, n_envs=2, vec_env=vec_env)
    env = make_env(config, 2, 0, monitor_dir=monitor_dir, append_monitor=True)
    try:
        first, second = env.get_attr("t_start")
        assert first == started and abs(second - time.time()) < 60
    finally:
        env.close()


@pytest.mark.slow
def test_resume_carries_vecnormalize_statistics(tmp_path, tiny_config):
    config = tiny_config(tmp_path, env="CartPole-v1", timesteps=128, n_envs=2, normalize=True, save_freq=64)
    run = agents.train(config)
    count = run.model.get_vec_normalize_env().obs_rms.count
    resumed = agents.resume(run.path, timesteps=192)
    assert resumed.model.get_vec_normalize_env().obs_rms.count > count + 60  # updated from the saved statistics


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_interrupted_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, algo):
    config = resolve(RunConfig(algo=algo, n_envs=1, hyperparams={"buffer_size": 100} if algo == "dqn" else {}))
    model = build_model(config, agents.make_env(config, 1, 0))
    model.num_timesteps = 64
    first = save_checkpoint(model, tmp_path)
    good = first.model.read_bytes()

    def half_written_then_interrupted(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(model), "save", half_written_then_interrupted)
    model.num_timesteps = 128
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(model, tmp_path)
    latest = latest_checkpoint(tmp_path)
    assert latest.steps == 64 and latest.model.read_bytes() == good
    assert not (tmp_path / "checkpoints" / "model_128.zip").exists()
    assert not list((tmp_path / "checkpoints").glob(".*"))  # no temporary file left behind
    if algo == "dqn":
        assert latest.replay_buffer is not None and latest.replay_buffer.is_file()
    monkeypatch.undo()
    loaded = type(model).load(latest.model)
    assert loaded.num_timesteps == 64
    np.testing.assert_array_equal(
        loaded.predict(model.observation_space.sample()[None], deterministic=True)[0].shape, (1,)
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--env", "CartPole-v1"], "--resume continues the run as its config.yaml says; it cannot change env"),
        (["--set", "seed=3"], "it cannot change --set"),
        (["--timesteps", "64"], "already trained 64 of its 64 steps: pass a larger total with --timesteps"),
    ],
)
def test_resume_refuses_what_it_cannot_do(tmp_path, capsys, args, expected):
    train_args = [
        "--run-dir",
        str(tmp_path),
        "--timesteps",
        "64",
        "--n-envs",
        "1",
        "--eval-episodes",
        "0",
        "--no-progress-bar",
    ]
    assert train_rl.main([*train_args, "--set", *PPO_TINY]) == 0
    capsys.readouterr()
    run_dir = tmp_path / "attn-FindTarget-v0" / "ppo_attention_s0"
    assert train_rl.main(["--resume", str(run_dir), *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]


def test_resume_without_a_run_or_checkpoint(tmp_path, capsys):
    assert train_rl.main(["--resume", str(tmp_path)]) == 2
    assert "No config.yaml in" in capsys.readouterr().err


@pytest.mark.slow
def test_sigint_to_the_process_group_with_subproc_envs_saves_and_exits(tmp_path):
    """Ctrl-C in a terminal reaches the workers too: their pipes close before the main process saves."""
    proc = subprocess.Popen(
        [
            sys.executable, str(ROOT / "train_rl.py"), "--timesteps", "1000000", "--n-envs", "2", "--threads", "1",
            "--vec-env", "subproc", "--eval-episodes", "1", "--no-progress-bar", "--set", *PPO_TINY,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    run_dir = tmp_path / "runs" / "attn-FindTarget-v0" / "ppo_attention_s0"
    deadline = time.time() + 120
    while not (run_dir / "progress.csv").is_file() or (run_dir / "progress.csv").stat().st_size < 200:
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()  # never leave a runaway trainer behind a failed test
    assert proc.returncode == 0, err
    assert "interrupted (Ctrl-C)" in out and f"--resume {Path('runs/attn-FindTarget-v0/ppo_attention_s0')}" in out
    model = agents.load(run_dir)
    assert 0 < model.num_timesteps < 1_000_000
    assert latest_checkpoint(run_dir).steps == model.num_timesteps  # the interrupt leaves a checkpoint to resume


def small_run(tmp_path) -> agents.Run:
    config = agents.apply_overrides(
        RunConfig(run_root=str(tmp_path), timesteps=128, n_envs=1, eval_episodes=0, progress_bar=False,
                  save_freq=64, eval_freq=0, attention_log_interval=0), PPO_TINY,
    )  # fmt: skip
    return agents.train(config)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edit", "key"), [("algo: ppo", "algo"), ("gamma: 0.99", "hyperparams"), ("extractor: attention", "extractor")]
)
def test_resume_refuses_an_edited_config(tmp_path, edit, key):
    run = small_run(tmp_path)
    path = run.path / "config.yaml"
    text = path.read_text()
    edited = {
        "algo": text.replace("algo: ppo", "algo: a2c"),
        "hyperparams": text.replace("  gamma: 0.99", "  gamma: 0.5"),
        "extractor": text.replace("extractor: attention", "extractor: latent"),
    }[key]
    assert edited != text
    path.write_text(edited)
    with pytest.raises(ValueError, match=rf"config.yaml was edited since training \({key}: "):
        agents.resume(run.path, timesteps=256)
    path.write_text(text)  # undone: the run resumes
    assert agents.resume(run.path, timesteps=192).model.num_timesteps >= 192


@pytest.mark.slow
def test_a_run_folder_in_training_refuses_a_second_training(tmp_path):
    from agents.storage.runs import run_lock

    run = small_run(tmp_path)
    with run_lock(run.path), pytest.raises(ValueError, match=r"is being trained by another process \(pid \d+\)"):
        agents.resume(run.path, timesteps=256)
    assert agents.resume(run.path, timesteps=192).model.num_timesteps >= 192  # the lock is released


@pytest.mark.slow
def test_checkpoints_hold_their_rollouts_update_and_a_resume_adds_no_stray_one(tmp_path):
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.setup.build import checked_model
    from agents.setup.vec_envs import make_env
    from agents.storage.runs import new_run_dir
    from agents.training.checkpoints import RunCheckpointCallback

    snapshots = {}

    class Snapshot(BaseCallback):
        def _on_rollout_start(self):
            snapshots[self.model.num_timesteps] = {k: v.clone() for k, v in self.model.policy.state_dict().items()}

        def _on_step(self):
            return True

    config = agents.apply_overrides(
        RunConfig(run_root=str(tmp_path), timesteps=192, n_envs=2, eval_episodes=0, progress_bar=False,
                  save_freq=64, eval_freq=0, attention_log_interval=0), PPO_TINY,
    )  # fmt: skip
    resolved = resolve(config)
    model = checked_model(resolved)
    run_dir = new_run_dir(tmp_path, resolved.env, "ppo", "attention", 0)
    model.set_env(make_env(resolved, resolved.n_envs, 0))
    model.learn(192, callback=[RunCheckpointCallback(run_dir, 64), Snapshot()])
    names = sorted(p.name for p in (run_dir / "checkpoints").glob("model_*.zip"))
    assert names == ["model_128.zip", "model_64.zip"]  # at rollout starts (64 steps each), after the update
    saved = type(model).load(run_dir / "checkpoints" / "model_64.zip", device="cpu").policy.state_dict()
    for key, value in snapshots[64].items():
        torch.testing.assert_close(saved[key], value)  # the checkpoint holds the weights after the first update

    # A resume counts from the model's steps: no checkpoint of the step it resumed from.
    small = small_run(tmp_path / "resume")
    before = sorted(p.name for p in (small.path / "checkpoints").glob("model_*.zip"))
    agents.resume(small.path, timesteps=192, save_freq=1000)
    after = sorted(p.name for p in (small.path / "checkpoints").glob("model_*.zip"))
    assert set(after) - set(before) == {"model_192.zip"}  # only the one written when training ends


def finished_run(tmp_path, eval_episodes=2) -> agents.Run:
    config = agents.apply_overrides(
        RunConfig(run_root=str(tmp_path), timesteps=128, n_envs=1, eval_episodes=eval_episodes, progress_bar=False,
                  save_freq=64, eval_freq=0, attention_log_interval=0), PPO_TINY,
    )  # fmt: skip
    return agents.train(config)


@pytest.mark.slow
def test_eval_falls_back_to_the_latest_good_checkpoint(tmp_path):
    run = finished_run(tmp_path, eval_episodes=0)
    (run.path / "model.zip").write_bytes(b"half a zip")  # killed while writing the final model
    with pytest.warns(UserWarning, match=r"model.zip is damaged .* using its latest good checkpoint"):
        result = agents.evaluate(run.path, episodes=1, write=False)
    assert result.model.endswith("model_128.zip")
    (run.path / "model.zip").unlink()
    with pytest.warns(UserWarning, match="model.zip is missing"):
        assert agents.load(run.path).num_timesteps == 128


def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(tmp_path):
    run = finished_run(tmp_path, eval_episodes=0)
    (run.path / "checkpoints" / "model_128.zip").write_bytes(b"\x00" * 100)
    assert latest_checkpoint(run.path).steps == 64


@pytest.mark.slow
def test_resume_finishes_a_run_stopped_during_its_final_save_or_evaluation(tmp_path):
    run = finished_run(tmp_path)
    (run.path / "model.zip").unlink()
    (run.path / "eval.json").unlink()
    with pytest.warns(UserWarning, match="stopped before its final save or evaluation"):
        resumed = agents.resume(run.path)
    assert resumed.model.num_timesteps == 128 and (run.path / "model.zip").is_file()
    assert (run.path / "eval.json").is_file() and resumed.evaluation.episodes == 2
    with pytest.raises(ValueError, match=r"already trained 128 of its 128 steps: .*more than 128"):
        agents.resume(run.path)  # now finished: a larger total is needed


@pytest.mark.slow
def test_statistics_are_read_only_when_the_run_normalised(tmp_path):
    run = finished_run(tmp_path, eval_episodes=0)
    (run.path / "vecnormalize.pkl").write_bytes(b"not a pickle")  # planted beside a run with normalize: false
    assert agents.evaluate(run.path, episodes=1, write=False).episodes == 1
    assert agents.load(run.path).get_vec_normalize_env() is None
