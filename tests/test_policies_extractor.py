import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO

import envs  # noqa: F401
from policies import EXTRACTORS, AttentionExtractor, attention_report, capture_attention
from policies.attention import MultiHeadAttention

N, F = 6, 5
SPACE = spaces.Box(-1.0, 1.0, shape=(N, F), dtype=np.float32)


def entity_batch(rng, batch=4, n=N, present=None):
    obs = rng.uniform(-1, 1, size=(batch, n, F)).astype(np.float32)
    obs[..., -1] = 1.0  # presence column
    if present is not None:
        obs[:, present:] = 0.0
    return torch.as_tensor(obs)


def make(num_layers=1, **kwargs):
    torch.manual_seed(0)
    return AttentionExtractor(SPACE, num_layers=num_layers, presence_column=-1, **kwargs).eval()


@pytest.mark.parametrize("num_layers", [0, 1, 2])
@pytest.mark.parametrize("features_dim", [16, 64])
def test_output_shape(rng, num_layers, features_dim):
    extractor = make(num_layers, features_dim=features_dim, embed_dim=32, num_heads=4)
    out = extractor(entity_batch(rng, batch=5))
    assert out.shape == (5, features_dim) and extractor.features_dim == features_dim


@pytest.mark.parametrize("num_layers", [0, 1, 2])
def test_permuting_rows_leaves_the_readout_unchanged(rng, num_layers):
    extractor = make(num_layers)
    obs = entity_batch(rng)
    perm = torch.as_tensor(rng.permutation(N))
    torch.testing.assert_close(extractor(obs), extractor(obs[:, perm]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("num_layers", [0, 1])
@pytest.mark.parametrize("presence_column", [-1, None])
def test_padded_rows_have_no_effect(rng, num_layers, presence_column):
    torch.manual_seed(0)
    extractor = AttentionExtractor(SPACE, num_layers=num_layers, presence_column=presence_column).eval()
    obs = entity_batch(rng, present=3)  # rows 3.. are all-zero padding
    small_space = spaces.Box(-1.0, 1.0, shape=(3, F), dtype=np.float32)
    torch.manual_seed(0)
    small = AttentionExtractor(small_space, num_layers=num_layers, presence_column=presence_column).eval()
    torch.testing.assert_close(extractor(obs), small(obs[:, :3]), rtol=1e-5, atol=1e-6)
    # whatever the padding rows hold, a presence of 0 hides them
    if presence_column is not None:
        noisy = obs.clone()
        noisy[:, 3:, :-1] = torch.randn_like(noisy[:, 3:, :-1])
        torch.testing.assert_close(extractor(obs), extractor(noisy), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("num_layers", [0, 1])
def test_fully_padded_observation_gives_finite_features(num_layers):
    extractor = make(num_layers)
    out = extractor(torch.zeros(3, N, F))
    assert torch.isfinite(out).all()
    out.sum().backward()  # and finite gradients
    assert all(torch.isfinite(p.grad).all() for p in extractor.parameters() if p.grad is not None)


def test_non_finite_observation_raises_naming_the_part(rng):
    obs = entity_batch(rng)
    obs[2, 4, 1] = float("nan")
    with pytest.raises(ValueError, match=r"Observation 2 .* nan in part 'entity_4'"):
        make()(obs)
    obs[2, 4, 1] = float("inf")
    with pytest.raises(ValueError, match="inf in part 'entity_4'"):
        make()(obs)


def test_capture_is_off_outside_the_context(rng):
    extractor = make()
    layers = [m for m in extractor.modules() if isinstance(m, MultiHeadAttention)]
    extractor(entity_batch(rng))
    assert all(layer.last_weights is None and not layer.capture for layer in layers)
    obs = entity_batch(rng, batch=2, present=4)
    with capture_attention(extractor) as captured:
        explicit = extractor(obs)
    assert [layer.last_weights.shape for layer in captured] == [(2, 2, N, N), (2, 2, 1, N)]
    assert not any(layer.capture for layer in layers)
    # the explicit path computes the same features as the fused one
    torch.testing.assert_close(extractor(obs), explicit, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"embed_dim": 30, "num_heads": 4},
            ValueError,
            r"embed_dim=30 is not divisible by num_heads=4.*embed_dim=28 or 32",
        ),
        ({"num_heads": 0}, ValueError, "num_heads=0"),
        ({"features_dim": 0}, ValueError, "features_dim=0"),
        ({"num_layers": -1}, ValueError, "num_layers=-1"),
        ({"presence_column": 9}, ValueError, "presence_column=9"),
        ({"tokenizer": "entitty"}, ValueError, "Did you mean 'entity'"),
        ({"mlp_ratio": 0}, ValueError, "mlp_ratio=0"),
    ],
)
def test_bad_configuration_raises_with_the_fix(kwargs, error, match):
    with pytest.raises(error, match=match):
        AttentionExtractor(SPACE, **kwargs)


@pytest.mark.parametrize(
    "space",
    [
        spaces.MultiBinary(4),
        spaces.Box(0, 1, shape=(2, 3, 4, 5)),
        spaces.Discrete(3),
    ],
)
def test_unsupported_space_raises_naming_it(space):
    with pytest.raises(TypeError, match="No tokenizer supports the observation space"):
        AttentionExtractor(space)


def test_registry_lookup_and_suggestion():
    assert EXTRACTORS.get("Attention") is AttentionExtractor
    assert EXTRACTORS.get("mlp") is None
    with pytest.raises(ValueError, match=r"Unknown extractor 'atention'\. Did you mean 'attention'"):
        EXTRACTORS.get("atention")


def ppo_on_find_target(num_layers=0, ortho_init=True):
    env = gym.make("attn/FindTarget-v0", n_entities=N, min_entities=3)
    return PPO(
        "MlpPolicy",
        env,
        n_steps=64,
        batch_size=32,
        seed=0,
        device="cpu",
        policy_kwargs=dict(
            features_extractor_class=AttentionExtractor,
            ortho_init=ortho_init,
            features_extractor_kwargs=dict(num_layers=num_layers, presence_column=-1),
        ),
    )


def observations(n=16, seed=0):
    env = gym.make("attn/FindTarget-v0", n_entities=N, min_entities=3)
    obs, rel = zip(*(env.reset(seed=seed + i) for i in range(n)), strict=True)
    return np.stack(obs), [info["relevant_parts"] for info in rel]


@pytest.mark.parametrize("num_layers", [0, 1])
def test_attention_report(num_layers):
    model = ppo_on_find_target(num_layers)
    obs, relevant = observations()
    report = attention_report(model, obs, method="readout")
    assert report.part_names == [f"entity_{i}" for i in range(N)]
    assert report.focus.shape == (16, N)
    np.testing.assert_allclose(report.focus.sum(axis=1), 1.0, rtol=1e-5)
    assert report.weights.shape == (16, 2, 1, N)
    assert len(report.layers) == num_layers + 1
    assert ((report.entropy >= 0) & (report.entropy <= 1 + 1e-6)).all()
    assert (report.focus[~report.mask] < 1e-6).all()  # padding gets no focus
    mass = report.relevant_mass(relevant)
    assert mass.shape == (16,) and ((mass >= 0) & (mass <= 1 + 1e-6)).all()
    assert np.isnan(report.relevant_mass([None] * 16)).all()
    single = attention_report(model, obs[0], method="readout")  # one observation reads as a batch of one
    np.testing.assert_allclose(single.focus[0], report.focus[0], rtol=1e-5)


def test_attention_report_needs_an_attention_policy():
    model = PPO("MlpPolicy", gym.make("attn/FindTarget-v0"), n_steps=64, device="cpu")
    with pytest.raises(TypeError, match=r"has no AttentionExtractor.*features_extractor_class=AttentionExtractor"):
        attention_report(model, observations()[0], method="readout")


def test_entropy_is_zero_for_one_hot_and_one_for_uniform():
    from policies.report import normalized_entropy

    mask = np.ones((2, 4), dtype=bool)
    focus = np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]])
    np.testing.assert_allclose(normalized_entropy(focus, mask), [0.0, 1.0], atol=1e-9)


def test_ppo_ortho_init_reaches_the_extractor_and_is_kept_on_purpose():
    """SB3's ortho_init re-initialises every nn.Linear in the extractor (attention projections too).

    We keep it: orthogonal weights with gain sqrt(2) keep token norms stable and, with the small learned
    query and the LayerNorm before the readout, the initial focus stays near uniform (no part is favoured
    before learning). This test pins both facts.
    """
    model = ppo_on_find_target(num_layers=1, ortho_init=True)
    extractor = model.policy.features_extractor
    for module in (extractor.readout.attn.q_proj, extractor.blocks[0].attn.kv_proj, extractor.head[0]):
        w = module.weight.detach()
        rows, cols = w.shape
        gram = w @ w.T if rows <= cols else w.T @ w
        torch.testing.assert_close(gram, 2.0 * torch.eye(min(rows, cols)), rtol=1e-4, atol=1e-4)
        assert (module.bias == 0).all()
    report = attention_report(model, observations()[0], method="readout")
    assert report.entropy.min() > 0.9
    default = ppo_on_find_target(num_layers=1, ortho_init=False).policy.features_extractor
    gram = default.readout.attn.q_proj.weight.detach() @ default.readout.attn.q_proj.weight.detach().T
    assert not torch.allclose(gram, 2.0 * torch.eye(gram.shape[0]), atol=1e-2)


def test_ppo_trains_and_save_load_gives_identical_actions(tmp_path):
    model = ppo_on_find_target(num_layers=1)
    model.learn(128)
    model.save(tmp_path / "m.zip")
    loaded = PPO.load(tmp_path / "m.zip", device="cpu")
    obs, _ = observations(32)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
