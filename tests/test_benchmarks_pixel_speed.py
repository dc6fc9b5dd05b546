"""``benchmarks/pixel_speed.py``: interleaved timing, ratios to NatureCNN and the section, on canned speeds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import pixel_speed
import threads
from threads import Model

CNN = Model("NatureCNN", "attn/PatchFind-v0", "mlp")
CONV = Model("conv tokens (preset)", "attn/PatchFind-v0", "conv")
ORPHAN = Model("conv tokens (preset)", "attn/Other-v0", "conv")


class FakePPO:
    """What the timing needs: a rollout size, a step counter and ``learn``, which finishes whole rollouts."""

    def __init__(self, rollout: int) -> None:
        self.n_steps, self.n_envs, self.num_timesteps = rollout, 1, 0

    def learn(self, steps: int, reset_num_timesteps: bool, progress_bar: bool) -> None:
        self.num_timesteps += -(-steps // self.n_steps) * self.n_steps  # whole rollouts


def test_steps_per_second_counts_the_steps_taken_not_asked(monkeypatch):
    clock = iter([10.0, 12.0])  # learn takes 2 s
    monkeypatch.setattr(threads.time, "perf_counter", lambda: next(clock))
    ppo = FakePPO(rollout=2048)
    assert threads.steps_per_second(ppo, 512) == 1024.0  # one whole rollout of 2048 steps in 2 s


def test_measure_interleaves_models_after_a_warm_up_each(monkeypatch):
    order = []
    monkeypatch.setattr(pixel_speed, "steps_per_second", lambda ppo, steps: order.append((ppo, steps)) or 100.0)
    a, b = FakePPO(64), FakePPO(32)
    speeds = pixel_speed.measure({CNN: a, CONV: b}, steps=128, rounds=2)
    assert speeds == {CNN: 100.0, CONV: 100.0}
    assert order == [(a, 64), (b, 32), (a, 128), (b, 128), (a, 128), (b, 128)]


def test_rows_give_time_per_step_against_the_envs_natureCNN():
    rows = pixel_speed.table_rows({CNN: 200.0, CONV: 80.0, ORPHAN: 50.0})
    assert [row[-1] for row in rows] == ["1.00x", "2.50x", "—"]
    assert rows[1][:4] == ["`attn/PatchFind-v0`", "conv tokens (preset)", "`--extractor conv`", "80"]
    other_stem = Model("conv tokens, `small` stem", "attn/PatchFind-v0", "conv", ("extractor_kwargs.stem=small",))
    row = pixel_speed.table_rows({CNN: 200.0, other_stem: 100.0})[1]
    assert row[2:] == ["`--extractor conv --set extractor_kwargs.stem=small`", "100", "2.00x"]


def test_section_has_markers_command_table_and_skips():
    section = pixel_speed.render(
        "python benchmarks/pixel_speed.py", 4096, 3, {CNN: 200.0, CONV: 80.0}, {ORPHAN: "pip install x"}
    )
    lines = section.splitlines()
    assert lines[0] == pixel_speed.START_MARKER and lines[-1] == pixel_speed.END_MARKER
    assert "median of 3 rounds" in section and "| `attn/PatchFind-v0` | conv tokens (preset) |" in section
    assert "- skipped `attn/Other-v0` conv tokens (preset): pip install x" in section


def test_build_all_skips_a_model_whose_extra_is_missing(monkeypatch):
    def build(model: Model) -> object:
        if model is ORPHAN:
            raise ImportError("MiniGrid is not installed: pip install 'attention-rl[minigrid]'\nmore")
        return "ppo"

    monkeypatch.setattr(pixel_speed, "build", build)
    built, skipped = pixel_speed.build_all([CNN, ORPHAN])
    assert built == {CNN: "ppo"}
    assert skipped == {ORPHAN: "MiniGrid is not installed: pip install 'attention-rl[minigrid]'"}


@pytest.mark.parametrize("flag", ["--steps", "--rounds"])
def test_counts_below_one_are_refused(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        pixel_speed.main([flag, "0"])
    assert exit_info.value.code == 2 and f"{flag} 0: give at least 1." in capsys.readouterr().err
