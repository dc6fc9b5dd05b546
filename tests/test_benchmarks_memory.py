"""benchmarks/memory.py: the section gives what was measured, the speed ratio, the targets, what was not run."""

import importlib
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_section_from_runs(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    memory = importlib.import_module("memory")

    def run(arm, seed, success, wall, timesteps=1000):
        return {"row": "cue-long", "arm": arm, "seed": seed, "timesteps": timesteps, "wall_s": wall,
                "eval_return": success, "eval_success": success, "memory_relevant_mass": None}  # fmt: skip

    runs = [run("ppo_trxl", 0, 0.96, 2.0), run("ppo_trxl", 1, 1.0, 2.0), run("ppo_lstm", 0, 0.5, 4.0)]
    smaller_budget = [run("ppo_trxl", 2, 0.2, 1.0, timesteps=500), run("ppo_window", 0, 0.5, 1.0, timesteps=500)]
    path = tmp_path / "results.jsonl"
    path.write_text(
        "".join(f"{memory.json.dumps(r)}\n" for r in [run("ppo_trxl", 0, 0.1, 9.0), *runs, *smaller_budget])
    )
    assert len(memory.read_results(path)) == 5  # a later run of the same row, arm, seed and budget replaces one
    section = memory.render_section(memory.read_results(path), {"commands": [["cmd", "date"]], "notes": ["a note"]})
    assert section.startswith(memory.START_MARKER) and section.endswith(memory.END_MARKER)
    assert "| `ppo_trxl` | 1,000 | 2 | 0.98 [0.96, 1.00] |" in section and "2.00x" in section  # 500 vs 250 steps/s
    assert "solves it (>= 95% right answers): met, 98%" in section
    assert "matches or beats `ppo_lstm`: met (0.98 vs 0.50)" in section
    assert "| `ppo_window` |  | 0 | not run at this budget |" in section  # only the row's largest budget
    assert "**Not run**" in section and "POPGym RepeatPreviousEasy / `ppo_trxl`" in section
    assert (
        "CueMemory, long delays (difficulty=4: 20-100 steps) / `ppo_window` at 1,000 steps" in section
        and "a note" in section
    )


def test_the_per_step_row_states_its_focus_target(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    memory = importlib.import_module("memory")

    def run(seed, success, causal, effect=None):
        return {"row": "cue-long-steps", "arm": "ppo_trxl", "seed": seed, "timesteps": 1000, "wall_s": 2.0,
                "eval_return": success, "eval_success": success,
                "memory_relevant_mass": {"causal": causal, "readout": 0.05},
                "memory_relevant_effect": effect}  # fmt: skip

    met = memory.render_section([run(0, 1.0, 0.81), run(1, 0.97, 0.85)], {})  # recorded before the effect share
    assert "causal memory focus on the cue's step >= 0.8 at >= 95% right answers: met on the mean, 0.83" in met
    assert "on 2 of 2 seeds (per seed 0.81 / 0.85)" in met
    low_focus = memory.render_section([run(0, 1.0, 0.8), run(1, 1.0, 0.6)], {})
    assert "right answers: **NOT met** on the mean, 0.70" in low_focus and "on 1 of 2 seeds" in low_focus
    unsolved = memory.render_section([run(0, 0.6, 0.9)], {})  # focus without the answers is not the target
    assert "right answers: **NOT met** on the mean, 0.90 at 60%" in unsolved
    # With the effect share recorded, the target is on it; the per-step mean is given beside it.
    shares = memory.render_section([run(0, 1.0, 0.4, 0.95), run(1, 1.0, 0.6, 0.97)], {})
    assert "(its share of the summed causal effect) >= 0.8 at >= 95% right answers: met on the mean, 0.96" in shares
    assert "per seed 0.95 / 0.97; the per-step mean, every step weighing the same: 0.50 [0.40, 0.60]" in shares
    assert "| 0.96 [0.95, 0.97] |" in shares  # its own column


def test_popgym_suite_section_from_runs(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    suite = importlib.import_module("popgym_suite")

    def run(env, arm, seed, value, timesteps=1000):
        return {"env": env, "arm": arm, "seed": seed, "timesteps": timesteps, "eval_return": value}

    runs = [run("RepeatFirstEasy", "ppo_trxl", s, v) for s, v in ((0, 0.9), (1, 1.0), (2, 0.95))]
    runs += [run("RepeatFirstEasy", "ppo_lstm", s, v) for s, v in ((0, 0.1), (1, 0.2), (2, 0.15))]
    runs += [run("MultiarmedBanditEasy", "ppo_trxl", 0, 0.5), run("MultiarmedBanditEasy", "ppo_lstm", 0, 0.6)]
    runs += [run("MultiarmedBanditEasy", "ppo_lstm", 0, 0.9, timesteps=10)]  # a smaller budget: not shown
    meta = {"commands": [["cmd", "date"]], "notes": ["a note"]}
    section = suite.render_suite_section(runs, {"RepeatFirstEasy": -0.5}, meta)
    assert section.startswith(suite.START_MARKER) and section.endswith(suite.END_MARKER)
    assert "| RepeatFirstEasy | yes | 1,000 | 3 | 0.95 [" in section and "| -0.50 | above its CI |" in section
    assert "| MultiarmedBanditEasy |  | 1,000 | 1 | 0.50 | 0.60 |  | lower (one seed) |" in section
    assert "**Not run**" in section and "ConcentrationEasy" in section and "a note" in section
    assert suite.verdict([0.5, 0.6, 0.55], [0.5, 0.6, 0.55]) == "within its CI"
    assert suite.verdict([0.1, 0.1, 0.1], [0.5, 0.6, 0.55]) == "**below its CI**"
    assert len(suite.SUITE) == 14 and all(env.env.endswith("Easy-v0") for env in suite.SUITE)


def test_popgym_suite_is_every_registered_easy_id(monkeypatch):
    import gymnasium as gym
    import pytest

    pytest.importorskip("popgym", reason='POPGym is not installed: pip install "attention-rl[popgym]"')
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    suite = importlib.import_module("popgym_suite")
    easy = {i for i in gym.registry if i.startswith("popgym-") and i.endswith("Easy-v0")}
    assert {env.env for env in suite.SUITE} == easy


def test_memory_focus_steps_splits_the_figures_by_step(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    steps = importlib.import_module("memory_focus_steps")
    from policies import AttentionReport

    effects = np.array([[6.0, 0.0, 0.0], [1e-4, 2e-4, 2e-4], [0.5, 0.5, 0.0]])  # (S, M + 1): answer, answer, delay
    focus = effects / effects.sum(axis=1, keepdims=True)
    report = AttentionReport(
        part_names=["t-2", "t-1", "t-0"], focus=focus, weights=focus[:, None, None, :], entropy=np.zeros(3),
        mask=np.ones((3, 3), dtype=bool), layers=[], method="causal", effects=effects,
    )  # fmt: skip
    relevant = [np.array([0])] * 3
    answers = steps.shares(report, relevant, np.array([True, True, False]))
    assert answers == pytest.approx((0.6, 6.0001 / 6.0005, 3.00005, 3.00025))
    assert steps.shares(report, relevant, np.array([False, False, True]))[:2] == pytest.approx((0.5, 0.5))
