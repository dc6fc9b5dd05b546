"""benchmarks/default_choice.py: the kept results and the section, on canned runs (no training)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import default_choice  # noqa: E402


def canned(row: str, variant: str, seed: int, value: float, solved: int | None) -> dict:
    """What ``run_one`` hands back, with made-up figures."""
    return {
        "study": "block", "row": row, "variant": variant, "seed": seed, "timesteps": 100_352, "wall_s": 100.0,
        "eval_return": value, "eval_success": 1.0, "relevant_mass": 0.5, "steps_to_solve": solved,
    }  # fmt: skip


def test_a_run_replaces_the_same_run_and_keeps_what_others_wrote(tmp_path):
    path = tmp_path / "results.json"
    default_choice.store(path, canned("sensors", "mlp_ratio 1", 0, 18.0, 40_000))
    default_choice.store(path, canned("sensors", "mlp_ratio 1", 1, 19.0, None))
    data = default_choice.load(path)
    data["notes"] = {"block": ["a line written by another command meanwhile"]}
    default_choice.save(path, data)
    default_choice.store(path, canned("sensors", "mlp_ratio 1", 0, 17.0, 50_000))  # seed 0 again
    kept = json.loads(path.read_text())
    assert [(r["seed"], r["eval_return"]) for r in kept["runs"]] == [(0, 17.0), (1, 19.0)]
    assert kept["notes"] == {"block": ["a line written by another command meanwhile"]}  # read again, kept


def test_the_table_gives_each_variant_its_seeds_ci_and_median_steps():
    runs = [
        canned("sensors", "mlp_ratio 2", 0, 18.0, 40_000),
        canned("sensors", "mlp_ratio 2", 1, 20.0, 60_000),
        canned("sensors", "mlp_ratio 1", 0, 19.0, None),
    ]
    text = default_choice.table("block", runs)
    lines = {line.split(" | ")[1]: line for line in text.splitlines()[2:]}
    assert "| 2 | 19.000 [18.000, 20.000] | 100 [100, 100] | 50k | 100 | 0: 18 / 1: 20 |" in lines["mlp_ratio 2"]
    assert "| 1 | 19.000 | 100 | not solved | 100 | 0: 19 |" in lines["mlp_ratio 1"]
    assert "CollectAvoid" not in text  # a row without runs is left out


def test_unknown_variant_names_the_study_and_its_variants(capsys):
    with pytest.raises(SystemExit):
        default_choice.parse_args(["--study", "block", "--variants", "mlp_ratio 3"])
    assert "the study 'block' has mlp_ratio 2, mlp_ratio 1" in capsys.readouterr().err


def test_a_file_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("[]")
    with pytest.raises(ValueError, match="not a default_choice results file"):
        default_choice.load(path)


def test_notes_go_under_their_study_and_stay_for_the_next_render(tmp_path):
    results, doc = tmp_path / "results.json", tmp_path / "doc.md"
    default_choice.store(results, canned("sensors", "mlp_ratio 2", 0, 18.0, 40_000))
    common = ["--render-only", "--results", str(results), "--out", str(doc)]
    default_choice.main(["--study", "block", "--note", "the first line", "--note", "the second", *common])
    default_choice.main(common)  # drawn again without --note: the notes stay
    text = doc.read_text()
    assert text.count("## Choosing a default by learning") == 1  # the second drawing replaced the first
    assert "| Sensors | mlp_ratio 2 | 1 |" in text
    assert text.index("| Sensors |") < text.index("- the first line\n- the second\n")


def test_the_commands_are_shown_without_their_run_folder(tmp_path):
    results, doc = tmp_path / "results.json", tmp_path / "doc.md"
    default_choice.store(results, canned("sensors", "mlp_ratio 2", 0, 18.0, 40_000))
    data = default_choice.load(results)
    data["commands"] = [{"command": "python benchmarks/default_choice.py --study block --run-root /tmp/r --jobs 1",
                         "started": "2026-12-08 01:00 UTC", "load": 1.0}]  # fmt: skip
    default_choice.save(results, data)
    default_choice.main(["--render-only", "--results", str(results), "--out", str(doc)])
    assert "`python benchmarks/default_choice.py --study block --jobs 1` on 2026-12-08 01:00 UTC" in doc.read_text()
