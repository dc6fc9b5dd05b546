"""A focus method registered from outside the package works everywhere a built-in one does (no project file edited)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.preprocessing import preprocess_obs
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import agents
import train_rl
from agents.pictures.learning_curves import relevant_tags
from agents.trxl.focus import memory_methods
from envs.find_target import FindTargetEnv
from policies import FOCUS_METHODS, AttentionExtractor, FocusInputs, attention_report, register_focus_method
from policies.focus_methods import check_focus_methods, methods_with


def grad_x_input(inputs: FocusInputs) -> torch.Tensor:
    """``(B, N)``: |gradient x input| of the features' sum with respect to each part's token."""
    extractor, policy = inputs.extractor, inputs.policy
    kept: list[torch.Tensor] = []

    def hook(module: torch.nn.Module, args: tuple, output: tuple[torch.Tensor, torch.Tensor]) -> tuple:
        tokens = output[0].detach().requires_grad_(True)  # (B, N, D)
        kept.append(tokens)
        return tokens, output[1]

    handle = extractor.tokenizer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            obs = preprocess_obs(
                inputs.observations, policy.observation_space, normalize_images=policy.normalize_images
            )
            extractor(obs).sum().backward()
    finally:
        handle.remove()
    return (kept[0].grad * kept[0]).sum(dim=-1).abs().detach()  # (B, N)


@pytest.fixture
def gradient_method():
    register_focus_method("grad_x_input", grad_x_input, description="|gradient x input| of the features per part")
    yield "grad_x_input"
    FOCUS_METHODS.unregister("grad_x_input")


@pytest.fixture
def sharp_method():
    """An exportable method: the readout's focus, squared (a function of the explanation, so ONNX can trace it)."""
    register_focus_method(
        "sharp",
        lambda inputs: inputs.explanation.focus**2,
        description="the readout's focus, squared",
        export=lambda explanation: explanation.focus**2,
    )
    yield "sharp"
    FOCUS_METHODS.unregister("sharp")


def small_model() -> PPO:
    kwargs = {"embed_dim": 16, "num_heads": 2, "features_dim": 16, "presence_column": -1}
    policy_kwargs = dict(features_extractor_class=AttentionExtractor, features_extractor_kwargs=kwargs, net_arch=[16])
    return PPO(
        "MlpPolicy", FindTargetEnv(), policy_kwargs=policy_kwargs, n_steps=32, batch_size=32, seed=0, device="cpu"
    )


def observations(n: int = 6) -> np.ndarray:
    env = FindTargetEnv()
    return np.stack([env.reset(seed=seed)[0] for seed in range(n)])


def test_a_registered_method_reports_its_own_focus(gradient_method):
    model, obs = small_model(), observations()
    report = attention_report(model, obs, method=gradient_method)
    extractor = model.policy.features_extractor
    explanation = extractor.explain(torch.as_tensor(obs))
    expected = grad_x_input(FocusInputs(explanation, model.policy, extractor, torch.as_tensor(obs), None)).numpy()
    expected = expected * report.mask
    np.testing.assert_allclose(report.focus, expected / expected.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)
    assert report.method == gradient_method
    assert not np.allclose(report.focus, attention_report(model, obs, method="rollout").focus, atol=1e-3)
    assert np.isfinite(report.faithfulness()["spearman"])  # scored against causal like any other method


def test_a_registered_method_is_logged_in_training_and_listed_by_the_cli(tmp_path, tiny_config, gradient_method):
    config = tiny_config(tmp_path, focus=[gradient_method, "readout"], attention_log_interval=32)
    run = agents.train(config)
    events = EventAccumulator(str(run.path))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert f"attention/{gradient_method}/entropy" in scalars
    assert f"attention/{gradient_method}/relevant_mass" in scalars
    assert f"attention/{gradient_method}/relevant_mass" in relevant_tags()  # the learning curves read it
    assert gradient_method in train_rl.focus_help()
    parsed = train_rl.train_parser().parse_args(["--focus", f"{gradient_method},readout"])
    assert parsed.focus == [gradient_method, "readout"]


def test_unknown_and_unsupported_methods_are_refused(gradient_method):
    with pytest.raises(ValueError, match=r"Unknown focus method 'grad_x_inptu'\. Did you mean 'grad_x_input'"):
        check_focus_methods(["grad_x_inptu"])
    with pytest.raises(ValueError, match=r"Unknown focus method 'casual'\. Did you mean 'causal'"):
        memory_methods(["casual"])  # no silent fall-back to the readout
    with pytest.raises(ValueError, match=r"focus='grad_x_input' cannot run on a memory policy.*use readout or causal"):
        memory_methods([gradient_method, "readout"])
    with pytest.raises(ValueError, match=r"focus='grad_x_input' cannot be exported to ONNX.*use readout or rollout"):
        check_focus_methods([gradient_method], supporting="export")
    assert memory_methods(["causal", "rollout", "readout"], defaults=("causal", "rollout", "readout")) == [
        "causal",
        "readout",
    ]  # the defaults, written for every algorithm, keep what works on memory


def test_a_registered_method_with_a_shape_error_is_named(gradient_method):
    register_focus_method("broken", lambda inputs: inputs.explanation.focus[:, :1])
    try:
        with pytest.raises(ValueError, match=r"focus method 'broken' gave a focus of shape \(6, 1\)"):
            attention_report(small_model(), observations(), method="broken")
    finally:
        FOCUS_METHODS.unregister("broken")


def test_an_exportable_method_is_exported_and_offered_by_the_cli(tmp_path, sharp_method):
    pytest.importorskip("onnx", reason='ONNX export needs pip install "attention-rl[export]"')
    ort = pytest.importorskip("onnxruntime", reason='ONNX export needs pip install "attention-rl[export]"')
    from agents.export.onnx_export import export_model

    assert methods_with("export") == ["readout", "rollout", sharp_method]
    assert train_rl.export_parser().parse_args(["run", "--focus", sharp_method]).focus == sharp_method
    model, obs = small_model(), observations()
    result = export_model(model, tmp_path / "p.onnx", with_focus=True, focus=sharp_method)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    _, _, focus, _ = session.run(None, {"obs": obs})
    np.testing.assert_allclose(focus, attention_report(model, obs, method=sharp_method).focus, atol=1e-5)
    assert session.get_modelmeta().custom_metadata_map["focus_method"] == sharp_method


def test_a_registered_method_with_memory_runs_over_the_memory():
    from agents.trxl import TrXLPPO, window_mask
    from agents.trxl.focus import memory_focus

    def latest(inputs):  # the memory focus: all on the current step t-0
        return torch.nn.functional.one_hot(torch.full((len(inputs.memory_mask),), inputs.attend.shape[1] - 1))

    register_focus_method("latest", lambda inputs: inputs.explanation.focus, memory=latest)
    try:
        env = gym.make("attn/CueMemory-v0", delay=4, max_delay=9, window=12)
        memory_kwargs = dict(memory_length=6, memory_dim=16, memory_heads=2, memory_layers=1, net_arch=[16])
        policy = TrXLPPO("MlpTrXLPolicy", env, n_steps=16, batch_size=16, policy_kwargs=memory_kwargs).policy
        obs = torch.as_tensor(np.stack([env.reset(seed=seed)[0] for seed in range(3)]))
        memory, mask = torch.randn(3, *policy.memory_shape), window_mask(torch.tensor([0, 2, 6]), 6)
        focus = memory_focus(policy, obs, memory, mask, methods=["latest", "readout"])
        assert focus["latest"].tolist() == [[0.0] * 6 + [1.0]] * 3
        assert memory_methods(["latest", "causal"]) == ["latest", "causal"]
    finally:
        FOCUS_METHODS.unregister("latest")
