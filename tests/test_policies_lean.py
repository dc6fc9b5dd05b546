"""The lean fast path (``AttentionExtractor(lean=True)``): the same function as the projected readout, less work."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import preprocess_obs
from test_policies_focus import SPACES

from policies import AttentionExtractor
from policies.extractor import lean_tokenizer_options
from policies.lean_readout import LeanEgoReadout, LeanQueryReadout, fold_head, fold_readout

READOUTS = {
    "query": {},
    "ego": {"pooling": "ego"},
    "query-top2": {"top_k": 2},
    "ego-top2": {"pooling": "ego", "top_k": 2},
    "query-top2-per-head": {"top_k": 2, "top_k_per_head": True},
}


def sample_batch(space, batch=6, seed=0):
    space.seed(seed)
    samples = [space.sample() for _ in range(batch)]
    if isinstance(space, spaces.Dict):  # as SB3's policy gives it: images scaled to [0, 1], Discrete one-hot
        return preprocess_obs({k: torch.as_tensor(np.stack([s[k] for s in samples])) for k in space.spaces}, space)
    obs = preprocess_obs(torch.as_tensor(np.stack(samples)), space)
    if obs.ndim == 3 and obs.shape[-1] == 4:  # entity rows, presence in the last column: pad some rows
        obs[:, 3:, -1] = 0.0
        obs[0, :, -1] = 0.0  # an observation with no real row
        obs[1, 1:, -1] = 0.0  # one real row
    return obs


@pytest.mark.parametrize("num_layers", [0, 1])
@pytest.mark.parametrize("score", ["scaled_dot", "general"])
@pytest.mark.parametrize("readout", list(READOUTS))
@pytest.mark.parametrize("kind", list(SPACES))
def test_the_lean_readout_equals_the_projected_one(kind, readout, score, num_layers):
    space, kwargs = SPACES[kind]
    torch.manual_seed(0)
    reference = AttentionExtractor(
        space, embed_dim=16, num_heads=2, num_layers=num_layers, score=score, **kwargs, **READOUTS[readout]
    )
    with torch.no_grad():  # a trained-looking readout: not the initial identity bilinear, non-zero biases
        for p in reference.readout.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    obs = sample_batch(space)
    with torch.no_grad():
        expected = reference.explain(obs)
    lean = fold_readout(reference)
    assert isinstance(lean.readout, LeanEgoReadout if "ego" in readout else LeanQueryReadout)
    with torch.no_grad():
        got = lean.explain(obs)
    torch.testing.assert_close(got.features, expected.features, rtol=0, atol=1e-5)
    torch.testing.assert_close(got.focus, expected.focus, rtol=0, atol=1e-5)
    torch.testing.assert_close(got.rollout, expected.rollout, rtol=0, atol=1e-5)
    torch.testing.assert_close(lean(obs), expected.features, rtol=0, atol=1e-5)  # the uncaptured fast path too
    # the head's Linear folded into the value map: lean=True's own layout, the same function on every
    # observation with a real part (an empty one reads out act(0))
    fast = fold_head(lean)
    fast_options = {**kwargs, **READOUTS[readout], "readout_norm": True}
    if "embed_layers" in lean_tokenizer_options(kwargs.get("tokenizer", "auto"), space):
        fast_options["embed_layers"] = 2  # the reference's rows
    built = AttentionExtractor(
        space, embed_dim=16, num_heads=2, num_layers=num_layers, score=score, lean=True, **fast_options
    )
    built.load_state_dict(fast.state_dict())  # same keys and shapes as a lean=True extractor
    with torch.no_grad():
        got = built.explain(obs)
    real = expected.mask.any(dim=1)
    for name in ("features", "focus", "rollout"):
        torch.testing.assert_close(getattr(got, name)[real], getattr(expected, name)[real], rtol=0, atol=1e-5)
    torch.testing.assert_close(built(obs)[real], expected.features[real], rtol=0, atol=1e-5)
    assert torch.isfinite(built(obs)).all()


def test_lean_is_leaner_and_learns_through_every_parameter():
    space, kwargs = SPACES["entity"]
    full = AttentionExtractor(space, num_layers=0, **kwargs)
    lean = AttentionExtractor(space, num_layers=0, lean=True, **kwargs)
    assert len(list(lean.parameters())) == 5 < len(list(full.parameters())) == 15  # rows 2, readout 3, head 0
    assert isinstance(lean.head[0], torch.nn.Identity) and lean.readout.value.out_features == lean.features_dim
    assert isinstance(lean.norm, torch.nn.Identity) and len(lean.tokenizer.embed) == 2  # Linear-ReLU rows
    lean(sample_batch(space)).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in lean.parameters())
    # options set explicitly win over lean's defaults
    explicit = AttentionExtractor(space, num_layers=0, lean=True, embed_layers=2, readout_norm=True, **kwargs)
    assert isinstance(explicit.norm, torch.nn.LayerNorm) and len(explicit.tokenizer.embed) == 3


def test_lean_keeps_the_projected_readout_where_it_cannot_fold():
    space, kwargs = SPACES["entity"]
    additive = AttentionExtractor(space, lean=True, score="additive", **kwargs)
    assert not isinstance(additive.readout, LeanQueryReadout)  # additive scores need projected keys
    for pooling in ("mean", "max", "cls"):
        extractor = AttentionExtractor(space, lean=True, pooling=pooling, **kwargs)
        assert extractor(sample_batch(space)).shape == (6, 64)
        with pytest.raises(ValueError, match="has no lean form"):
            fold_readout(extractor)
    with pytest.raises(TypeError, match="lean='yes' must be True or False"):
        AttentionExtractor(space, lean="yes", **kwargs)
    with pytest.raises(ValueError, match="does not fold into a lean readout"):
        LeanQueryReadout(16, 2, score="additive")
    with pytest.raises(ValueError, match="fold_head needs a lean readout"):
        fold_head(additive)
