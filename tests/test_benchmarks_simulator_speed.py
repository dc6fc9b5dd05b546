"""benchmarks/simulator_speed.py: its table and docs subsection on canned numbers, and its argument checks."""

import importlib
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def speed(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("simulator_speed")


def _results():
    return {
        "command": "python benchmarks/simulator_speed.py --rounds 3 --write",
        "started": "2026-01-01 00:00 UTC",
        "finished": "2026-01-01 00:20 UTC",
        "cpu": "AMD EPYC, os.cpu_count() = 2",
        "load_at_start": 6.5,
        "loads": [6.0, 7.25, 6.5],
        "steps": 256,
        "models": {"ppo": "attention, 2 env(s), n_steps 128", "dqn": "attention, 1 env(s), train_freq 1"},
        "steps_per_s": {
            "ppo": {"original": [2.0, 4.0, 3.0], "fast": [6.0, 7.0, 6.5], "fast, SubprocVecEnv": [9.0, 8.0, 10.0]},
            "dqn": {"original": [1.0, 1.5, 1.25], "fast": [3.0, 3.0, 3.0]},
        },
    }


def test_table_gives_medians_and_ratios_to_each_algorithms_original(speed):
    table = speed.table(_results())
    assert table.splitlines()[0] == "| algorithm | simulator | rounds | steps/s (median) | ratio to the original |"
    assert "| PPO | original | 3 | 3.0 | 1.00x |" in table
    assert "| PPO | fast, SubprocVecEnv | 3 | 9.0 | 3.00x |" in table
    assert "| DQN | fast | 3 | 3.0 | 2.40x |" in table  # 3.0 / 1.25, DQN's own original


def test_section_names_the_command_load_and_models_and_goes_after_the_fidelity_subsection(speed, tmp_path):
    text = speed.section(_results())
    assert text.startswith(speed.START_MARKER) and text.endswith(speed.END_MARKER)
    assert (
        "`python benchmarks/simulator_speed.py --rounds 3 --write` (run 2026-01-01 00:00 UTC to 2026-01-01 00:20 UTC)"
        in text
    )
    assert "6.50 when the script started, 6.00-7.25 between rounds" in text
    assert "PPO: attention, 2 env(s), n_steps 128; DQN: attention, 1 env(s), train_freq 1" in text
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(f"# Benchmarks\n\n## Social Attention\n\n{speed.AFTER_MARKER}\n\n## Later\n")
    speed.write_report(_results(), doc)
    speed.write_report(_results(), doc)  # a second report replaces the first
    written = doc.read_text()
    assert written.count(speed.START_MARKER) == 1 and written.count("### Learning speed per simulator") == 1
    assert written.index(speed.AFTER_MARKER) < written.index(speed.START_MARKER) < written.index("## Later")


def test_counts_are_checked(speed, capsys):
    for flag in ("--rounds", "--steps", "--n-envs", "--n-steps"):
        with pytest.raises(SystemExit):
            speed.main([flag, "0"])
        assert f"{flag} must be >= 1, got 0" in capsys.readouterr().err


def test_report_writes_into_the_doc_named(speed, tmp_path):
    numbers, doc = tmp_path / "speed.json", tmp_path / "OTHER.md"
    numbers.write_text(json.dumps(_results()))
    speed.main(["--report", "--json", str(numbers), "--doc", str(doc)])
    assert "### Learning speed per simulator" in doc.read_text()


def test_the_arms_table_goes_into_the_subsection_with_its_command(speed):
    arms = {
        "command": "python benchmarks/simulator_speed.py --arms --write",
        "started": "2026-01-01 01:00 UTC",
        "finished": "2026-01-01 01:05 UTC",
        "load_at_start": 2.0,
        "loads": [2.0, 2.5],
        "steps": 256,
        "steps_per_s": {"attention": [10.0, 12.0, 11.0], "mlp": [22.0, 22.0, 22.0], "grid_cnn": [5.5, 5.5, 6.0]},
    }
    assert "| grid_cnn | 3 | 5.5 | 0.50x |" in speed.arms_table(arms)
    text = speed.section({**_results(), "arms": arms})
    assert "| mlp | 3 | 22.0 | 2.00x |" in text and "`python benchmarks/simulator_speed.py --arms --write`" in text
    assert "| DQN arm |" not in speed.section(_results())
