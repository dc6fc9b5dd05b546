"""torch.compile: every extractor compiles as one graph (no graph breaks), and a run can ask for it."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import preprocess_obs
from test_policies_focus import SPACES

import agents
from agents.setup.build import checked_model
from policies import AttentionExtractor, LatentAttentionExtractor, find_attention_extractor

VARIANTS = {
    "query": (AttentionExtractor, {}),
    "top_k": (AttentionExtractor, {"top_k": 2}),
    "cls": (AttentionExtractor, {"pooling": "cls"}),
    "lean": (AttentionExtractor, {"lean": True}),
    "lean-ego": (AttentionExtractor, {"lean": True, "pooling": "ego"}),
    "latent": (LatentAttentionExtractor, {}),
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("kind", list(SPACES))
def test_every_extractor_compiles_to_one_graph(kind, variant):
    space, kwargs = SPACES[kind]
    cls, extra = VARIANTS[variant]
    extractor = cls(space, embed_dim=16, num_heads=2, **kwargs, **extra)
    space.seed(0)
    samples = [space.sample() for _ in range(4)]
    if isinstance(space, spaces.Dict):
        obs = {k: torch.as_tensor(np.stack([s[k] for s in samples])) for k in space.spaces}
    else:
        obs = torch.as_tensor(np.stack(samples))
    obs = preprocess_obs(obs, space)  # as SB3's policy gives it: images scaled to [0, 1], Discrete one-hot
    torch._dynamo.reset()
    # fullgraph=True raises on any graph break; the eager backend checks the capture without compiling C++.
    compiled = torch.compile(extractor, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(obs), extractor(obs))


def test_a_run_can_compile_its_extractor():
    config = agents.resolve(agents.RunConfig(n_envs=1, compile=True))
    extractor = find_attention_extractor(checked_model(config))
    assert extractor._compiled_call_impl is not None  # nn.Module.compile: state_dict keys unchanged
    assert not any(key.startswith("_orig_mod") for key in extractor.state_dict())
