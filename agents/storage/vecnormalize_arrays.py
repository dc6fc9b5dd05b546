"""``VecNormalize`` statistics as plain arrays (``vecnormalize.npz``), readable without unpickling anything.

``VecNormalize.save`` pickles the wrapper (``vecnormalize.pkl``), and unpickling a crafted file runs code.
Training writes the same statistics beside it as a NumPy ``.npz`` of numbers and strings, which
``numpy.load(allow_pickle=False)`` reads as data only: what safe loading (``agents.load(safe=True)``,
``train_rl.py eval --safe``) uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

#: Scalars of the wrapper, stored as ``setting/<name>``.
_SETTINGS = ("clip_obs", "clip_reward", "gamma", "epsilon", "norm_obs", "norm_reward")


def _moments(prefix: str, rms: RunningMeanStd) -> dict[str, np.ndarray]:
    return {f"{prefix}/mean": rms.mean, f"{prefix}/var": rms.var, f"{prefix}/count": np.asarray(rms.count)}


def save_arrays(venv: VecNormalize, path: str | Path) -> None:
    """Write ``venv``'s running statistics and settings to ``path`` (an ``.npz``: numbers and strings only)."""
    arrays = {f"setting/{name}": np.asarray(getattr(venv, name)) for name in _SETTINGS}
    arrays.update(_moments("ret", venv.ret_rms))
    obs_rms = getattr(venv, "obs_rms", None)  # absent when norm_obs=False
    if isinstance(obs_rms, dict):
        arrays["setting/norm_obs_keys"] = np.asarray(list(obs_rms), dtype=str)
        for key, rms in obs_rms.items():
            arrays.update(_moments(f"obs/{key}", rms))
    elif obs_rms is not None:
        arrays.update(_moments("obs", obs_rms))
    with open(path, "wb") as handle:  # a file object: numpy appends no second ".npz"
        np.savez(handle, **arrays)


def _restore(rms: RunningMeanStd, arrays: dict[str, np.ndarray], prefix: str, path: Path) -> None:
    try:
        mean, var, count = (arrays[f"{prefix}/{part}"] for part in ("mean", "var", "count"))
    except KeyError as exc:
        raise ValueError(f"{path} lacks {exc.args[0]}: it is not a statistics file train_rl.py wrote.") from None
    if mean.shape != rms.mean.shape or var.shape != rms.var.shape:
        raise ValueError(
            f"{path}: statistics '{prefix}' have shape {mean.shape}, the env's observations {rms.mean.shape}: "
            "they belong to another env."
        )
    rms.mean, rms.var, rms.count = mean.astype(np.float64), var.astype(np.float64), float(count)


def load_arrays(path: str | Path, venv: VecEnv) -> VecNormalize:
    """``VecNormalize`` around ``venv`` with the statistics and settings of ``path`` (nothing unpickled).

    Raises:
        ValueError: the file is not such an ``.npz``, or its statistics do not fit ``venv``'s observations.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise ValueError(f"{path} is not a statistics file train_rl.py wrote ({reason}).") from None
    try:
        settings = {name: arrays[f"setting/{name}"].item() for name in _SETTINGS}
    except KeyError as exc:
        raise ValueError(f"{path} lacks {exc.args[0]}: it is not a statistics file train_rl.py wrote.") from None
    keys = arrays.get("setting/norm_obs_keys")
    wrapped = VecNormalize(venv, norm_obs_keys=None if keys is None else [str(k) for k in keys], **settings)
    _restore(wrapped.ret_rms, arrays, "ret", path)
    obs_rms = getattr(wrapped, "obs_rms", None)  # absent when norm_obs=False
    if isinstance(obs_rms, dict):
        for key, rms in obs_rms.items():
            _restore(rms, arrays, f"obs/{key}", path)
    elif obs_rms is not None:
        _restore(obs_rms, arrays, "obs", path)
    return wrapped
