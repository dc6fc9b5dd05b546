"""The default self-attention block: saved models of another MLP width load as saved; TRPO trains through it."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import TRPO
from stable_baselines3 import PPO

import envs  # noqa: F401
from policies import AttentionExtractor
from policies.block import MLP_RATIO, TransformerBlock

ENV_KWARGS = {"n_entities": 6, "min_entities": 3}
OLD_RATIO = 2.0
"""The MLP width a model was saved with (the default before ``MLP_RATIO``)."""
OTHER_RATIO = 1.0 if MLP_RATIO == OLD_RATIO else OLD_RATIO


def find_target() -> gym.Env:
    return gym.make("attn/FindTarget-v0", **ENV_KWARGS)


def observations(n: int = 16) -> np.ndarray:
    env = find_target()
    return np.stack([env.reset(seed=i)[0] for i in range(n)])


def test_a_block_loads_a_state_dict_of_another_mlp_width():
    torch.manual_seed(0)
    saved = TransformerBlock(16, 2, mlp_ratio=2.0)
    block = TransformerBlock(16, 2, mlp_ratio=1.0)
    params = list(block.parameters())
    block.load_state_dict(saved.state_dict())  # strict
    assert [id(p) for p in block.parameters()] == [id(p) for p in params]  # the same objects, resized
    assert block.mlp[0].out_features == block.mlp[2].in_features == 32
    tokens, mask = torch.randn(3, 5, 16), torch.ones(3, 5, dtype=torch.bool)
    torch.testing.assert_close(block(tokens, mask), saved(tokens, mask))


def test_a_model_saved_with_the_old_default_block_loads_and_trains_on(tmp_path):
    """A model saved with another block width than today's default (no mlp_ratio in its kwargs) loads as saved."""
    kwargs = {"presence_column": -1, "num_layers": 1}
    old = PPO(
        "MlpPolicy", find_target(), n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu",
        policy_kwargs={"features_extractor_class": AttentionExtractor,
                       "features_extractor_kwargs": {**kwargs, "mlp_ratio": OTHER_RATIO}},
    )  # fmt: skip
    old.learn(64)
    old.save(tmp_path / "old.zip")
    # As the file of a model saved when OTHER_RATIO was the default reads: its kwargs name no mlp_ratio.
    as_saved = {"features_extractor_class": AttentionExtractor, "features_extractor_kwargs": kwargs}
    loaded = PPO.load(tmp_path / "old.zip", device="cpu", custom_objects={"policy_kwargs": as_saved})
    assert loaded.policy.features_extractor.blocks[0].mlp[0].out_features == int(64 * OTHER_RATIO)
    obs = observations()
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], old.predict(obs, deterministic=True)[0])
    loaded.set_env(find_target())
    before = loaded.policy.features_extractor.blocks[0].mlp[0].weight.detach().clone()
    loaded.learn(64)  # the optimizer's state (saved at the old width) matches the resized parameters
    assert not torch.equal(loaded.policy.features_extractor.blocks[0].mlp[0].weight, before)


def test_trpo_trains_with_the_default_block():
    """TRPO's Hessian-vector products go through the default block (its attention differentiates twice)."""
    model = TRPO(
        "MlpPolicy", find_target(), n_steps=64, batch_size=32, cg_max_steps=2, n_critic_updates=1, seed=0,
        device="cpu", policy_kwargs={"features_extractor_class": AttentionExtractor,
                                     "features_extractor_kwargs": {"presence_column": -1}},
    )  # fmt: skip
    block = model.policy.features_extractor.blocks[0]
    assert len(model.policy.features_extractor.blocks) == 1
    assert block.mlp[0].out_features == int(64 * MLP_RATIO)
    before = [p.detach().clone() for p in block.parameters()]
    model.learn(64)
    assert all(torch.isfinite(p).all() for p in block.parameters())
    assert any(not torch.equal(p, b) for p, b in zip(block.parameters(), before, strict=True))


@pytest.mark.parametrize("ratio", [0.5, 1.0, 2.0])
def test_the_mlp_width_follows_the_ratio(ratio):
    assert TransformerBlock(32, 2, mlp_ratio=ratio).mlp[0].out_features == int(32 * ratio)
