"""Score functions, readouts (pooling), hard top-k and the linear-cost latent extractor."""

import itertools

import numpy as np
import pytest
import torch
from gymnasium import spaces

from policies import AttentionExtractor, LatentAttentionExtractor, capture_attention
from policies.attention import explicit_attention, fused_attention, keep_top_k

N, F = 6, 4
SPACE = spaces.Box(-1.0, 1.0, shape=(N, F), dtype=np.float32)
SCORE_NAMES = ["scaled_dot", "general", "additive"]
POOLINGS = ["query", "ego", "mean", "max", "cls"]


def batch(seed=0, size=5, present=None):
    g = torch.Generator().manual_seed(seed)
    obs = torch.rand(size, N, F, generator=g) * 2 - 1
    obs[..., -1] = 1.0
    if present is not None:
        obs[:, present:] = 0.0
    return obs


def build(cls=AttentionExtractor, **kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("presence_column", -1)
    kwargs.setdefault("embed_dim", 16)
    return cls(SPACE, **kwargs).eval()


CONFIGS = [
    dict(score=score, pooling=pooling, num_layers=layers)
    for score, pooling, layers in itertools.product(SCORE_NAMES, POOLINGS, [0, 1])
    if not (pooling == "cls" and layers == 0)
] + [dict(cls=LatentAttentionExtractor, score=s, pooling=p, num_layers=1, num_latents=3)
     for s, p in itertools.product(SCORE_NAMES, POOLINGS)]  # fmt: skip


def config_id(config):
    return "-".join(f"{v.__name__ if isinstance(v, type) else v}" for v in config.values())


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_shapes_invariances_and_focus(config):
    extractor = build(**config)
    obs = batch(present=4)
    out = extractor(obs)
    assert out.shape == (5, 64) and torch.isfinite(out).all()
    # order-free: permute the rows (the ego row stays first for ego pooling)
    perm = torch.tensor([0, *np.random.default_rng(1).permutation(np.arange(1, N)).tolist()])
    torch.testing.assert_close(extractor(obs[:, perm]), out, rtol=1e-4, atol=1e-5)
    # padding rows have no effect, whatever they hold beside a zero presence
    noisy = obs.clone()
    noisy[:, 4:, :-1] = torch.randn(5, N - 4, F - 1)
    torch.testing.assert_close(extractor(noisy), out, rtol=1e-4, atol=1e-5)
    # fully padded: finite features and gradients
    extractor.train()
    empty = extractor(torch.zeros(2, N, F))
    assert torch.isfinite(empty).all()
    empty.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in extractor.parameters() if p.grad is not None)
    # the focus is over the parts, sums to 1 and leaves padding alone
    explanation = extractor.eval().explain(obs)
    assert explanation.focus.shape == (5, N)
    torch.testing.assert_close(explanation.focus.sum(dim=1), torch.ones(5))
    assert (explanation.focus[:, 4:] < 1e-6).all()
    torch.testing.assert_close(explanation.features, out, rtol=1e-4, atol=1e-5)  # explicit path == fused path
    assert explanation.weights.shape[-1] == N


@pytest.mark.parametrize("pooling", ["query", "ego"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_keeps_exactly_k_parts_with_gradients(pooling, k):
    extractor = build(pooling=pooling, top_k=k, num_layers=1)
    obs = batch(present=5)
    explanation = extractor.explain(obs)
    assert ((explanation.focus > 0).sum(dim=1) == k).all()
    torch.testing.assert_close(explanation.focus.sum(dim=1), torch.ones(5))
    assert (explanation.focus[:, 5:] == 0).all()  # padding is never kept
    extractor.train()
    out = extractor(obs)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    assert extractor.readout.attn.q_proj.weight.grad.abs().sum() > 1e-4  # learns through the soft weights


@pytest.mark.parametrize("k", [1, 2])
def test_top_k_forward_is_hard_and_backward_reaches_the_scores(k):
    scores = torch.randn(3, 2, 1, N, generator=torch.Generator().manual_seed(0), requires_grad=True)
    mask = torch.ones(3, N, dtype=torch.bool)
    kept = keep_top_k(scores.softmax(dim=-1), mask, k)  # (B, H, Q, N)
    assert ((kept.detach().mean(dim=(1, 2)) > 0).sum(dim=1) == k).all()
    torch.testing.assert_close(kept.sum(dim=-1), torch.ones(3, 2, 1))  # renormalised: k = 1 gives exactly 1
    (kept * torch.arange(N, dtype=torch.float32)).sum().backward()
    assert scores.grad.abs().sum() > 1e-3  # renormalised weights alone give k = 1 a zero gradient


def test_top_k_per_head_lets_each_head_keep_its_own_parts():
    # head 0 prefers parts 0, 1; head 1 parts 4, 5: shared, the two most attended on average; per head, each its own
    scores = torch.full((1, 2, 1, N), -5.0)
    scores[0, 0, 0, :2] = torch.tensor([3.0, 2.0])
    scores[0, 1, 0, 4:6] = torch.tensor([2.5, 1.5])
    mask = torch.ones(1, N, dtype=torch.bool)
    shared = keep_top_k(scores.softmax(dim=-1), mask, 2)
    per_head = keep_top_k(scores.softmax(dim=-1), mask, 2, per_head=True)
    assert (shared[0, :, 0] > 0).nonzero()[:, 1].unique().tolist() == [0, 4]
    assert (per_head[0, 0, 0] > 0).nonzero().flatten().tolist() == [0, 1]
    assert (per_head[0, 1, 0] > 0).nonzero().flatten().tolist() == [4, 5]
    torch.testing.assert_close(per_head.sum(dim=-1), torch.ones(1, 2, 1))
    padded = mask.clone()
    padded[0, 4] = False
    assert (keep_top_k(scores.softmax(dim=-1), padded, 2, per_head=True)[0, 1, 0, 4] == 0).all()  # never padding


def test_top_k_per_head_extractor_reads_up_to_heads_times_k_parts():
    extractor = build(top_k=1, top_k_per_head=True, num_layers=0, num_heads=2)
    focus = extractor.explain(batch(size=20)).focus
    assert ((focus > 0).sum(dim=1) <= 2).all() and ((focus > 0).sum(dim=1) >= 1).all()
    assert ((focus > 0).sum(dim=1) == 2).any()  # the heads disagree somewhere: one shared choice would keep 1 part
    torch.testing.assert_close(focus.sum(dim=1), torch.ones(focus.shape[0]))
    shared = build(top_k=1, num_layers=0, num_heads=2)
    assert ((shared.explain(batch(size=20)).focus > 0).sum(dim=1) == 1).all()


def test_top_k_larger_than_the_real_parts_keeps_every_real_part():
    extractor = build(top_k=6, num_layers=0)  # as many as the set holds, 3 of them real
    focus = extractor.explain(batch(present=3)).focus
    assert ((focus > 0).sum(dim=1) == 3).all()
    with pytest.raises(ValueError, match="top_k=10 keeps more parts than the readout has"):
        build(top_k=10, num_layers=0)


def test_latent_cost_has_no_parts_by_parts_matrix():
    """Linear cost: no attention matrix of the latent extractor spans the parts on both axes."""
    space = spaces.Box(-1.0, 1.0, shape=(64, F), dtype=np.float32)
    extractor = LatentAttentionExtractor(space, num_latents=4, num_layers=2, presence_column=-1).eval()
    obs = torch.rand(2, 64, F)
    obs[..., -1] = 1
    with torch.no_grad(), capture_attention(extractor) as layers:
        extractor(obs)
    shapes = [tuple(layer.last_weights.shape) for layer in layers]
    assert (2, 2, 4, 64) in shapes  # latents x parts
    assert all(shape[-2:] != (64, 64) for shape in shapes)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"score": "dot"}, ValueError, "Unknown score function 'dot'"),
        ({"score": "adittive"}, ValueError, "Did you mean 'additive'"),
        ({"pooling": "maxx"}, ValueError, "Unknown pooling 'maxx'.*Valid poolings: query, ego, mean, max, cls"),
        ({"pooling": "clss"}, ValueError, "Did you mean 'cls'"),
        ({"pooling": "cls", "num_layers": 0}, ValueError, "pooling='cls' .* set num_layers >= 1"),
        ({"pooling": "mean", "top_k": 2}, ValueError, "top_k=2 needs an attention readout"),
        ({"pooling": "max", "top_k": 2}, ValueError, "top_k=2 needs an attention readout"),
        ({"top_k": 0}, ValueError, "top_k=0 is invalid"),
        ({"top_k_per_head": True}, ValueError, "top_k_per_head=True needs hard attention: set top_k"),
        ({"top_k": 2, "top_k_per_head": "yes"}, TypeError, "top_k_per_head='yes' must be True or False"),
        ({"num_heads": 3}, ValueError, "embed_dim=16 is not divisible by num_heads=3"),
    ],
)
def test_bad_configurations_raise_with_the_fix(kwargs, error, match):
    with pytest.raises(error, match=match):
        build(**kwargs)


def test_latent_rejects_bad_num_latents():
    with pytest.raises(ValueError, match="num_latents=0 is invalid"):
        build(LatentAttentionExtractor, num_latents=0)


def test_general_score_starts_as_scaled_dot():
    """Luong's bilinear W starts at the identity, so it starts out equal to scaled dot-product attention."""
    torch.manual_seed(0)
    dot = AttentionExtractor(SPACE, presence_column=-1, score="scaled_dot")
    torch.manual_seed(0)
    general = AttentionExtractor(SPACE, presence_column=-1, score="general")
    state = {k: v for k, v in general.state_dict().items() if "bilinear" not in k}
    dot.load_state_dict(state)
    torch.testing.assert_close(general(batch()), dot(batch()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("score", ["scaled_dot", "general"])
@pytest.mark.parametrize("top_k", [None, 2])
@pytest.mark.parametrize("shared", [True, False], ids=["one-query-set", "per-observation-queries"])
def test_folded_readout_equals_the_projected_path(score, top_k, shared):
    from policies.attention import MultiHeadAttention, folds

    torch.manual_seed(0)
    attn = MultiHeadAttention(32, 4, score=score, top_k=top_k).eval()
    keys = torch.randn(5, N, 32)  # (B, N, D)
    mask = torch.ones(5, N, dtype=torch.bool)
    mask[:, 4:] = False  # padding
    mask[0, 1:] = False  # a set with one real part
    queries = torch.randn(1 if shared else 5, 2, 32)  # (1 or B, Q, D): a readout's few queries
    q = attn._split(attn.q_proj(queries))  # (1 or B, H, Q, d_head)
    if score == "general":
        q = q @ attn.bilinear
    with torch.no_grad():
        folded, projected = attn._folded(q, keys, mask), attn._projected(q, keys, mask)
    assert folded.shape == projected.shape == (5, 4, 2, 8)
    torch.testing.assert_close(folded, projected, rtol=0, atol=1e-5)
    assert folds(queries.shape[1], N, attn.embed_dim, shared)  # so forward takes the folded path for these queries
    assert not folds(N, N, attn.embed_dim, shared=False)  # self-attention (a query per key) projects the keys


def test_fused_attention_equals_the_explicit_path_and_differentiates_twice():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 5, 4, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.ones(3, 1, 1, 5, dtype=torch.bool)
    mask[0, ..., 3:] = False
    torch.testing.assert_close(fused_attention(q, k, v, mask), explicit_attention(q, k, v, mask))
    assert torch.autograd.gradcheck(lambda a, b, c: fused_attention(a, b, c, mask), (q, k, v))
    assert torch.autograd.gradgradcheck(lambda a, b, c: fused_attention(a, b, c, mask), (q, k, v))


def test_fused_attention_gives_the_fused_kernels_own_first_order_gradients():
    """Training without a second derivative computes exactly what the plain fused kernel computes."""
    g = torch.Generator().manual_seed(1)
    inputs = [torch.randn(8, 2, 6, 16, generator=g) for _ in range(3)]
    mask = torch.rand(8, 1, 1, 6, generator=g) > 0.3
    mask[..., 0] = True
    weight = torch.randn(8, 2, 6, 16, generator=g)
    grads = []
    for attend in (fused_attention, lambda a, b, c, m: torch.nn.functional.scaled_dot_product_attention(a, b, c, m)):
        leaves = [t.clone().requires_grad_() for t in inputs]
        out = attend(*leaves, mask)
        (out * weight).sum().backward()
        grads.append([out.detach(), *(t.grad for t in leaves)])
    for ours, plain in zip(*grads, strict=True):
        assert torch.equal(ours, plain)


@pytest.mark.parametrize("config", [*CONFIGS[::3], dict(num_layers=2)], ids=str)
def test_every_extractor_differentiates_twice(config):
    """A Hessian-vector product through the extractor (what TRPO computes) runs and reaches the parameters."""
    config = dict(config)
    extractor = build(config.pop("cls", AttentionExtractor), **config).train()
    params = [p for p in extractor.parameters() if p.requires_grad]
    obs = batch()
    grads = torch.autograd.grad(extractor(obs).square().sum(), params, create_graph=True, allow_unused=True)
    product = sum((g * torch.randn_like(g)).sum() for g in grads if g is not None)
    hvp = torch.autograd.grad(product, params, allow_unused=True)
    assert any(h is not None and h.abs().sum() > 0 for h in hvp)
