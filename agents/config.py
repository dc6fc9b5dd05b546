"""The run configuration: a dataclass of what to train, merged with YAML presets from ``configs/``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml

import envs
from agents.algorithms import ALGORITHMS
from agents.callbacks import DEFAULT_LOG_INTERVAL
from policies import EXTRACTORS
from policies.registry import did_you_mean

#: Folder of the YAML presets: ``configs/<algo>.yaml`` keyed by env id, with a ``default`` section.
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

#: Keys a preset section may hold.
PRESET_KEYS = ("n_envs", "n_timesteps", "hyperparams", "policy_kwargs", "extractor_kwargs", "env_kwargs")


@dataclass
class RunConfig:
    """Everything that defines one training run; saved as ``config.yaml`` in the run folder.

    Fields left as None take their value from the preset (``configs/<algo>.yaml``).
    """

    env: str = "attn/FindTarget-v0"
    """Gymnasium env id."""
    algo: str = "ppo"
    """Algorithm name from ``agents.ALGORITHMS``."""
    extractor: str = "attention"
    """Extractor name from ``policies.EXTRACTORS`` (``mlp`` = SB3's default)."""
    timesteps: int | None = None
    """Environment steps to train for (preset ``n_timesteps`` when None)."""
    seed: int = 0
    """Seed of the envs, the policy and the evaluation."""
    n_envs: int | None = None
    """Parallel envs in the DummyVecEnv (preset ``n_envs`` when None)."""
    run_root: str = "runs"
    """Folder under which ``<env>/<algo>_<extractor>_s<seed>`` run folders are made."""
    hyperparams: dict[str, Any] = field(default_factory=dict)
    """Algorithm constructor arguments, over the preset's."""
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    """SB3 policy arguments (e.g. ``net_arch``), over the preset's."""
    extractor_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extractor arguments (e.g. ``embed_dim``), over the preset's; ignored for ``mlp``."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Env constructor arguments, over the preset's."""
    eval_episodes: int = 50
    """Episodes of the final evaluation."""
    attention_log_interval: int = DEFAULT_LOG_INTERVAL
    """Log attention to tensorboard every this many env steps (at a rollout's end); 0 = off."""
    device: str = "auto"
    """Torch device."""
    progress_bar: bool = True
    """Show SB3's progress bar."""
    verbose: int = 0
    """SB3 verbosity (1 also prints the logger's tables)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as written to ``config.yaml``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build from plain data, rejecting unknown keys with a suggestion."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise ValueError(
                    f"Unknown config key '{key}'.{did_you_mean(key, names)} Valid keys: {', '.join(names)}."
                )
        return cls(**data)


def check_env_id(env_id: str) -> None:
    """Raise ``ValueError`` naming the closest registered id when ``env_id`` is not registered."""
    if env_id not in gym.registry:
        raise ValueError(
            f"Unknown env id '{env_id}'.{did_you_mean(env_id, gym.registry.keys())} "
            "Own envs: " + ", ".join(k for k in gym.registry if k.startswith(f"{envs.NAMESPACE}/")) + "."
        )


def load_preset(algo: str, env_id: str, config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """Return the preset for ``env_id`` in ``configs/<algo>.yaml``: its ``default`` section merged with the env's.

    A missing file gives an empty preset (SB3's defaults).
    """
    path = config_dir / f"{algo.lower()}.yaml"
    if not path.is_file():
        return {}
    with path.open() as f:
        presets = yaml.safe_load(f) or {}
    if not isinstance(presets, dict):
        raise ValueError(f"{path} must hold a mapping of env ids to preset sections, got {type(presets).__name__}.")
    merged: dict[str, Any] = {}
    for section_name in ("default", env_id):
        section = presets.get(section_name) or {}
        for key, value in section.items():
            if key not in PRESET_KEYS:
                raise ValueError(
                    f"{path}: unknown key '{key}' in section '{section_name}'.{did_you_mean(key, PRESET_KEYS)} "
                    f"Valid keys: {', '.join(PRESET_KEYS)}."
                )
            if isinstance(value, dict):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
    return merged


def resolve(config: RunConfig) -> RunConfig:
    """Validate the names and fill every None and preset value, giving the config that will run."""
    check_env_id(config.env)
    ALGORITHMS.get(config.algo)  # unknown names raise with a suggestion
    EXTRACTORS.get(config.extractor)
    algo = config.algo.lower()
    preset = load_preset(algo, config.env)
    resolved = dataclasses.replace(
        config,
        algo=algo,
        extractor=config.extractor.lower(),
        timesteps=config.timesteps if config.timesteps is not None else int(preset.get("n_timesteps", 100_000)),
        n_envs=config.n_envs if config.n_envs is not None else int(preset.get("n_envs", 1)),
        hyperparams={**preset.get("hyperparams", {}), **config.hyperparams},
        policy_kwargs={**preset.get("policy_kwargs", {}), **config.policy_kwargs},
        extractor_kwargs={**preset.get("extractor_kwargs", {}), **config.extractor_kwargs},
        env_kwargs={**preset.get("env_kwargs", {}), **config.env_kwargs},
    )
    for name, value, low in (
        ("timesteps", resolved.timesteps, 1),
        ("n_envs", resolved.n_envs, 1),
        ("eval_episodes", resolved.eval_episodes, 0),
        ("attention_log_interval", resolved.attention_log_interval, 0),
    ):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r} is invalid: it must be an integer >= {low}.")
    return resolved
