"""ONNX export: onnxruntime gives PyTorch's greedy actions and the same focus, for every plain-forward algorithm."""

import numpy as np
import pytest
from gymnasium import spaces
from sb3_contrib import QRDQN, TQC, TRPO, MaskablePPO, RecurrentPPO
from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from test_policies_algorithms import KINDS, SpaceEnv, observation_batch

import agents
import train_rl
from agents.export.onnx_eval import evaluate_onnx
from agents.export.onnx_export import export_model, export_onnx
from policies import AttentionExtractor, attention_report

pytest.importorskip("onnx", reason='ONNX export needs pip install "attention-rl[export]"')
ort = pytest.importorskip("onnxruntime", reason='ONNX export needs pip install "attention-rl[export]"')

DISCRETE = {"PPO": PPO, "A2C": A2C, "DQN": DQN, "QRDQN": QRDQN, "TRPO": TRPO, "MaskablePPO": MaskablePPO}
CONTINUOUS = {"PPO": PPO, "SAC": SAC, "TD3": TD3, "DDPG": DDPG, "TQC": TQC}
# Every algorithm on entity sets; one of each family (categorical, Gaussian, Q-network, squashed and deterministic
# actors) on the other observation kinds.
ALL = [(name, "discrete") for name in DISCRETE] + [(name, "box") for name in CONTINUOUS]
FAMILIES = [("PPO", "discrete"), ("PPO", "box"), ("DQN", "discrete"), ("SAC", "box"), ("TD3", "box")]
CASES = [
    *(pytest.param(algo, action, "entity", id=f"{algo}-{action}-entity") for algo, action in ALL),
    *(
        pytest.param(algo, action, kind, id=f"{algo}-{action}-{kind}")
        for kind in ("features", "patch", "dict")
        for algo, action in FAMILIES
    ),
]


def build(algo, action, kind, **extractor):
    cls = (DISCRETE if action == "discrete" else CONTINUOUS)[algo]
    action_space = spaces.Discrete(3) if action == "discrete" else spaces.Box(-2.0, 3.0, (2,), np.float32)
    env = SpaceEnv(KINDS[kind][0](), action_space)
    kwargs = {"embed_dim": 16, "num_heads": 2, "features_dim": 16, "num_layers": 1, **KINDS[kind][1], **extractor}
    policy_kwargs = dict(features_extractor_class=AttentionExtractor, features_extractor_kwargs=kwargs, net_arch=[16])
    policy = "MultiInputPolicy" if kind == "dict" else "MlpPolicy"
    return cls(policy, env, policy_kwargs=policy_kwargs, seed=0, device="cpu")


def feed(session, obs):
    names = [i.name for i in session.get_inputs()]
    if isinstance(obs, dict):
        return {name: obs[name.split(".", 1)[1]] for name in names}  # inputs "obs.<key>"
    return {names[0]: obs}


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "action", "kind"), CASES)
def test_onnx_actions_and_focus_equal_pytorchs(tmp_path, algo, action, kind):
    model = build(algo, action, kind)
    result = export_model(model, tmp_path / "p.onnx", with_focus=True, focus="rollout")
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    obs = observation_batch(kind, n=100)
    out = dict(zip(result.outputs, session.run(None, feed(session, obs)), strict=True))
    expected, _ = model.predict(obs, deterministic=True)
    if action == "discrete":
        np.testing.assert_array_equal(out["action"], expected)
    else:
        np.testing.assert_allclose(out["action"], expected, atol=1e-4)
    report = attention_report(model, obs, method="rollout")
    np.testing.assert_allclose(out["focus"], report.focus, atol=1e-4)
    np.testing.assert_array_equal(out["mask"], report.mask)
    one = {k: v[:1] for k, v in obs.items()} if isinstance(obs, dict) else obs[:1]  # a batch of one works too
    np.testing.assert_allclose(session.run(["action"], feed(session, one))[0], out["action"][:1], atol=1e-6)
    assert result.part_names == report.part_names
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata["focus_method"] == "rollout" and metadata["algorithm"]


READOUT_CASES = {
    "top_k": {"top_k": 2},
    "top_k_per_head": {"top_k": 2, "top_k_per_head": True},
    "max": {"pooling": "max"},
    "ego_part": {"pooling": "ego", "ego_part": "entity_1"},
    "num_queries": {"pooling": "ego", "num_queries": 3},
}


@pytest.mark.slow
@pytest.mark.parametrize("readout", list(READOUT_CASES))
def test_readout_focus_and_padding_masks(tmp_path, readout):
    model = build("PPO", "discrete", "entity", **READOUT_CASES[readout])
    result = export_model(model, tmp_path / "p.onnx", with_focus=True)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    obs = observation_batch("entity", n=50)
    obs[:10, :, -1] = 0.0  # every row padding
    obs[10:20, 2:, -1] = 0.0  # rows 2.. padding
    action, value, focus, mask = session.run(None, {"obs": obs})
    report = attention_report(model, obs, method="readout")
    np.testing.assert_allclose(focus, report.focus, atol=1e-4)
    np.testing.assert_array_equal(mask, report.mask)
    assert not mask[:10].any() and np.isfinite(focus).all()
    np.testing.assert_array_equal(action, model.predict(obs, deterministic=True)[0])
    assert value.shape == (50, 1)


def test_recurrent_and_causal_are_refused_with_one_line(tmp_path):
    env = SpaceEnv(KINDS["entity"][0](), spaces.Discrete(3))
    kwargs = dict(features_extractor_class=AttentionExtractor, features_extractor_kwargs={"presence_column": -1})
    recurrent = RecurrentPPO("MlpLstmPolicy", env, policy_kwargs=kwargs, device="cpu")
    with pytest.raises(ValueError, match="keeps a memory"):
        export_model(recurrent, tmp_path / "r.onnx")
    with pytest.raises(ValueError, match="focus='causal' cannot be exported"):
        export_model(build("PPO", "discrete", "entity"), tmp_path / "c.onnx", with_focus=True, focus="causal")


def test_missing_onnx_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setattr("agents.export.onnx_export._missing", lambda name: name == "onnxruntime")
    with pytest.raises(ImportError, match=r'onnxruntime: pip install "attention-rl\[export\]"'):
        export_model(build("PPO", "discrete", "entity"), tmp_path / "p.onnx")


def tiny_run(tmp_path, **changes):
    config = dict(
        run_root=str(tmp_path), timesteps=256, n_envs=1, eval_episodes=0, progress_bar=False, eval_freq=0,
        attention_log_interval=0, hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 1},
    )  # fmt: skip
    return agents.train(agents.RunConfig(**{**config, **changes}))


@pytest.mark.slow
def test_vecnormalize_is_folded_in(tmp_path):
    import gymnasium as gym

    run = tiny_run(tmp_path, env="attn/CueMemory-v0", normalize=True)
    result = export_onnx(run.path, with_focus=True)
    assert result.path == run.path / "policy.onnx"
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    env = gym.make(run.config.env, **run.config.env_kwargs)
    raw = np.stack([env.reset(seed=i)[0] for i in range(20)])
    model = agents.load(run.path)
    normalized = model.get_vec_normalize_env().normalize_obs(raw)
    assert not np.allclose(normalized, raw)
    actions = session.run(["action"], {"obs": raw})[0]
    np.testing.assert_array_equal(actions, model.predict(normalized, deterministic=True)[0])
    assert session.get_modelmeta().custom_metadata_map["vec_normalize_folded"] == "True"


@pytest.mark.slow
def test_cli_export_then_eval_onnx_matches_eval(tmp_path, capsys):
    run = tiny_run(tmp_path)
    code = train_rl.main(["export", str(run.path), "--with-focus", "--out", str(tmp_path / "f.onnx")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "outputs action, value, focus, mask" in out
    onnx_eval = evaluate_onnx(tmp_path / "f.onnx", episodes=3)
    python_eval = agents.evaluate(run.path, episodes=3, write=False, deterministic=True)
    assert onnx_eval.returns == pytest.approx(python_eval.returns) and onnx_eval.lengths == python_eval.lengths
    assert onnx_eval.attention["method"] == "readout" and onnx_eval.attention["relevant_mass"] is not None
    assert train_rl.main(["eval", "--onnx", str(tmp_path / "f.onnx"), "--episodes", "2"]) == 0
    out, _ = capsys.readouterr()
    assert "mean return" in out and "readout when relevant" in out
    assert train_rl.main(["eval", "--onnx", str(tmp_path / "nope.onnx")]) == 2
    assert "No ONNX file at" in capsys.readouterr().err


def test_cli_export_names_a_misspelt_focus_method_after_loading_the_run(tmp_path, capsys):
    run = tiny_run(tmp_path, timesteps=64)
    code = train_rl.main(["export", str(run.path), "--with-focus", "--focus", "rollot"])
    assert code == 2
    assert "Unknown focus method 'rollot'. Did you mean 'rollout'" in capsys.readouterr().err
    assert not (run.path / "policy.onnx").exists()
