"""The memory's causal focus lands on the one step a policy reads, at every memory length the presets use."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from agents.trxl import TrXLPPO
from agents.trxl.focus import memory_focus


class ReadsStepK(nn.Module):
    """A hand-built memory: the policy's latent is the hidden state cached ``k`` slots into the window, nothing else."""

    def __init__(self, k: int, embed_dim: int) -> None:
        super().__init__()
        self.k, self.embed_dim = k, embed_dim

    def forward(self, tokens: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> tuple:
        latent = memory[:, self.k, -1] * memory_mask[:, self.k, None]  # (B, D): zero once slot k is masked out
        return latent, memory[:, 0]


@pytest.mark.parametrize("memory_length", [16, 64, 128])
def test_causal_focus_puts_the_mass_on_the_step_the_policy_reads(memory_length: int) -> None:
    kwargs = {"memory_length": memory_length, "memory_dim": 16, "memory_heads": 2, "memory_layers": 2}
    model = TrXLPPO("MlpTrXLPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu", policy_kwargs=kwargs)
    policy, k, batch = model.policy, memory_length // 3, 4
    policy.memory = ReadsStepK(k, 16)
    generator = torch.Generator().manual_seed(0)
    memory = torch.randn(batch, memory_length, 2, 16, generator=generator)  # (B, M, L, D)
    mask = torch.ones(batch, memory_length, dtype=torch.bool)
    obs = torch.zeros(batch, 4)

    focus = memory_focus(policy, obs, memory, mask, ["causal"])["causal"]  # (B, M + 1)

    assert focus.shape == (batch, memory_length + 1)
    assert (focus[:, k] >= 0.99).all(), focus[:, k]
