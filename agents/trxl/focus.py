"""Where in time a ``ppo_trxl`` policy looked: its focus over the memory's steps (parts ``t-M .. t-1, t-0``).

The focus methods that work on memory (``policies.FOCUS_METHODS`` entries with a ``memory`` function) each give a
``(B, M + 1)`` distribution over the memory window and the current step; the two built in:

- ``readout``: the last memory layer's attention weights from the current step, mean over heads (masked slots,
  from before the episode, get exactly 0);
- ``causal``: mask each memory step out of every layer's attention (as the episode mask does) and measure how
  far the action distribution moves (KL from the intact one); the current step ``t-0`` is never removed and gets
  0. More than ``max_parts`` slots are removed in consecutive groups, each group's effect shared by its slots.

They become ``AttentionReport`` objects, so ``agents.evaluation.focus_stats`` summarises them as every other focus (mean
focus per part, entropy, relevant mass, faithfulness of ``readout`` against ``causal``). The relevant parts
come from ``info["relevant_ages"]`` (how many steps back the thing that matters was seen, e.g. CueMemory's cue):
age ``k`` is part ``t-k``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from agents.trxl.memory import window_mask
from agents.trxl.policy import MemoryState, TrXLPolicy
from envs.observations import stack_obs
from policies import FOCUS_METHODS, AttentionReport, MemoryInputs
from policies.focus_methods import check_focus_methods, methods_with
from policies.report import checked_focus, normalized_entropy

#: The memory focus methods used by default (each must work on memory: checked against the registry here).
MEMORY_FOCUS_METHODS = tuple(check_focus_methods(("readout", "causal"), supporting="memory"))
#: At most this many separate removals per step for ``causal`` (more slots are removed in groups): every slot of
#: a memory up to 256 steps long is removed on its own, so the focus can land on one step.
MAX_MEMORY_PARTS = 256
#: Rows (steps x removals) per forward pass of the causal batch: each row carries a whole memory window.
CHUNK_ROWS = 1024


def _kl(inner_p: Any, inner_q: Any) -> torch.Tensor:
    """``(rows,)`` KL(p || q) of two SB3 distributions' torch ``distribution`` in float64 (summed over components).

    Masking a step an untrained policy barely reads moves its logits by ~1e-4, a KL of ~1e-8: float32 would
    round it away (as ``policies.causal`` explains).
    """
    if isinstance(inner_p, (list, tuple)):  # MultiCategorical
        return sum(_categorical_kl(a.logits, b.logits) for a, b in zip(inner_p, inner_q, strict=True))
    if isinstance(inner_p, torch.distributions.Categorical):
        return _categorical_kl(inner_p.logits, inner_q.logits)
    if isinstance(inner_p, torch.distributions.Bernoulli):
        two = [torch.stack([torch.zeros_like(d.logits), d.logits], -1) for d in (inner_p, inner_q)]
        return _categorical_kl(*two).sum(dim=-1)
    mp, sp, mq, sq = (t.double() for t in (inner_p.mean, inner_p.stddev, inner_q.mean, inner_q.stddev))
    return (torch.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5).sum(dim=-1)  # diagonal Gaussians


def _categorical_kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    log_p, log_q = p_logits.double().log_softmax(dim=-1), q_logits.double().log_softmax(dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def _rows(obs: torch.Tensor | dict[str, torch.Tensor], start: int, stop: int) -> torch.Tensor | dict:
    return {k: v[start:stop] for k, v in obs.items()} if isinstance(obs, dict) else obs[start:stop]


def _repeat(obs: torch.Tensor | dict[str, torch.Tensor], times: int) -> torch.Tensor | dict[str, torch.Tensor]:
    if isinstance(obs, dict):
        return {k: v.repeat_interleave(times, dim=0) for k, v in obs.items()}
    return obs.repeat_interleave(times, dim=0)


def memory_focus(
    policy: TrXLPolicy,
    obs: torch.Tensor | dict[str, torch.Tensor],
    memory: torch.Tensor,
    memory_mask: torch.Tensor,
    methods: Sequence[str] = MEMORY_FOCUS_METHODS,
    max_parts: int = MAX_MEMORY_PARTS,
) -> dict[str, np.ndarray]:
    """``{method: (B, M + 1)}`` focus over ``[memory window, current step]``, rows summing to 1.

    Args:
        policy: the ``TrXLPolicy``.
        obs: ``(B, ...)`` as ``policy.obs_to_tensor`` gives them.
        memory: ``(B, M, L, D)`` the windows the steps are acted on with.
        memory_mask: ``(B, M)`` True for slots of the step's own episode.
        methods: focus methods that work on memory (``policies.focus_methods.methods_with("memory")``).
        max_parts: at most this many removals per step for the causal effects.

    Returns:
        The focus per method, and under ``"effects"`` the causal effects ``(B, M + 1)`` when a method read them.
    """
    names = check_focus_methods(methods, supporting="memory")
    cache: dict[str, torch.Tensor] = {}

    def effects() -> torch.Tensor:
        if "effects" not in cache:
            per_chunk = max(1, CHUNK_ROWS // (min(max_parts, memory_mask.shape[1]) + 1))
            cache["effects"] = torch.cat([
                _causal_effects(policy, _rows(obs, i, i + per_chunk), memory[i : i + per_chunk],
                                memory_mask[i : i + per_chunk], max_parts)
                for i in range(0, len(memory), per_chunk)
            ])  # (B, M + 1)  # fmt: skip
        return cache["effects"]

    out: dict[str, np.ndarray] = {}
    with torch.no_grad():
        inputs = MemoryInputs(policy, obs, policy.extract_features(obs), memory, memory_mask, effects)
        for name in names:
            focus = checked_focus(name, FOCUS_METHODS.get(name).memory(inputs), tuple(inputs.attend.shape))
            focus = focus * inputs.attend.cpu()  # other episodes' slots get exactly 0
            out[name] = (focus / focus.sum(dim=1, keepdim=True).clamp_min(1e-12)).numpy()
        if "effects" in cache:
            out["effects"] = cache["effects"].cpu().numpy()
    return out


def _causal_effects(
    policy: TrXLPolicy, obs: Any, memory: torch.Tensor, memory_mask: torch.Tensor, max_parts: int
) -> torch.Tensor:
    """``(B, M + 1)`` float64: the action distribution's KL when each memory slot is masked out (``t-0``: 0)."""
    batch, length = memory_mask.shape
    group_of = torch.arange(length, device=memory.device) // math.ceil(length / max_parts)  # (M,)
    groups = group_of[None, :] == torch.arange(int(group_of.max()) + 1, device=memory.device)[:, None]  # (G, M)
    variants = torch.cat([torch.zeros_like(groups[:1]), groups])  # (1 + G, M): intact first
    per_step = len(variants)
    masks = memory_mask.repeat_interleave(per_step, dim=0) & ~variants.repeat(batch, 1)  # (B * (1 + G), M)
    latent = policy._latents(_repeat(obs, per_step), memory.repeat_interleave(per_step, dim=0), masks)[0]
    rows = torch.arange(batch * per_step, device=memory.device)
    # SB3 reuses one distribution object per policy: keep each torch distribution before the next call.
    removed = policy._get_action_dist_from_latent(latent).distribution
    intact = policy._get_action_dist_from_latent(latent[rows - rows % per_step]).distribution  # intact variants
    divergence = _kl(intact, removed).double().reshape(batch, per_step)[:, 1:].clamp_min(0.0)  # (B, G)
    members = groups[None].double() * memory_mask[:, None].double()  # (B, G, M): the real slots of each group
    share = members / members.sum(dim=2, keepdim=True).clamp_min(1.0)
    effects = torch.einsum("bg,bgm->bm", divergence, share)  # (B, M)
    return torch.cat([effects, torch.zeros_like(effects[:, :1])], dim=1)  # (B, M + 1): t-0 never removed


def _index(obs: Any, i: int) -> Any:
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]


def memory_methods(methods: Sequence[str], defaults: Sequence[str] = ()) -> list[str]:
    """The focus methods of ``methods`` for a memory policy; ``ValueError`` for an unknown or unsupported one.

    Args:
        methods: focus method names.
        defaults: when ``methods`` is exactly these (the defaults, written for every algorithm), the ones that do
            not work on memory are left out instead of refused.
    """
    if list(methods) == list(defaults):
        able = methods_with("memory")
        methods = [m for m in check_focus_methods(methods) if m in able] or able[:1]
    return check_focus_methods(methods, supporting="memory")


def relevant_memory_parts(info: Mapping[str, Any], memory_length: int) -> np.ndarray | None:
    """Memory part indices of ``info["relevant_ages"]`` (age ``k`` -> part ``t-k``), None when unknown."""
    ages = info.get("relevant_ages")
    if ages is None:
        return None
    ages = np.asarray(ages, dtype=np.int64).reshape(-1)
    ages = ages[(ages >= 0) & (ages <= memory_length)]
    return np.sort(memory_length - ages) if ages.size else None


class MemoryFocusRecorder:
    """Collect the memory focus of every step a policy takes with ``predict`` (evaluation, the training probe).

    Call ``record(obs, state, info)`` with an observation, the ``MemoryState`` ``predict`` returned for the step
    before it (the window the next action is taken with) and the info that came with the observation. The focus
    is computed in batches of ``chunk`` steps.

    Args:
        policy: the ``TrXLPolicy``.
        methods: focus methods that work on memory, the first shown.
        max_samples: keep at most this many steps (the first ones).
        chunk: steps per batched focus computation.
    """

    def __init__(
        self,
        policy: TrXLPolicy,
        methods: Sequence[str] = MEMORY_FOCUS_METHODS,
        max_samples: int = 2048,
        chunk: int = 256,
    ) -> None:
        self.policy, self.methods, self.max_samples, self.chunk = policy, list(methods), max_samples, chunk
        self.focus: dict[str, list[np.ndarray]] = {m: [] for m in self.methods}
        self.effects: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        self.relevant: list[np.ndarray | None] = []
        self._pending: list[tuple[Any, np.ndarray, int]] = []

    def __len__(self) -> int:
        return len(self.relevant)

    def record(self, obs: Any, state: MemoryState, info: Mapping[str, Any]) -> None:
        """Add one step: ``obs`` (one observation), the state it is acted on with, its env's info."""
        if len(self) >= self.max_samples:
            return
        memory, steps = state
        self._pending.append((obs, np.asarray(memory[0]), int(steps[0])))
        self.relevant.append(relevant_memory_parts(info, self.policy.memory.memory_length))
        if len(self._pending) >= self.chunk:
            self._flush()

    def _flush(self) -> None:
        """Compute the focus of the pending steps in one batch."""
        if not self._pending:
            return
        policy = self.policy
        observations, memories, steps = zip(*self._pending, strict=True)
        self._pending = []
        obs = stack_obs(observations)
        obs_tensor, _ = policy.obs_to_tensor(obs)
        memory = torch.as_tensor(np.stack(memories), device=policy.device)  # (B, M, L, D)
        mask = window_mask(torch.as_tensor(steps, device=policy.device), policy.memory.memory_length)  # (B, M)
        focus = memory_focus(policy, obs_tensor, memory, mask, self.methods)
        for method in self.methods:
            self.focus[method].extend(focus[method])
        if "effects" in focus:
            self.effects.extend(focus["effects"])
        self.masks.extend(torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1).cpu().numpy())

    def on_eval_step(self, local: Mapping[str, Any]) -> None:
        """``record`` from SB3's ``evaluate_policy`` callback locals: env ``i``'s new observation and state.

        An episode's last observation is left out: no action is taken on it, so nothing it looked at mattered.
        """
        i = local["i"]
        if local["dones"][i]:
            return
        memory, steps = local["states"]
        self.record(_index(local["new_observations"], i), (memory[i : i + 1], steps[i : i + 1]), local["infos"][i])

    def reports(self) -> dict[str, AttentionReport]:
        """``{method: AttentionReport}`` over the recorded steps (``readout`` scored against ``causal``)."""
        self._flush()
        mask = np.stack(self.masks)  # (B, M + 1)
        effects = np.stack(self.effects) if self.effects else None
        reports = {}
        for method in self.methods:
            focus = np.stack(self.focus[method])  # (B, M + 1)
            reports[method] = AttentionReport(
                part_names=self.policy.memory.part_names,
                focus=focus,
                weights=focus[:, None, None, :],
                entropy=normalized_entropy(focus, mask),
                mask=mask,
                layers=[],
                method=method,
                effects=effects,
            )
        return reports
