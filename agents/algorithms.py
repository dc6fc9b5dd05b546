"""The algorithms registry: CLI and config names -> SB3 algorithm classes and the actions they support."""

from __future__ import annotations

from dataclasses import dataclass

from gymnasium import spaces
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm

from policies.registry import Registry

_ON_POLICY_ACTIONS = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


@dataclass(frozen=True)
class Algorithm:
    """A registered algorithm: its class and the action spaces it can act in."""

    cls: type[BaseAlgorithm]
    action_spaces: tuple[type[spaces.Space], ...]


#: Algorithms by rl-zoo name (lookups are case-insensitive).
ALGORITHMS: Registry[Algorithm] = Registry("algorithm")
ALGORITHMS.register("ppo", Algorithm(PPO, _ON_POLICY_ACTIONS))
ALGORITHMS.register("a2c", Algorithm(A2C, _ON_POLICY_ACTIONS))
ALGORITHMS.register("dqn", Algorithm(DQN, (spaces.Discrete,)))
ALGORITHMS.register("sac", Algorithm(SAC, (spaces.Box,)))
ALGORITHMS.register("td3", Algorithm(TD3, (spaces.Box,)))
ALGORITHMS.register("ddpg", Algorithm(DDPG, (spaces.Box,)))


def check_action_space(algo: str, action_space: spaces.Space) -> None:
    """Raise ``ValueError`` when ``algo`` cannot act in ``action_space``, naming the algorithms that can."""
    if isinstance(action_space, ALGORITHMS.get(algo).action_spaces):
        return
    fitting = [name for name, entry in ALGORITHMS.items() if isinstance(action_space, entry.action_spaces)]
    raise ValueError(
        f"Algorithm '{algo}' does not support the action space {action_space}; algorithms that do: "
        f"{', '.join(fitting) or 'none'}."
    )
