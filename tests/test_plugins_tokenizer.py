"""A tokenizer registered from outside the package: its options pass through, ``auto`` and ``Dict`` keys pick it."""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from torch import nn

from policies import TOKENIZERS, AttentionExtractor, Tokenizer, attention_report
from policies.tokenizers import register_tokenizer
from policies.tokenizers.base import all_real

STACK = spaces.Box(-1.0, 1.0, (3, 2, 2, 1), np.float32)  # a 4-D Box: no built-in tokenizer reads it


class StackTokenizer(Tokenizer):
    """A stack of small grids ``Box(K, H, W, C)``: one token per grid, its values scaled then embedded linearly."""

    auto: ClassVar[bool] = True
    dict_key: ClassVar[bool] = True

    def __init__(self, observation_space: spaces.Box, embed_dim: int, scale: float = 1.0, prefix: str = "grid") -> None:
        super().__init__()
        self.scale = scale
        self.part_names = [f"{prefix}_{k}" for k in range(observation_space.shape[0])]
        self.embed = nn.Linear(int(np.prod(observation_space.shape[1:])), embed_dim)

    @classmethod
    def supports(cls, space: spaces.Space) -> bool:
        """A 4-D ``Box``."""
        return isinstance(space, spaces.Box) and len(space.shape) == 4

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, K, H, W, C)`` -> tokens ``(B, K, D)``, mask ``(B, K)``."""
        tokens = self.embed(self.scale * observations.flatten(start_dim=2))  # (B, K, D)
        return tokens, all_real(tokens)


class ToyEnv(gym.Env):
    """Reward 1 for the action that names the sign of the first grid's first value; five steps an episode."""

    def __init__(self, observation_space: spaces.Space) -> None:
        self.observation_space, self.action_space = observation_space, spaces.Discrete(2)
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple:
        super().reset(seed=seed)
        self._steps = 0
        return self.observation_space.sample(), {}

    def step(self, action: int) -> tuple:
        self._steps += 1
        return self.observation_space.sample(), float(action == 1), False, self._steps >= 5, {}


@pytest.fixture
def stack_tokenizer():
    register_tokenizer("stack", StackTokenizer)
    yield "stack"
    TOKENIZERS.unregister("stack")


def train_tiny(space: spaces.Space, **extractor) -> PPO:
    kwargs = {"embed_dim": 16, "num_heads": 2, "features_dim": 16, **extractor}
    policy_kwargs = dict(features_extractor_class=AttentionExtractor, features_extractor_kwargs=kwargs, net_arch=[16])
    policy = "MultiInputPolicy" if isinstance(space, spaces.Dict) else "MlpPolicy"
    model = PPO(policy, ToyEnv(space), policy_kwargs=policy_kwargs, n_steps=32, batch_size=32, n_epochs=1, seed=0)
    return model.learn(32)


def test_options_pass_through_tokenizer_kwargs_and_train(stack_tokenizer):
    model = train_tiny(STACK, tokenizer=stack_tokenizer, tokenizer_kwargs={"scale": 0.5, "prefix": "layer"})
    tokenizer = model.policy.features_extractor.tokenizer
    assert isinstance(tokenizer, StackTokenizer) and tokenizer.scale == 0.5
    report = attention_report(model, np.stack([STACK.sample() for _ in range(4)]), method="readout")
    assert report.part_names == ["layer_0", "layer_1", "layer_2"]
    np.testing.assert_allclose(report.focus.sum(axis=1), 1.0, rtol=1e-5)


def test_auto_and_keyword_shorthands_reach_the_tokenizer(stack_tokenizer):
    extractor = AttentionExtractor(STACK, embed_dim=16, num_heads=2, scale=2.0)  # tokenizer="auto", a shorthand
    assert isinstance(extractor.tokenizer, StackTokenizer) and extractor.tokenizer.scale == 2.0


def test_a_dict_key_gets_the_registered_tokenizer_and_trains(stack_tokenizer):
    space = spaces.Dict({"stack": STACK, "pos": spaces.Box(-1.0, 1.0, (2,), np.float32)})
    model = train_tiny(space, scale=3.0)
    tokenizer = model.policy.features_extractor.tokenizer
    assert isinstance(tokenizer.per_key["stack"], StackTokenizer) and tokenizer.per_key["stack"].scale == 3.0
    assert model.policy.features_extractor.part_names == ["pos", "stack/grid_0", "stack/grid_1", "stack/grid_2"]


def test_unknown_options_are_refused_with_a_suggestion(stack_tokenizer):
    with pytest.raises(ValueError, match=r"scal=0\.5 does not apply to the 'stack' tokenizer .* Did you mean 'scale'"):
        AttentionExtractor(STACK, tokenizer_kwargs={"scal": 0.5})
    with pytest.raises(ValueError, match=r"presense_column=-1 does not apply .* Did you mean 'presence_column'"):
        AttentionExtractor(spaces.Box(0.0, 1.0, (4, 3), np.float32), tokenizer_kwargs={"presense_column": -1})
    with pytest.raises(ValueError, match=r"scale is given both in tokenizer_kwargs and as a keyword"):
        AttentionExtractor(STACK, tokenizer_kwargs={"scale": 0.5}, scale=1.0)
    with pytest.raises(TypeError, match=r"tokenizer_kwargs=\[1\] must be a dict"):
        AttentionExtractor(STACK, tokenizer_kwargs=[1])
    space = spaces.Dict({"pos": spaces.Box(-1.0, 1.0, (2,), np.float32)})
    with pytest.raises(ValueError, match=r"scale applies to no key of this Dict observation"):
        AttentionExtractor(space, scale=3.0)  # not silently dropped
    with pytest.raises(TypeError, match=r"is not a Tokenizer subclass"):
        register_tokenizer("nothing", nn.Linear)


def test_unregistered_tokenizer_is_gone():
    assert "stack" not in TOKENIZERS  # the fixture's teardown removed it
    with pytest.raises(TypeError, match=r"No tokenizer supports the observation space"):
        AttentionExtractor(STACK)
