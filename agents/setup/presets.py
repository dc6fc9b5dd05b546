"""Preset files: ``configs/<algo>.yaml`` and ``--config FILE``, keyed by env id with a ``default`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agents.setup.algorithms import ALGORITHMS
from agents.setup.config import field_names
from agents.storage.runs import read_small_text
from policies.registry import did_you_mean

#: Folder of the YAML presets: ``configs/<algo>.yaml`` keyed by env id, with a ``default`` section.
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

#: Keys a preset section may hold, and the types their values must have.
PRESET_TYPES: dict[str, tuple[type, ...]] = {
    "n_envs": (int,),
    "vec_env": (str,),
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
#: ``<env id>@<extractor>`` names a section for one extractor on one env (``attn/PatchFind-v0@conv``).
EXTRACTOR_SEP = "@"


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


def read_yaml(path: Path) -> object:
    """Plain data from a YAML file (``safe_load``: no tags, no code); one ``ValueError`` naming the file otherwise.

    Only a regular file of at most ``MAX_TEXT_BYTES`` is read (``read_small_text``).
    """
    try:
        return yaml.safe_load(read_small_text(path))
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file: give a YAML file.") from None
    except yaml.YAMLError as exc:
        raise ValueError(
            f"{path} is not valid YAML (plain data, no tags): {' '.join(str(exc).split())[:200]}"
        ) from None


def read_preset_file(path: Path | str) -> dict[str, Any]:
    """Read a preset file: a mapping of env ids (and ``default``) to sections, each checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No preset file at {path}.")
    presets = read_yaml(path) or {}
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


def env_section_name(presets: dict[str, Any], env_id: str, extractor: str | None = None) -> str | None:
    """The name of ``env_section``'s section (``<env id>@<extractor>`` or ``<env id>``), or None when there is none."""
    if extractor is not None and f"{env_id}{EXTRACTOR_SEP}{extractor.lower()}" in presets:
        return f"{env_id}{EXTRACTOR_SEP}{extractor.lower()}"
    return env_id if presets.get(env_id) else None


def preset_sources(
    algo: str, env_id: str, config_file: str | Path | None = None, extractor: str | None = None
) -> list[str]:
    """Where ``load_preset`` took its settings from, for the console: ``["configs/ppo.yaml: default, <env id>"]``."""
    sources = []
    files = [CONFIG_DIR / f"{ALGORITHMS.canonical(algo)}.yaml", *([Path(config_file)] if config_file else [])]
    for path in files:
        if not path.is_file():
            continue
        presets = read_preset_file(path)
        names = [name for name in ("default", env_section_name(presets, env_id, extractor)) if name in presets]
        shown = f"configs/{path.name}" if path.parent == CONFIG_DIR else str(path)
        sources.append(f"{shown}: {', '.join(names) if names else 'no section for this env'}")
    return sources


def has_env_section(algo: str, env_id: str, config_file: str | Path | None = None) -> bool:
    """Whether ``configs/<algo>.yaml`` or ``config_file`` has a section for ``env_id`` (any extractor's)."""
    files = [CONFIG_DIR / f"{ALGORITHMS.canonical(algo)}.yaml", *([Path(config_file)] if config_file else [])]
    own = f"{env_id}{EXTRACTOR_SEP}"
    return any(
        name == env_id or str(name).startswith(own)
        for path in files
        if path.is_file()
        for name in read_preset_file(path)
    )


def env_section(presets: dict[str, Any], env_id: str, extractor: str | None = None) -> dict[str, Any]:
    """The section of ``env_id``: ``<env id>@<extractor>`` when there is one for ``extractor``, else ``<env id>``.

    An extractor's own section takes the place of the env's (it is not merged over it), so the env's settings
    for another extractor (a ``patch_size``, a ``top_k``) never reach it.
    """
    if extractor is not None:
        own = presets.get(f"{env_id}{EXTRACTOR_SEP}{extractor.lower()}")
        if own is not None:
            return own
    return presets.get(env_id) or {}


def load_preset(
    algo: str,
    env_id: str,
    config_dir: Path = CONFIG_DIR,
    config_file: str | Path | None = None,
    extractor: str | None = None,
) -> dict[str, Any]:
    """Return the preset for ``env_id``: ``configs/<algo>.yaml``, then ``config_file``, each ``default`` first.

    A missing ``configs/<algo>.yaml`` gives an empty preset (SB3's defaults). A ``config_file`` with neither
    a ``default`` section nor one for ``env_id`` is an error: it was written for another env. With ``extractor``,
    an ``<env id>@<extractor>`` section takes the place of the env's own (see ``env_section``).
    """
    sections: list[dict[str, Any]] = []
    path = config_dir / f"{ALGORITHMS.canonical(algo)}.yaml"
    if path.is_file():
        presets = read_preset_file(path)
        sections += [presets.get("default") or {}, env_section(presets, env_id, extractor)]
    if config_file is not None:
        presets = read_preset_file(config_file)
        own = f"{env_id}{EXTRACTOR_SEP}{(extractor or '').lower()}"
        if "default" not in presets and env_id not in presets and own not in presets:
            raise ValueError(
                f"{config_file} has presets for {', '.join(map(str, presets)) or 'no env'}, not for '{env_id}': "
                f"add a '{env_id}:' (or 'default:') section, or train on one of those envs (--env)."
            )
        sections += [presets.get("default") or {}, env_section(presets, env_id, extractor)]
    return merge_sections(sections)
