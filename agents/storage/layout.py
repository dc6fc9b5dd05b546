"""The run folder's layout: every file name a run keeps, and where each file of a model lives.

```
<root>/<env>/<algo>_<extractor>_s<seed>[_k]/
    config.yaml             the resolved config (edit it, then --resume)
    command.txt             the command that made the run
    model.zip               the last model          vecnormalize.pkl / .npz  its VecNormalize statistics
    best_model.zip          the best evaluated one   best_model_vecnormalize.pkl / .npz
    eval.json               the final evaluation     evaluations.npz          the periodic ones
    progress.csv            SB3's logger             monitor/                 SB3's Monitor files
    events.out.tfevents.*   tensorboard              .lock                    held while training
    checkpoints/            model_<steps>.zip (+ _vecnormalize.pkl / .npz), replay_buffer_<steps>.pkl,
                            config.yaml (the config the checkpoints were trained with)
```
"""

from __future__ import annotations

from pathlib import Path

MODEL_FILE = "model.zip"
BEST_MODEL_FILE = "best_model.zip"
#: ``--which`` -> the model file.
MODEL_FILES = {"last": MODEL_FILE, "best": BEST_MODEL_FILE}
CONFIG_FILE = "config.yaml"
COMMAND_FILE = "command.txt"
EVAL_FILE = "eval.json"
#: The periodic evaluations (SB3's ``EvalCallback`` format).
EVALUATIONS_FILE = "evaluations.npz"
#: SB3's logger output.
PROGRESS_FILE = "progress.csv"
#: SB3's ``Monitor`` files, one per env.
MONITOR_DIR = "monitor"
#: The lock a training holds on its run folder.
LOCK_FILE = ".lock"
CHECKPOINT_DIR = "checkpoints"
#: The resolved config the checkpoints were trained with: what ``--resume`` checks an edited ``config.yaml`` against.
TRAINED_CONFIG = Path(CHECKPOINT_DIR) / CONFIG_FILE
#: ``VecNormalize`` statistics beside ``model.zip``; other models ``X.zip`` get ``X_vecnormalize.pkl``.
VECNORMALIZE_FILE = "vecnormalize.pkl"
#: The statistics' plain-array twin (read without unpickling: ``agents.storage.vecnormalize_arrays``).
VECNORMALIZE_ARRAYS_FILE = "vecnormalize.npz"
STATISTICS_FILES = (VECNORMALIZE_FILE, VECNORMALIZE_ARRAYS_FILE)


def vecnormalize_path(model_path: Path) -> Path:
    """Where the ``VecNormalize`` statistics of a model file live: ``model.zip`` -> ``vecnormalize.pkl``."""
    if model_path.name == MODEL_FILE:
        return model_path.with_name(VECNORMALIZE_FILE)
    return model_path.with_name(f"{model_path.stem}_{VECNORMALIZE_FILE}")


def arrays_path(stats_path: Path) -> Path:
    """``vecnormalize.pkl`` -> ``vecnormalize.npz`` (same folder, same stem)."""
    return Path(stats_path).with_suffix(".npz")


def checkpoint_model(folder: Path, steps: int) -> Path:
    """``checkpoints/model_<steps>.zip``."""
    return folder / f"model_{steps}.zip"


def replay_buffer_path(folder: Path, steps: int) -> Path:
    """``checkpoints/replay_buffer_<steps>.pkl``: an off-policy checkpoint's replay buffer."""
    return folder / f"replay_buffer_{steps}.pkl"


#: Globs of the checkpoint files.
CHECKPOINT_MODELS = "model_*.zip"
REPLAY_BUFFERS = "replay_buffer_*.pkl"
