"""``--set key=value`` overrides: parse them and apply them to a ``RunConfig``."""

from __future__ import annotations

import re
from typing import Any

import yaml

from agents.setup.config import RunConfig, field_names
from policies.registry import did_you_mean

#: Dict-valued ``RunConfig`` fields: presets merge into them key by key, ``--set`` reaches into them with dots.
DICT_FIELDS = ("hyperparams", "policy_kwargs", "extractor_kwargs", "env_kwargs", "normalize")

#: ``--set`` / preset spellings of ``RunConfig`` fields.
FIELD_ALIASES = {"n_timesteps": "timesteps"}


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


#: Keyword arguments of SB3 policies that users give at top level (rl-zoo's habit).
POLICY_KWARGS = (
    "net_arch", "activation_fn", "ortho_init", "log_std_init", "optimizer_class", "optimizer_kwargs",
    "share_features_extractor", "normalize_images", "lstm_hidden_size", "n_lstm_layers", "use_sde", "squash_output",
    "memory_length", "memory_dim", "memory_heads", "memory_layers", "memory_mlp_ratio",
)  # fmt: skip


def nested_home(key: str, algo: str) -> str | None:
    """Which dict field ``key`` belongs in (``learning_rate`` -> ``hyperparams``), or None."""
    from agents.setup.algorithms import ALGORITHMS
    from agents.setup.signatures import accepted_kwargs
    from policies import AttentionExtractor

    try:
        algo_cls = ALGORITHMS.get(algo).cls
    except ValueError:
        algo_cls = None
    if algo_cls is not None and key in accepted_kwargs(algo_cls) and key not in ("policy", "env", "policy_kwargs"):
        return "hyperparams"
    if key in POLICY_KWARGS:
        return "policy_kwargs"
    if key in accepted_kwargs(AttentionExtractor):
        return "extractor_kwargs"
    return None


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
            nested = nested_home(keys[0], data.get("algo") or "ppo")
            hint = (
                f" '{keys[0]}' is a setting inside '{nested}': --set {nested}.{item}."
                if nested
                else did_you_mean(keys[0], [*names, *FIELD_ALIASES])
            )
            raise ValueError(f"--set {item}: unknown key '{keys[0]}'.{hint} Valid keys: {', '.join(names)}.")
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
