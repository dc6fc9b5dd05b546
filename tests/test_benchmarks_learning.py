"""benchmarks/learning.py: one real run, then the suite, its table and its re-rendering on canned runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import learning  # noqa: E402


def test_unknown_row_is_rejected_with_a_suggestion(capsys):
    with pytest.raises(SystemExit):
        learning.parse_args(["--envs", "findtarget8"])
    assert "Did you mean 'findtarget-8'?" in capsys.readouterr().err


@pytest.mark.slow
def test_run_one_gives_the_figures_the_table_needs(tmp_path):
    """One real run (the only training here): what a worker hands back is plain data with every figure."""
    result = learning.run_one("findtarget-4", "attention", 0, 512, str(tmp_path), 2, 1)
    json.dumps(result)  # plain data: it crosses processes and lands in the JSON
    assert set(result) == set(canned_result("findtarget-4", "attention", 0))
    assert result["timesteps"] == 2048  # PPO rounds the budget up to whole rollouts (8 envs x 256 steps)
    assert result["features_extractor"] == "AttentionExtractor" and result["wall_s"] > 0
    assert 0.0 <= result["eval_success"] <= 1.0 and 0.0 <= result["relevant_mass"] <= 1.0
    assert len(result["curve"]) == learning.CURVE_POINTS and result["train_episodes"] > 0


def canned_result(row: str, extractor: str, seed: int) -> dict:
    """What ``run_one`` returns, with made-up figures: attention solves, the MLP does not."""
    attention = extractor != "mlp"
    curve = [None, *np.linspace(0.2, 1.4 if attention else 0.6, learning.CURVE_POINTS - 1).tolist()]
    return {
        "row": row, "extractor": extractor, "seed": seed, "timesteps": 2048, "wall_s": 20.0 + seed,
        "eval_return": (1.40 if attention else 0.50) + 0.02 * seed, "eval_success": 1.0 if attention else 0.25 * seed,
        "relevant_mass": 0.9 - 0.1 * seed if attention else None, "steps_to_solve": 1024 if attention else None,
        "train_episodes": 150, "curve": curve, "policy": "ActorCriticPolicy",
        "features_extractor": "AttentionExtractor" if attention else "FlattenExtractor",
    }  # fmt: skip


def table_cells(section: str) -> tuple[list[str], list[list[str]]]:
    table = [line for line in section.splitlines() if line.startswith("|")]
    return table[:2], [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]


def test_suite_writes_table_plot_and_json(tmp_path, monkeypatch):
    """The suite's whole path on canned runs: JSON, plot and the section in its place, each cell's format."""
    monkeypatch.setattr(learning, "run_one", lambda row, extractor, seed, *rest: canned_result(row, extractor, seed))
    monkeypatch.setattr(learning, "preflight", lambda args: None)
    out = tmp_path / "BENCH.md"
    out.write_text("# Benchmarks\n\nkept\n")
    argv = ["--quick", "--envs", "findtarget-4", "--seeds", "0", "1", "--timesteps", "512", "--jobs", "1"]
    assert learning.main([*argv, "--out", str(out)]) == 0

    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nkept\n")
    section = text[text.index(learning.START_MARKER) : text.index(learning.END_MARKER)]
    assert "--quick --envs findtarget-4" in section
    assert re.search(r"1-minute load average when the script started: \d+\.\d\d", section)  # how busy the machine was
    (header, rule), cells = table_cells(section)
    assert header.startswith("| env | extractor | steps | seeds | final return [95% CI] | final success [95% CI]")
    assert rule == "|---" + "|---:" * 9 + "|"
    assert [c[:4] for c in cells] == [["FindTarget N=4", "attention (`attention`)", "2,048", "2"],
                                      ["FindTarget N=4", "mlp", "2,048", "2"]]  # fmt: skip
    attention, mlp = cells
    assert attention[4] == "1.41 [1.40, 1.42]" and mlp[4] == "0.51 [0.50, 0.52]"  # mean [bootstrap CI] over seeds
    assert attention[5] == "100% [100%, 100%]" and mlp[5] == "12% [0%, 25%]"
    assert attention[6] == "1.3" and attention[7] == "1k (2/2)" and mlp[7] == "not reached (0/2)"
    assert attention[8] == "0.85 [0.80, 0.90]" and mlp[8] == "—"  # the MLP has no focus
    assert attention[9] == "20 s" and mlp[9] == "20 s"
    assert "### Targets" in section and "FindTarget N=4: attention's final return above the mlp's, CIs apart: met" in (
        section
    )
    assert "FindTarget N=4 (one part matters): relevant mass >= 0.8 at the end: met: 0.85 [0.80, 0.90]." in section
    assert "![learning curves](learning_curves.png)" in section
    assert (tmp_path / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "learning_results.json").read_text())
    skip = ("elapsed_s", "command_id")
    by_run = {(r["extractor"], r["seed"]): {k: v for k, v in r.items() if k not in skip} for r in data["results"]}
    assert by_run == {(e, s): canned_result("findtarget-4", e, s) for e in ("attention", "mlp") for s in (0, 1)}
    assert not (tmp_path / "learning_results.partial.jsonl").exists()


@pytest.mark.slow
def test_section_is_redrawn_from_the_json_alone(tmp_path):
    results = [canned_result("findtarget-4", e, s) for e in ("attention", "mlp") for s in (0, 1)]
    meta = {"command": "python benchmarks/learning.py --quick", "date": "2026-12-01 00:00 UTC", "jobs": 1,
            "threads": 1, "machine": ["CPU: x"], "seeds": [0, 1], "eval_episodes": 2, "rows": ["findtarget-4"],
            "notes": []}  # fmt: skip
    saved = tmp_path / "learning_results.json"
    saved.write_text(json.dumps({**meta, "wall_min": 1.0, "results": results}))
    out = tmp_path / "BENCH.md"
    out.write_text("# Benchmarks\n")
    # the script itself, once: its imports and entry point (the rest runs in-process)
    cmd = [sys.executable, str(REPO / "benchmarks" / "learning.py"), "--render-only", str(saved), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([*cmd, "--note", "a note"], check=True, cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert "| FindTarget N=4 | mlp | 2,048 | 2 |" in out.read_text() and "- a note" in out.read_text()
    assert learning.main(["--render-only", str(saved), "--out", str(out), "--note", "a note"]) == 0  # again: one copy
    assert json.loads(saved.read_text())["notes"] == ["a note"]
    assert out.read_text().count("- a note") == 1

    # a suite cut short: the partial JSONL (meta line, then runs) renders with a note naming what is missing
    partial = tmp_path / "cut.partial.jsonl"
    partial.write_text("\n".join(json.dumps(x) for x in [meta, *results[:3]]) + "\n")
    assert learning.main(["--render-only", str(partial), "--out", str(out)]) == 0
    assert "min, when 3 of its 4 runs had finished" in out.read_text() and "**Cut short**" in out.read_text()
    assert len(json.loads(saved.read_text())["results"]) == 3


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


def test_merge_adds_conv_rows_to_the_table_already_there(tmp_path, monkeypatch):
    monkeypatch.setattr(learning, "run_one", lambda row, extractor, seed, *rest: canned_result(row, extractor, seed))
    monkeypatch.setattr(learning, "preflight", lambda args: None)
    out = tmp_path / "BENCH.md"
    common = ["--seeds", "0", "1", "--jobs", "1", "--threads", "1", "--out", str(out)]
    assert learning.main(["--envs", "findtarget-4", "patchfind", "--extractors", "attention", "mlp", *common]) == 0
    assert learning.main(["--envs", "patchfind", "patchfind-allo", "--extractors", "conv", "mlp", "--merge",
                          "--seeds", "0", *common[3:]]) == 0  # fmt: skip
    section = out.read_text()
    rows = [c[:2] for c in table_cells(section)[1]]
    assert rows == [["FindTarget N=4", "attention (`attention`)"], ["FindTarget N=4", "mlp"],
                    ["PatchFind", "attention (`attention`)"], ["PatchFind", "attention (`conv`)"], ["PatchFind", "cnn"],
                    ["PatchFind egocentric=False (conv tokens)", "attention (`conv`)"],
                    ["PatchFind egocentric=False (conv tokens)", "cnn"]]  # fmt: skip
    assert section.count("1-minute load average when the script started") >= 2  # each command's load
    assert "Conv-token rows (`conv`)" in section
    assert "PatchFind, conv tokens (one part matters): relevant mass >= 0.6 at the end: met" in section
    assert (
        "PatchFind egocentric=False (conv tokens) (one part matters): relevant mass >= 0.6 at the end: met" in section
    )
    assert "PatchFind: conv-token attention's final success and return >= NatureCNN's: met" in section
    assert "PatchFind egocentric=False (conv tokens): conv-token attention's final success" in section
    # four decimals: a gap under 0.0005 must not read "0.964 vs 0.964 ... -0.000"
    assert re.search(r"return \d\.\d{4} vs \d\.\d{4} \(.*difference in return [+-]\d\.\d{4}\)", section)
    assert section.count("Training time per run 1.00x NatureCNN's") == 1  # egocentric=False: one command
    assert "PatchFind: conv-token" in section and "from different commands" in section  # PatchFind's seed-1 cnn run
    data = json.loads((tmp_path / "learning_results.json").read_text())
    assert len(data["results"]) == 8 + 1 + 2 and len(data["commands"]) == 2
