"""benchmarks/learning.py: the statistics, and a tiny --quick run whose table is checked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import learning  # noqa: E402


def test_unknown_row_is_rejected_with_a_suggestion(capsys):
    with pytest.raises(SystemExit):
        learning.parse_args(["--envs", "findtarget8"])
    assert "Did you mean 'findtarget-8'?" in capsys.readouterr().err


def test_quick_run_writes_table_plot_and_json(tmp_path):
    out = tmp_path / "BENCH.md"
    out.write_text("# Benchmarks\n\nkept\n")
    script = str(REPO / "benchmarks" / "learning.py")
    tiny = ["--envs", "findtarget-4", "--seeds", "0", "1", "--timesteps", "512", "--eval-episodes", "2", "--jobs", "1"]
    cmd = [sys.executable, script, "--quick", *tiny, "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(cmd, check=True, cwd=tmp_path, env=env, capture_output=True, timeout=600)

    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nkept\n")
    section = text[text.index(learning.START_MARKER) : text.index(learning.END_MARKER)]
    assert "--quick --envs findtarget-4" in section
    assert re.search(r"1-minute load average when the script started: \d+\.\d\d", section)  # how busy the machine was
    table = [line for line in section.splitlines() if line.startswith("|")]
    assert table[0].startswith("| env | extractor | steps | seeds | final return [95% CI] | final success [95% CI]")
    assert table[1] == "|---" + "|---:" * 9 + "|"
    assert len(table) == 4  # header, rule, attention, mlp
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    assert [c[1] for c in cells] == ["attention (`attention`)", "mlp"]
    number = r"-?\d+\.\d\d"
    for c in cells:
        assert c[0] == "FindTarget N=4" and c[2] == "2,048" and c[3] == "2"  # PPO rounds up to a rollout (8 x 256)
        assert re.fullmatch(rf"{number} \[{number}, {number}\]", c[4]), c[4]
        assert re.fullmatch(r"\d+% \[\d+%, \d+%\]", c[5]), c[5]
        assert re.fullmatch(r"(\d+k|not reached) \(\d/2\)", c[7]), c[7]
        assert re.fullmatch(r"\d+ s", c[9]), c[9]
    assert re.fullmatch(rf"{number} \[{number}, {number}\]", cells[0][8])
    assert cells[1][8] == "—"
    assert "### Targets" in section and "FindTarget N=4: attention's final return" in section
    assert "![learning curves](learning_curves.png)" in section

    assert (tmp_path / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "learning_results.json").read_text())
    assert len(data["results"]) == 4 and {r["extractor"] for r in data["results"]} == {"attention", "mlp"}
    assert not (tmp_path / "learning_results.partial.jsonl").exists()

    # the section is redrawn from the JSON alone
    out.write_text("# Benchmarks\n")
    cmd = [sys.executable, script, "--render-only",
           str(tmp_path / "learning_results.json"), "--out", str(out), "--note", "a note"]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert "| FindTarget N=4 | mlp | 2,048 | 2 |" in out.read_text() and "- a note" in out.read_text()
    subprocess.run(cmd, check=True, cwd=tmp_path, env=env, capture_output=True, timeout=300)  # again: one copy
    assert json.loads((tmp_path / "learning_results.json").read_text())["notes"] == ["a note"]
    assert out.read_text().count("- a note") == 1

    # a suite cut short: the partial JSONL (meta line, then runs) renders with a note naming what is missing
    meta = {k: v for k, v in data.items() if k not in ("results", "wall_min")}
    partial = tmp_path / "cut.partial.jsonl"
    partial.write_text("\n".join(json.dumps(x) for x in [meta, *data["results"][:3]]) + "\n")
    cmd = [sys.executable, script, "--render-only", str(partial), "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert "min, when 3 of its 4 runs had finished" in out.read_text() and "**Cut short**" in out.read_text()
    assert len(json.loads((tmp_path / "learning_results.json").read_text())["results"]) == 3


def test_preflight_names_a_row_that_cannot_be_built(monkeypatch):
    bad = learning.Row(
        "bad", "Bad", "attn/FindTarget-v0", 512, 1.0, "-", True, overrides={"hyperparams": {"n_stepz": 8}}
    )
    monkeypatch.setitem(learning.ROWS, "bad", bad)
    args = learning.parse_args(["--envs", "bad", "--seeds", "0"])
    with pytest.raises(SystemExit, match=r"row 'bad' with --extractor attention cannot be built: .*'n_stepz'"):
        learning.preflight(args)


def test_a_failed_run_is_reported_and_the_others_kept(tmp_path, monkeypatch):
    def fake_run_one(key, extractor, seed, *rest):
        if extractor == "mlp" and seed == 1:
            raise RuntimeError("boom")
        return {"row": key, "extractor": extractor, "seed": seed}

    monkeypatch.setattr(learning, "run_one", fake_run_one)
    args = learning.parse_args(["--envs", "findtarget-4", "--seeds", "0", "1", "--jobs", "1",
                                "--results", str(tmp_path / "r.json")])  # fmt: skip
    meta: dict = {}
    results = learning.run_suite(args, str(tmp_path), meta)
    assert sorted((r["extractor"], r["seed"]) for r in results) == [("attention", 0), ("attention", 1), ("mlp", 0)]
    assert meta["failures"] == ["findtarget-4 / mlp / seed 1: RuntimeError: boom"]
    assert not (tmp_path / "r.partial.jsonl").exists()
