"""A run's hyperparameters in tensorboard: a text table when training starts, the HPARAMS tab at the end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stable_baselines3.common.logger import HParam, Logger, TensorBoardOutputFormat

from agents.evaluation.tables import markdown_table

#: The tensorboard text tag of the table written when training starts (CleanRL's ``hyperparameters``).
HYPERPARAMETERS_TAG = "hyperparameters"


def flatten(config: Mapping[str, Any]) -> dict[str, bool | str | float | None]:
    """A config with nested dicts flattened as ``key/sub``; values other than scalars and None as ``str``."""
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
    return flat


def hparam_record(config: Mapping[str, Any], metrics: Mapping[str, float]) -> HParam:
    """SB3 ``HParam`` of a run's config (``flatten``) with final ``metrics``.

    The metrics must also be logged as scalars under the same tags for tensorboard's HPARAMS tab to show them.
    """
    return HParam(flatten(config), dict(metrics))


def hyperparameter_table(config: Mapping[str, Any]) -> str:
    """The config as a markdown table of ``parameter | value`` rows (``flatten``'s keys, in order)."""
    rows = [[key, "None" if value is None else value] for key, value in flatten(config).items()]
    return markdown_table(["parameter", "value"], rows, align_numbers=False)


def log_hyperparameters(logger: Logger, config: Mapping[str, Any], step: int) -> None:
    """Write ``hyperparameter_table(config)`` as tensorboard text under ``HYPERPARAMETERS_TAG`` at ``step``.

    Written straight to the logger's tensorboard output (none: nothing to do), so that the CSV and stdout
    outputs get no row of their own before training starts.
    """
    table = hyperparameter_table(config)
    for output in logger.output_formats:
        if isinstance(output, TensorBoardOutputFormat):
            output.write({HYPERPARAMETERS_TAG: table}, {HYPERPARAMETERS_TAG: None}, step)
