"""The algorithms registry: CLI and config names -> SB3 algorithm classes."""

from __future__ import annotations

from gymnasium import spaces
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm

from policies.registry import Registry

#: Algorithms by rl-zoo name (lookups are case-insensitive).
ALGORITHMS: Registry[type[BaseAlgorithm]] = Registry("algorithm")
for _name, _cls in {"ppo": PPO, "a2c": A2C, "dqn": DQN, "sac": SAC, "td3": TD3, "ddpg": DDPG}.items():
    ALGORITHMS.register(_name, _cls)


def check_action_space(algo: str, action_space: spaces.Space) -> None:
    """Raise ``ValueError`` when ``algo`` cannot act in ``action_space``, naming algorithms that can."""
    cls = ALGORITHMS.get(algo)
    supported = getattr(cls, "supported_action_spaces", None)
    if supported is None or isinstance(action_space, supported):
        return
    fitting = [n for n, c in ALGORITHMS.items() if isinstance(action_space, getattr(c, "supported_action_spaces", ()))]
    raise ValueError(
        f"Algorithm '{algo}' does not support the action space {action_space}; algorithms that do: "
        f"{', '.join(fitting) or 'none'}."
    )
