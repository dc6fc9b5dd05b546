"""benchmarks/memory.py: the section gives what was measured, the speed ratio, the targets, what was not run."""

import importlib
from pathlib import Path

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
