"""``--dry-run``: the resolved config and the size of the model it would train, with nothing trained or written."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.setup.algorithms import ALGORITHMS
from agents.setup.build import checked_model, policy_name
from agents.setup.config import RunConfig
from agents.setup.resolution import resolve_with_choices
from agents.setup.summary import run_summary
from envs.adapters.registry import describe_adapter
from policies import EXTRACTORS


@dataclass
class DryRun:
    """What ``--dry-run`` reports: the resolved config and the size of the model it would train."""

    config: RunConfig
    policy: str
    parameters: int
    extractor_parameters: int
    adapter: str = ""
    """The env adapter that wraps ``config.env`` (``envs.adapters.adapter_for``), described; empty if none."""
    choices: list[str] = dataclasses.field(default_factory=list)
    """The settings chosen from the observation space (``agents.setup.automatic``), one console line each."""

    def format(self) -> str:
        """The resolved config as YAML, then the policy and its parameter counts."""
        import yaml

        algo = ALGORITHMS.get(self.config.algo).cls.__name__
        return (
            yaml.safe_dump(self.config.to_dict(), sort_keys=False)
            + f"\npolicy: {algo} {self.policy}\nparameters: {self.parameters:,}"
            + f" (in features extractors: {self.extractor_parameters:,})\n"
            + (f"adapter: {self.adapter}\n" if self.adapter else "")
            + f"run: {run_summary(self.config)}\n"
            + "".join(f"{line}\n" for line in self.choices)
        )


def dry_run(config: RunConfig) -> DryRun:
    """Resolve ``config`` and build its model without training or writing anything."""
    config, choices = resolve_with_choices(config)
    model = checked_model(config)
    config = dataclasses.replace(config, device=str(model.device))  # as train records it
    policy = model.policy
    extractors = [m for m in policy.modules() if isinstance(m, BaseFeaturesExtractor)]
    extractor_params = {id(p): p.numel() for m in extractors for p in m.parameters()}
    return DryRun(
        config,
        policy_name(
            model.observation_space, EXTRACTORS.get(config.extractor), ALGORITHMS.get(config.algo).policy_infix
        ),
        sum(p.numel() for p in policy.parameters()),
        sum(extractor_params.values()),
        describe_adapter(config.env),
        [choice.line for choice in choices],
    )
