"""Focus methods: readout, attention rollout and the causal focus, and the faithfulness scores."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from torch import nn

from policies import (
    FOCUS_METHODS,
    AttentionExtractor,
    LatentAttentionExtractor,
    attention_report,
    causal_effects,
    find_attention_extractor,
    focus_reports,
)
from policies.causal import part_groups
from policies.faithfulness import average_ranks, faithfulness_scores, spearman

METHODS = FOCUS_METHODS.names()


class MarkedRowEnv(gym.Env):
    """Entity rows ``(marker, value, presence)``; one row is marked. Used only to build policies."""

    def __init__(self, n_rows=5, action_space=None):
        super().__init__()
        self.observation_space = spaces.Box(-10.0, 10.0, (n_rows, 3), np.float32)
        self.action_space = action_space or spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


def marked_rows(rng, batch=16, n_rows=5, padded=()):
    """Observations with one random row marked; rows in ``padded`` are padding (presence 0)."""
    obs = np.zeros((batch, n_rows, 3), np.float32)
    obs[..., 1] = rng.normal(size=(batch, n_rows))
    obs[..., 2] = 1.0
    obs[:, list(padded), :] = 0.0
    real = [i for i in range(n_rows) if i not in padded]
    marked = rng.choice(real, size=batch)
    obs[np.arange(batch), marked, 0] = 1.0
    return obs, marked


def one_row_policy(action_space=None, ignore=False):
    """A PPO whose readout attends only to the marked row, so its action depends on that row alone.

    Tokens are ``(100 * marker, value, 0, ...)``; the learned query scores the marker (a softmax margin of
    ~35 nats), the values pass through unchanged and the action head reads them. With ``ignore`` the action
    head is zero: the policy ignores its observation.
    """
    kwargs = dict(num_layers=0, embed_dim=8, num_heads=1, features_dim=8, presence_column=-1)
    model = PPO(
        "MlpPolicy",
        MarkedRowEnv(action_space=action_space),
        policy_kwargs=dict(features_extractor_class=AttentionExtractor, features_extractor_kwargs=kwargs, net_arch=[]),
        device="cpu",
    )
    extractor = find_attention_extractor(model)
    with torch.no_grad():
        embed = nn.Linear(3, 8)
        embed.weight.zero_(), embed.bias.zero_()
        embed.weight[0, 0], embed.weight[1, 1] = 100.0, 1.0
        extractor.tokenizer.embed = embed
        extractor.norm = nn.Identity()
        attn = extractor.readout.attn
        for linear in (attn.q_proj, attn.out_proj):
            linear.weight.copy_(torch.eye(8)), linear.bias.zero_()
        attn.kv_proj.weight.copy_(torch.cat([torch.eye(8), torch.eye(8)])), attn.kv_proj.bias.zero_()
        extractor.readout.query.copy_(torch.nn.functional.one_hot(torch.tensor([[0]]), 8).float())
        extractor.head[0].weight.copy_(torch.eye(8)), extractor.head[0].bias.zero_()
        extractor.head[0].bias[1] = 5.0  # the value survives the ReLU
        head = model.policy.action_net
        head.weight.normal_(0.0, 0.0 if ignore else 1.0), head.bias.zero_()
        head.weight[:, 0] = 0.0  # the marker itself says nothing: the action reads the marked row's value
        if hasattr(model.policy, "log_std"):
            model.policy.log_std.zero_()
    return model


@pytest.mark.parametrize(
    "action_space", [spaces.Discrete(3), spaces.Box(-1.0, 1.0, (2,), np.float32)], ids=["discrete", "box"]
)
def test_causal_finds_the_one_part_the_action_depends_on(action_space):
    rng = np.random.default_rng(0)
    obs, marked = marked_rows(rng)
    report = attention_report(one_row_policy(action_space), obs, method="causal")
    assert report.method == "causal"
    assert (report.focus[np.arange(len(obs)), marked] >= 0.99).all()
    np.testing.assert_allclose(report.focus.sum(axis=1), 1.0, atol=1e-6)
    # num_layers=0: the readout looks where the policy reads, and rollout is exactly the readout
    readout, rollout = (attention_report(one_row_policy(action_space), obs, method=m) for m in ("readout", "rollout"))
    assert (readout.focus[np.arange(len(obs)), marked] >= 0.99).all()
    np.testing.assert_array_equal(rollout.focus, readout.focus)
    scores = readout.faithfulness()
    assert scores["deletion_ratio"] == np.inf  # removing the read row moves the policy; the others do not
    assert scores["spearman"] > 0.5


def test_a_policy_that_ignores_its_observation_gets_a_uniform_causal_focus():
    rng = np.random.default_rng(1)
    obs, _ = marked_rows(rng, padded=(4,))
    report = attention_report(one_row_policy(ignore=True), obs, method="causal")
    assert np.isfinite(report.focus).all()
    np.testing.assert_allclose(report.focus[:, :4], 0.25)  # uniform over the 4 real rows
    assert (report.focus[:, 4] == 0).all()  # padding gets nothing
    assert (report.effects == 0).all()
    ignoring = attention_report(one_row_policy(ignore=True), obs, method="readout")
    assert np.isnan(ignoring.faithfulness()["deletion_ratio"])


def extractor_model(extractor_cls=AttentionExtractor, seed=0, **kwargs):
    env = MarkedRowEnv(n_rows=6)
    kwargs = {"embed_dim": 16, "num_heads": 2, "features_dim": 16, "presence_column": -1, **kwargs}
    policy_kwargs = dict(features_extractor_class=extractor_cls, features_extractor_kwargs=kwargs, net_arch=[16])
    return PPO("MlpPolicy", env, policy_kwargs=policy_kwargs, seed=seed, device="cpu")


EXTRACTORS = [
    pytest.param(AttentionExtractor, {"num_layers": 0}, id="layers0"),
    pytest.param(AttentionExtractor, {"num_layers": 2}, id="layers2"),
    pytest.param(AttentionExtractor, {"num_layers": 1, "pooling": "cls"}, id="cls"),
    pytest.param(AttentionExtractor, {"num_layers": 1, "pooling": "ego", "ego": True}, id="ego"),
    pytest.param(AttentionExtractor, {"num_layers": 1, "pooling": "mean"}, id="mean"),
    pytest.param(AttentionExtractor, {"num_layers": 1, "pooling": "max"}, id="max"),
    pytest.param(AttentionExtractor, {"num_layers": 1, "top_k": 2}, id="top_k"),
    pytest.param(LatentAttentionExtractor, {"num_layers": 1, "num_latents": 3}, id="latent"),
]


@pytest.mark.parametrize(("extractor_cls", "kwargs"), EXTRACTORS)
def test_every_method_is_a_distribution_over_real_parts(extractor_cls, kwargs):
    rng = np.random.default_rng(2)
    obs, _ = marked_rows(rng, n_rows=6, padded=(2, 5))
    reports = focus_reports(extractor_model(extractor_cls, **kwargs), obs, METHODS)
    assert list(reports) == METHODS
    for method, report in reports.items():
        assert report.method == method
        assert np.isfinite(report.focus).all() and (report.focus >= 0).all()
        np.testing.assert_allclose(report.focus.sum(axis=1), 1.0, atol=1e-5)
        ego_row = kwargs.get("ego", False)
        assert (report.focus[:, 5] == 0).all() and (ego_row or (report.focus[:, 2] == 0).all())
        assert np.isfinite(report.entropy).all()


@pytest.mark.parametrize(("extractor_cls", "kwargs"), EXTRACTORS)
def test_permuting_rows_permutes_every_focus(extractor_cls, kwargs):
    if kwargs.get("ego"):
        pytest.skip("ego pooling reads row 0 as the observer: rows are not exchangeable")
    rng = np.random.default_rng(3)
    obs, _ = marked_rows(rng, n_rows=6, padded=(4,))
    permutation = np.array([3, 0, 5, 1, 4, 2])
    model = extractor_model(extractor_cls, **kwargs)
    before = focus_reports(model, obs, METHODS)
    after = focus_reports(model, obs[:, permutation], METHODS)
    for method in METHODS:  # causal: KLs of ~1e-8 from an untrained head carry float32 noise of the forward pass
        rtol = 5e-3 if method == "causal" else 1e-5
        np.testing.assert_allclose(after[method].focus, before[method].focus[:, permutation], rtol=rtol, atol=1e-5)


@pytest.mark.parametrize(("extractor_cls", "kwargs"), EXTRACTORS)
def test_an_all_padding_set_stays_finite(extractor_cls, kwargs):
    obs = np.zeros((2, 6, 3), np.float32)
    for report in focus_reports(extractor_model(extractor_cls, **kwargs), obs, METHODS).values():
        assert np.isfinite(report.focus).all()
        np.testing.assert_allclose(report.focus.sum(axis=1), 1.0, atol=1e-6)


def test_rollout_equals_readout_without_blocks_and_differs_with_them():
    rng = np.random.default_rng(4)
    obs, _ = marked_rows(rng, n_rows=6)
    flat = focus_reports(extractor_model(num_layers=0), obs, ["readout", "rollout"])
    np.testing.assert_array_equal(flat["rollout"].focus, flat["readout"].focus)
    deep = focus_reports(extractor_model(num_layers=2), obs, ["readout", "rollout"])
    assert not np.allclose(deep["rollout"].focus, deep["readout"].focus)


def test_rollout_by_hand_for_one_block():
    rng = np.random.default_rng(5)
    obs, _ = marked_rows(rng, batch=4, n_rows=6)
    report = attention_report(extractor_model(num_layers=1), obs, method="rollout")
    block, readout = report.layers[0].mean(axis=1), report.layers[1].mean(axis=(1, 2))  # (B, N, N), (B, N)
    expected = np.einsum("bn,bnm->bm", readout, 0.5 * block + 0.5 * np.eye(6))
    np.testing.assert_allclose(report.focus, expected, atol=1e-6)


def test_causal_effects_are_batched_and_grouped_beyond_the_cap():
    rng = np.random.default_rng(6)
    obs, _ = marked_rows(rng, batch=3, n_rows=6)
    model = extractor_model(num_layers=1)
    policy, extractor = model.policy, find_attention_extractor(model)
    tensor, _ = policy.obs_to_tensor(obs)
    mask = torch.ones(3, 6, dtype=torch.bool)
    single = causal_effects(policy, extractor, tensor, mask)
    grouped = causal_effects(policy, extractor, tensor, mask, max_parts=3)  # pairs of rows removed together
    assert single.shape == grouped.shape == (3, 6)
    np.testing.assert_allclose(grouped[:, 0], grouped[:, 1])  # a pair shares its effect evenly
    assert not torch.allclose(single, grouped)
    with pytest.raises(ValueError, match="max_parts=0 is invalid"):
        causal_effects(policy, extractor, tensor, mask, max_parts=0)


def test_part_groups_for_patch_grids_are_square_blocks():
    groups = part_groups(16, (4, 4), max_parts=4)
    assert groups.shape == (4, 16) and groups.sum(dim=1).tolist() == [4, 4, 4, 4]
    assert groups[0].reshape(4, 4)[:2, :2].all()  # the top-left 2x2 block
    assert part_groups(5, None, max_parts=8).equal(torch.eye(5, dtype=torch.bool))


def test_bad_method_names_say_the_fix():
    model = extractor_model()
    obs, _ = marked_rows(np.random.default_rng(7))
    with pytest.raises(ValueError, match=r"Unknown focus method 'casual'\. Did you mean 'causal'"):
        attention_report(model, obs[:, :6], method="casual")


def test_spearman_and_average_ranks():
    np.testing.assert_array_equal(average_ranks(np.array([0.3, 0.0, 0.0, 0.9])), [2.0, 0.5, 0.5, 3.0])
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert np.isnan(spearman(np.array([1.0, 1.0]), np.array([1.0, 2.0])))


def test_faithfulness_scores():
    mask = np.array([[True, True, True, False]] * 2)
    effects = np.array([[4.0, 1.0, 0.0, 0.0], [0.0, 2.0, 6.0, 0.0]])
    focus = np.array([[0.7, 0.2, 0.1, 0.0], [0.1, 0.3, 0.6, 0.0]])
    scores = faithfulness_scores(focus, effects, mask)
    assert scores["spearman"] == pytest.approx(1.0)
    assert scores["deletion_ratio"] == pytest.approx(((4 + 6) / 2) / ((0.5 + 1.0) / 2))
    backwards = faithfulness_scores(focus[:, [2, 1, 0, 3]], effects, mask)
    assert backwards["spearman"] == pytest.approx(-1.0) and backwards["deletion_ratio"] < 1


SPACES = {
    "entity": (spaces.Box(-1.0, 1.0, (5, 4), np.float32), {"presence_column": -1}),
    "features": (spaces.Box(-1.0, 1.0, (6,), np.float32), {}),
    "patch": (spaces.Box(0, 255, (16, 16, 3), np.uint8), {"patch_size": 4}),
    "dict": (
        spaces.Dict({"pos": spaces.Box(-1.0, 1.0, (3,), np.float32), "set": spaces.Box(-1.0, 1.0, (4, 3), np.float32)}),
        {},
    ),
    "time": (spaces.Box(-1.0, 1.0, (6, 3), np.float32), {"tokenizer": "time"}),
    "conv": (spaces.Box(0, 255, (24, 24, 3), np.uint8), {"tokenizer": "conv", "stem": "small"}),
    "conv_dict": (
        spaces.Dict(
            {"pos": spaces.Box(-1.0, 1.0, (3,), np.float32), "image": spaces.Box(0, 255, (3, 16, 16), np.uint8)}
        ),
        {"image_tokenizer": "conv", "stem": "small"},
    ),
}
POOLINGS = {
    "query": {},
    "ego": {"pooling": "ego"},
    "mean": {"pooling": "mean"},
    "max": {"pooling": "max"},
    "cls": {"pooling": "cls"},
    "top_k": {"top_k": 2},
    "latent": {"num_latents": 3},
    "lean": {"lean": True},
    "lean-ego-top_k": {"lean": True, "pooling": "ego", "top_k": 2},
    "top_k-per-head": {"top_k": 1, "top_k_per_head": True},
}


@pytest.mark.parametrize("pooling", list(POOLINGS))
@pytest.mark.parametrize("kind", list(SPACES))
def test_every_tokenizer_and_readout_reports_every_method(kind, pooling):
    space, kwargs = SPACES[kind]
    extra = dict(POOLINGS[pooling])
    extractor_cls = LatentAttentionExtractor if pooling == "latent" else AttentionExtractor
    env = MarkedRowEnv()
    env.observation_space = space
    kwargs = {"embed_dim": 8, "num_heads": 2, "features_dim": 8, "num_layers": 1, **kwargs, **extra}
    model = PPO(
        "MultiInputPolicy" if kind.endswith("dict") else "MlpPolicy",
        env,
        policy_kwargs=dict(features_extractor_class=extractor_cls, features_extractor_kwargs=kwargs, net_arch=[8]),
        device="cpu",
    )
    space.seed(0)
    samples = [space.sample() for _ in range(3)]
    obs = {k: np.stack([s[k] for s in samples]) for k in space.spaces} if kind.endswith("dict") else np.stack(samples)
    for method, report in focus_reports(model, obs, METHODS).items():
        assert report.method == method and report.focus.shape == (3, len(report.part_names))
        np.testing.assert_allclose(report.focus.sum(axis=1), 1.0, atol=1e-5)
        assert set(report.faithfulness()) == {"spearman", "deletion_ratio"}


@pytest.mark.parametrize(
    "action_space",
    [spaces.MultiDiscrete([2, 3]), spaces.MultiBinary(3), spaces.Box(-1.0, 1.0, (2,), np.float32)],
    ids=["multidiscrete", "multibinary", "box"],
)
@pytest.mark.parametrize("masked", [False, True], ids=["ppo", "maskable"])
def test_causal_reads_every_action_distribution(action_space, masked):
    from sb3_contrib import MaskablePPO

    if masked and isinstance(action_space, spaces.Box):
        pytest.skip("MaskablePPO takes discrete actions only")
    env = MarkedRowEnv(action_space=action_space)
    kwargs = {"embed_dim": 8, "num_heads": 2, "presence_column": -1}
    cls = MaskablePPO if masked else PPO
    model = cls(
        "MlpPolicy",
        env,
        policy_kwargs=dict(features_extractor_class=AttentionExtractor, features_extractor_kwargs=kwargs),
        device="cpu",
    )
    obs, _ = marked_rows(np.random.default_rng(8), batch=4)
    report = attention_report(model, obs, method="causal")
    assert (report.effects.sum(axis=1) > 0).all() and np.isfinite(report.focus).all()
