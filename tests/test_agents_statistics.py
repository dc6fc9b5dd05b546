"""The library's shared readers and statistics: monitor files, progress.csv, bootstrap CIs, markdown tables."""

import numpy as np
import pytest

from agents.evaluation.statistics import bootstrap_ci, mean_ci, rolling_mean, steps_to_solve
from agents.evaluation.tables import markdown_table
from agents.storage.monitor_files import read_monitor, read_progress, trim_monitor


def test_bootstrap_ci_brackets_the_mean_within_the_range():
    low, high = bootstrap_ci([1.0, 2.0, 3.0])
    assert 1.0 <= low < 2.0 < high <= 3.0
    assert bootstrap_ci([5.0]) == (5.0, 5.0)
    assert bootstrap_ci([4.0, 4.0, 4.0]) == (4.0, 4.0)
    assert mean_ci([1.0, 2.0, 3.0]) == (2.0, float(low), float(high))
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_ci([])


def test_bootstrap_ci_of_curves_is_one_interval_per_column():
    curves = np.array([[0.0, 1.0, 5.0], [2.0, 1.0, 7.0], [4.0, 1.0, 9.0]])  # (seeds, grid)
    low, high = bootstrap_ci(curves, resamples=500)
    assert low.shape == high.shape == (3,)
    assert (low <= curves.mean(axis=0)).all() and (curves.mean(axis=0) <= high).all()
    assert low[1] == high[1] == 1.0
    for column in range(3):  # the same as the interval of that column alone
        np.testing.assert_allclose(bootstrap_ci(curves[:, column], resamples=500), (low[column], high[column]))


def test_rolling_mean_and_steps_to_solve_need_a_full_window():
    np.testing.assert_allclose(rolling_mean(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])
    steps = np.arange(1, 301) * 10
    returns = np.r_[np.zeros(150), np.ones(150)]
    # the mean of the last 100 episodes reaches 0.5 at episode 200 (index 199)
    assert steps_to_solve(steps, returns, 0.5) == 2000
    assert steps_to_solve(steps, returns, 1.5) is None
    assert steps_to_solve(steps[:50], np.ones(50), 0.5) is None  # fewer episodes than the window


def test_read_monitor_merges_envs_in_order_of_end(tmp_path):
    header = '#{"t_start": 100.0, "env_id": "x"}\nr,l,t\n'
    (tmp_path / "0.monitor.csv").write_text(header + "1.0,10,0.5\n3.0,30,2.0\n")
    (tmp_path / "1.monitor.csv").write_text(header + "2.0,20,1.0\n")
    episodes = read_monitor(tmp_path)
    assert episodes.steps.tolist() == [10, 30, 60] and episodes.returns.tolist() == [1.0, 2.0, 3.0]
    assert episodes.lengths.tolist() == [10, 20, 30]


def test_read_monitor_puts_the_files_on_one_clock_and_skips_a_cut_line(tmp_path):
    # env 1 started 2 s after env 0: its episode ending at t=0.5 ended at 2.5 on env 0's clock
    (tmp_path / "0.monitor.csv").write_text('#{"t_start": 10.0}\nr,l,t,is_success\n1.0,10,1.0,1\n3.0,30,3.0,0\n')
    (tmp_path / "1.monitor.csv").write_text('#{"t_start": 12.0}\nr,l,t,is_success\n2.0,20,0.5,1\n4.0,4')
    episodes = read_monitor(tmp_path, info_keywords=("is_success", "absent"))
    assert episodes.returns.tolist() == [1.0, 2.0, 3.0] and len(episodes) == 3
    assert episodes.info["is_success"].tolist() == [1.0, 1.0, 0.0] and np.isnan(episodes.info["absent"]).all()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"No \*monitor.csv files"):
        read_monitor(tmp_path / "empty")


def test_trim_monitor_keeps_the_episodes_that_ended_by_the_checkpoint(tmp_path):
    header = '#{"t_start": 10.0}\nr,l,t,is_success\n'
    (tmp_path / "0.monitor.csv").write_text(header + "1.0,10,1.0,1\n2.0,20,2.0,0\n3.0,5,3.0,1\n")
    (tmp_path / "1.monitor.csv").write_text(header + "4.0,30,1.0,1\n5.0,4")  # the last line cut short
    untouched = tmp_path / "0.monitor.csv"
    assert trim_monitor(tmp_path, 30) == 2  # env 0: 10 + 20 fit, 5 more do not; env 1: the cut line
    assert untouched.read_text() == header + "1.0,10,1.0,1\n2.0,20,2.0,0\n"
    assert (tmp_path / "1.monitor.csv").read_text() == header + "4.0,30,1.0,1\n"
    assert trim_monitor(tmp_path, 30) == 0 and read_monitor(tmp_path).returns.tolist() == [1.0, 4.0, 2.0]
    assert trim_monitor(tmp_path, 0) == 3 and not read_monitor(tmp_path).returns.size
    with pytest.raises(ValueError, match="steps_per_env=-1"):
        trim_monitor(tmp_path, -1)


def test_read_progress_keeps_the_rows_with_every_column(tmp_path):
    path = tmp_path / "progress.csv"
    path.write_text("time/total_timesteps,attention/relevant_mass,x\n64,,1\n128,0.5,2\n192,0.75,\n")
    logged = read_progress(path, ["time/total_timesteps", "attention/relevant_mass"])
    assert logged["time/total_timesteps"].tolist() == [128, 192]
    assert logged["attention/relevant_mass"].tolist() == [0.5, 0.75]
    assert read_progress(path, ["missing"]) is None and read_progress(tmp_path / "none.csv", ["x"]) is None


def test_markdown_table_aligns_and_escapes():
    table = markdown_table(["name", "value"], [["a|b", 1.5], ["c", None]])
    assert table.splitlines() == ["| name | value |", "|---|---:|", "| a\\|b | 1.5 |", "| c |  |"]
    assert markdown_table(["a", "b"], [], align_numbers=False).splitlines()[1] == "|---|---|"
