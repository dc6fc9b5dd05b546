"""The console and the eval record say which simulator trained a highway-env run and which evaluates it."""

from __future__ import annotations

from agents.setup.simulators import evaluation_note, simulator_note


def test_python_runs_name_highway_envs_python_simulator_and_its_fast_queries() -> None:
    fast = simulator_note("intersection-v0", "dummy", {})
    assert fast.startswith("This run trains and evaluates intersection-v0 on highway-env's Python simulator")
    assert "fast road queries, step for step its own results" in fast
    slow = simulator_note("intersection-v0", "subproc", {"fast_simulation": False})
    assert "its own code: fast_simulation off" in slow
    assert evaluation_note("roundabout-v0", "dummy", "roundabout-v0", {}).startswith("trained and evaluated on highway")


def test_envpool_runs_say_the_port_trains_and_python_evaluates() -> None:
    assert "trains on envpool's C++ port of highway-fast-v0" in simulator_note("highway-fast-v0", "envpool")
    note = evaluation_note("highway-fast-v0", "envpool", "highway-fast-v0")
    assert note.startswith("trained on envpool's C++ port of highway-fast-v0; evaluated on highway-env's Python")


def test_other_envs_get_no_note() -> None:
    assert simulator_note("CartPole-v1", "dummy", {}) == ""
    assert evaluation_note("attn/FindTarget-v0", "dummy", "attn/FindTarget-v0") == ""
