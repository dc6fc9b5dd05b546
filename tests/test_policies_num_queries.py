"""``num_queries``: several readout queries, each reading its own weighted sum of the parts, concatenated."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from policies import AttentionExtractor
from policies.readouts import EgoReadout, QueryReadout

SPACE = gym.spaces.Box(0, 255, (3, 56, 56), np.uint8)  # MiniGrid's 7x7 view at 8 px a cell
CONV = {"tokenizer": "conv", "stem": "small", "num_layers": 1}


def test_each_query_reads_its_own_sum_side_by_side():
    torch.manual_seed(0)
    readout = QueryReadout(embed_dim=8, num_heads=2, num_queries=3)
    tokens = torch.randn(4, 5, 8)  # (B, L, D)
    mask = torch.ones(4, 5, dtype=torch.bool)
    pooled = readout(tokens, mask, mask)
    assert pooled.shape == (4, 24) and readout.out_dim(8) == 24
    for q in range(3):  # the q-th slice is what one readout with only that query reads
        single = QueryReadout(embed_dim=8, num_heads=2)
        single.load_state_dict({**readout.state_dict(), "query": readout.query[:, q : q + 1]})
        torch.testing.assert_close(pooled[:, 8 * q : 8 * (q + 1)], single(tokens, mask, mask))


def test_ego_queries_are_the_observer_then_learned_ones():
    readout = EgoReadout(embed_dim=8, num_heads=2, num_queries=3)
    readout.ego_index = 2
    tokens = torch.randn(4, 5, 8)
    queries = readout.queries(tokens)  # (B, Q, D)
    assert queries.shape == (4, 3, 8)
    assert torch.equal(queries[:, 0], tokens[:, 2])
    assert torch.equal(queries[:, 1:], readout.query[:, 1:].expand(4, -1, -1))


@pytest.mark.parametrize("pooling", ["query", "ego"])
def test_conv_extractor_features_focus_and_gradients(pooling):
    torch.manual_seed(0)
    extractor = AttentionExtractor(SPACE, pooling=pooling, num_queries=4, features_dim=32, **CONV)
    assert extractor.head[0].in_features == 4 * 64
    obs = torch.randint(0, 256, (6, 3, 56, 56)).float()
    explanation = extractor.explain(obs)
    assert explanation.features.shape == (6, 32) and explanation.focus.shape == (6, 49)
    assert explanation.weights.shape == (6, 2, 4, 49)  # (B, H, Q, N)
    torch.testing.assert_close(explanation.focus.sum(dim=1), torch.ones(6))
    extractor(obs).sum().backward()
    assert extractor.readout.query.grad[:, 1:].abs().sum() > 0  # every learned query in use


def test_one_query_keeps_the_readouts_parameters():
    torch.manual_seed(0)
    one = AttentionExtractor(SPACE, pooling="ego", **CONV)
    torch.manual_seed(0)
    explicit = AttentionExtractor(SPACE, pooling="ego", num_queries=1, **CONV)
    assert one.readout.query.shape == (1, 1, 64)
    for (name, a), (_, b) in zip(one.state_dict().items(), explicit.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"pooling": "mean", "num_queries": 2}, ValueError, "needs an attention readout"),
        ({"num_queries": 0}, ValueError, "num_queries=0"),
        ({"num_queries": 2.5}, (TypeError, ValueError), "num_queries=2.5"),
        ({"lean": True, "num_queries": 2}, ValueError, "lean=True folds one query"),
    ],
)
def test_bad_num_queries_name_the_fix(kwargs, error, match):
    with pytest.raises(error, match=match):
        AttentionExtractor(gym.spaces.Box(-1.0, 1.0, (4, 3)), **kwargs)
