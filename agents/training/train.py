"""Build, train and resume an agent from a ``RunConfig``; everything lands in one run folder."""

from __future__ import annotations

import dataclasses
import time
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.logger import Logger, make_output_format
from stable_baselines3.common.vec_env import VecEnv, VecTransposeImage

from agents.evaluation.evaluate import EVAL_SEED_OFFSET, EvalResult, read_config, read_config_file
from agents.setup.algorithms import ALGORITHMS
from agents.setup.build import checked_model, policy_name, set_threads
from agents.setup.config import RunConfig
from agents.setup.env_ids import check_env_id
from agents.setup.resolution import check_config, resolve_with_choices
from agents.setup.simulators import simulator_note
from agents.setup.summary import run_summary
from agents.setup.vec_envs import make_env, wrap_normalize
from agents.storage.layout import (
    COMMAND_FILE,
    CONFIG_FILE,
    EVAL_FILE,
    EVALUATIONS_FILE,
    MODEL_FILE,
    MONITOR_DIR,
    TRAINED_CONFIG,
)
from agents.storage.monitor_files import trim_monitor
from agents.storage.outputs import check_output_folder
from agents.storage.runs import (
    env_folder_name,
    finishing,
    is_model_zip,
    new_run_dir,
    read_small_text,
    run_lock,
    write_atomic,
    write_yaml,
)
from agents.training.callbacks import AttentionLogCallback
from agents.training.checkpoints import (
    RunCheckpointCallback,
    SaveBestCallback,
    check_trained_by,
    latest_checkpoint,
    read_best,
    save_checkpoint,
    save_with_stats,
    warn_incomplete,
)
from agents.training.final_evaluation import final_evaluation
from agents.training.hparams import log_hyperparameters
from agents.training.memory_callback import MemoryFocusCallback, memory_callbacks
from policies import EXTRACTORS


@dataclass
class Run:
    """What ``train`` and ``resume`` leave behind."""

    path: Path
    """The run folder."""
    config: RunConfig
    """The resolved config (as saved in ``config.yaml``)."""
    model: BaseAlgorithm
    """The trained model (also saved as ``model.zip``)."""
    wall_time_s: float
    """Seconds spent in ``learn``."""
    interrupted: bool
    """True when training was stopped with Ctrl-C (the model reached so far is saved)."""
    evaluation: EvalResult | None
    """The final evaluation, or None with ``eval_episodes=0``."""
    resumed_from: int | None = None
    """Steps of the checkpoint a resumed run started from (None for a fresh run)."""

    @property
    def model_path(self) -> Path:
        """Path of the saved model."""
        return self.path / MODEL_FILE

    @property
    def logdir(self) -> Path:
        """What to give ``tensorboard --logdir``: the run root, or the run folder itself outside ``<root>/<env>/``.

        At ``<root>/<env>/<run>`` the root shows every run of every env; a run moved or resumed from elsewhere
        would not be found under its grandparent, so its own folder is given.
        """
        if self.path.parent.name == env_folder_name(self.config.env):
            return self.path.parent.parent
        return self.path


def _logger(run_dir: Path, verbose: int) -> Logger:
    """Tensorboard events in the run folder (a resumed run adds a file there) and ``progress[_resumeK].csv``."""
    previous = len(list(run_dir.glob("progress*.csv")))
    suffix = "" if previous == 0 else f"_resume{previous}"
    formats = ["tensorboard", "csv"] + (["stdout"] if verbose else [])
    return Logger(str(run_dir), [make_output_format(f, str(run_dir), suffix) for f in formats])


def _eval_callback(
    model: BaseAlgorithm, config: RunConfig, run_dir: Path, after_eval: BaseCallback | None = None
) -> EvalCallback:
    """Evaluate every ``eval_freq`` steps on its own env and keep ``best_model.zip`` (atomically).

    ``after_eval`` is called after each evaluation, with the ``EvalCallback`` as its ``parent``.
    """
    eval_env = make_env(config, 1, config.seed + EVAL_SEED_OFFSET, vec_env="dummy")
    if model.get_vec_normalize_env() is not None:  # statistics are synced from training before each eval
        settings = config if config.normalize else dataclasses.replace(config, normalize=True)
        eval_env = wrap_normalize(eval_env, settings, training=False)  # norm_obs as in training
    if isinstance(model.get_env(), VecTransposeImage):  # SB3 transposed the training images: the same wrappers
        eval_env = VecTransposeImage(eval_env)  # in the same order, or syncing the statistics fails
    cls = MaskableEvalCallback if ALGORITHMS.get(config.algo).masked else EvalCallback
    callback = cls(
        eval_env,
        callback_on_new_best=SaveBestCallback(run_dir),
        callback_after_eval=after_eval,
        n_eval_episodes=config.eval_freq_episodes,
        eval_freq=max(config.eval_freq // config.n_envs, 1),
        log_path=str(run_dir),
        best_model_save_path=None,
        deterministic=config.eval_deterministic,
        warn=False,
        verbose=config.verbose,
    )
    best = read_best(run_dir)
    if best is not None:
        callback.best_mean_reward = best["mean_reward"]
    history = run_dir / EVALUATIONS_FILE
    if history.is_file():  # a resumed run extends the history instead of overwriting it
        try:
            with np.load(history) as data:
                callback.evaluations_timesteps = data["timesteps"].tolist()
                callback.evaluations_results = data["results"].tolist()
                callback.evaluations_length = data["ep_lengths"].tolist()
                if "successes" in data:
                    callback.evaluations_successes = data["successes"].tolist()
        except (ValueError, OSError, KeyError, AttributeError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(
                f"{history} is damaged ({' '.join(str(exc).split())[:120]}): delete it to resume (the history of "
                "periodic evaluations then starts again)."
            ) from None
    return callback


def _close(env: VecEnv) -> None:
    """Close a VecEnv; after Ctrl-C, ``SubprocVecEnv`` workers (which got the SIGINT too) may be gone already."""
    try:
        env.close()
    except (EOFError, ConnectionError, OSError):
        pass


def _learn(
    model: BaseAlgorithm,
    config: RunConfig,
    run_dir: Path,
    steps: int,
    resumed_from: int | None,
    after_eval: BaseCallback | None = None,
    notes: Sequence[str] = (),
) -> Run:
    """Train ``steps`` more steps with checkpoints and evaluations; save, evaluate, and return the run.

    ``notes`` (the automatic choices) are printed under the run's summary line, before training.
    """
    callbacks: list[BaseCallback] = [RunCheckpointCallback(run_dir, config.save_freq)]
    if config.attention_log_interval > 0:
        callbacks.insert(0, AttentionLogCallback(interval=config.attention_log_interval, methods=config.focus))
    callbacks[:0] = memory_callbacks(model, config.attention_log_interval, config.focus)  # ppo_trxl: where in time
    if config.eval_freq > 0:
        callbacks.append(_eval_callback(model, config, run_dir, after_eval))
    print(run_summary(config))
    for line in notes:
        print(line)
    note = simulator_note(config.env, config.vec_env, config.env_kwargs)
    if note:
        print(note)
    log_hyperparameters(model.logger, config.to_dict(), model.num_timesteps)
    interrupted = False
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # The periodic evaluation runs one env in-process while training may use SubprocVecEnv: intended.
            warnings.filterwarnings("ignore", message="Training and eval env are not of the same type")
            model.learn(
                steps,
                callback=CallbackList(callbacks),
                progress_bar=config.progress_bar,
                reset_num_timesteps=resumed_from is None,
            )
    except KeyboardInterrupt:
        interrupted = True
        for callback in callbacks:  # the final pictures and focus scalars, as at the end of training
            if isinstance(callback, (AttentionLogCallback, MemoryFocusCallback)):
                callback.on_training_end()
    finally:
        wall_time = time.perf_counter() - start
        with finishing(run_dir, "the final save"):
            save_with_stats(model, run_dir / MODEL_FILE)
            save_checkpoint(model, run_dir)
        _close(model.get_env())
        for callback in callbacks:
            if isinstance(callback, EvalCallback):
                _close(callback.eval_env)

    evaluation = None
    if config.eval_episodes > 0:
        with finishing(run_dir, "the final evaluation"):
            evaluation = final_evaluation(model, config, run_dir)
    model.logger.close()
    return Run(run_dir, config, model, wall_time, interrupted, evaluation, resumed_from)


def train(config: RunConfig, command: str | None = None, after_eval: BaseCallback | None = None) -> Run:
    """Train an agent as ``config`` says, save it, evaluate it, and return the run.

    The run folder ``<run_root>/<env>/<algo>_<extractor>_s<seed>[_k]/`` receives ``config.yaml`` (the
    resolved config), ``command.txt``, the tensorboard events and ``progress.csv``, ``monitor/``,
    ``checkpoints/``, ``model.zip`` (and ``vecnormalize.pkl``), ``best_model.zip`` and ``eval.json``.
    Ctrl-C stops training early and still saves and evaluates the model. ``after_eval`` (a callback) runs
    after each periodic evaluation, with the ``EvalCallback`` as its ``parent`` (sweeps report from it).
    """
    config, choices = resolve_with_choices(config)
    set_threads(config.threads)
    check_output_folder(config.run_root, "--run-dir")
    model = checked_model(config)  # a bad env or setting leaves no run folder behind
    config = dataclasses.replace(config, device=str(model.device))  # what `auto` chose: the device recorded is used
    run_dir = new_run_dir(config.run_root, config.env, config.algo, config.extractor, config.seed)
    write_yaml(run_dir / CONFIG_FILE, config.to_dict())
    (run_dir / TRAINED_CONFIG).parent.mkdir(exist_ok=True)
    write_yaml(run_dir / TRAINED_CONFIG, config.to_dict())
    if command is not None:
        write_atomic(run_dir / COMMAND_FILE, command + "\n")
    with run_lock(run_dir):
        env = make_env(config, config.n_envs, config.seed, monitor_dir=run_dir / MONITOR_DIR)
        model.set_env(wrap_normalize(env, config))
        model.set_logger(_logger(run_dir, config.verbose))
        notes = [choice.line for choice in choices]
        return _learn(model, config, run_dir, config.timesteps, resumed_from=None, after_eval=after_eval, notes=notes)


#: Settings a resumed run may change; the rest is the run's own ``config.yaml``.
RESUME_SETTINGS = (
    "timesteps",
    "device",
    "threads",
    "save_freq",
    "eval_freq",
    "eval_episodes",
    "attention_log_interval",
    "focus",
    "progress_bar",
    "verbose",
)


def resume(
    run_dir: str | Path, command: str | None = None, after_eval: BaseCallback | None = None, **changes: Any
) -> Run:
    """Continue a run from its latest checkpoint until ``timesteps`` (the run's total, or a new one).

    The step counter, the schedules (``reset_num_timesteps=False``), the ``VecNormalize`` statistics and
    (off-policy) the replay buffer carry on; tensorboard events go to the same folder, so the step axis
    continues; monitor files are appended to (first cut back to the episodes that ended by the checkpoint, since
    the steps after it are played again) and the CSV log gets ``progress_resumeK.csv``.

    Args:
        run_dir: a run folder made by ``train``.
        command: appended to ``command.txt``.
        after_eval: a callback run after each evaluation, as for ``train``.
        **changes: new values for ``RESUME_SETTINGS`` (None keeps the run's).
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"No {CONFIG_FILE} in {run_dir}: --resume takes a run folder made by train_rl.py.")
    for key in changes:
        if key not in RESUME_SETTINGS:
            raise ValueError(
                f"A resumed run keeps its config.yaml; '{key}' cannot change. What can: {', '.join(RESUME_SETTINGS)}."
            )
    config = dataclasses.replace(read_config(run_dir), **{k: v for k, v in changes.items() if v is not None})
    check_env_id(config.env, config.gym_packages)
    check_config(config)
    check_unchanged(run_dir, config)
    with run_lock(run_dir):
        return _resume_locked(run_dir, config, command, after_eval)


def check_unchanged(run_dir: Path, config: RunConfig) -> None:
    """Refuse a ``config.yaml`` edited since training in a setting a resumed run keeps, naming the keys.

    The resolved config the checkpoints were trained with is ``checkpoints/config.yaml``. Without it an edit would
    go unseen (a PPO checkpoint resumed with A2C's updates, an edited learning rate recorded while the checkpoint's
    own is used), so the resume is refused until the user vouches for ``config.yaml`` by copying it there.
    """
    trained_path = run_dir / TRAINED_CONFIG
    if not trained_path.is_file():
        raise FileNotFoundError(
            f"No {trained_path}: it records the settings the checkpoints were trained with, and without it an edit "
            f"of {CONFIG_FILE} (another algo or learning rate) would go unseen. If {run_dir / CONFIG_FILE} is as "
            f"training wrote it, copy it to {trained_path} and resume again."
        )
    trained = read_config_file(trained_path).to_dict()
    current = config.to_dict()
    edited = [key for key in current if key not in RESUME_SETTINGS and current[key] != trained.get(key)]
    if edited:
        details = "; ".join(f"{key}: {trained.get(key)!r} in training, {current[key]!r} now" for key in edited)
        raise ValueError(
            f"{run_dir / CONFIG_FILE} was edited since training ({details}). A resumed run continues the model it "
            f"trained, so only {', '.join(RESUME_SETTINGS)} may change: undo the edit, or train a new run with the "
            "new settings."
        )


def _resume_locked(
    run_dir: Path, config: RunConfig, command: str | None, after_eval: BaseCallback | None = None
) -> Run:
    """``resume``'s work while it holds the run folder's lock."""
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise FileNotFoundError(
            f"No checkpoint in {run_dir / 'checkpoints'}: the run was stopped before its first one (--save-freq)."
        )
    finished = is_model_zip(run_dir / MODEL_FILE) and (config.eval_episodes == 0 or (run_dir / EVAL_FILE).is_file())
    if checkpoint.steps >= config.timesteps and finished:
        raise ValueError(
            f"{run_dir} already trained {checkpoint.steps} of its {config.timesteps} steps: pass a larger "
            f"total with --timesteps (more than {checkpoint.steps}) to train on."
        )
    if checkpoint.steps >= config.timesteps:  # stopped while saving or evaluating at the end: finish that
        warnings.warn(
            f"{run_dir} trained all {config.timesteps} steps but was stopped before its final save or evaluation: "
            f"finishing from {checkpoint.model}.",
            stacklevel=2,
        )
    warn_incomplete(checkpoint, config)
    set_threads(config.threads)
    entry = ALGORITHMS.get(config.algo)
    # One monitor file per env; envpool's VecMonitor writes every env's episodes into one.
    trim_monitor(run_dir / MONITOR_DIR, checkpoint.steps // (1 if config.vec_env == "envpool" else config.n_envs))
    env = make_env(
        config, config.n_envs, config.seed + checkpoint.steps, monitor_dir=run_dir / MONITOR_DIR, append_monitor=True
    )
    env = wrap_normalize(env, config, checkpoint.vecnormalize, training=True)
    try:
        model = entry.cls.load(checkpoint.model, env=env, device=config.device)
        check_trained_by(
            model,
            checkpoint.model,
            policy_name(env.observation_space, EXTRACTORS.get(config.extractor), entry.policy_infix),
        )
    except BaseException:
        env.close()
        raise
    if checkpoint.replay_buffer is not None:
        model.load_replay_buffer(checkpoint.replay_buffer)
    config = dataclasses.replace(config, device=str(model.device))  # what `auto` chose: the device recorded is used
    if command is not None:
        previous = read_small_text(run_dir / COMMAND_FILE) if (run_dir / COMMAND_FILE).is_file() else ""
        write_atomic(run_dir / COMMAND_FILE, previous + command + "\n")
    write_yaml(run_dir / CONFIG_FILE, config.to_dict())
    model.set_logger(_logger(run_dir, config.verbose))
    steps = max(config.timesteps - model.num_timesteps, 0)
    return _learn(model, config, run_dir, steps, resumed_from=checkpoint.steps, after_eval=after_eval)
