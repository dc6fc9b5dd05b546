"""``MemoryFocusCallback``: where in time a ``ppo_trxl`` policy looks, logged to tensorboard during training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from agents.evaluation.focus_stats import summarize_memory_focus
from agents.setup.config import DEFAULT_FOCUS_METHODS
from agents.trxl.focus import MEMORY_FOCUS_METHODS, MemoryFocusRecorder, memory_methods
from agents.trxl.policy import TrXLPolicy
from envs.adapters.registry import make_adapted


class MemoryFocusCallback(BaseCallback):
    """Log the focus over the memory's steps (parts ``t-M .. t-0``) on a probe of the policy's own episodes.

    At the first rollout end, then at most once every ``interval`` env steps, and at the end of training, it
    plays ``probe_steps`` steps of a fresh copy of the training env (seeded, greedy actions, the memory carried
    through each episode as in evaluation) and records, for each method ``<m>`` (``readout``, ``causal``):
    ``attention/memory/<m>/entropy``, ``top1_mass``, ``relevant_mass`` (focus on the steps the env names in
    ``info["relevant_ages"]``, e.g. CueMemory's cue), ``attention/memory/causal/relevant_effect`` (those steps'
    share of the summed causal effects), ``attention/memory/faithfulness/readout`` (Spearman with
    ``causal``) and, for the first method, ``attention/memory/<m>/focus/t-<k>`` of the ``max_parts`` most
    focused steps.

    Args:
        interval: minimum env steps between two logs (>= 1).
        methods: focus methods that work on memory (the defaults' others are left out).
        probe_steps: steps played for each log.
        probe_seed: seed of the probe env.
        max_parts: at most this many ``focus/t-<k>`` scalars.
    """

    def __init__(
        self,
        interval: int,
        methods: Sequence[str] = MEMORY_FOCUS_METHODS,
        probe_steps: int = 128,
        probe_seed: int = 12_345,
        max_parts: int = 8,
    ) -> None:
        super().__init__()
        if interval < 1 or probe_steps < 1 or max_parts < 1:
            raise ValueError(f"interval={interval}, probe_steps={probe_steps} and max_parts={max_parts} must be >= 1.")
        self.interval, self.methods = interval, memory_methods(methods, defaults=DEFAULT_FOCUS_METHODS)
        self.probe_steps, self.probe_seed, self.max_parts = probe_steps, probe_seed, max_parts
        self._last_logged = -1

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self._last_logged < 0 or self.num_timesteps - self._last_logged >= self.interval:
            self.log_memory_focus()

    def _on_training_end(self) -> None:
        if self.num_timesteps != self._last_logged:
            self.log_memory_focus()
            self.logger.dump(self.num_timesteps)

    def probe(self) -> MemoryFocusRecorder:
        """Play the probe episodes and return what was recorded."""
        spec = self.training_env.get_attr("spec", indices=[0])[0]
        recorder = MemoryFocusRecorder(self.model.policy, self.methods, max_samples=self.probe_steps)
        if spec is None:
            return recorder
        kwargs = {k: v for k, v in (spec.kwargs or {}).items() if k != "render_mode"}
        env = make_adapted(spec.id, max_episode_steps=spec.max_episode_steps, **kwargs)
        normalize = self.model.get_vec_normalize_env()
        try:
            obs, info = env.reset(seed=self.probe_seed)
            state, start = None, True
            while len(recorder) < self.probe_steps:
                obs = obs if normalize is None else normalize.normalize_obs(obs)
                if not start:  # the first step of an episode attends over no memory: nothing to record
                    recorder.record(obs, state, info)
                action, state = self.model.predict(obs, state, np.array([start]), deterministic=True)
                obs, _, terminated, truncated, info = env.step(action)
                start = terminated or truncated
                if start:
                    obs, info = env.reset()
        finally:
            env.close()
        return recorder

    def log_memory_focus(self) -> None:
        """Record the memory focus scalars now."""
        self._last_logged = self.num_timesteps
        summary = summarize_memory_focus(self.probe())
        if summary is None:
            return
        record = self.logger.record
        first = summary["method"]
        for part, mass in sorted(summary["focus"].items(), key=lambda kv: -kv[1])[: self.max_parts]:
            record(f"attention/memory/{first}/focus/{part}", mass)
        for method, stats in summary["methods"].items():
            for key in ("entropy", "top1_mass", "relevant_mass", "relevant_effect"):
                if stats[key] is not None:
                    record(f"attention/memory/{method}/{key}", stats[key])
            spearman = (stats["faithfulness"] or {}).get("spearman")
            if spearman is not None:
                record(f"attention/memory/faithfulness/{method}", spearman)


def memory_callbacks(model: BaseAlgorithm, interval: int, methods: Sequence[str], **kwargs: Any) -> list[BaseCallback]:
    """``[MemoryFocusCallback]`` for a ``ppo_trxl`` model when attention is logged (``interval > 0``), else ``[]``."""
    if interval <= 0 or not isinstance(model.policy, TrXLPolicy):
        return []
    return [MemoryFocusCallback(interval, methods, **kwargs)]
