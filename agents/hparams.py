"""A run's hyperparameters for tensorboard's HPARAMS tab."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stable_baselines3.common.logger import HParam


def hparam_record(config: Mapping[str, Any], metrics: Mapping[str, float]) -> HParam:
    """SB3 ``HParam`` of a run's config (nested dicts flattened as ``key/sub``) with final ``metrics``.

    The metrics must also be logged as scalars under the same tags for tensorboard's HPARAMS tab to show them.
    """
    flat: dict[str, bool | str | float | None] = {}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, sub in value.items():
                add(f"{prefix}/{key}" if prefix else str(key), sub)
        elif isinstance(value, (bool, int, float, str)) or value is None:
            flat[prefix] = value
        else:
            flat[prefix] = str(value)

    add("", config)
    return HParam(flat, dict(metrics))
