"""Shared fixtures: a random generator, and the tiny run config every training test starts from.

The suite runs on pytest-xdist's workers (``-n logical --dist loadgroup`` in pyproject.toml): each test goes to
whichever worker is free, except that the tests of a module that defines a module-scoped fixture (a trained run, a
Ray instance) stay on one worker, so that the fixture is built once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agents import RunConfig

torch.set_num_threads(1)
# And one thread in every process a test starts (the examples, the CLI, env workers, Ray trials): two cores shared by
# two test workers and their children; more threads per process only wait on each other.
os.environ.setdefault("OMP_NUM_THREADS", "1")

#: The smallest PPO that trains: one 32-step rollout per env, one epoch.
TINY_PPO = {"n_steps": 32, "batch_size": 32, "n_epochs": 1}


#: Fixture scopes whose value the tests of a module share: their tests go to one xdist worker.
SHARED_SCOPES = {"module", "class", "package"}


#: Every test module's source, by ``tests/name.py``.
SOURCES = {f"tests/{path.name}": path.read_text() for path in Path(__file__).parent.glob("test_*.py")}

#: Test modules that define a fixture shared by their tests (``scope="module"`` and wider).
SHARED_MODULES = frozenset(
    module
    for module, source in SOURCES.items()
    if re.search(r'@pytest\.fixture\([^)]*scope="(module|class|package)"', source)
)


#: Test modules whose module fixture starts a Ray (a local one, a cluster): they share one worker, one after the
#: other. Two Rays at once on two shared cores starve each other's trials (a sweep test then takes minutes).
RAY_MODULES = frozenset(module for module in SHARED_MODULES if re.search(r"ray\.init\(|cluster_utils", SOURCES[module]))


def shared_scope(module: str) -> str | None:
    """The worker group of a test module's tests: ``ray`` for ``RAY_MODULES``, the module for the other shared ones."""
    if module in RAY_MODULES:
        return "ray"
    return module if module in SHARED_MODULES else None


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` that keeps each module of ``SHARED_MODULES`` on one worker, and ``RAY_MODULES`` together.

    pytest-xdist reads a test's group from the ``@group`` suffix it adds to the test's id, which pytest 9.2's ids no
    longer take; so the scheduler groups by module itself (a suffix, where one arrives, still wins).
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if "@" in nodeid:
                return nodeid.rsplit("@", 1)[-1]
            return shared_scope(nodeid.split("::", 1)[0]) or nodeid

    return SharedModuleScheduling(config, log)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark a test that uses a module-scoped fixture with ``xdist_group(<module>)`` (read by ``--dist loadgroup``).

    Marked as each test is collected, before any ``pytest_collection_modifyitems`` (pytest-xdist's worker turns the
    mark into the group it schedules by there, whatever order hooks of that name run in).
    """
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return
    scopes = {fixture.scope for fixtures in info.name2fixturedefs.values() for fixture in fixtures}
    if scopes & SHARED_SCOPES:
        module = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(shared_scope(module) or module))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow tests first, so the two workers start the long ones early instead of one ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., RunConfig]:
    """``tiny_config(run_root, **changes)``: a run of 32 steps on one env (the default env, FindTarget) with
    ``TINY_PPO``, no evaluation, no checkpoints between, no progress bar; ``changes`` are ``RunConfig`` fields."""

    def make(run_root: str | Path, **changes: Any) -> RunConfig:
        values: dict[str, Any] = dict(
            run_root=str(run_root),
            timesteps=32,
            n_envs=1,
            eval_episodes=0,
            eval_freq=0,
            progress_bar=False,
            hyperparams=dict(TINY_PPO),
        )
        return RunConfig(**{**values, **changes})

    return make


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
