"""Resolve a ``RunConfig``: merge the preset layers, fill every default, and validate the result."""

from __future__ import annotations

import dataclasses

from stable_baselines3.common.vec_env import VecNormalize

from agents.setup.algorithms import ALGORITHMS
from agents.setup.automatic import AutomaticChoice, automatic_choices
from agents.setup.config import VEC_ENVS, RunConfig, check_types
from agents.setup.env_ids import check_env_id
from agents.setup.envpool_vec_env import check_envpool_config
from agents.setup.hyperparam_ranges import NORMALIZE_RANGES, POLICY_RANGES, check_finite, check_ranges
from agents.setup.presets import load_preset, merge_sections
from agents.setup.signatures import accepted_kwargs, check_kwargs
from envs.validation import check_int
from policies import EXTRACTORS, AttentionExtractor
from policies.registry import did_you_mean
from policies.report import check_focus_methods


def check_config(config: RunConfig) -> None:
    """Validate a resolved config: types, names, ranges, extractor and VecNormalize arguments."""
    check_types(config)
    for section in ("hyperparams", "policy_kwargs", "extractor_kwargs", "env_kwargs", "normalize"):
        check_finite(section, getattr(config, section))
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
        if value is not None:
            check_int(name, value, low)
    check_int("seed", config.seed, 0, 2**32 - 1)
    check_int("n_envs", config.n_envs, 1, MAX_ENVS, why=" (each env is a Python object stepped in turn)")
    check_device(config.device)
    check_net_arch(config.policy_kwargs.get("net_arch"))
    check_ranges(ALGORITHMS.get(config.algo).cls.__name__, config.policy_kwargs, POLICY_RANGES, "policy_kwargs")
    if config.vec_env not in VEC_ENVS:
        raise ValueError(
            f"vec_env='{config.vec_env}' is invalid.{did_you_mean(config.vec_env, VEC_ENVS)} Use {', '.join(VEC_ENVS)}."
        )
    if config.vec_env == "envpool":
        check_envpool_config(config.env, config.algo)
    extractor = EXTRACTORS.get(config.extractor)
    if extractor is not None:
        check_kwargs(f"Extractor '{config.extractor}'", config.extractor_kwargs, accepted_kwargs(extractor))
    if isinstance(config.normalize, dict):
        accepted = [p for p in accepted_kwargs(VecNormalize) if p not in ("venv", "training")]
        check_kwargs("normalize (VecNormalize)", config.normalize, accepted)
        check_ranges("VecNormalize", config.normalize, NORMALIZE_RANGES, "normalize")
        for key in ("norm_obs", "norm_reward"):
            if not isinstance(config.normalize.get(key, True), bool):
                raise ValueError(f"normalize.{key}={config.normalize[key]!r} is invalid: use true or false.")
    check_presence_not_normalized(config, extractor)
    check_focus_methods(config.focus)


#: At most this many parallel envs (more only makes a run that never gets through its first rollout).
MAX_ENVS = 1024


def canonical_device(device: str) -> str:
    """``device`` as torch loads onto it: ``cpu`` for ``cpu:N`` (torch's loader knows no CPU index), else as given."""
    if device != "auto" and device.startswith("cpu"):
        import torch

        if torch.device(device).type == "cpu":
            return "cpu"
    return device


def check_device(device: str) -> None:
    """Raise ``ValueError`` for a device torch does not know (``gpu0``) or cannot use here (``mps``, a missing GPU).

    ``auto`` picks CUDA when there is one (a trained run records the device it used). A device is tried by making an
    empty tensor on it; ``meta`` holds no data, so nothing could train or act on it.
    """
    import torch

    if device == "auto":
        return
    try:
        parsed = torch.device(device)
        if parsed.type == "cuda":  # SB3 would fall back to the CPU without a word
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0 or (parsed.index is not None and parsed.index >= count):
                have = f"{count} CUDA device(s) (cuda:0..cuda:{count - 1})" if count else "no CUDA device"
                message = f"device='{device}' is not available: this machine has {have}. Use --device cpu or auto."
                raise LookupError(message)
        if parsed.type == "meta":
            raise ValueError("the meta device holds no data")
        torch.empty(0, device=parsed)
    except LookupError as exc:
        raise ValueError(str(exc)) from None
    except (RuntimeError, TypeError, ValueError, AssertionError) as exc:  # AssertionError: torch without CUDA
        reason = " ".join(str(exc).split()).split(". ")[0][:160] or type(exc).__name__
        raise ValueError(
            f"device='{device}' is invalid or not available here ({reason}): use auto, cpu, cuda or cuda:<index> "
            "(a torch device this machine has)."
        ) from None


def check_net_arch(net_arch: object) -> None:
    """Raise ``ValueError`` unless ``net_arch`` is None, a list of layer widths, or ``{pi: [...], vf: [...]}``."""
    if net_arch is None:
        return
    lists = net_arch.values() if isinstance(net_arch, dict) else [net_arch]
    if isinstance(net_arch, dict) and not set(net_arch) <= {"pi", "vf", "qf"}:
        lists = [None]
    if not all(isinstance(ls, list) and all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in ls)
               for ls in lists):  # fmt: skip
        raise ValueError(
            f"policy_kwargs.net_arch={net_arch!r} is invalid: give layer widths, e.g. [64, 64], or "
            "{pi: [64, 64], vf: [64, 64]} (qf for off-policy critics)."
        )


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
    return resolve_with_choices(config)[0]


def preset_extractor_kwargs(extractor: str, preset: dict) -> dict:
    """The preset's ``extractor_kwargs`` for ``extractor``.

    All of them for an attention extractor (a wrong key is an error); only those it takes for another one
    (``grid_cnn`` ignores the default section's attention settings).
    """
    kwargs = dict(preset.get("extractor_kwargs", {}))
    cls = EXTRACTORS.get(extractor)
    if cls is None or issubclass(cls, AttentionExtractor):
        return kwargs
    accepted = set(accepted_kwargs(cls))
    return {key: value for key, value in kwargs.items() if key in accepted}


def resolve_with_choices(config: RunConfig) -> tuple[RunConfig, list[AutomaticChoice]]:
    """``resolve``, and the settings chosen from the observation space (``agents.setup.automatic``) to be said.

    Layers, each over the one before: the preset's ``default`` section, what the observation space implies
    (only where neither the user nor the env's section chose), the env's section, the user's settings.
    """
    check_types(config)
    package = check_env_id(config.env, config.gym_packages)
    # Recorded, so that SubprocVecEnv workers, evaluation and --resume import it too.
    gym_packages = [*config.gym_packages, *([package] if package and package not in config.gym_packages else [])]
    algo = ALGORITHMS.canonical(config.algo)  # unknown names raise with a suggestion
    preset = load_preset(algo, config.env, config_file=config.config_file, extractor=config.extractor)
    choices = automatic_choices(dataclasses.replace(config, algo=algo, gym_packages=gym_packages), preset)
    chosen = {choice.key: choice.value for choice in choices}
    extractor = config.extractor if config.extractor is not None else preset.get("extractor", chosen.get("extractor"))
    extractor = extractor if extractor is not None else "attention"
    EXTRACTORS.get(extractor)
    if config.extractor is None:  # the preset chose it: its own <env id>@<extractor> section, if any, applies
        preset = load_preset(algo, config.env, config_file=config.config_file, extractor=extractor)
    normalize = preset.get("normalize", False)
    if config.normalize is not None:
        normalize = merge_sections([{"normalize": normalize}, {"normalize": config.normalize}])["normalize"]
    if normalize == {}:  # VecNormalize with its defaults: recorded as true, never read as false
        normalize = True
    resolved = dataclasses.replace(
        config,
        algo=algo,
        extractor=extractor.lower(),
        timesteps=config.timesteps if config.timesteps is not None else preset.get("n_timesteps", 100_000),
        n_envs=config.n_envs if config.n_envs is not None else preset.get("n_envs", 1),
        vec_env=config.vec_env if config.vec_env is not None else preset.get("vec_env", "dummy"),
        normalize=normalize,
        eval_deterministic=(
            config.eval_deterministic
            if config.eval_deterministic is not None
            else preset.get("eval_deterministic", True)
        ),
        hyperparams={**preset.get("hyperparams", {}), **config.hyperparams},
        policy_kwargs={**preset.get("policy_kwargs", {}), **config.policy_kwargs},
        extractor_kwargs={**preset_extractor_kwargs(extractor, preset), **config.extractor_kwargs},
        env_kwargs={**preset.get("env_kwargs", {}), **config.env_kwargs},
        gym_packages=gym_packages,
        focus=check_focus_methods(config.focus),
    )
    check_config(resolved)
    return resolved, choices
