"""The run configuration: a dataclass of what to train, merged with YAML presets and ``--set`` overrides.

Layers, each over the one before: ``configs/<algo>.yaml`` (its ``default`` section, then the env's own),
a user preset file (``--config FILE``, same format), the ``RunConfig`` fields given explicitly (CLI flags),
then ``key=value`` overrides (``--set hyperparams.learning_rate=1e-3``). Everything is plain data: names
resolve through registries (``ALGORITHMS``, ``EXTRACTORS``, activation names), never ``eval()``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from stable_baselines3.common.vec_env import VecNormalize

import envs
from agents.algorithms import ALGORITHMS
from agents.callbacks import DEFAULT_LOG_INTERVAL
from policies import EXTRACTORS
from policies.registry import did_you_mean

#: Folder of the YAML presets: ``configs/<algo>.yaml`` keyed by env id, with a ``default`` section.
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

#: Keys a preset section may hold, and the types their values must have.
PRESET_TYPES: dict[str, tuple[type, ...]] = {
    "n_envs": (int,),
    "n_timesteps": (int,),
    "normalize": (bool, dict),
    "eval_deterministic": (bool,),
    "extractor": (str,),
    "hyperparams": (dict,),
    "policy_kwargs": (dict,),
    "extractor_kwargs": (dict,),
    "env_kwargs": (dict,),
}
PRESET_KEYS = tuple(PRESET_TYPES)

#: Dict-valued ``RunConfig`` fields: presets merge into them key by key, ``--set`` reaches into them with dots.
DICT_FIELDS = ("hyperparams", "policy_kwargs", "extractor_kwargs", "env_kwargs", "normalize")

#: ``--set`` / preset spellings of ``RunConfig`` fields.
FIELD_ALIASES = {"n_timesteps": "timesteps"}

#: Third-party packages that register env ids when imported; tried when an env id is not registered.
KNOWN_ENV_PACKAGES = ("highway_env", "minigrid")

VEC_ENVS = ("dummy", "subproc")


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
    """Extractor name from ``policies.EXTRACTORS`` (``mlp`` = SB3's default); preset's, else ``attention``."""
    timesteps: int | None = None
    """Total environment steps to train for (preset ``n_timesteps`` when None)."""
    seed: int = 0
    """Seed of the envs, the policy and the evaluation."""
    n_envs: int | None = None
    """Parallel envs (preset ``n_envs`` when None)."""
    vec_env: str = "dummy"
    """``dummy`` (one process) or ``subproc`` (one process per env)."""
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
    device: str = "auto"
    """Torch device."""
    threads: int | None = None
    """``torch.set_num_threads`` (None: torch's default)."""
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


def import_gym_packages(packages: list[str] | tuple[str, ...]) -> None:
    """Import each module (it registers its env ids), with a clear error for a missing one."""
    for package in packages:
        try:
            importlib.import_module(package)
        except ImportError as exc:
            raise ValueError(f"Cannot import gym package '{package}': {exc}. Is it installed?") from None


def check_env_id(env_id: str, gym_packages: list[str] | tuple[str, ...] = ()) -> str | None:
    """Raise ``ValueError`` naming the closest registered id when ``env_id`` is not registered.

    ``gym_packages`` are imported first; ``module:EnvId`` imports ``module``. When the id is still missing,
    the known third-party packages (highway-env, MiniGrid) that are installed are imported and tried.

    Returns:
        the package a fresh process must import to find the id (for ``gym_packages``): the top-level package of
        the env's entry point, unless that is Gymnasium, this project's ``envs`` or a ``module:`` prefix; else None.
    """
    import_gym_packages(gym_packages)
    module, _, name = env_id.rpartition(":")
    if module:
        import_gym_packages([module])
    if name not in gym.registry:
        for package in KNOWN_ENV_PACKAGES:
            try:
                importlib.import_module(package)
            except ImportError:
                continue
            if name in gym.registry:
                break
    if name in gym.registry:
        return None if module else _registering_package(name)
    raise ValueError(
        f"Unknown env id '{env_id}'.{did_you_mean(name, gym.registry.keys())} "
        "Own envs: " + ", ".join(k for k in gym.registry if k.startswith(f"{envs.NAMESPACE}/")) + ". "
        "Envs of your own package: --gym-packages PKG or --env PKG:EnvId."
    )


def _registering_package(env_id: str) -> str | None:
    """The top-level package of a registered env's entry point, when a fresh process would not import it."""
    entry_point = gym.registry[env_id].entry_point
    module = entry_point.split(":")[0] if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    package = (module or "").split(".")[0]
    return None if package in ("", "gymnasium", "envs", "__main__") else package


def _check_section(path: Path | str, section_name: str, section: object) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ValueError(f"{path}: section '{section_name}' must be a mapping of preset keys, got {section!r}.")
    for key, value in section.items():
        if key not in PRESET_TYPES:
            raise ValueError(
                f"{path}: unknown key '{key}' in section '{section_name}'.{did_you_mean(key, PRESET_KEYS)} "
                f"Valid keys: {', '.join(PRESET_KEYS)}."
            )
        if (isinstance(value, bool) and bool not in PRESET_TYPES[key]) or not isinstance(value, PRESET_TYPES[key]):
            expected = " or ".join(t.__name__ for t in PRESET_TYPES[key])
            raise ValueError(f"{path}: '{key}: {value!r}' in section '{section_name}' must be a {expected}.")
    return section


def read_preset_file(path: Path | str) -> dict[str, Any]:
    """Read a preset file: a mapping of env ids (and ``default``) to sections, each checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No preset file at {path}.")
    try:
        presets = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(presets, dict):
        raise ValueError(f"{path} must hold a mapping of env ids to preset sections, got {type(presets).__name__}.")
    for name, section in presets.items():
        if name in PRESET_TYPES or name in field_names():
            raise ValueError(
                f"{path}: top-level key '{name}' is a setting, but a preset file is keyed by env id: put it under "
                "'default:' (every env) or under the env's id. (A run's config.yaml is no preset: use --resume.)"
            )
        _check_section(path, str(name), section)
    return presets


def merge_sections(sections: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge preset sections in order; dict values merge key by key (``normalize: true`` counts as ``{}``)."""
    merged: dict[str, Any] = {}
    for section in sections:
        for key, value in section.items():
            if isinstance(value, dict):
                base = merged.get(key)
                base = {} if base is True else base if isinstance(base, dict) else {}
                merged[key] = {**base, **value}
            else:
                merged[key] = value
    return merged


def load_preset(
    algo: str, env_id: str, config_dir: Path = CONFIG_DIR, config_file: str | Path | None = None
) -> dict[str, Any]:
    """Return the preset for ``env_id``: ``configs/<algo>.yaml``, then ``config_file``, each ``default`` first.

    A missing ``configs/<algo>.yaml`` gives an empty preset (SB3's defaults). A ``config_file`` with neither
    a ``default`` section nor one for ``env_id`` is an error: it was written for another env.
    """
    sections: list[dict[str, Any]] = []
    path = config_dir / f"{ALGORITHMS.canonical(algo)}.yaml"
    if path.is_file():
        presets = read_preset_file(path)
        sections += [presets.get("default") or {}, presets.get(env_id) or {}]
    if config_file is not None:
        presets = read_preset_file(config_file)
        if "default" not in presets and env_id not in presets:
            raise ValueError(
                f"{config_file} has presets for {', '.join(map(str, presets)) or 'no env'}, not for '{env_id}': "
                f"add a '{env_id}:' (or 'default:') section, or train on one of those envs (--env)."
            )
        sections += [presets.get("default") or {}, presets.get(env_id) or {}]
    return merge_sections(sections)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``key.sub=value`` into ``(["key", "sub"], value)``, the value typed by YAML (``1e-3`` -> float)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--set '{item}': expected KEY=VALUE, e.g. hyperparams.learning_rate=1e-3.")
    if _SCIENTIFIC.match(text.strip()):  # YAML 1.1 reads 1e-3 as a string
        return [part.strip() for part in key.split(".")], float(text)
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    return [part.strip() for part in key.split(".")], value


_SCIENTIFIC = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def apply_overrides(config: RunConfig, items: list[str]) -> RunConfig:
    """Apply ``--set key=value`` items to ``config``: top-level fields, or dotted keys into dict fields.

    Unknown fields are rejected with a suggestion; values are typed by YAML and checked in ``resolve``.
    Keys inside ``hyperparams``, ``extractor_kwargs`` and ``normalize`` are checked against the algorithm,
    the extractor and ``VecNormalize`` when the config is resolved.
    """
    data = config.to_dict()
    names = field_names()
    for item in items:
        keys, value = parse_override(item)
        top = FIELD_ALIASES.get(keys[0], keys[0])
        if top not in names:
            raise ValueError(
                f"--set {item}: unknown key '{keys[0]}'.{did_you_mean(keys[0], [*names, *FIELD_ALIASES])} "
                f"Valid keys: {', '.join(names)}."
            )
        if len(keys) == 1:
            data[top] = value
            continue
        if top not in DICT_FIELDS:
            raise ValueError(f"--set {item}: '{top}' is not a mapping, so '{'.'.join(keys)}' has no meaning.")
        node = data[top] if isinstance(data[top], dict) else {}
        data[top] = node
        for key in keys[1:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {item}: '{key}' already holds {node!r}, not a mapping.")
        node[keys[-1]] = value
    return RunConfig.from_dict(data)


def accepted_kwargs(cls: type) -> list[str]:
    """Keyword arguments of ``cls.__init__``, following ``**kwargs`` up the class hierarchy."""
    accepted: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        accepted += [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return [a for a in dict.fromkeys(accepted) if a not in ("self", "observation_space")]


def check_kwargs(what: str, given: dict[str, Any], accepted: list[str]) -> None:
    """Raise ``ValueError`` for a key of ``given`` that is not in ``accepted``, with a suggestion."""
    for key in given:
        if key not in accepted:
            raise ValueError(
                f"{what} has no argument '{key}'.{did_you_mean(key, accepted)} Valid ones: {', '.join(accepted)}."
            )


def check_config(config: RunConfig) -> None:
    """Validate a resolved config: types, names, ranges, extractor and VecNormalize arguments."""
    check_types(config)
    for name, low in (
        ("timesteps", 1),
        ("n_envs", 1),
        ("eval_episodes", 0),
        ("eval_freq", 0),
        ("eval_freq_episodes", 1),
        ("save_freq", 0),
        ("attention_log_interval", 0),
        ("threads", 1),
    ):
        value = getattr(config, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise ValueError(f"{name}={value!r} is invalid: it must be an integer >= {low}.")
    if config.vec_env not in VEC_ENVS:
        raise ValueError(
            f"vec_env='{config.vec_env}' is invalid.{did_you_mean(config.vec_env, VEC_ENVS)} Use dummy or subproc."
        )
    extractor = EXTRACTORS.get(config.extractor)
    if extractor is not None:
        check_kwargs(f"Extractor '{config.extractor}'", config.extractor_kwargs, accepted_kwargs(extractor))
    if isinstance(config.normalize, dict):
        accepted = [p for p in accepted_kwargs(VecNormalize) if p not in ("venv", "training")]
        check_kwargs("normalize (VecNormalize)", config.normalize, accepted)
    check_presence_not_normalized(config, extractor)


def check_presence_not_normalized(config: RunConfig, extractor: type | None) -> None:
    """Raise when ``VecNormalize`` would rescale the column that marks real entities from padding.

    The entity tokenizer keeps a part when its ``presence_column`` is above 0.5; normalised, that column is
    centred on its mean, so real parts drop out of the mask (and padding may come in). ``norm_obs_keys`` (Dict
    observations) leaves the choice to the user.
    """
    normalize = {} if config.normalize is True else config.normalize
    normalizes_obs = isinstance(normalize, dict) and normalize.get("norm_obs", True)
    presence = config.extractor_kwargs.get("presence_column")
    if extractor is not None and normalizes_obs and presence is not None and "norm_obs_keys" not in normalize:
        raise ValueError(
            f"normalize would rescale the presence column (extractor_kwargs.presence_column={presence}) that marks "
            "real entities from padding, and the attention mask would drop real ones. Use normalize=false, "
            "normalize.norm_obs=false (rewards only), or extractor_kwargs.presence_column=null."
        )


def resolve(config: RunConfig) -> RunConfig:
    """Validate the names and fill every None and preset value, giving the config that will run."""
    check_types(config)
    package = check_env_id(config.env, config.gym_packages)
    # Recorded, so that SubprocVecEnv workers, evaluation and --resume import it too.
    gym_packages = [*config.gym_packages, *([package] if package and package not in config.gym_packages else [])]
    algo = ALGORITHMS.canonical(config.algo)  # unknown names raise with a suggestion
    preset = load_preset(algo, config.env, config_file=config.config_file)
    extractor = config.extractor if config.extractor is not None else preset.get("extractor", "attention")
    EXTRACTORS.get(extractor)
    normalize = preset.get("normalize", False)
    if config.normalize is not None:
        normalize = merge_sections([{"normalize": normalize}, {"normalize": config.normalize}])["normalize"]
    resolved = dataclasses.replace(
        config,
        algo=algo,
        extractor=extractor.lower(),
        timesteps=config.timesteps if config.timesteps is not None else preset.get("n_timesteps", 100_000),
        n_envs=config.n_envs if config.n_envs is not None else preset.get("n_envs", 1),
        normalize=normalize,
        eval_deterministic=(
            config.eval_deterministic
            if config.eval_deterministic is not None
            else preset.get("eval_deterministic", True)
        ),
        hyperparams={**preset.get("hyperparams", {}), **config.hyperparams},
        policy_kwargs={**preset.get("policy_kwargs", {}), **config.policy_kwargs},
        extractor_kwargs={**preset.get("extractor_kwargs", {}), **config.extractor_kwargs},
        env_kwargs={**preset.get("env_kwargs", {}), **config.env_kwargs},
        gym_packages=gym_packages,
    )
    check_config(resolved)
    return resolved
