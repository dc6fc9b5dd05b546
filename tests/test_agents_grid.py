"""The benchmarks' grid runner: every task runs, a failing one is reported and the others go on."""

import pytest

from agents.training.grid import run_tasks


def square(x: int) -> dict:
    if x == 3:
        raise ValueError("three")
    return {"x": x, "square": x * x}


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_task_runs_and_a_failure_loses_nothing_else(jobs):
    done, failed = [], []
    run_tasks(
        square, [(x,) for x in range(5)], jobs, done.append, lambda task, error: failed.append((task, str(error)))
    )
    assert sorted(r["square"] for r in done) == [0, 1, 4, 16]
    assert failed == [((3,), "three")]


def test_jobs_must_be_positive():
    with pytest.raises(ValueError, match="jobs=0 is invalid"):
        run_tasks(square, [], 0, print, print)
