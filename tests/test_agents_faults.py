"""Fault injection: SIGKILL at several points of a run; ``eval`` and ``--resume`` both recover from each.

A kill costs at most one checkpoint interval (``--save-freq``) of training, and the resumed run's step counter
and tensorboard step axis continue from the checkpoint it resumed from.
"""

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fault_injection import KILL_AFTER
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import agents
import train_rl

TESTS = Path(__file__).resolve().parent
SAVE_FREQ, TOTAL, ROLLOUT = 64, 256, 32
TRAIN_ARGS = [
    "--timesteps", str(TOTAL), "--n-envs", "1", "--threads", "1", "--save-freq", str(SAVE_FREQ),
    "--eval-freq", "0", "--eval-episodes", "2", "--no-progress-bar", "--no-attention-log",
    "--set", "hyperparams.n_steps=32", "hyperparams.batch_size=32", "hyperparams.n_epochs=1",
    "env_kwargs.max_episode_steps=20",
]  # fmt: skip


def steps_logged(event_file: Path, tag: str) -> list[int]:
    events = EventAccumulator(str(event_file))
    events.Reload()
    return [e.step for e in events.Scalars(tag)] if tag in events.Tags()["scalars"] else []


@pytest.mark.slow
@pytest.mark.parametrize("point", ["mid_training", "checkpoint_write", "final_model_write", "final_evaluation"])
def test_a_sigkill_anywhere_costs_at_most_one_checkpoint_interval(tmp_path, point, capsys):
    steps_file = tmp_path / "killed_at"
    proc = subprocess.run(
        [sys.executable, str(TESTS / "fault_injection.py"), point, str(steps_file), *TRAIN_ARGS,
         "--run-dir", str(tmp_path / "runs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    killed_at = int(steps_file.read_text())
    expected = {"mid_training": KILL_AFTER, "checkpoint_write": 192, "final_model_write": TOTAL}
    assert killed_at == expected.get(point, TOTAL)
    (run_dir,) = (tmp_path / "runs" / "attn-FindTarget-v0").iterdir()
    events_before = set(run_dir.glob("events.out.tfevents.*"))

    # eval recovers: the final model, or (killed before it was whole) the latest good checkpoint.
    assert train_rl.main(["eval", str(run_dir), "--episodes", "1"]) == 0, capsys.readouterr().err
    capsys.readouterr()

    # --resume recovers: from the latest good checkpoint, to the run's total.
    assert train_rl.main(["--resume", str(run_dir), "--no-progress-bar"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    resumed_from, trained_to = map(int, re.search(r"resumed from (\d+) steps, trained to (\d+)", out).groups())
    assert killed_at - SAVE_FREQ <= resumed_from <= killed_at and resumed_from % SAVE_FREQ == 0
    assert trained_to == TOTAL == agents.load(run_dir).num_timesteps
    assert (run_dir / "eval.json").is_file()
    (new_events,) = set(run_dir.glob("events.out.tfevents.*")) - events_before
    resumed_steps = steps_logged(new_events, "time/fps")
    if resumed_from < TOTAL:  # the step axis continues from the checkpoint, one rollout at a time
        assert resumed_steps == list(range(resumed_from + ROLLOUT, TOTAL + 1, ROLLOUT))
    else:  # all steps were trained: the resume only finished the final save and evaluation
        assert resumed_steps == [] and steps_logged(new_events, "eval/mean_reward") == [TOTAL]
