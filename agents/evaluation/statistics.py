"""Statistics over seeds and episodes: the bootstrap confidence interval of a mean, rolling means, "solved at".

One confidence interval for the whole project: the percentile bootstrap of the mean over seeds (Agarwal et al.,
"Deep RL at the edge of the statistical precipice", use it for few seeds). The learning-curve bands, the sweep
table and plot and the learning benchmark all draw on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Bootstrap resamples of the seeds.
RESAMPLES = 10_000
#: Training episodes in the rolling mean that decides "solved" (SB3's ``ep_rew_mean`` window).
SOLVED_WINDOW = 100


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, level: float = 0.95, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean over the first axis of ``values``.

    Args:
        values: ``(S,)`` one value per seed, or ``(S, G)`` one curve per seed (an interval per column).
        level: coverage of the interval.
        resamples: bootstrap resamples of the seeds.
        seed: seed of the resampling (the same data gives the same interval).

    Returns:
        ``(low, high)``, each of shape ``values.shape[1:]`` (0-d arrays for ``(S,)``); a single seed gives
        ``low == high ==`` its value.

    Raises:
        ValueError: ``values`` is empty.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim == 0 or len(data) == 0:
        raise ValueError(f"bootstrap_ci needs at least one value, got {values!r}.")
    if len(data) == 1:
        return data[0].copy(), data[0].copy()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(data), size=(resamples, len(data)))  # (R, S)
    means = data[picks].mean(axis=1)  # (R, *G)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    return low, high


def mean_ci(values: Sequence[float], level: float = 0.95, resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """``(mean, low, high)`` of one value per seed: the mean and its percentile bootstrap interval."""
    low, high = bootstrap_ci(values, level, resamples)
    return float(np.mean(values)), float(low), float(high)


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """``(E,)`` the mean of the last ``window`` values (fewer at the start) at each index of ``values (E,)``."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(idx - window, 0)
    return (sums[idx] - sums[start]) / (idx - start)


def steps_to_solve(steps: np.ndarray, returns: np.ndarray, solved: float, window: int = SOLVED_WINDOW) -> int | None:
    """First timestep at which the mean of the last ``window`` episodes reaches ``solved`` (None: never).

    Only full windows count, so a lucky first episode does not count as solved.

    Args:
        steps: ``(E,)`` env steps at the end of each episode.
        returns: ``(E,)`` episode returns.
        solved: the score that counts as solved.
        window: episodes in the rolling mean.
    """
    if len(returns) < window:
        return None
    means = rolling_mean(returns, window)[window - 1 :]
    hit = np.flatnonzero(means >= solved)
    return int(steps[window - 1 + hit[0]]) if hit.size else None
