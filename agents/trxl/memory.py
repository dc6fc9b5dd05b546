"""The episode memory of ``ppo_trxl``: a causal Transformer-XL-style stack over the last steps of the episode.

Each step of an episode is one token (the policy's features extractor makes it). Layer ``l`` of the stack lets
the current step's hidden state ``h_l(t)`` attend over the hidden states ``h_l(t - M) .. h_l(t - 1)`` that the
same layer saw at the previous ``M = memory_length`` steps (its *memory*, a cache kept per env) and over itself:

``h_{l+1}(t) = TransformerBlock(h_l(t), context=[h_l(t - M), ..., h_l(t - 1), h_l(t)] + age embedding)``

As in Transformer-XL, the cache holds what each layer *received* (``h_0 .. h_{L-1}``), computed when the step was
taken and never recomputed: gradients do not flow into the memory, and the receptive field grows to ``L * M``
steps. Memory slots from before the episode started are masked out of every attention (a boolean mask, so their
weight is exactly 0: nothing leaks across episodes). The current step is always attended, so no row is empty.

A memory window is ``(B, M, L, D)``, oldest slot first: slot ``j`` holds step ``t - M + j`` (age ``M - j``), and
``memory_mask (B, M)`` says which slots belong to the current episode (``window_mask``). The focus over the
window names its parts ``t-M .. t-1, t-0`` (``memory_part_names``).
"""

from __future__ import annotations

import torch
from torch import nn

from envs.validation import check_int
from policies.attention import capture_attention, check_heads
from policies.block import TransformerBlock


def window_mask(episode_steps: torch.Tensor, memory_length: int) -> torch.Tensor:
    """``(B, M)`` bool: which slots of a memory window hold steps of the current episode.

    Args:
        episode_steps: ``(B,)`` earlier steps of the current episode (0 on its first step), any integer dtype;
            values above ``memory_length`` mean a full window.
        memory_length: ``M``, the slots of the window.
    """
    ages = torch.arange(memory_length, 0, -1, device=episode_steps.device)  # (M,): slot j holds age M - j
    return ages[None, :] <= episode_steps[:, None]  # (B, M)


def memory_part_names(memory_length: int) -> list[str]:
    """Names of the memory's parts, oldest first: ``t-M, ..., t-1, t-0`` (``t-0`` is the current step)."""
    return [f"t-{age}" for age in range(memory_length, -1, -1)]


class EpisodeMemory(nn.Module):
    """A causal transformer over the current step and the cached hidden states of the episode's last steps.

    ``token (B, features_dim) -> Linear -> num_layers x cross TransformerBlock over [memory_l, h_l] -> LayerNorm
    -> (B, embed_dim)``.

    Args:
        features_dim: width of the step tokens (the features extractor's output).
        memory_length: ``M``, earlier steps each layer attends over (>= 1).
        embed_dim: width of the hidden states (the memory holds ``num_layers`` of them per step).
        num_heads: attention heads; must divide ``embed_dim``.
        num_layers: transformer layers (>= 1).
        mlp_ratio: hidden width of each block's MLP, as a multiple of ``embed_dim``.
    """

    def __init__(
        self,
        features_dim: int,
        memory_length: int = 64,
        embed_dim: int = 64,
        num_heads: int = 2,
        num_layers: int = 2,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        check_int("memory_length", memory_length, 1)
        check_int("memory_layers", num_layers, 1)
        check_heads(embed_dim, num_heads)
        self.memory_length, self.embed_dim, self.num_layers = memory_length, embed_dim, num_layers
        self.embed = nn.Linear(features_dim, embed_dim)
        #: ``(M + 1, D)``: a learned embedding of each slot's age (0 = the current step), added to the keys.
        self.age_embedding = nn.Parameter(torch.zeros(memory_length + 1, embed_dim))
        nn.init.normal_(self.age_embedding, std=0.02)
        self.blocks = nn.ModuleList(
            TransformerBlock(embed_dim, num_heads, mlp_ratio, cross=True) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(embed_dim)

    @property
    def part_names(self) -> list[str]:
        """``t-M .. t-0``: one name per attended slot, oldest first."""
        return memory_part_names(self.memory_length)

    def empty(self, batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh memory for ``batch`` episodes at their first step: ``(B, M, L, D)`` zeros, ``(B, M)`` False."""
        memory = torch.zeros(batch, self.memory_length, self.num_layers, self.embed_dim, device=device)
        return memory, torch.zeros(batch, self.memory_length, dtype=torch.bool, device=device)

    def forward(
        self, tokens: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from each current step over its memory window.

        Args:
            tokens: ``(B, features_dim)`` the current steps' tokens.
            memory: ``(B, M, L, D)`` cached hidden states of the previous ``M`` steps, oldest first.
            memory_mask: ``(B, M)`` bool, True for slots of the current episode.

        Returns:
            ``(latent (B, D), hidden (B, L, D))``: the output, and what each layer received at this step (the
            memory of the next steps; detached).
        """
        if memory.shape[1:] != (self.memory_length, self.num_layers, self.embed_dim):
            raise ValueError(
                f"The memory window has shape {tuple(memory.shape[1:])}, not (memory_length, num_layers, embed_dim) "
                f"= {(self.memory_length, self.num_layers, self.embed_dim)}: pass windows made by this policy."
            )
        h = self.embed(tokens).unsqueeze(1)  # (B, 1, D)
        attend = torch.cat([memory_mask, torch.ones_like(memory_mask[:, :1])], dim=1)  # (B, M + 1)
        ages = self.age_embedding.flip(0)  # (M + 1, D): oldest slot first, the current step last
        hidden = []
        for layer, block in enumerate(self.blocks):
            hidden.append(h.squeeze(1).detach())
            context = torch.cat([memory[:, :, layer], h], dim=1) + ages  # (B, M + 1, D)
            h = block(h, attend, context)  # (B, 1, D)
        return self.norm(h.squeeze(1)), torch.stack(hidden, dim=1)  # (B, D), (B, L, D)

    def explain(self, tokens: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> list[torch.Tensor]:
        """The attention weights of every layer over ``[memory, current step]``: ``(B, heads, M + 1)`` each."""
        with torch.no_grad(), capture_attention(self) as layers:
            self(tokens, memory, memory_mask)
        return [layer.last_weights[:, :, 0] for layer in layers]


def shift_in(memory: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """The next step's window: drop the oldest slot of ``memory (B, M, L, D)``, append ``hidden (B, L, D)``."""
    return torch.cat([memory[:, 1:], hidden.unsqueeze(1)], dim=1)
