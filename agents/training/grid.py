"""Run many independent training tasks on this machine, ``jobs`` at a time, keeping every one that finishes.

The benchmarks' grid runner (the sweep schedules its trials on Ray Tune instead, for clusters and early
stopping). A task that fails is reported and the others go on; results come back as they finish.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any


def run_tasks(
    fn: Callable[..., dict[str, Any]],
    tasks: Sequence[tuple[Any, ...]],
    jobs: int,
    on_done: Callable[[dict[str, Any]], None],
    on_failed: Callable[[tuple[Any, ...], BaseException], None],
) -> None:
    """Call ``fn(*task)`` for every task, ``jobs`` at a time (forked processes; in this process for 1).

    Args:
        fn: a module-level function (it runs in a worker process), returning plain data.
        tasks: the argument tuples, in the order they should start.
        jobs: processes at once (>= 1).
        on_done: called in this process with each result, as it comes.
        on_failed: called with the task and the exception of each task that raised.
    """
    if jobs < 1:
        raise ValueError(f"jobs={jobs} is invalid: use 1 or more.")
    if jobs == 1:
        for task in tasks:
            try:
                result = fn(*task)
            except Exception as error:  # one failed task must not lose the others
                on_failed(task, error)
            else:
                on_done(result)
        return
    with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("fork")) as pool:
        futures = {pool.submit(fn, *task): task for task in tasks}
        for future in cf.as_completed(futures):
            if future.exception() is None:
                on_done(future.result())
            else:
                on_failed(futures[future], future.exception())
