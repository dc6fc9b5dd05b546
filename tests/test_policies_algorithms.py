"""Every extractor and tokenizer trains with the SB3 and sb3-contrib algorithms, and survives save -> load.

Budgets are tiny (256 env steps on-policy, 128 off-policy): these tests check that everything builds,
gradients reach the extractor, a saved model loads back to the same deterministic actions, and
``attention_report`` reads every policy.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from sb3_contrib import QRDQN, TQC, TRPO, MaskablePPO, RecurrentPPO
from sb3_contrib.common.wrappers import ActionMasker
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from stable_baselines3.common.env_checker import check_env

from agents import ALGORITHMS
from agents.trxl import TrXLPPO
from policies import (
    EXTRACTORS,
    FOCUS_METHODS,
    AttentionExtractor,
    attention_report,
    find_attention_extractor,
    focus_reports,
)

#: Enough training for several updates of every parameter (on-policy: two 32-step rollouts, 2 epochs of 2 minibatches,
#: TRPO one rollout of its 256 steps; off-policy: an update every 4 steps), which is all the matrix checks.
STEPS = 64
BATCH = 5


class SpaceEnv(gym.Env):
    """Random observations from ``observation_space``, a small random reward, ``episode_length`` steps."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, observation_space, action_space, episode_length=16):
        super().__init__()
        self.observation_space = observation_space
        self.action_space = action_space
        self.episode_length = episode_length
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(int(self.np_random.integers(2**31 - 1)))
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self._t += 1
        reward = float(self.np_random.uniform(-0.1, 0.1))
        return self.observation_space.sample(), reward, self._t >= self.episode_length, False, {}


# One observation kind per tokenizer: a fresh space (seeding mutates it) and the extractor kwargs it needs.
KINDS = {
    "entity": (lambda: spaces.Box(-1.0, 1.0, (5, 4), np.float32), {"presence_column": -1}),
    "features": (lambda: spaces.Box(-1.0, 1.0, (6,), np.float32), {}),
    "patch": (lambda: spaces.Box(0, 255, (16, 16, 3), np.uint8), {"patch_size": 4}),  # channel-last
    "dict": (
        lambda: spaces.Dict(
            {
                "pos": spaces.Box(-1.0, 1.0, (3,), np.float32),
                "entities": spaces.Box(-1.0, 1.0, (4, 3), np.float32),
                "mode": spaces.Discrete(3),
            }
        ),
        {},
    ),
    "time": (lambda: spaces.Box(-1.0, 1.0, (6, 3), np.float32), {"tokenizer": "time"}),
    "conv": (lambda: spaces.Box(0, 255, (3, 16, 16), np.uint8), {"tokenizer": "conv", "stem": "small"}),  # chw
}
# Parts each kind is cut into: entity rows, features, 4 x 4 patches, pos + 4 entities + mode, time steps, 2 x 2 cells.
NUM_PARTS = {"entity": 5, "features": 6, "patch": 16, "dict": 6, "time": 6, "conv": 4}
# The named extractors fix the tokenizer; each reads one kind.
NAMED = {"entity": "entity", "features": "features", "patch": "patch", "time": "time", "conv": "conv"}

ACTIONS = {
    "discrete": lambda: spaces.Discrete(3),
    "box": lambda: spaces.Box(-1.0, 1.0, (2,), np.float32),
}

ON_POLICY = {"n_epochs": 2, "n_steps": 32, "batch_size": 16}
# One update every 4 steps: 32 updates reach the extractor as surely as 128, at a quarter of the cost.
OFF_POLICY = {"learning_starts": 0, "buffer_size": 500, "batch_size": 16, "train_freq": 4, "gradient_steps": 1}
# name: (class, constructor kwargs, extra policy kwargs, action kinds it takes)
ALGOS = {
    "PPO": (PPO, ON_POLICY, {}, ("discrete", "box")),
    "A2C": (A2C, {"n_steps": 8}, {}, ("discrete", "box")),
    # TRPO differentiates twice (a Hessian-vector product of the KL): the attention kernel must allow it. One update of
    # 2 conjugate-gradient steps, each a Hessian-vector product through the extractor (TRPO's costly part).
    "TRPO": (
        TRPO,
        {"n_steps": 256, "batch_size": 64, "n_critic_updates": 1, "cg_max_steps": 2},
        {},
        ("discrete", "box"),
    ),
    "MaskablePPO": (MaskablePPO, ON_POLICY, {}, ("discrete",)),
    "RecurrentPPO": (RecurrentPPO, ON_POLICY, {"lstm_hidden_size": 16}, ("discrete", "box")),
    # Box actions: tests/test_agents_trxl.py (with SB3's Flatten extractor).
    "TrXLPPO": (TrXLPPO, {**ON_POLICY, "n_epochs": 1}, {"memory_length": 4, "memory_dim": 16}, ("discrete",)),
    "DQN": (DQN, OFF_POLICY, {}, ("discrete",)),
    "QRDQN": (QRDQN, OFF_POLICY, {"n_quantiles": 8}, ("discrete",)),
    "SAC": (SAC, OFF_POLICY, {}, ("box",)),
    "TD3": (TD3, OFF_POLICY, {}, ("box",)),
    "DDPG": (DDPG, OFF_POLICY, {}, ("box",)),
    "TQC": (TQC, OFF_POLICY, {"n_quantiles": 5}, ("box",)),
}
#: The rows that stay in the fast tier (``-m "not slow"``): one on-policy and one off-policy algorithm, the entity kind.
FAST = {"PPO-discrete-entity", "SAC-box-entity", "latent-entity"}


def row(*values, id):
    """A matrix row; every row but the ``FAST`` ones is marked ``slow``."""
    return pytest.param(*values, id=id, marks=() if id in FAST else pytest.mark.slow)


ALGO_ACTIONS = [row(algo, action, id=f"{algo}-{action}") for algo in ALGOS for action in ALGOS[algo][3]]


def policy_name(algo, kind):
    prefix = "MultiInput" if kind == "dict" else "Mlp"
    infix = {"RecurrentPPO": "Lstm", "TrXLPPO": "TrXL"}.get(algo, "")
    return f"{prefix}{infix}Policy"


def extractor_kwargs(extractor, kind):
    kwargs = {"embed_dim": 16, "num_heads": 2, "features_dim": 16, **KINDS[kind][1]}
    if extractor in NAMED:
        kwargs.pop("tokenizer", None)  # the named extractor sets it
    if extractor == "latent":
        kwargs["num_latents"] = 4
    return kwargs


def observation_batch(kind, n=BATCH, seed=123):
    space = KINDS[kind][0]()
    space.seed(seed)
    samples = [space.sample() for _ in range(n)]
    if kind == "dict":
        return {key: np.stack([s[key] for s in samples]) for key in space.spaces}
    return np.stack(samples)


def predict(model, obs):
    if isinstance(model, (RecurrentPPO, TrXLPPO)):
        actions, _ = model.predict(obs, state=None, episode_start=np.ones(BATCH, dtype=bool), deterministic=True)
    else:
        actions, _ = model.predict(obs, deterministic=True)
    return actions


def check_report(model, obs, kind):
    """Every focus method reads the policy: a distribution over the named parts (the causal one from its actions)."""
    reports = focus_reports(model, obs, FOCUS_METHODS.names())
    for report in reports.values():
        assert report.focus.shape == (BATCH, len(report.part_names)) == (BATCH, NUM_PARTS[kind])
        assert np.isfinite(report.focus).all() and (report.focus >= 0).all()
        np.testing.assert_allclose(report.focus.sum(axis=1), 1.0, atol=1e-5)
        assert report.mask.shape == report.focus.shape
        assert report.grid == {"patch": (4, 4), "conv": (2, 2)}.get(kind)
    effects = reports["causal"].effects
    assert effects.shape == (BATCH, NUM_PARTS[kind]) and np.isfinite(effects).all() and (effects >= 0).all()
    assert effects.sum() > 0  # the removal reached the extractor the actor reads through
    np.testing.assert_array_equal(attention_report(model, obs).focus, reports["causal"].focus)  # the default
    return reports["readout"]


def actor_and_critic_extractors(policy):
    if hasattr(policy, "pi_features_extractor"):  # ActorCriticPolicy (PPO, A2C, TRPO, RecurrentPPO, TrXLPPO)
        return policy.pi_features_extractor, policy.vf_features_extractor
    return policy.actor.features_extractor, policy.critic.features_extractor  # SAC, TD3, DDPG, TQC


def check_extractors(model, extractor_cls, share=None):
    """Actor and critic each read an ``extractor_cls``: one shared module or two (as ``share`` asks, else the
    algorithm's default); the extractor the focus methods find is the actor's."""
    if not hasattr(model.policy, "share_features_extractor"):  # DQN, QRDQN: one Q-network
        assert type(find_attention_extractor(model)) is extractor_cls
        return
    if share is not None:
        assert model.policy.share_features_extractor is share
    actor, critic = actor_and_critic_extractors(model.policy)
    assert type(actor) is extractor_cls and type(critic) is extractor_cls
    assert (actor is critic) is model.policy.share_features_extractor
    assert find_attention_extractor(model) is actor


def train_save_load(tmp_path, algo, kind, action, extractor="attention", share=None):
    """Train ``algo`` for a few steps, check the extractor learned, and that save -> load changes nothing."""
    cls, algo_kwargs, extra_policy_kwargs, _ = ALGOS[algo]
    extractor_cls = EXTRACTORS.get(extractor)
    policy_kwargs = {
        "features_extractor_class": extractor_cls,
        "features_extractor_kwargs": extractor_kwargs(extractor, kind),
        "net_arch": [16],
        **extra_policy_kwargs,
    }
    if share is not None:
        policy_kwargs["share_features_extractor"] = share
    env = SpaceEnv(KINDS[kind][0](), ACTIONS[action]())
    if cls is MaskablePPO:
        env = ActionMasker(env, lambda e: np.ones(e.action_space.n, dtype=bool))
    model = cls(policy_name(algo, kind), env, policy_kwargs=policy_kwargs, seed=0, device="cpu", **algo_kwargs)

    module = find_attention_extractor(model)
    assert type(module) is extractor_cls
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    model.learn(STEPS)
    changed = [name for name, p in module.named_parameters() if not torch.equal(p, before[name])]
    assert changed, f"{algo} did not update any parameter of the {extractor} extractor"

    obs = observation_batch(kind)
    actions = predict(model, obs)
    assert actions.shape[0] == BATCH and all(model.action_space.contains(a) for a in actions)
    report = check_report(model, obs, kind)

    path = tmp_path / "model.zip"
    model.save(path)
    loaded = cls.load(path, device="cpu")
    for m in (model, loaded):
        check_extractors(m, extractor_cls, share)
    np.testing.assert_array_equal(predict(loaded, obs), actions)
    np.testing.assert_array_equal(check_report(loaded, obs, kind).focus, report.focus)
    return model, loaded


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_space_env_is_valid_for_sb3(kind, action):
    env = SpaceEnv(KINDS[kind][0](), ACTIONS[action](), episode_length=3)
    check_env(env, warn=False, skip_render_check=True)
    first, _ = env.reset(seed=1)
    again, _ = SpaceEnv(KINDS[kind][0](), ACTIONS[action](), episode_length=3).reset(seed=1)
    np.testing.assert_equal(first, again)  # observations are seeded by reset
    for step in range(3):
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert abs(reward) <= 0.1 and terminated == (step == 2) and not truncated


def test_the_algorithm_matrix_covers_the_registry():
    assert {cls for cls, *_ in ALGOS.values()} == {entry.cls for _, entry in ALGORITHMS.items()}


def test_the_extractor_matrix_covers_the_registry():
    registered = {name for name, cls in EXTRACTORS.items() if cls is not None}
    assert registered == {"attention", "latent", *NAMED, "grid_cnn"}  # grid_cnn: tests/test_envs_highway_grid.py
    assert all(issubclass(EXTRACTORS.get(name), AttentionExtractor) for name in registered - {"grid_cnn"})


# "attention" on every kind trains with PPO (box actions) in test_every_algorithm_trains_with_attention.
EXTRACTOR_KINDS = [
    *(row("latent", kind, id=f"latent-{kind}") for kind in KINDS),
    *(row(extractor, kind, id=f"{extractor}-{kind}") for extractor, kind in NAMED.items()),
]


@pytest.mark.parametrize(("extractor", "kind"), EXTRACTOR_KINDS)
def test_every_extractor_and_tokenizer_trains_with_ppo(tmp_path, extractor, kind):
    train_save_load(tmp_path, "PPO", kind, "box", extractor=extractor)


# DDPG is TD3's update with one critic and MaskablePPO is PPO's with masks: one kind each is enough. TRPO's second
# derivative goes through every tokenizer in test_every_tokenizer_differentiates_twice, at a fraction of its cost.
ONE_KIND = {"DDPG", "MaskablePPO", "TRPO"}
# What an algorithm does differently per kind is how it stores and preprocesses the observation: a float Box, a
# channel-last and a channel-first uint8 image, a Dict. "features" and "time" are float Boxes like "entity" (they
# differ in the tokenizer, which every kind exercises with PPO here and with the latent and named extractors).
STORAGE_KINDS = ["entity", "patch", "conv", "dict"]
ALGO_ACTION_KINDS = [
    row(algo, action, kind, id=f"{algo}-{action}-{kind}")
    for algo in ALGOS
    for action in ALGOS[algo][3]
    for kind in (["entity"] if algo in ONE_KIND else list(KINDS) if algo == "PPO" else STORAGE_KINDS)
]


@pytest.mark.parametrize(("algo", "action", "kind"), ALGO_ACTION_KINDS)
def test_every_algorithm_trains_with_attention(tmp_path, algo, action, kind):
    train_save_load(tmp_path, algo, kind, action)


@pytest.mark.parametrize(("algo", "action"), ALGO_ACTIONS)
def test_every_algorithm_trains_with_latent_attention(tmp_path, algo, action):
    train_save_load(tmp_path, algo, "entity", action, extractor="latent")


# The default sharing (actor-critic policies share one extractor, SAC/TD3/TQC keep two) is checked on every model of
# the matrices above; here each algorithm with an actor and a critic gets the other setting.
SHARE_NOT_DEFAULT = [("PPO", "discrete", False), ("A2C", "box", False), ("RecurrentPPO", "discrete", False)]
SHARE_NOT_DEFAULT += [("SAC", "box", True), ("TD3", "box", True), ("TQC", "box", True)]


@pytest.mark.parametrize("kind", ["entity", "patch"])
@pytest.mark.parametrize(
    ("algo", "action", "share"),
    [row(*r, id=f"{r[0]}-{'shared' if r[2] else 'separate'}") for r in SHARE_NOT_DEFAULT],
)
def test_share_features_extractor(tmp_path, algo, action, kind, share):
    train_save_load(tmp_path, algo, kind, action, share=share)  # check_extractors: as asked, for both models


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_tokenizer_differentiates_twice(kind):
    """A Hessian-vector product through the extractor of each observation kind (what TRPO's update computes)."""
    torch.manual_seed(0)
    extractor = AttentionExtractor(KINDS[kind][0](), **extractor_kwargs("attention", kind))
    obs = observation_batch(kind)
    batch = (
        {k: torch.as_tensor(v, dtype=torch.float32) for k, v in obs.items()}
        if isinstance(obs, dict)
        else torch.as_tensor(obs, dtype=torch.float32)
    )
    if kind in ("patch", "conv"):
        batch = batch / 255.0
    if kind == "dict":  # Discrete one-hot, as SB3's policy gives it
        batch["mode"] = torch.nn.functional.one_hot(batch["mode"].long(), 3).float()
    params = [p for p in extractor.parameters() if p.requires_grad]
    grads = torch.autograd.grad(extractor(batch).square().sum(), params, create_graph=True, allow_unused=True)
    product = sum((g * torch.randn_like(g)).sum() for g in grads if g is not None)
    hvp = torch.autograd.grad(product, params, allow_unused=True)
    assert any(h is not None and h.abs().sum() > 0 for h in hvp)
