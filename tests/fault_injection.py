"""Run ``train_rl.py`` with a SIGKILL planted at one point of training (for ``test_agents_faults.py``).

``python tests/fault_injection.py POINT STEPS_FILE ARGS...`` trains with ``ARGS`` and kills itself with SIGKILL
(no handler, no ``finally``: as the OOM killer or a lost machine would) at ``POINT``, after writing the step
count reached into ``STEPS_FILE``. Points:

- ``mid_training``: at the first rollout start at or after ``KILL_AFTER`` steps (between two checkpoints);
- ``checkpoint_write``: half-way through writing the first checkpoint at or after ``KILL_AFTER`` steps;
- ``final_model_write``: half-way through writing the final ``model.zip``;
- ``final_evaluation``: when the final evaluation starts (``model.zip`` and the last checkpoint are written).
"""

import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Steps after which ``mid_training`` and ``checkpoint_write`` kill.
KILL_AFTER = 160


def _die(steps: int, steps_file: Path) -> None:
    steps_file.write_text(str(steps))
    os.kill(os.getpid(), signal.SIGKILL)


def _half_write_then_die(model, path: Path, steps_file: Path) -> None:
    """Write ``path``'s temporary file as ``save_atomic`` would, cut it in half, and die before the rename."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    model.save(tmp)
    data = tmp.read_bytes()
    tmp.write_bytes(data[: len(data) // 2])
    _die(model.num_timesteps, steps_file)


def plant(point: str, steps_file: Path) -> None:
    """Patch the project so that the process SIGKILLs itself at ``point``."""
    from agents.training import checkpoints, final_evaluation

    save_model = checkpoints.save_model_atomic

    def save_model_atomic(model, path):
        path = Path(path)
        in_checkpoints = path.parent.name == checkpoints.CHECKPOINT_DIR
        if point == "final_model_write" and path.name == "model.zip":
            _half_write_then_die(model, path, steps_file)
        if point == "checkpoint_write" and in_checkpoints and model.num_timesteps >= KILL_AFTER:
            _half_write_then_die(model, path, steps_file)
        return save_model(model, path)

    checkpoints.save_model_atomic = save_model_atomic
    rollout_start = checkpoints.RunCheckpointCallback._on_rollout_start

    def on_rollout_start(self) -> None:
        rollout_start(self)
        if point == "mid_training" and self.model.num_timesteps >= KILL_AFTER:
            _die(self.model.num_timesteps, steps_file)

    checkpoints.RunCheckpointCallback._on_rollout_start = on_rollout_start
    if point == "final_evaluation":
        final_evaluation.evaluate_model = lambda model, *args, **kwargs: _die(model.num_timesteps, steps_file)


if __name__ == "__main__":
    plant(sys.argv[1], Path(sys.argv[2]))
    import train_rl

    sys.exit(train_rl.main(sys.argv[3:]))
