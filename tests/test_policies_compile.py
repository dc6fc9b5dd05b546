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


# The tokenizer (one per observation kind) and the readout (one per variant) are separate modules: every kind with the
# default readout and the lean one (its own fast path), every variant on entity rows and on conv cells.
CASES = sorted(
    {(kind, v) for kind in SPACES for v in ("query", "lean")} | {(k, v) for k in ("entity", "conv") for v in VARIANTS}
)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "variant"), CASES)
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


def test_a_machine_that_cannot_compile_trains_eagerly_with_one_line(monkeypatch, capsys):
    import torch._inductor.cpp_builder as cpp_builder

    def no_compiler() -> str:
        raise RuntimeError("Unsupported compiler: g++ not found")

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    config = agents.resolve(agents.RunConfig(n_envs=1, compile=True))
    extractor = find_attention_extractor(checked_model(config))
    assert extractor._compiled_call_impl is None
    lines = [line for line in capsys.readouterr().out.splitlines() if "torch.compile" in line]
    assert len(lines) == 1 and "runs eagerly" in lines[0] and "g++ not found" in lines[0]


@pytest.mark.slow
def test_inductor_gives_the_eager_outputs_gradients_and_state_dict_keys():
    """The default extractor (one block) compiled by inductor, as ``compile: true`` does, against eager."""
    import copy

    torch.manual_seed(0)
    space = spaces.Box(-1.0, 1.0, shape=(6, 5), dtype=np.float32)
    eager = AttentionExtractor(space, presence_column=-1)
    compiled = copy.deepcopy(eager)
    compiled.compile()  # inductor, in place
    obs = torch.as_tensor(np.random.default_rng(0).uniform(-1, 1, size=(8, 6, 5)).astype(np.float32))
    obs[:, 4:, -1] = 0.0  # two padding rows
    outputs = [module(obs) for module in (compiled, eager)]
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)
    pairs = zip(outputs, (compiled, eager), strict=True)
    grads = [torch.autograd.grad(out.square().sum(), list(module.parameters())) for out, module in pairs]
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert list(compiled.state_dict()) == list(eager.state_dict())
