"""Checkpoints and the best model, written atomically so that an interrupted write never costs a good file.

A checkpoint at ``N`` steps is ``checkpoints/model_N.zip`` with, where used, ``model_N_vecnormalize.pkl`` (and its
plain-array twin ``.npz``)
and (off-policy algorithms) ``replay_buffer_N.pkl``. The model is written last: its presence commits the
checkpoint, so a run killed in the middle of a write resumes from the previous one. Only the latest replay
buffer is kept (they are large); every model checkpoint is kept.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from agents.setup.algorithms import ALGORITHMS
from agents.setup.config import RunConfig
from agents.setup.signatures import accepted_kwargs
from agents.setup.vec_envs import normalize_kwargs
from agents.storage.layout import (
    BEST_MODEL_FILE,
    CHECKPOINT_DIR,
    REPLAY_BUFFERS,
    arrays_path,
    checkpoint_model,
    replay_buffer_path,
    vecnormalize_path,
)
from agents.storage.runs import latest_good_checkpoint, read_small_text, save_atomic, save_model_atomic, write_json
from agents.storage.vecnormalize_arrays import save_arrays

BEST_INFO_FILE = "best_model.json"


@dataclass(frozen=True)
class Checkpoint:
    """A committed checkpoint: its step count and files (None where the run has no such file)."""

    steps: int
    model: Path
    vecnormalize: Path | None
    replay_buffer: Path | None


def save_with_stats(model: BaseAlgorithm, path: Path) -> Path:
    """Save ``model`` to ``path`` and its ``VecNormalize`` statistics beside it, all atomically (stats first).

    The statistics are written twice: ``vecnormalize.pkl`` (SB3's ``VecNormalize.save``, a pickle) and
    ``vecnormalize.npz`` (plain arrays, for safe loading: ``agents.storage.vecnormalize_arrays``).
    """
    venv = model.get_vec_normalize_env()
    if venv is not None:
        stats = vecnormalize_path(path)
        save_atomic(arrays_path(stats), lambda tmp: save_arrays(venv, tmp))
        save_atomic(stats, venv.save)
    return save_model_atomic(model, path)


def save_checkpoint(model: BaseAlgorithm, run_dir: Path) -> Checkpoint:
    """Write a checkpoint of ``model`` at its ``num_timesteps`` (replay buffer, stats, then the model)."""
    folder = run_dir / CHECKPOINT_DIR
    folder.mkdir(exist_ok=True)
    steps = model.num_timesteps
    buffer = None
    if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        buffer = save_atomic(replay_buffer_path(folder, steps), model.save_replay_buffer)
    path = save_with_stats(model, checkpoint_model(folder, steps))
    for old in folder.glob(REPLAY_BUFFERS):
        if old != buffer:
            old.unlink(missing_ok=True)
    return Checkpoint(steps, path, _statistics(path), buffer)


def latest_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The latest good checkpoint in ``run_dir/checkpoints`` (a damaged model zip is passed over), or None."""
    good = latest_good_checkpoint(run_dir)
    if good is None:
        return None
    steps, path = good
    buffer = replay_buffer_path(path.parent, steps)
    return Checkpoint(steps, path, _statistics(path), buffer if buffer.is_file() else None)


def _statistics(model_path: Path) -> Path | None:
    """The statistics file beside a checkpoint: the pickle, else its plain-array twin, else None."""
    stats = vecnormalize_path(model_path)
    return next((path for path in (stats, arrays_path(stats)) if path.is_file()), None)


def check_trained_by(model: BaseAlgorithm, checkpoint: Path, policy: str) -> None:
    """Raise ``ValueError`` when ``model``, loaded from ``checkpoint``, was trained by another algorithm.

    SB3 loads a PPO zip as A2C without a word (same policy class) and would then train it with A2C's updates. The
    zip's ``data`` (JSON, nothing unpickled) holds the constructor settings of the algorithm that wrote it: they must
    be those ``type(model)`` stores, and the policy one of its own.
    """
    cls = type(model)
    every = {key for name in ALGORITHMS for key in accepted_kwargs(ALGORITHMS.get(name).cls)} - {"env", "device"}
    with zipfile.ZipFile(checkpoint) as archive:
        stored = set(json.loads(archive.read("data"))) & every
    fresh = cls(policy, model.get_env(), _init_setup_model=False)  # what a checkpoint of cls stores
    expected = set(vars(fresh)) & every
    foreign_policy = type(model.policy) not in set(cls.policy_aliases.values()) | {fresh.policy_class}
    if stored != expected or foreign_policy:
        details = f"settings {sorted(stored - expected)} that it does not take" if stored - expected else ""
        details += (" and " if details and expected - stored else "") + (
            f"none of its own {sorted(expected - stored)}" if expected - stored else ""
        )
        details = details or f"a {type(model.policy).__name__}, not one of its policies"
        raise ValueError(
            f"{checkpoint} was not trained by {cls.__name__}, the algo the run's config names: it holds {details}. "
            "Resume it with the algorithm it was trained with (undo the edit of algo in config.yaml and "
            "checkpoints/config.yaml)."
        )


def warn_incomplete(checkpoint: Checkpoint, config: RunConfig) -> None:
    """Warn when the checkpoint lacks what its run carries on: ``VecNormalize`` statistics, the replay buffer."""
    missing = []
    if normalize_kwargs(config) is not None and checkpoint.vecnormalize is None:
        missing.append(
            f"its VecNormalize statistics ({vecnormalize_path(checkpoint.model).name}): the run goes on with fresh "
            "ones, so the policy sees differently scaled observations (and rewards) until they settle"
        )
    if ALGORITHMS.get(config.algo).off_policy and checkpoint.replay_buffer is None:
        missing.append(
            f"its replay buffer (replay_buffer_{checkpoint.steps}.pkl): the run goes on with an empty one, and "
            "learning_starts does not apply again, so the first updates sample a handful of new transitions"
        )
    if missing:
        warnings.warn(
            f"Resuming from {checkpoint.model} without {'; and without '.join(missing)}.", UserWarning, stacklevel=3
        )


class RunCheckpointCallback(BaseCallback):
    """Write a checkpoint (see ``save_checkpoint``) once the step count has passed a multiple of ``save_freq``.

    Checkpoints are taken at the start of a rollout, after the previous rollout's update: ``model_N.zip`` then
    holds every update of the ``N`` steps it names (taken in the middle of a rollout, it would miss that rollout's
    update, and a resume from it would skip one). The counter starts from the model's step count, so a resumed
    run writes no checkpoint of the steps it resumed from.
    """

    def __init__(self, run_dir: Path, save_freq: int, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.run_dir = run_dir
        self.save_freq = save_freq
        self._next = 0

    def _init_callback(self) -> None:
        self._next = self._after(self.model.num_timesteps)

    def _after(self, steps: int) -> int:
        """The first multiple of ``save_freq`` above ``steps``."""
        return (steps // self.save_freq + 1) * self.save_freq if self.save_freq > 0 else 0

    def _on_rollout_start(self) -> None:
        steps = self.model.num_timesteps
        if self.save_freq > 0 and steps >= self._next:
            checkpoint = save_checkpoint(self.model, self.run_dir)
            self._next = self._after(steps)
            if self.verbose:
                print(f"Checkpoint: {checkpoint.model}")

    def _on_step(self) -> bool:
        return True


def read_best(run_dir: Path) -> dict[str, Any] | None:
    """``best_model.json`` (``{"mean_reward", "timesteps"}``) or None when there is no best model yet."""
    path = run_dir / BEST_INFO_FILE
    if not path.is_file() or not (run_dir / BEST_MODEL_FILE).is_file():
        return None
    try:
        best = json.loads(read_small_text(path))
    except json.JSONDecodeError as exc:
        best = f"not valid JSON ({exc})"
    if not isinstance(best, dict) or not all(
        isinstance(best.get(key), (int, float)) and not isinstance(best.get(key), bool)
        for key in ("mean_reward", "timesteps")
    ):
        raise ValueError(
            f"{path} is damaged ({best if isinstance(best, str) else 'no numbers mean_reward and timesteps'}): "
            f"delete it and {BEST_MODEL_FILE} beside it (the next evaluation writes both again)."
        )
    return best


def save_best(model: BaseAlgorithm, run_dir: Path, mean_reward: float) -> None:
    """Save ``model`` as ``best_model.zip`` (with its statistics) and record its score in ``best_model.json``."""
    save_with_stats(model, run_dir / BEST_MODEL_FILE)
    write_json(run_dir / BEST_INFO_FILE, {"mean_reward": float(mean_reward), "timesteps": int(model.num_timesteps)})


class SaveBestCallback(BaseCallback):
    """``callback_on_new_best`` of an ``EvalCallback``: writes ``best_model.zip`` atomically.

    SB3's ``EvalCallback`` would save with a plain ``model.save``; here the parent has no save path and this
    callback saves the model with its ``VecNormalize`` statistics through a temporary file and a rename.
    """

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir

    def _on_step(self) -> bool:
        save_best(self.model, self.run_dir, self.parent.best_mean_reward)
        return True
