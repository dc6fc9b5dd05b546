"""The causal focus: remove each part in turn and measure how far the policy's action distribution moves.

A part is removed by masking it out of every attention of the actor's extractor, exactly as padding is masked
(``AttentionExtractor.part_drop``): the policy then acts as if the part were not in the observation. This is
the same intervention for every tokenizer (entity rows, ``Dict`` keys, time rows, feature tokens, patches), and
it needs no guess of a "neutral" value for a feature or a patch (a zero pixel or a zero reading is itself
information). The change is the KL divergence from the intact action distribution to the one without the part:

- categorical actions (PPO, A2C, TRPO, MaskablePPO on ``Discrete``; ``MultiDiscrete`` and ``MultiBinary`` as
  sums over their components): ``KL(p || q)`` of the action probabilities;
- Gaussian actions (PPO on ``Box``; SAC and TQC before their tanh): the closed form for diagonal Gaussians;
- Q-networks (DQN; QR-DQN on the mean of its quantiles): KL between the softmax of the Q-values;
- deterministic actors (TD3, DDPG): half the squared distance between the actions (the KL of two unit-variance
  Gaussians centred on them).

All removals run as one batch: each observation is repeated once per part (plus once intact), so a batch of
``B`` observations with ``N`` parts costs one forward pass over ``B * (N + 1)`` rows (in chunks of at most
``CHUNK_ROWS`` rows and about ``CHUNK_BYTES`` of observations). Observations with more than ``max_parts``
parts are handled in groups: the parts are split into at most ``max_parts`` groups (square blocks of the patch
grid for images, consecutive parts otherwise), each group is removed at once, and its effect is shared evenly
among its real parts.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from policies.extractor import AttentionExtractor

#: Default cap on separate removals per observation; more parts are removed in groups (see the module doc).
MAX_CAUSAL_PARTS = 64
#: At most this many rows per forward pass of the causal batch, and about this many bytes of observations.
CHUNK_ROWS = 8192
CHUNK_BYTES = 64 * 2**20

#: ``(intact, removed)`` action-distribution parameters -> ``(rows,)`` divergence.
Divergence = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], torch.Tensor]


@contextlib.contextmanager
def removing_parts(extractor: AttentionExtractor, drop: torch.Tensor) -> Iterator[None]:
    """Within the block, ``extractor`` treats the parts where ``drop (B, N)`` is True as padding."""
    extractor.part_drop = drop
    try:
        yield
    finally:
        extractor.part_drop = None


def part_groups(num_parts: int, grid: tuple[int, int] | None, max_parts: int) -> torch.Tensor:
    """``(G, N)`` bool: which parts each removal takes away, ``G <= max_parts`` (one part each when they fit).

    Images get square blocks of the patch grid; other parts consecutive runs.
    """
    if num_parts <= max_parts:
        return torch.eye(num_parts, dtype=torch.bool)
    if grid is not None and grid[0] * grid[1] == num_parts:
        rows, cols = grid
        side = math.ceil(math.sqrt(num_parts / max_parts))
        while math.ceil(rows / side) * math.ceil(cols / side) > max_parts:
            side += 1
        r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
        group_of = ((r // side) * math.ceil(cols / side) + c // side).reshape(-1)  # (N,)
    else:
        group_of = torch.arange(num_parts) // math.ceil(num_parts / max_parts)  # (N,)
    return group_of[None, :] == torch.arange(int(group_of.max()) + 1)[:, None]  # (G, N)


def _categorical_kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """``(rows,)`` KL between categoricals given by ``(rows, A)`` logits (any normalisation), in float64.

    Removing a part an untrained or indifferent policy barely reads moves its logits by ~1e-4, a KL of ~1e-8:
    in float32 that drowns in the rounding of ``log p - log q``.
    """
    log_p, log_q = p_logits.double().log_softmax(dim=-1), q_logits.double().log_softmax(dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def _categoricals_kl(intact: dict[str, torch.Tensor], removed: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(_categorical_kl(intact[key], removed[key]) for key in intact)


def _gaussian_kl(intact: dict[str, torch.Tensor], removed: dict[str, torch.Tensor]) -> torch.Tensor:
    """Closed-form KL of diagonal Gaussians, summed over the action dimensions."""
    mean_p, log_std_p = intact["mean"].double(), intact["log_std"].double()
    mean_q, log_std_q = removed["mean"].double(), removed["log_std"].double()
    var_p, var_q = (2 * log_std_p).exp(), (2 * log_std_q).exp()
    return (log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2 * var_q) - 0.5).sum(dim=-1)


def _bernoulli_kl(intact: dict[str, torch.Tensor], removed: dict[str, torch.Tensor]) -> torch.Tensor:
    p_logits, q_logits = intact["logits"], removed["logits"]
    two_class = (
        torch.stack([torch.zeros_like(p_logits), p_logits], -1),
        torch.stack([torch.zeros_like(q_logits), q_logits], -1),
    )
    return _categorical_kl(*two_class).sum(dim=-1)


def _squared_distance(intact: dict[str, torch.Tensor], removed: dict[str, torch.Tensor]) -> torch.Tensor:
    return 0.5 * ((intact["action"].double() - removed["action"].double()) ** 2).sum(dim=-1)


def action_distribution(policy: nn.Module, observations: torch.Tensor | dict[str, torch.Tensor]) -> tuple[
    dict[str, torch.Tensor], Divergence
]:  # fmt: skip
    """The parameters of ``policy``'s action distribution for a batch, and the divergence that compares two.

    Args:
        policy: an SB3 policy (``model.policy``).
        observations: the batch as ``policy.obs_to_tensor`` gives it (not yet preprocessed).

    Returns:
        ``({name: (rows, ...)}, divergence)``.

    Raises:
        TypeError: a policy of a kind this does not know (the message names it).
    """
    actor = getattr(policy, "actor", None)
    if hasattr(policy, "q_net") and not hasattr(policy, "action_net"):  # DQN
        return {"logits": policy.q_net(observations)}, _categoricals_kl
    if hasattr(policy, "quantile_net"):  # QR-DQN: (rows, quantiles, actions) -> mean Q
        return {"logits": policy.quantile_net(observations).mean(dim=1)}, _categoricals_kl
    if actor is not None and hasattr(actor, "get_action_dist_params"):  # SAC, TQC: the Gaussian before tanh
        mean, log_std, _ = actor.get_action_dist_params(observations)
        return {"mean": mean, "log_std": log_std}, _gaussian_kl
    if actor is not None:  # TD3, DDPG: a deterministic action
        return {"action": actor(observations)}, _squared_distance
    if hasattr(policy, "lstm_actor"):  # RecurrentPPO: from a fresh memory (start of an episode)
        lstm = policy.lstm_actor
        rows = len(next(iter(observations.values())) if isinstance(observations, dict) else observations)
        zeros = torch.zeros(lstm.num_layers, rows, lstm.hidden_size, device=policy.device)
        distribution, _ = policy.get_distribution(observations, (zeros, zeros), torch.ones(rows, device=policy.device))
    elif hasattr(policy, "get_distribution"):
        distribution = policy.get_distribution(observations)
    else:
        raise TypeError(f"The causal focus does not know how to read actions from {type(policy).__name__}.")
    # The torch distribution(s) behind SB3's wrapper (sb3-contrib's masked multi-categorical calls them
    # ``distributions``).
    inner = getattr(distribution, "distribution", None) or getattr(distribution, "distributions", None)
    if isinstance(inner, torch.distributions.Categorical):
        return {"logits": inner.logits}, _categoricals_kl
    if isinstance(inner, (list, tuple)) and all(isinstance(d, torch.distributions.Categorical) for d in inner):
        return {f"logits{i}": d.logits for i, d in enumerate(inner)}, _categoricals_kl  # MultiDiscrete
    if isinstance(inner, torch.distributions.Bernoulli):
        return {"logits": inner.logits}, _bernoulli_kl
    if isinstance(inner, torch.distributions.Normal):
        return {"mean": inner.mean, "log_std": inner.stddev.log()}, _gaussian_kl
    from policies.focus_methods import FOCUS_METHODS  # (it imports this module)

    others = " or ".join(repr(name) for name, method in FOCUS_METHODS.items() if not method.causal)
    raise TypeError(
        f"The causal focus does not know the action distribution {type(distribution).__name__} of "
        f"{type(policy).__name__}: use method={others}."
    )


def _repeat(observations: torch.Tensor | dict[str, torch.Tensor], times: int) -> torch.Tensor | dict[str, torch.Tensor]:
    if isinstance(observations, dict):
        return {k: v.repeat_interleave(times, dim=0) for k, v in observations.items()}
    return observations.repeat_interleave(times, dim=0)


def _rows(observations: torch.Tensor | dict[str, torch.Tensor], start: int, stop: int) -> torch.Tensor | dict:
    if isinstance(observations, dict):
        return {k: v[start:stop] for k, v in observations.items()}
    return observations[start:stop]


def causal_effects(
    policy: nn.Module,
    extractor: AttentionExtractor,
    observations: torch.Tensor | dict[str, torch.Tensor],
    mask: torch.Tensor,
    max_parts: int = MAX_CAUSAL_PARTS,
) -> torch.Tensor:
    """``(B, N)`` how far the action distribution moves when each real part is removed (0 for padding).

    Args:
        policy: the SB3 policy whose actor reads through ``extractor``.
        extractor: the actor's ``AttentionExtractor``.
        observations: ``(B, ...)`` as ``policy.obs_to_tensor`` gives them.
        mask: ``(B, N)`` bool, True for the real parts (``Explanation.mask``).
        max_parts: at most this many removals per observation (grouped beyond, see the module doc).
    """
    if isinstance(max_parts, bool) or not isinstance(max_parts, int) or max_parts < 1:
        raise ValueError(
            f"max_parts={max_parts!r} is invalid: it must be an integer >= 1 (default {MAX_CAUSAL_PARTS})."
        )
    batch, num_parts = mask.shape
    groups = part_groups(num_parts, extractor.grid, max_parts).to(mask.device)  # (G, N)
    variants = torch.cat([torch.zeros_like(groups[:1]), groups])  # (1 + G, N): intact first
    per_obs = len(variants)
    tensors = observations.values() if isinstance(observations, dict) else [observations]
    obs_bytes = sum(t[0].numel() * 4 for t in tensors)  # one observation, as float32
    rows_per_chunk = max(per_obs, min(CHUNK_ROWS, CHUNK_BYTES // max(obs_bytes, 1)))
    obs_per_chunk = max(1, rows_per_chunk // per_obs)
    divergences = []
    with torch.no_grad():
        for start in range(0, batch, obs_per_chunk):
            chunk = _rows(observations, start, start + obs_per_chunk)
            rows = min(batch, start + obs_per_chunk) - start
            drop = variants.repeat(rows, 1)  # (rows * (1 + G), N)
            with removing_parts(extractor, drop):
                params, divergence = action_distribution(policy, _repeat(chunk, per_obs))
            params = {k: v.reshape(rows, per_obs, *v.shape[1:]) for k, v in params.items()}
            intact = {k: v[:, :1].expand_as(v).reshape(-1, *v.shape[2:]) for k, v in params.items()}
            removed = {k: v.reshape(-1, *v.shape[2:]) for k, v in params.items()}
            divergences.append(divergence(intact, removed).reshape(rows, per_obs)[:, 1:])  # (rows, G)
    group_effect = torch.cat(divergences).clamp_min(0.0)  # (B, G)
    members = groups[None].double() * mask[:, None].double()  # (B, G, N): the real parts of each group
    share = members / members.sum(dim=2, keepdim=True).clamp_min(1.0)
    return torch.einsum("bg,bgn->bn", group_effect, share.double())  # (B, N), float64


def causal_focus(effects: torch.Tensor, mask: torch.Tensor, tolerance: float = 1e-9) -> torch.Tensor:
    """``(B, N)`` effects normalised to sum to 1 over the real parts; uniform where nothing moved the policy."""
    effects = effects * mask
    total = effects.sum(dim=1, keepdim=True)
    uniform = mask.float() / mask.float().sum(dim=1, keepdim=True).clamp_min(1.0)
    uniform = torch.where(mask.any(dim=1, keepdim=True), uniform, torch.full_like(uniform, 1.0 / mask.shape[1]))
    return torch.where(total > tolerance, effects / total.clamp_min(tolerance), uniform)
