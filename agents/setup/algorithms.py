"""The algorithms registry: CLI and config names -> SB3 / sb3-contrib classes and what they need.

Names follow rl-baselines3-zoo (``ppo a2c dqn sac td3 ddpg qrdqn tqc trpo ppo_lstm ppo_mask``), plus this project's
``ppo_trxl`` (``agents.trxl``: PPO with a Transformer-XL memory over the episode); lookups are case-insensitive and
the class names (``RecurrentPPO``, ``QRDQN``, ``MaskablePPO``, ``TrXLPPO``...) are aliases.
"""

from __future__ import annotations

from dataclasses import dataclass

from gymnasium import spaces
from sb3_contrib import QRDQN, TQC, TRPO, MaskablePPO, RecurrentPPO
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from agents.trxl import TrXLPPO
from policies.registry import Registry

_ALL_ACTIONS = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
_MASKABLE_ACTIONS = (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


@dataclass(frozen=True)
class Algorithm:
    """A registered algorithm: its class, the action spaces it can act in, and what it needs.

    Attributes:
        cls: the SB3 / sb3-contrib class.
        action_spaces: action space types it supports.
        recurrent: a policy with memory (an LSTM, a transformer over the episode) whose state evaluation must
            carry through each episode (SB3's ``predict(obs, state, episode_start)``).
        masked: needs action masks (``MaskablePPO``): envs are wrapped in ``ActionMasker``.
        policy_infix: what the policy aliases insert before ``Policy`` (``Lstm``: ``MlpLstmPolicy``...).
    """

    cls: type[BaseAlgorithm]
    action_spaces: tuple[type[spaces.Space], ...]
    recurrent: bool = False
    masked: bool = False
    policy_infix: str = ""

    @property
    def off_policy(self) -> bool:
        """True for replay-buffer algorithms (their buffer goes into checkpoints)."""
        return issubclass(self.cls, OffPolicyAlgorithm)


#: Algorithms by rl-zoo name (lookups are case-insensitive; class names are aliases).
ALGORITHMS: Registry[Algorithm] = Registry("algorithm")
ALGORITHMS.register("ppo", Algorithm(PPO, _ALL_ACTIONS))
ALGORITHMS.register("a2c", Algorithm(A2C, _ALL_ACTIONS))
ALGORITHMS.register("dqn", Algorithm(DQN, (spaces.Discrete,)))
ALGORITHMS.register("sac", Algorithm(SAC, (spaces.Box,)))
ALGORITHMS.register("td3", Algorithm(TD3, (spaces.Box,)))
ALGORITHMS.register("ddpg", Algorithm(DDPG, (spaces.Box,)))
ALGORITHMS.register("qrdqn", Algorithm(QRDQN, (spaces.Discrete,)), aliases=("qr-dqn", "qr_dqn"))
ALGORITHMS.register("tqc", Algorithm(TQC, (spaces.Box,)))
ALGORITHMS.register("trpo", Algorithm(TRPO, _ALL_ACTIONS))
ALGORITHMS.register(
    "ppo_lstm",
    Algorithm(RecurrentPPO, _ALL_ACTIONS, recurrent=True, policy_infix="Lstm"),
    aliases=("recurrentppo", "recurrent_ppo"),
)
ALGORITHMS.register(
    "ppo_mask", Algorithm(MaskablePPO, _MASKABLE_ACTIONS, masked=True), aliases=("maskableppo", "maskable_ppo")
)
ALGORITHMS.register(
    "ppo_trxl",
    Algorithm(TrXLPPO, _ALL_ACTIONS, recurrent=True, policy_infix="TrXL"),
    aliases=("trxlppo", "trxl_ppo", "ppo_gtrxl"),
)


def check_action_space(algo: str, action_space: spaces.Space) -> None:
    """Raise ``ValueError`` when ``algo`` cannot act in ``action_space``, naming the algorithms that can."""
    if isinstance(action_space, ALGORITHMS.get(algo).action_spaces):
        return
    fitting = [name for name, entry in ALGORITHMS.items() if isinstance(action_space, entry.action_spaces)]
    raise ValueError(
        f"Algorithm '{algo}' does not support the action space {action_space}; algorithms that do: "
        f"{', '.join(fitting) or 'none'}."
    )


def algo_name(model: BaseAlgorithm) -> str:
    """The registry name of a model's algorithm (``RecurrentPPO`` instance -> ``ppo_lstm``)."""
    for name, entry in ALGORITHMS.items():
        if type(model) is entry.cls:
            return name
    raise ValueError(f"{type(model).__name__} is not a registered algorithm: {', '.join(ALGORITHMS.names())}.")
