"""``ego_part``: any part (e.g. the agent's cell of an egocentric picture) can pose the ``ego`` readout's query."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from policies import AttentionExtractor, LatentAttentionExtractor
from policies.lean_readout import LeanEgoReadout, fold_readout

SPACE = gym.spaces.Box(0, 255, (3, 56, 56), np.uint8)  # MiniGrid's 7x7 view at 8 px a cell
CONV = {"tokenizer": "conv", "stem": "small", "num_layers": 1, "pooling": "ego"}


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, 56, 56))).float()


def test_the_named_cell_poses_the_query():
    torch.manual_seed(0)
    extractor = AttentionExtractor(SPACE, ego_part="cell_r6c3", **CONV)
    assert extractor.readout.ego_index == extractor.part_names.index("cell_r6c3") == 45
    tokens = torch.randn(2, 49, 64)
    assert torch.equal(extractor.readout.queries(tokens), tokens[:, 45:46])
    obs = images()
    with torch.no_grad():
        named = extractor(obs)
        extractor.readout.ego_index = 0  # the default observer: the first part
        first = extractor(obs)
    assert not torch.allclose(named, first)


def test_the_lean_readout_keeps_the_named_part_and_folds_exactly():
    torch.manual_seed(1)
    extractor = AttentionExtractor(SPACE, ego_part="cell_r6c3", **CONV)
    obs = images(seed=1)
    with torch.no_grad():
        before = extractor.explain(obs)
        fold_readout(extractor)
        after = extractor.explain(obs)
    assert isinstance(extractor.readout, LeanEgoReadout) and extractor.readout.ego_index == 45
    assert torch.allclose(before.features, after.features, atol=1e-5)
    assert torch.allclose(before.focus, after.focus, atol=1e-5)
    lean = AttentionExtractor(SPACE, ego_part="cell_r6c3", lean=True, **CONV)
    assert isinstance(lean.readout, LeanEgoReadout) and lean.readout.ego_index == 45


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"ego_part": "cell_r6c9"}, ValueError, "is not a part of these observations.*did you mean 'cell_r6c6'"),
        ({"ego_part": 45}, TypeError, "must be a part name"),
        ({"ego_part": "cell_r6c3", "pooling": "query"}, ValueError, "set pooling='ego'"),
    ],
)
def test_bad_ego_parts_name_the_fix(kwargs, error, match):
    with pytest.raises(error, match=match):
        AttentionExtractor(SPACE, **{**CONV, **kwargs})


def test_latents_refuse_a_part_as_the_query():
    with pytest.raises(ValueError, match="reads its latents"):
        LatentAttentionExtractor(SPACE, num_latents=4, ego_part="cell_r6c3", **CONV)
