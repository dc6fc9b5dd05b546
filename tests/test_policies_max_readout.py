"""The ``max`` readout (feature-wise max over the real tokens, relational RL): exact pooling and focus."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from policies import AttentionExtractor
from policies.readouts import MaxReadout


def test_each_feature_is_one_real_tokens_and_the_focus_counts_them():
    tokens = torch.tensor(
        [
            [[1.0, 5.0, 0.0, 2.0], [3.0, 1.0, 0.0, 9.0], [0.0, 0.0, 7.0, 1.0]],
            [[1.0, 1.0, 1.0, 1.0], [9.0, 9.0, 9.0, 9.0], [2.0, 0.0, 3.0, 0.0]],
        ]
    )  # (B=2, L=3, D=4)
    mask = torch.tensor([[True, True, True], [True, False, True]])  # the 9s of row 2 are padding
    readout = MaxReadout(embed_dim=4, num_heads=2)
    pooled = readout(tokens, mask, mask)
    assert torch.equal(pooled, torch.tensor([[3.0, 5.0, 7.0, 9.0], [2.0, 1.0, 3.0, 1.0]]))
    focus, weights = readout.explain(mask, None)
    assert torch.allclose(focus, torch.tensor([[0.25, 0.5, 0.25], [0.5, 0.0, 0.5]]))
    assert weights.shape == (2, 1, 1, 3)


def test_an_empty_set_pools_zeros_without_nan():
    tokens = torch.randn(2, 3, 4, requires_grad=True)
    mask = torch.tensor([[False, False, False], [True, False, False]])
    readout = MaxReadout(embed_dim=4, num_heads=1)
    pooled = readout(tokens, mask, mask)
    assert torch.equal(pooled[0], torch.zeros(4))
    assert torch.equal(pooled[1], tokens[1, 0].detach())
    pooled.sum().backward()
    assert torch.isfinite(tokens.grad).all() and tokens.grad[0].abs().sum() == 0
    focus, _ = readout.explain(mask, None)
    assert torch.equal(focus[0], torch.zeros(3)) and torch.equal(focus[1], torch.tensor([1.0, 0.0, 0.0]))


def test_conv_tokens_with_max_pooling_focus_on_cells():
    space = gym.spaces.Box(0, 255, (3, 56, 56), np.uint8)
    extractor = AttentionExtractor(space, tokenizer="conv", stem="small", pooling="max", num_layers=1)
    observations = torch.randint(0, 256, (5, 3, 56, 56)).float()
    explanation = extractor.explain(observations)
    assert explanation.features.shape == (5, 64) and explanation.focus.shape == (5, 49)
    assert torch.allclose(explanation.focus.sum(dim=1), torch.ones(5))
    assert len(extractor.part_names) == 49 and extractor.part_names[0] == "cell_r0c0"
