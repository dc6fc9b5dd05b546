"""Settings chosen from the env's observation space when neither the user nor a preset section gives them.

A memory algorithm (``ppo_lstm``, ``ppo_trxl``) on an env with no preset section of its own takes the default
section, and what the observation space implies on top of it: a flat ``Box(F,)`` observation becomes one token per
step through SB3's ``Flatten`` (``extractor: mlp``). The memory over the episode does the attending; an attention
extractor over one step's features is trained only by what the current step needs, because the memory caches its
hidden states without gradient (Transformer-XL's stop-gradient), so what only a later step needs may never reach
the memory (docs/BENCHMARKS.md: POPGym RepeatFirstEasy and long-delay CueMemory learned with Flatten, not with an
attention step encoder).

Every choice made here is said on the console before training (``AutomaticChoice.line``), as the preset sections
are (``agents.setup.summary``): nothing is found later in a run folder's name only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gymnasium import spaces

from agents.setup.algorithms import ALGORITHMS
from agents.setup.config import RunConfig
from agents.setup.presets import has_env_section
from agents.setup.vec_envs import make_single_env


@dataclass(frozen=True)
class AutomaticChoice:
    """One setting chosen for the user: its key, value, and why."""

    key: str
    value: Any
    reason: str

    @property
    def line(self) -> str:
        """The console line: ``automatic: extractor mlp (why)``."""
        return f"automatic: {self.key} {self.value} ({self.reason})"


def memory_token_choices(algo: str, space: spaces.Space) -> list[AutomaticChoice]:
    """What a memory algorithm's step token should be for ``space`` (empty: nothing implied, the default applies).

    Args:
        algo: a registered algorithm name.
        space: the env's observation space (as the adapters give it).
    """
    if not ALGORITHMS.get(algo).recurrent or not isinstance(space, spaces.Box) or len(space.shape) != 1:
        return []
    reason = (
        f"one token per step, SB3's Flatten of the flat observation Box({space.shape[0]},): the memory over the "
        "episode does the attending; --extractor attention for attention over each step's features"
    )
    return [AutomaticChoice("extractor", "mlp", reason)]


def automatic_choices(config: RunConfig, preset: dict[str, Any]) -> list[AutomaticChoice]:
    """The settings the observation space implies for ``config`` when the env has no preset section.

    The env is made (one instance, closed again) only when a choice could apply: a memory algorithm, no extractor
    given by the user or a preset, and no section for the env in ``configs/<algo>.yaml`` or ``config.config_file``
    (a section's author chose its settings, extractor included).
    """
    if config.extractor is not None or "extractor" in preset or not ALGORITHMS.get(config.algo).recurrent:
        return []
    if has_env_section(config.algo, config.env, config.config_file):  # the section's author chose
        return []
    env_kwargs = {**preset.get("env_kwargs", {}), **config.env_kwargs}
    env = make_single_env(config.env, env_kwargs, tuple(config.gym_packages))
    try:
        return memory_token_choices(config.algo, env.observation_space)
    finally:
        env.close()
