"""Sweeps on Ray Tune: ``trials`` (the spec, its grid and the trials), ``runner`` (Ray), ``results`` (table, plot).

from agents.sweep import SweepSpec, run_sweep
"""

from __future__ import annotations

from agents.sweep.runner import SweepResult, run_sweep
from agents.sweep.trials import SweepSpec, Trial, make_trial, parse_dimension, parse_extractors, parse_grid

__all__ = [
    "SweepResult",
    "SweepSpec",
    "Trial",
    "make_trial",
    "parse_dimension",
    "parse_extractors",
    "parse_grid",
    "run_sweep",
]
