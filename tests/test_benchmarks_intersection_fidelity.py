"""benchmarks/intersection_fidelity.py: its statistics, verdicts and report on canned results; a tiny real run."""

import hashlib
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def modules(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    names = ("intersection_fidelity_stats", "intersection_report", "intersection_candidates", "intersection_fidelity")
    return {name.split("_", 1)[1]: importlib.import_module(name) for name in names}


def _row(stats, candidate, policy, returns, crashed, starts=None, x_shift=0.0):
    """A canned row: one episode per return, 2 steps of 3 rows each (ego, a vehicle, padding)."""
    row = stats.new_row(candidate, policy, "raw", columns=stats.COLUMNS, rows=3)
    for i, value in enumerate(returns):
        first = np.zeros((3, 7), dtype=np.float32)
        first[:2, 0] = 1.0
        first[1, 1] = (starts[i] if starts is not None else 0.1 * i) + x_shift
        observations = np.stack([first, first])  # (T + 1, V, F)
        record = {"seed": i, "return": value, "length": 2, "crashed": crashed[i], "arrived": not crashed[i]}
        record["first"] = hashlib.sha1(first.tobytes()).hexdigest()
        stats.add_episode(row, record, first, observations)
    return row


def test_mean_ci_is_the_normal_interval(modules):
    stats = modules["fidelity_stats"]
    mean, half = stats.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and half == pytest.approx(1.959964 * np.std([1, 2, 3, 4], ddof=1) / 2)
    assert stats.mean_ci([5.0]) == (5.0, 0.0)
    with pytest.raises(ValueError, match="at least one value"):
        stats.mean_ci([])


def test_summarize_counts_presence_over_all_rows_and_the_rest_over_present_rows(modules):
    stats = modules["fidelity_stats"]
    row = _row(stats, "python-15hz", "random", [1.0, 3.0], [False, True], starts=[0.2, 0.4])
    summary = stats.summarize(row)
    assert summary["n"] == 2 and summary["return"][0] == 2.0 and summary["crash"][0] == 0.5
    assert summary["arrival"][0] == 0.5
    assert summary["mean_presence"][0] == pytest.approx(2 / 3, abs=1e-5)  # 2 of 3 rows present (5 decimals kept)
    assert summary["mean_x"][0] == pytest.approx(np.mean([0.1, 0.2]), abs=1e-5)  # ego 0, vehicle 0.2 / 0.4
    assert summary["distinct_first"] == 2
    assert summary["first_std"] == pytest.approx(0.1 / 21, abs=1e-6)  # one cell of 21 varies, std 0.1
    with pytest.raises(ValueError, match="no episodes"):
        stats.summarize(stats.new_row("envpool", "random", "raw"))


def test_differences_name_shifted_figures_and_identical_starts(modules):
    stats = modules["fidelity_stats"]
    rng = np.random.default_rng(0)
    crashes = list(rng.random(200) < 0.4)
    reference = stats.summarize(_row(stats, "python-15hz", "random", list(rng.normal(1.0, 1.0, 200)), crashes))
    same = stats.summarize(_row(stats, "python-5hz", "random", list(rng.normal(1.0, 1.0, 200)), crashes))
    assert "return" not in stats.differences(same, reference)
    shifted = _row(stats, "envpool", "random", list(rng.normal(-1.0, 1.0, 200)), [True] * 200, starts=[0.3] * 200)
    found = stats.differences(stats.summarize(shifted), reference)
    assert {"return", "crash rate", "arrival rate", "initial states"} <= set(found)


def _results(stats, with_speed=True):
    rng = np.random.default_rng(1)
    rows = {}
    for policy in ("random", "faster"):
        crashes = list(rng.random(100) < 0.4)
        rows[f"python-15hz/{policy}"] = _row(stats, "python-15hz", policy, list(rng.normal(1, 1, 100)), crashes)
        rows[f"python-5hz/{policy}"] = _row(stats, "python-5hz", policy, list(rng.normal(1, 1, 100)), crashes)
        rows[f"envpool/{policy}"] = _row(stats, "envpool", policy, [-2.0] * 100, [True] * 100, starts=[0.5] * 100)
    results = {"rows": rows, "meta": {"command": "python benchmarks/intersection_fidelity.py --episodes 100"}}
    if with_speed:
        speeds = {
            "python-15hz, pandas": [2.0, 2.2, 2.1],
            "python-15hz, NumPy, SubprocVecEnv n_envs=2": [4.0, 4.1, 3.9],
            "python-5hz, NumPy": [6.0, 6.1, 5.9],
            "envpool intersection-v0, 1 env": [600.0, 610.0, 590.0],
        }
        results["speed"] = {"steps_per_s": speeds, "seconds": 10.0, "load_before": 1.0, "load_after": 1.5}
    return results


def test_report_table_verdicts_and_fastest_faithful(modules, tmp_path):
    stats, report = modules["fidelity_stats"], modules["report"]
    results = _results(stats)
    found = report.verdicts(results["rows"])
    assert "initial states" in found["envpool"]["random"]
    text = report.section(results)
    assert text.startswith(report.START_MARKER) and text.endswith(report.END_MARKER)
    table = text.split("### Simulator fidelity\n\n", 1)[1]
    assert table.startswith("| candidate | policy | episodes |")  # the table first
    assert "(the reference)" in table and "python benchmarks/intersection_fidelity.py --episodes 100" in text
    sentences = report.summary_sentences(results, found)
    faithful_5hz = not any(found["python-5hz"].values())
    best = "python-5hz, NumPy" if faithful_5hz else "python-15hz, NumPy, SubprocVecEnv n_envs=2"
    assert f"**{best}**" in sentences and "`envpool` is not faithful" in sentences
    assert "285.7x faster" in sentences  # envpool: 600 / 2.1, the first speed row
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\n## Other\n\ntext\n")
    report.write_report(results, doc)
    report.write_report(results, doc)  # a second report replaces the first
    written = doc.read_text()
    assert written.count(report.HEADING) == 1 and written.count(report.START_MARKER) == 1
    assert written.index("## Other") < written.index(report.HEADING) < written.index(report.START_MARKER)
    with pytest.raises(ValueError, match="no rows yet"):
        report.write_report({"rows": {}}, doc)


def test_speed_table_ratios_to_the_first_row(modules):
    table = modules["fidelity_stats"].speed_table(_results(modules["fidelity_stats"])["speed"])
    assert "| python-15hz, pandas | 3 | 2.1 | 1.00x |" in table and "| 6.0 | 2.86x |" in table


def test_policies_and_arguments_are_checked(modules, capsys):
    candidates, fidelity = modules["candidates"], modules["fidelity"]
    with pytest.raises(ValueError, match="policy 'idle' is unknown"):
        candidates.policy_actions("idle")
    for argv, message in ((["--episodes", "0"], "--episodes must be >= 1, got 0"), (["--until", "3pm"], "HH:MM")):
        with pytest.raises(SystemExit):
            fidelity.main(argv)
        assert message in capsys.readouterr().err


def test_a_tiny_envpool_run_writes_resumable_rows(modules, tmp_path):
    pytest.importorskip("envpool", reason="the envpool candidate needs envpool (pip install envpool)")
    fidelity = modules["fidelity"]
    output = tmp_path / "fidelity.json"
    argv = ["--candidates", "envpool", "--episodes", "2", "--speed-rounds", "0", "--output", str(output)]
    fidelity.main(argv)
    results = json.loads(output.read_text())
    assert sorted(results["rows"]) == ["envpool/faster", "envpool/random", "envpool/slower"]
    assert all(len(row["episodes"]) == 2 for row in results["rows"].values())
    fidelity.main([*argv[:3], "3", *argv[4:]])  # resumes: one more episode per row
    results = json.loads(output.read_text())
    assert [e["seed"] for e in results["rows"]["envpool/random"]["episodes"]] == [10000, 10001, 10002]
    assert "seed" in results["meta"]["envpool_config"]


def test_a_trained_policy_acts_on_the_adapter_rows_of_the_python_candidates(modules, tmp_path, monkeypatch, capsys):
    pytest.importorskip("highway_env", reason="the Python candidates need highway-env (pip install highway-env)")
    import agents

    seen = []

    class Greedy:  # stands in for agents.load(RUN_DIR): always SLOWER, and keeps what it saw
        def predict(self, obs, deterministic=True):
            seen.append((obs.shape, deterministic))
            return np.array(0), None

    monkeypatch.setattr(agents, "load", lambda path: Greedy())
    output = tmp_path / "fidelity.json"
    argv = ["--candidates", "python-5hz", "envpool", "--policy", "runs/x", "--episodes", "1", "--speed-rounds", "0"]
    monkeypatch.setattr(modules["fidelity"], "POLICIES", ())  # only the trained row
    modules["fidelity"].main([*argv, "--output", str(output)])
    rows = json.loads(output.read_text())["rows"]
    assert list(rows) == ["python-5hz/trained:runs/x"] and rows["python-5hz/trained:runs/x"]["layout"] == "adapter"
    assert seen and all(shape == (15, 7) and deterministic for shape, deterministic in seen)
    assert "skip envpool/trained:runs/x: needs the envpool observation conversion" in capsys.readouterr().out


def test_paired_differences_catch_a_small_shift_seed_by_seed(modules):
    stats = modules["fidelity_stats"]
    rng = np.random.default_rng(2)
    returns, crashes = list(rng.normal(0.0, 3.0, 100)), list(rng.random(100) < 0.5)
    reference = _row(stats, "python-15hz", "random", returns, crashes)
    shifted = _row(stats, "python-5hz", "random", [r + 0.1 for r in returns], crashes)  # same seeds, +0.1 each
    assert stats.differences(stats.summarize(shifted), stats.summarize(reference)) == []  # too small unpaired
    assert stats.paired_differences(shifted, reference) == ["return"]
    assert stats.row_differences(shifted, reference, paired=True) == ["return (paired)"]
    assert stats.row_differences(shifted, reference, paired=False) == []
    assert stats.paired_differences(reference, reference) == []


def test_the_fast_road_candidate_plays_the_originals_episodes(modules, tmp_path, monkeypatch):
    pytest.importorskip("highway_env", reason="the Python candidates need highway-env (pip install highway-env)")
    fidelity, report = modules["fidelity"], modules["report"]
    monkeypatch.setattr(fidelity, "POLICIES", ("random",))
    output = tmp_path / "fidelity.json"
    argv = ["--candidates", "python-15hz", "python-15hz-fast", "--episodes", "1", "--speed-rounds", "0"]
    fidelity.main([*argv, "--output", str(output)])
    rows = json.loads(output.read_text())["rows"]
    original, fast = rows["python-15hz/random"], rows["python-15hz-fast/random"]
    assert original["episodes"] == fast["episodes"]  # return, length, crash, arrival, first obs, column means
    assert original["obs_sumsq"] == fast["obs_sumsq"]
    assert report.verdicts(rows)["python-15hz-fast"] == {"random": []}
    assert "identical, episode by episode (1 of its seeds)" in report.section(json.loads(output.read_text()))


def test_identical_episodes_are_named_identical_and_one_changed_episode_is_not(modules):
    stats, report = modules["fidelity_stats"], modules["report"]
    results = _results(stats)
    for policy in ("random", "faster"):
        reference = results["rows"][f"python-15hz/{policy}"]
        same = stats.new_row("python-15hz-fast", policy, "raw", columns=stats.COLUMNS, rows=3)
        same["episodes"] = [dict(e) for e in reference["episodes"][:60]]  # the first 60 seeds, as run
        results["rows"][f"python-15hz-fast/{policy}"] = same
    assert stats.identical_pairs(same, reference) == (60, 60) and stats.all_identical(same, reference)
    order = list(modules["candidates"].CANDIDATES)
    table = stats.fidelity_table(results["rows"], "python-15hz", order, ["python-15hz-fast"])
    assert table.count("nothing: identical, episode by episode (60 of its seeds)") == 2
    results["speed"]["steps_per_s"]["python-15hz-fast, SubprocVecEnv n_envs=2"] = [9.0, 9.5, 8.0]
    sentences = report.summary_sentences(results, report.verdicts(results["rows"]))
    assert "**python-15hz-fast, SubprocVecEnv n_envs=2** (9.0 raw steps/s, 4.29x the original" in sentences
    assert "`python-15hz-fast` episodes are the original's, seed by seed" in sentences
    assert "`python-15hz-fast` is identical to the original and steps 4.3x faster" in sentences
    assert "each of its 120 episodes" in sentences
    changed = dict(same["episodes"][5], length=same["episodes"][5]["length"] + 1)
    same["episodes"][5] = changed
    assert stats.identical_pairs(same, reference) == (59, 60) and not stats.all_identical(same, reference)
    assert report.identical("python-15hz-fast", results["rows"]) == 0


def test_every_run_is_recorded_and_reproduced_in_order(modules):
    report = modules["report"]
    old = {"command": "python benchmarks/intersection_fidelity.py --episodes 9", "started": "then", "seed_base": 1}
    assert report.runs_of(dict(old)) == [{"command": old["command"], "started": "then"}]
    assert report.runs_of({"seed_base": 1}) == []
    stats = modules["fidelity_stats"]
    results = _results(stats)
    results["meta"] = {"runs": [{"command": "python first"}, {"command": "python second", "load_at_start": 2.0}]}
    text = report.section(results)
    assert "Reproduce: `python first`, then `python second` (each run adds its rows" in text
    assert "2.00 when run 2 started" in text


def test_a_subprocvecenv_slower_than_one_process_is_pointed_out(modules):
    report = modules["report"]
    speed = {"steps_per_s": {"python-15hz, NumPy": [4.0], "python-15hz, NumPy, SubprocVecEnv n_envs=2": [3.0]}}
    assert "`python-15hz, NumPy, SubprocVecEnv n_envs=2` stepped slower (3.0/s) than `python-15hz, NumPy`" in (
        report.subproc_note(speed)
    )
    speed["steps_per_s"]["python-15hz, NumPy, SubprocVecEnv n_envs=2"] = [7.0]
    assert report.subproc_note(speed) == ""


def test_a_trained_policy_is_named_by_its_run_not_its_path():
    from intersection_fidelity_stats import policy_label

    assert policy_label("trained:/somewhere/runs/intersection-v0/dqn_attention_s0") == "trained (dqn_attention_s0)"
    assert policy_label("random") == "random"


def test_the_reproduce_line_shows_no_machine_folder_and_no_stop_time(modules):
    command = "python benchmarks/intersection_fidelity.py --policy /work/x/dqn_attention_s0 --until 06:40 --chunk 25"
    shown = modules["report"].shown_command(command)
    assert shown == "python benchmarks/intersection_fidelity.py --policy RUN --chunk 25"
