"""Checks of env arguments and actions: each raises one ``ValueError`` that names the value and the valid range."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces


def is_int(value: object) -> bool:
    """True for Python and NumPy integers, False for bools (``True`` is not a count)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value: object) -> bool:
    """True for Python and NumPy integers and floats, False for bools."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_int(
    name: str, value: object, low: int, high: int | None = None, *, high_name: str | None = None, why: str = ""
) -> int:
    """Return ``value`` as an ``int`` when it is an integer in ``[low, high]`` (``high=None``: no upper bound).

    ``high_name`` names the argument the upper bound comes from (``"[0, n_hazards=2]"``); ``why`` is appended
    to the message.
    """
    if not is_int(value) or value < low or (high is not None and value > high):
        if high is None:
            bounds = f">= {low}"
        else:
            bounds = f"in [{low}, {high if high_name is None else f'{high_name}={high}'}]"
        raise ValueError(f"{name}={value!r} is invalid: it must be an integer {bounds}{why}.")
    return int(value)


def check_number(name: str, value: object, low: float, high: float, *, low_open: bool = False) -> float:
    """Return ``value`` as a ``float`` when it is a number in ``[low, high]`` (``(low, high]`` with ``low_open``).

    NaN is always invalid.
    """
    inside = is_number(value) and (low < value if low_open else low <= value) and value <= high
    if not inside:
        interval = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise ValueError(f"{name}={value!r} is invalid: it must be a number in {interval}.")
    return float(value)


def check_difficulty(difficulty: object, presets: Mapping[int, Any]) -> None:
    """Raise when ``difficulty`` is neither None nor one of the env's preset levels."""
    if difficulty is not None and (not is_int(difficulty) or difficulty not in presets):
        raise ValueError(f"difficulty={difficulty!r} is invalid: use one of {sorted(presets)} or None.")


def check_action(action: object, action_space: spaces.Discrete) -> None:
    """Raise when ``action`` is not in the env's ``Discrete`` action space."""
    if not action_space.contains(action):
        last = action_space.start + action_space.n - 1
        raise ValueError(
            f"action={action!r} is not in {action_space}: use an integer in [{action_space.start}, {last}]."
        )
