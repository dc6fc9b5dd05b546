"""``benchmarks/social_attention.py``: the sweep commands, and the results section from canned run folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import social_attention


def fake_run(root: Path, extractor: str, seed: int, success: list[bool], crash: list[bool], lengths: list[int]):
    run = root / "sweeps" / "social-intersection-dqn" / f"{extractor}_s{seed}_abc" / f"dqn_{extractor}_s{seed}"
    (run / "monitor").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"extractor": extractor, "seed": seed, "algo": "dqn"}))
    returns = [float(s) for s in success]
    evaluation = {
        "episodes": len(success), "mean_return": float(np.mean(returns)), "success_rate": float(np.mean(success)),
        "crash_rate": float(np.mean(crash)), "lengths": lengths, "successes": success, "returns": returns,
    }  # fmt: skip
    if extractor == "attention":
        causal = {"relevant_mass": 0.6 + 0.1 * seed, "entropy": 0.5, "faithfulness": None}
        readout = {"relevant_mass": 0.2, "entropy": 0.9, "faithfulness": {"spearman": 0.1, "deletion_ratio": 0.4}}
        ego = {"part": "ego", "focus": 0.5, "by_method": {"causal": 0.5, "readout": 0.7}}
        methods = {"causal": causal, "readout": readout}
        evaluation["attention"] = {"method": "causal", "methods": methods, "parts": [ego]}
    (run / "eval.json").write_text(json.dumps(evaluation))
    rows = "".join(f"{0.1 * i + seed},{5 + i % 3},{i}.0,{5.0 + seed}\n" for i in range(250))
    (run / "monitor" / "0.monitor.csv").write_text('#{"t_start": 0.0}\nr,l,t,mean_speed\n' + rows)
    return run


def report_in(tmp_path: Path) -> str:
    """The intersection-dqn section from the run folders under ``tmp_path``, everything written there."""
    return social_attention.report(
        tmp_path, ["intersection-dqn"], 100, tmp_path / "B.md", tmp_path / "c.png", tmp_path / "k.json"
    )


def test_train_runs_one_sweep_per_row_with_both_arms(capsys, tmp_path):
    assert social_attention.main(["train", "--dry-run", "--seeds", "3", "--rows", "intersection-dqn,merge-ppo",
                                  "--run-dir", str(tmp_path), "--results", str(tmp_path / "k.json")]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "sweep --env intersection-v0 --algo dqn --extractors attention,mlp,grid_cnn --seeds 3" in lines[0]
    assert "--timesteps" not in lines[0]  # the dqn preset's budget: the paper's
    assert "--env merge-v0 --algo ppo" in lines[1] and "--timesteps 20000" in lines[1]


def test_unknown_rows_and_bad_counts_are_refused(capsys):
    with pytest.raises(SystemExit):
        social_attention.main(["train", "--rows", "intersection-sac"])
    assert "unknown rows ['intersection-sac']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        social_attention.main(["train", "--seeds", "0"])


def test_report_tables_success_collision_and_time_to_cross_per_arm(tmp_path):
    for seed in range(2):
        fake_run(tmp_path, "attention", seed, [True, True, False, True], [False, False, True, False], [8, 10, 3, 9])
        fake_run(tmp_path, "mlp", seed, [True, False, False, False], [False, True, True, True], [12, 2, 3, 4])
    doc, picture, kept = tmp_path / "BENCHMARKS.md", tmp_path / "curves.png", tmp_path / "kept.json"
    text = social_attention.report(tmp_path, ["intersection-dqn"], 100, doc, picture, kept)
    results = text.split("### Where it looked")[0].splitlines()
    rows = {line.split("|")[3].strip(): line for line in results if line.startswith("| intersection-v0")}
    assert set(rows) == {"attention", "mlp"}
    cells = [cell.strip() for cell in rows["attention"].split("|")[1:-1]]
    assert cells[3:7] == ["2", "4", "75.0 [75.0, 75.0]", "25.0 [25.0, 25.0]"]
    assert cells[7] == "9.00 [9.00, 9.00]"  # the successful episodes' mean length
    assert rows["mlp"].split("|")[6].strip() == "25.0 [25.0, 25.0]"
    assert picture.is_file() and "![Training curves](curves.png)" in text
    assert doc.read_text().count(social_attention.START_MARKER) == 1
    assert "Training episodes per run, from the monitor files: intersection-v0 dqn 250-250 (mean 250, 4 runs)." in text
    kept_runs = json.loads(kept.read_text())["intersection-dqn"]
    assert kept_runs["mlp_s1"]["curve_speeds"][:2] == [6.0, 6.0]  # the ego's mean speed per training episode


def test_curves_bin_each_seed_and_band_over_seeds():
    runs = [{"curve_returns": np.arange(10.0)}, {"curve_returns": np.arange(10.0) + 2}, {"seed": 3}]
    x, mean, band = social_attention.curves(runs, "curve_returns", width=5)
    assert x.tolist() == [5, 10] and mean.tolist() == [3.0, 8.0]
    assert band.shape == (2, 2) and (band[0] <= mean).all() and (mean <= band[1]).all()


def test_report_without_runs_says_so(tmp_path):
    text = report_in(tmp_path)
    assert "No finished runs" in text and not (tmp_path / "c.png").exists()


def test_report_tables_where_the_attention_arm_looked(tmp_path):
    for seed in range(2):
        fake_run(tmp_path, "attention", seed, [True, False], [False, True], [8, 3])
        fake_run(tmp_path, "mlp", seed, [True, False], [False, True], [8, 3])
    text = report_in(tmp_path)
    assert "### Where it looked" in text
    focus = {line.split("|")[3].strip(): line for line in text.split("### Where it looked")[1].splitlines()
             if line.startswith("| intersection-v0")}  # fmt: skip
    assert set(focus) == {"causal", "readout"}
    causal = [cell.strip() for cell in focus["causal"].split("|")[1:-1]]
    assert causal[3] == "2" and causal[4] == "0.50 [0.50, 0.50]" and causal[5].startswith("0.65 [")
    assert causal[7] == "—"
    readout = [cell.strip() for cell in focus["readout"].split("|")[1:-1]]
    assert readout[4] == "0.70 [0.70, 0.70]" and readout[5] == "0.20 [0.20, 0.20]"
    assert readout[7] == "+0.10 [+0.10, +0.10]" and readout[8].startswith("0.40")


def test_report_says_how_many_seeds_of_the_target_have_finished(tmp_path):
    fake_run(tmp_path, "attention", 0, [True], [False], [8])
    fake_run(tmp_path, "mlp", 0, [False], [True], [3])
    sweep = tmp_path / "sweeps" / "social-intersection-dqn" / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"seeds": 20}))
    text = report_in(tmp_path)
    assert "**Under way**: intersection-v0 dqn has finished attention 1, mlp 1, grid_cnn 0 of its 20 seeds" in text
    fake_run(tmp_path, "grid_cnn", 0, [False], [True], [3])
    sweep.write_text(yaml.safe_dump({"seeds": 1}))
    text = report_in(tmp_path)
    assert "Under way" not in text
    (sweep.parent / social_attention.TARGET_FILE).write_text(yaml.safe_dump({"seeds": 5}))  # train's own target
    assert "grid_cnn 1 of its 5 seeds" in report_in(tmp_path)


def test_report_keeps_finished_runs_so_the_table_survives_their_folders(tmp_path):
    kept = tmp_path / "kept.json"
    fake_run(tmp_path / "first", "attention", 0, [True, True], [False, False], [8, 9])
    fake_run(tmp_path / "first", "mlp", 0, [False, True], [True, False], [3, 9])
    social_attention.report(tmp_path / "first", ["intersection-dqn"], 100, tmp_path / "B.md", tmp_path / "c.png", kept)
    fake_run(tmp_path / "second", "attention", 1, [False, True], [True, False], [3, 9])
    text = social_attention.report(
        tmp_path / "second", ["intersection-dqn"], 100, tmp_path / "B.md", tmp_path / "c.png", kept
    )
    rows = {line.split("|")[3].strip(): line for line in text.splitlines() if line.startswith("| intersection-v0")}
    assert rows["attention"].split("|")[4].strip() == "2" and rows["mlp"].split("|")[4].strip() == "1"
    assert sorted(json.loads(kept.read_text())["intersection-dqn"]) == ["attention_s0", "attention_s1", "mlp_s0"]
    first = json.loads(kept.read_text())["intersection-dqn"]["attention_s0"]
    assert first["training_episodes"] == 250 and first["curve_bin"] == 10 and len(first["curve_returns"]) == 25
    assert first["curve_returns"][0] == pytest.approx(0.45)  # the mean of the first 10 episodes' returns
    assert len(kept.read_text().splitlines()) == 2 + 3 + 2  # braces, one line per run, the row's braces


def test_runs_kept_with_per_episode_curves_are_binned_when_read(tmp_path):
    kept = tmp_path / "kept.json"
    old = {"extractor": "mlp", "seed": 0, "curve_returns": [float(i) for i in range(25)], "curve_lengths": [5] * 25}
    kept.write_text(json.dumps({"intersection-dqn": {"mlp_s0": old}}))
    (run,) = social_attention.stored(kept, "intersection-dqn").values()
    assert run["curve_returns"] == [4.5, 14.5] and run["curve_lengths"] == [5.0, 5.0]
    assert run["training_episodes"] == 25 and run["seed"] == 0
    with pytest.raises(SystemExit):
        social_attention.main(["report", "--bin", "15"])


def test_train_starts_each_arm_at_its_first_missing_seed_and_the_arms_behind_first(capsys, tmp_path):
    kept = tmp_path / "kept.json"
    runs = {f"{arm}_s{seed}": {"extractor": arm, "seed": seed} for arm in ("attention", "mlp") for seed in (0, 1)}
    del runs["mlp_s1"]  # attention has seeds 0-1, mlp seed 0, the grid CNN none
    kept.write_text(json.dumps({"intersection-dqn": runs}))
    argv = ["train", "--dry-run", "--rows", "intersection-dqn", "--run-dir", str(tmp_path), "--results", str(kept)]
    assert social_attention.main([*argv, "--seeds", "5"]) == 0
    first, second, third = capsys.readouterr().out.splitlines()
    assert "--extractors grid_cnn --seeds 1 " in first and "--first-seed" not in first  # seed 0
    assert "--extractors mlp,grid_cnn --seeds 1 " in second and second.endswith("--first-seed 1")  # seed 1
    assert "--extractors attention,mlp,grid_cnn --seeds 3 " in third and third.endswith("--first-seed 2")  # 2..4
    kept.write_text(json.dumps({"intersection-dqn": {**runs, "mlp_s1": {"extractor": "mlp", "seed": 1}}}))
    assert social_attention.main([*argv, "--seeds", "2"]) == 0
    assert "--extractors grid_cnn --seeds 2 " in capsys.readouterr().out  # only the arm behind
    runs = {f"{arm}_s0": {"extractor": arm, "seed": 0} for arm in ("attention", "mlp", "grid_cnn")}
    kept.write_text(json.dumps({"intersection-dqn": runs}))
    assert social_attention.main([*argv, "--seeds", "1"]) == 0
    assert "seeds 0..0 of every arm are in" in capsys.readouterr().out


def test_training_time_counts_every_stretch_of_a_resumed_run(tmp_path):
    for seed, progress in ((0, [10.0, 600.0, 40.0, 900.0]), (1, [120.0, 1200.0])):  # seed 0 resumed after 600 s
        run = fake_run(tmp_path, "attention", seed, [True], [False], [9])
        rows = "".join(f"{t},{i}\n" for i, t in enumerate(progress))
        (run / "progress.csv").write_text("time/time_elapsed,time/total_timesteps\n" + rows)
    fake_run(tmp_path, "mlp", 0, [True], [False], [9])  # no progress.csv: not counted
    assert social_attention.training_seconds(tmp_path / "missing.csv") is None
    text = report_in(tmp_path)
    assert "intersection-v0 dqn median 22 min (20-25, 2 runs; 0.8 hours in all)" in text


def test_report_of_every_row_shows_the_rows_that_have_runs(tmp_path):
    fake_run(tmp_path, "attention", 0, [True, False], [False, True], [8, 3])
    fake_run(tmp_path, "mlp", 0, [True, False], [False, True], [8, 3])
    text = social_attention.report(tmp_path, list(social_attention.ROWS), 100, tmp_path / "B.md", tmp_path / "c.png",
                                   tmp_path / "k.json")  # fmt: skip
    assert "intersection-v0 dqn:" in text
    assert not any(name in text for name in ("merge-v0", "roundabout-v0", "highway-fast-v0", "intersection-v0 ppo"))


def test_report_tables_the_share_of_each_action_per_arm(tmp_path):
    for seed, counts in enumerate(([0, 1, 9], [0, 3, 7])):
        run = fake_run(tmp_path, "attention", seed, [True], [False], [8])
        data = json.loads((run / "eval.json").read_text())
        (run / "eval.json").write_text(json.dumps({**data, "action_counts": counts}))
        run = fake_run(tmp_path, "mlp", seed, [True], [False], [8])
        (run / social_attention.ACTIONS_FILE).write_text(json.dumps({"action_counts": [5, 5]}))  # from `actions`
    text = report_in(tmp_path)
    assert "| env | algo | arm | seeds | SLOWER % | IDLE % | FASTER % |" in text
    assert "| intersection-v0 | dqn | attention | 2 | 0.0 [0.0, 0.0] | 20.0 [10.0, 30.0] | 80.0 [70.0, 90.0] |" in text
    assert "| intersection-v0 | dqn | mlp | 2 | 50.0 [50.0, 50.0] | 50.0 [50.0, 50.0] | 0.0 [0.0, 0.0] |" in text
