"""Gymnasium environments where attention matters; importing this package registers them under ``attn/``.

Every own environment puts ``info["relevant_parts"]`` (indices into its part axis: the entity rows,
patches, keys or time steps that matter at this step) into each ``reset`` and ``step`` info.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from envs.collect_avoid import CollectAvoidEnv
from envs.contract import PartEnv, check_part_env
from envs.cue_memory import CueMemoryEnv
from envs.find_target import FindTargetEnv
from envs.patch_find import PatchFindEnv
from envs.sensors import SensorsEnv

NAMESPACE = "attn"

#: env id -> (entry point, max_episode_steps). One registry for every own env.
ENV_SPECS: dict[str, tuple[str, int]] = {
    f"{NAMESPACE}/FindTarget-v0": ("envs.find_target:FindTargetEnv", 100),
    f"{NAMESPACE}/CollectAvoid-v0": ("envs.collect_avoid:CollectAvoidEnv", 200),
    f"{NAMESPACE}/CueMemory-v0": ("envs.cue_memory:CueMemoryEnv", 128),
    f"{NAMESPACE}/PatchFind-v0": ("envs.patch_find:PatchFindEnv", 100),
    f"{NAMESPACE}/Sensors-v0": ("envs.sensors:SensorsEnv", 20),
}

for _env_id, (_entry_point, _max_steps) in ENV_SPECS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point, max_episode_steps=_max_steps)

# Adapters of third-party envs (optional extras: ``attention-rl[highway]``, ``attention-rl[minigrid]``) and the
# ids ``attn/Highway-v0``, ``attn/MiniGridCells-v0``, ``attn/MiniGridPixels-v0``: one ``register_adapter`` call each.
from envs.adapters.registry import ADAPTERS, register_adapter, unregister_adapter  # noqa: E402

__all__ = [
    "ADAPTERS",
    "ENV_SPECS",
    "NAMESPACE",
    "CollectAvoidEnv",
    "CueMemoryEnv",
    "FindTargetEnv",
    "PartEnv",
    "PatchFindEnv",
    "SensorsEnv",
    "check_part_env",
    "register_adapter",
    "unregister_adapter",
]
