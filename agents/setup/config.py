"""The run configuration: ``RunConfig``, the dataclass of what to train, and its type checks.

A run's settings come in layers, each over the one before: ``configs/<algo>.yaml`` (``agents.setup.presets``), a user
preset file (``--config FILE``), the fields given explicitly (CLI flags), then ``key=value`` overrides
(``agents.setup.overrides``); ``agents.setup.resolution.resolve`` merges them into the config that runs.
Everything is plain
data: names resolve through registries (``ALGORITHMS``, ``EXTRACTORS``, activation names), never ``eval()``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from policies.focus_methods import check_focus_methods
from policies.registry import did_you_mean

#: Log attention every this many env steps by default: measured to cost under 5% of training speed
#: (``benchmarks/callback_overhead.py``, docs/BENCHMARKS.md).
DEFAULT_LOG_INTERVAL = 10_000

#: Focus methods logged and shown by default, the first one drawn (``policies.FOCUS_METHODS``): the causal
#: focus is the policy's own answer; rollout and readout are logged beside it with their faithfulness.
DEFAULT_FOCUS_METHODS = tuple(check_focus_methods(("causal", "rollout", "readout")))  # checked against the registry

#: How a run steps its envs: one process, one process per env, or envpool's C++ port (highway-env ids only).
VEC_ENVS = ("dummy", "subproc", "envpool")


@dataclass
class RunConfig:
    """Everything that defines one training run; saved as ``config.yaml`` in the run folder.

    Fields left as None take their value from the preset (``configs/<algo>.yaml``, then ``config_file``).
    """

    env: str = "attn/FindTarget-v0"
    """Gymnasium env id; ``module:EnvId`` imports ``module`` first (for your own envs)."""
    algo: str = "ppo"
    """Algorithm name from ``agents.ALGORITHMS`` (rl-zoo spelling or class name)."""
    extractor: str | None = None
    """Extractor name from ``policies.EXTRACTORS`` (``mlp`` = SB3's default); preset's, else what the observation
    space implies (``agents.setup.automatic``: a memory algorithm on a flat observation reads ``mlp``), else
    ``attention``."""
    timesteps: int | None = None
    """Total environment steps to train for (preset ``n_timesteps`` when None)."""
    seed: int = 0
    """Seed of the envs, the policy and the evaluation."""
    n_envs: int | None = None
    """Parallel envs (preset ``n_envs`` when None)."""
    vec_env: str | None = None
    """``dummy`` (one process), ``subproc`` (one process per env), or ``envpool`` (envpool's C++ port of a
    highway-env id, ``agents.setup.envpool_vec_env``); preset ``vec_env`` when None, else ``dummy``. Evaluations always
    run the env's own (Python) simulator."""
    normalize: bool | dict[str, Any] | None = None
    """``VecNormalize``: False, True, or its keyword arguments (preset ``normalize`` when None)."""
    run_root: str = "runs"
    """Folder under which ``<env>/<algo>_<extractor>_s<seed>`` run folders are made."""
    config_file: str | None = None
    """A preset file (same format as ``configs/<algo>.yaml``) merged over the built-in preset."""
    hyperparams: dict[str, Any] = field(default_factory=dict)
    """Algorithm constructor arguments, over the preset's (``lin_<x>`` strings are linear schedules)."""
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    """SB3 policy arguments (e.g. ``net_arch``, ``activation_fn: tanh``), over the preset's."""
    extractor_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extractor arguments (e.g. ``embed_dim``), over the preset's; ignored for ``mlp``."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Env constructor arguments, over the preset's."""
    gym_packages: list[str] = field(default_factory=list)
    """Modules imported before making the env, so that they register their env ids."""
    eval_episodes: int = 50
    """Episodes of the final evaluation (0 = none)."""
    eval_deterministic: bool | None = None
    """Greedy actions in every evaluation (preset ``eval_deterministic``, else True). rl-zoo samples actions
    for Atari and MiniGrid: a policy that reaches its goal by sampling can loop forever when greedy."""
    eval_freq: int = 10_000
    """Evaluate every this many env steps during training and keep ``best_model.zip`` (0 = never)."""
    eval_freq_episodes: int = 5
    """Episodes of each periodic evaluation."""
    save_freq: int = 10_000
    """Write a checkpoint every this many env steps (0 = only at the end); ``--resume`` starts from the last."""
    attention_log_interval: int = DEFAULT_LOG_INTERVAL
    """Log attention to tensorboard every this many env steps (at a rollout's end); 0 = off."""
    focus: list[str] = field(default_factory=lambda: list(DEFAULT_FOCUS_METHODS))
    """Focus methods logged and evaluated (``readout``, ``rollout``, ``causal``); the first is the one drawn."""
    device: str = "auto"
    """Torch device."""
    compile: bool = False
    """``torch.compile`` the attention extractor (``nn.Module.compile``: the first steps compile it)."""
    threads: int | None = None
    """``torch.set_num_threads`` (None: 1, measured fastest for these small models, and by far on a busy machine;
    see ``agents.setup.build.DEFAULT_THREADS``)."""
    progress_bar: bool = True
    """Show SB3's progress bar."""
    verbose: int = 0
    """SB3 verbosity (1 also prints the logger's tables)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as written to ``config.yaml``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build from plain data, rejecting unknown keys with a suggestion and values of the wrong type."""
        if not isinstance(data, dict):
            raise ValueError(f"A run config must be a mapping of keys to values, got {type(data).__name__}.")
        names = field_names()
        for key in data:
            if key not in names:
                raise ValueError(
                    f"Unknown config key '{key}'.{did_you_mean(key, names)} Valid keys: {', '.join(names)}."
                )
        config = cls(**data)
        check_types(config)
        return config


def field_names() -> list[str]:
    """Names of the ``RunConfig`` fields."""
    return [f.name for f in dataclasses.fields(RunConfig)]


def _accepts(value: object, annotation: object) -> bool:
    """Whether ``value`` fits a simple type annotation (unions of int, float, str, bool, dict, list, None)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    target = origin or annotation
    if target is bool:
        return isinstance(value, bool)
    if target is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if target is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if target is typing.Any:
        return True
    return isinstance(value, target)


def _type_name(annotation: object) -> str:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if annotation is type(None):
        return "null"
    return getattr(typing.get_origin(annotation) or annotation, "__name__", str(annotation))


def check_types(config: RunConfig) -> None:
    """Raise ``ValueError`` naming the field, the value and the expected type for a mistyped field."""
    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not _accepts(value, hints[f.name]):
            raise ValueError(f"{f.name}={value!r} has the wrong type: expected {_type_name(hints[f.name])}.")
    if any(not isinstance(p, str) for p in config.gym_packages):
        raise ValueError(f"gym_packages={config.gym_packages!r} must be a list of module names.")
