"""The valid ranges of the common SB3 hyperparameters: a value outside is refused before anything is built.

SB3 takes ``gamma=5`` or ``batch_size=0`` without a word (or fails deep inside with an ``AssertionError``);
here each gets one line that names the value and the range.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: hyperparameter -> (low, high, low included, high included); a bound of None is open.
RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "gamma": (0.0, 1.0, False, True),
    "gae_lambda": (0.0, 1.0, True, True),
    "learning_rate": (0.0, None, False, False),
    "clip_range": (0.0, None, False, False),
    "clip_range_vf": (0.0, None, False, False),
    "ent_coef": (0.0, None, True, False),
    "vf_coef": (0.0, None, True, False),
    "max_grad_norm": (0.0, None, False, False),
    "target_kl": (0.0, None, False, False),
    "tau": (0.0, 1.0, False, True),
    "n_steps": (1, None, True, False),
    "batch_size": (1, None, True, False),
    "n_epochs": (1, None, True, False),
    "buffer_size": (1, None, True, False),
    "learning_starts": (0, None, True, False),
    "gradient_steps": (1, None, True, False),  # or -1: see SPECIAL
    "train_freq": (1, None, True, False),
    "target_update_interval": (1, None, True, False),
    "exploration_fraction": (0.0, 1.0, True, True),
    "exploration_initial_eps": (0.0, 1.0, True, True),
    "exploration_final_eps": (0.0, 1.0, True, True),
    "policy_delay": (1, None, True, False),
    "target_policy_noise": (0.0, None, True, False),
    "target_noise_clip": (0.0, None, True, False),
    "n_quantiles": (1, None, True, False),
    "top_quantiles_to_drop_per_net": (0, None, True, False),
    "stats_window_size": (1, None, True, False),
    "rms_prop_eps": (0.0, None, False, False),
    "n_critic_updates": (1, None, True, False),
    "cg_max_steps": (1, None, True, False),
    "cg_damping": (0.0, None, True, False),
    "line_search_shrinking_factor": (0.0, 1.0, False, False),
    "line_search_max_iter": (1, None, True, False),
    "sub_sampling_factor": (1, None, True, False),
}

#: ``normalize`` (``VecNormalize``) setting -> range, as ``RANGES``; ``clip_obs=0`` would blind the policy.
NORMALIZE_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "clip_obs": (0.0, None, False, False),
    "clip_reward": (0.0, None, False, False),
    "gamma": (0.0, 1.0, False, True),
    "epsilon": (0.0, None, False, False),
}

#: ``policy_kwargs`` setting -> range, as ``RANGES``: the initial Gaussian std is ``exp(log_std_init)``, so beyond
#: +-20 (a std above 4.8e8 or below 2e-9) the first actions or their log-probabilities are no longer finite numbers.
POLICY_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "log_std_init": (-20.0, 20.0, True, True),
}

#: Values outside the range that a hyperparameter also takes, with what they mean.
SPECIAL: dict[str, tuple[float, str]] = {"gradient_steps": (-1, "-1 (as many as the env steps of the rollout)")}

#: Prefixes of strings that carry a number: ``lin_<x>`` schedules, SAC's ``auto_<x>`` initial entropy coefficient.
NUMBER_PREFIXES = ("lin_", "auto_")


def _interval(low: float | None, high: float | None, low_in: bool, high_in: bool) -> str:
    if high is None:
        return f"{'>=' if low_in else '>'} {low:g}"
    return f"in {'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"


def number_in(key: str, value: object) -> object:
    """The number a hyperparameter holds, for its range check.

    A ``lin_<x>`` schedule's start, an ``auto_<x>`` initial value, ``n`` of a ``train_freq`` of ``[n, unit]``; any
    other value (a bad ``lin_`` string too) as it is.
    """
    if key == "train_freq" and isinstance(value, (list, tuple)) and value:
        return value[0]
    if isinstance(value, str) and value.startswith(NUMBER_PREFIXES):
        try:
            return float(value.partition("_")[2])
        except ValueError:
            return value
    return value


def check_ranges(
    algo_name: str,
    hyperparams: dict[str, Any],
    ranges: dict[str, tuple[float | None, float | None, bool, bool]] = RANGES,
    section: str = "hyperparams",
) -> None:
    """Raise ``ValueError`` for a numeric hyperparameter (or the number in one: ``number_in``) outside its range.

    None and other strings pass (the type checks of ``agents.setup.build`` judge them). ``ranges`` and ``section`` serve
    other settings the same way (``NORMALIZE_RANGES``, ``normalize``).
    """
    for key, given in hyperparams.items():
        value = number_in(key, given)
        if key not in ranges or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if key in SPECIAL and value == SPECIAL[key][0]:
            continue
        low, high, low_in, high_in = ranges[key]
        inside = not math.isnan(value)
        if inside and low is not None:
            inside = value >= low if low_in else value > low
        if inside and high is not None:
            inside = value <= high if high_in else value < high
        if not inside:
            what = "the number in it" if value is not given else "it"
            also = f", or {SPECIAL[key][1]}" if key in SPECIAL else ""
            raise ValueError(
                f"{section}.{key}={given!r} is out of range for {algo_name}: {what} must be "
                f"{_interval(low, high, low_in, high_in)}{also}."
            )


def check_finite(name: str, value: object) -> None:
    """Raise ``ValueError`` for a non-finite number (``.inf``, ``.nan``, ``1e999``) anywhere in ``value``.

    Mappings and lists are searched through, and ``lin_<x>`` / ``auto_<x>`` strings count as their number; ``name``
    is the setting's dotted name (``hyperparams``, ``env_kwargs``...), extended with the keys on the way down.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(f"{name}.{key}", item)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_finite(f"{name}[{index}]", item)
    else:
        number = number_in("", value)
        if isinstance(number, (float, np.floating)) and not math.isfinite(number):
            raise ValueError(
                f"{name}={value!r} is not a finite number (1e999 and .inf overflow, .nan is not a number): "
                "give a finite value."
            )
