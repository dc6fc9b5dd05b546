"""A sweep stopped with Ctrl-C: the trials that never started are counted and the user is told how to go on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.sweep.results import write_table
from agents.sweep.runner import grid_rows, record_results
from agents.sweep.trials import SweepSpec, grid_trials, read_record


@dataclass
class FakeResult:
    """What Ray Tune's ``Result`` offers ``record_results``."""

    config: dict[str, Any] | None
    metrics: dict[str, Any] | None = field(default_factory=dict)
    error: Exception | None = None


def test_trials_that_never_started_are_counted_not_fatal(tmp_path: Path) -> None:
    spec = SweepSpec(env="CartPole-v1", extractors="mlp", seeds=3, run_root=tmp_path)
    trials = grid_trials(spec, [])
    by_id = {t.trial_id: t for t in trials}
    finished = FakeResult({"trial": trials[0].payload()}, {"final": True, "timesteps": 64, "mean_return": 9.0})
    stopped = FakeResult({"trial": trials[1].payload()}, {})
    messages: list[str] = []

    ran = record_results(spec, [finished, stopped, FakeResult(None, None)], by_id, messages.append)

    assert ran == [trials[0].trial_id, trials[1].trial_id]
    assert read_record(trials[0].root)["status"] == "ok"
    assert read_record(trials[1].root)["status"] == "stopped"
    assert read_record(trials[2].root) == {}
    assert len(messages) == 1 and messages[0].startswith("1 trial(s) did not start")
    assert "run the same command again" in messages[0]


def test_seeds_come_first_so_a_stopped_sweep_has_every_arm_on_the_same_seeds(tmp_path: Path) -> None:
    spec = SweepSpec(env="CartPole-v1", extractors="attention,mlp", seeds=3, run_root=tmp_path)
    order = [(t.seed, t.extractor) for t in grid_trials(spec, [])]
    assert order == [(s, e) for s in range(3) for e in ("attention", "mlp")]


def test_the_table_of_a_stopped_sweep_names_the_trials_that_never_started(tmp_path: Path) -> None:
    spec = SweepSpec(env="CartPole-v1", extractors="attention,mlp", seeds=2, run_root=tmp_path)
    trials = grid_trials(spec, [])
    finished = FakeResult({"trial": trials[0].payload()}, {"final": True, "timesteps": 64, "mean_return": 9.0})
    record_results(spec, [finished, FakeResult(None, None)], {t.trial_id: t for t in trials}, lambda _: None)
    rows = grid_rows(trials)
    assert [(r["extractor"], r["seed"], r["status"]) for r in rows] == [
        ("attention", 0, "ok"), ("mlp", 0, "not run"), ("attention", 1, "not run"), ("mlp", 1, "not run"),
    ]  # fmt: skip
    table_csv, table_md = write_table(rows, tmp_path, [], "sweep")
    assert "| attention |" in table_md.read_text() and table_csv.read_text().count("not run") == 3
