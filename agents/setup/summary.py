"""The line a run prints before it trains: what it trains, with which extractor and memory, and from which presets.

Every setting chosen for the user (a preset's extractor, a memory size) is said before training starts, not found
later in a run folder's name.
"""

from __future__ import annotations

import inspect

from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy

from agents.setup.config import RunConfig
from agents.setup.presets import preset_sources
from agents.trxl.policy import TrXLPolicy

#: sb3-contrib's ``RecurrentActorCriticPolicy`` default LSTM width.
LSTM_DEFAULT = inspect.signature(RecurrentActorCriticPolicy.__init__).parameters["lstm_hidden_size"].default

#: The memory settings of ``ppo_trxl``, in the order shown.
MEMORY_KEYS = ("memory_length", "memory_layers", "memory_dim", "memory_heads")


def run_summary(config: RunConfig) -> str:
    """``ppo_trxl on <env>: extractor mlp; memory 64 steps x 2 layers (dim 64, 2 heads); ...`` for a resolved config."""
    extractor = config.extractor
    if config.extractor_kwargs:
        extractor += " (" + ", ".join(f"{k}={v}" for k, v in sorted(config.extractor_kwargs.items())) + ")"
    parts = [f"{config.algo} on {config.env}: extractor {extractor}"]
    if config.algo == "ppo_trxl":
        defaults = inspect.signature(TrXLPolicy.__init__).parameters
        memory = {key: config.policy_kwargs.get(key, defaults[key].default) for key in MEMORY_KEYS}
        parts.append(
            f"memory {memory['memory_length']} steps x {memory['memory_layers']} layers "
            f"(dim {memory['memory_dim']}, {memory['memory_heads']} heads)"
        )
    if config.algo == "ppo_lstm":
        units = config.policy_kwargs.get("lstm_hidden_size", LSTM_DEFAULT)
        layers = config.policy_kwargs.get("n_lstm_layers", 1)
        parts.append(f"memory LSTM {units} units x {layers} layer{'s' if layers != 1 else ''}")
    parts.append(f"{config.timesteps:,} steps, {config.n_envs} env(s)")
    sources = preset_sources(config.algo, config.env, config.config_file, config.extractor)
    parts.append("presets " + "; ".join(sources) if sources else "no preset file")
    return "; ".join(parts)
