"""``ppo_trxl`` (``agents.trxl``): the memory never crosses an episode boundary, training recomputes the attention
the rollout acted on, save/load keeps every action, resume carries the counters."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env

import agents
import envs  # noqa: F401  (registers attn/ envs)
from agents.setup.config import RunConfig
from agents.trxl import TrXLPPO, memory_part_names, window_mask
from agents.trxl import policy as trxl_policy
from agents.trxl.focus import MEMORY_FOCUS_METHODS, memory_focus, relevant_memory_parts
from policies import AttentionExtractor

TINY = dict(n_steps=16, batch_size=16, n_epochs=1)
MEMORY = dict(memory_length=6, memory_dim=16, memory_heads=2, memory_layers=2, net_arch=[16])
TIME_TOKENS = dict(
    features_extractor_class=AttentionExtractor,
    features_extractor_kwargs=dict(tokenizer="time", num_layers=0, embed_dim=16, features_dim=16),
)


def cue_env(delay: int = 4, max_delay: int | None = 9) -> gym.Env:
    return gym.make("attn/CueMemory-v0", delay=delay, max_delay=max_delay, window=12)


def tiny_model(env: gym.Env | str, seed: int = 0, **kwargs) -> TrXLPPO:
    policy_kwargs = {**MEMORY, **TIME_TOKENS, **kwargs.pop("policy_kwargs", {})}
    return TrXLPPO("MlpTrXLPolicy", env, seed=seed, device="cpu", policy_kwargs=policy_kwargs, **{**TINY, **kwargs})


def episode(env: gym.Env, seed: int) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    observations, done = [obs], False
    while not done:
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        observations.append(obs)
        done = terminated or truncated
    return observations[:-1]


def action_probs(model: TrXLPPO, observations: list[np.ndarray], starts: list[bool]) -> np.ndarray:
    """``(T, A)`` the policy's action probabilities at each step, the memory carried as ``predict`` carries it."""
    policy, state, probs = model.policy, None, []
    for obs, start in zip(observations, starts, strict=True):
        memory = np.zeros((1, *policy.memory_shape), np.float32) if state is None else state[0]
        steps = np.zeros(1, np.int64) if state is None or start else state[1]
        with torch.no_grad():
            mask = trxl_policy.window_mask(torch.as_tensor(steps), policy.memory.memory_length)
            dist = policy.get_distribution(policy.obs_to_tensor(obs)[0], torch.as_tensor(memory), mask)
        probs.append(dist.distribution.probs.numpy()[0])
        _, state = policy.predict(obs, state, np.array([start]), deterministic=True)
    return np.array(probs)


@pytest.mark.parametrize("drop_mask", [False, True])
def test_a_previous_episode_never_changes_the_current_actions(monkeypatch, drop_mask):
    env = cue_env()
    model = tiny_model(env)
    with torch.no_grad():  # a memory that matters: make the current step's own weight small next to the past's
        model.policy.memory.age_embedding.normal_(std=1.0)
    if drop_mask:  # the check must notice a memory that leaks across episodes
        monkeypatch.setattr(
            trxl_policy, "window_mask", lambda steps, length: torch.ones(len(steps), length, dtype=torch.bool)
        )
    current = episode(env, seed=3)
    alone = action_probs(model, current, [True] + [False] * (len(current) - 1))
    for seed in (1, 2):
        before = episode(env, seed)
        starts = [True] + [False] * (len(before) - 1) + [True] + [False] * (len(current) - 1)
        after = action_probs(model, before + current, starts)[len(before) :]
        if drop_mask:
            assert np.abs(after - alone).max() > 1e-4
            return
        np.testing.assert_array_equal(after, alone)


def test_window_mask_and_part_names():
    mask = window_mask(torch.tensor([0, 2, 9]), 4)
    assert mask.tolist() == [[False] * 4, [False, False, True, True], [True] * 4]
    assert memory_part_names(3) == ["t-3", "t-2", "t-1", "t-0"]


class AsDict(gym.ObservationWrapper):
    """CueMemory's window under a ``Dict`` key: the ``TrXLDictRolloutBuffer`` path."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = gym.spaces.Dict({"window": env.observation_space})

    def observation(self, observation: np.ndarray) -> dict:
        return {"window": observation}


@pytest.mark.parametrize("kind", ["box", "dict"])
def test_training_pass_reproduces_the_rollout_log_probs(kind):
    make = cue_env if kind == "box" else lambda: AsDict(cue_env())
    policy = "MlpTrXLPolicy" if kind == "box" else "MultiInputTrXLPolicy"
    extractor = TIME_TOKENS if kind == "box" else {**TIME_TOKENS, "features_extractor_kwargs": {"embed_dim": 16}}
    policy_kwargs = {**MEMORY, **extractor}  # an attention extractor makes each step's token
    model = TrXLPPO(
        policy, make_vec_env(make, n_envs=2, seed=0), seed=0, device="cpu", policy_kwargs=policy_kwargs, **TINY
    )
    _, callback = model._setup_learn(10_000, callback=None)
    for _ in range(3):  # episodes of 6-11 steps over rollouts of 16 with a memory of 6: starts, ends, carry-in
        assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    buffer = model.rollout_buffer
    assert buffer.episode_steps.max() == 6 and (buffer.episode_steps == 0).sum() >= 2
    for samples in buffer.get(batch_size=7):
        with torch.no_grad():
            values, log_prob, _ = model.policy.evaluate_actions(samples.observations, samples.actions.long().flatten())
        np.testing.assert_allclose(log_prob.numpy(), samples.old_log_prob.numpy(), atol=1e-5)
        np.testing.assert_allclose(values.flatten().numpy(), samples.old_values.numpy(), atol=1e-5)


@pytest.mark.slow
def test_save_and_load_give_identical_actions_over_whole_episodes(tmp_path):
    model = tiny_model(make_vec_env(cue_env, n_envs=2, seed=0))
    model.learn(64)
    model.save(tmp_path / "model.zip")
    loaded = TrXLPPO.load(tmp_path / "model.zip", device="cpu")
    env = cue_env()
    for seed in (0, 1):
        observations = episode(env, seed)
        starts = [True] + [False] * (len(observations) - 1)
        np.testing.assert_array_equal(
            action_probs(loaded, observations, starts), action_probs(model, observations, starts)
        )
        state = loaded_state = None
        for obs, start in zip(observations, starts, strict=True):
            action, state = model.predict(obs, state, np.array([start]), deterministic=True)
            loaded_action, loaded_state = loaded.predict(obs, loaded_state, np.array([start]), deterministic=True)
            assert action == loaded_action


def test_resume_carries_the_counters(tmp_path):
    config = RunConfig(
        env="attn/CueMemory-v0", algo="ppo_trxl", timesteps=64, n_envs=2, seed=0, run_root=str(tmp_path),
        save_freq=32, eval_freq=0, eval_episodes=1, attention_log_interval=0, progress_bar=False,
        hyperparams=dict(TINY), policy_kwargs={k: v for k, v in MEMORY.items()},
    )  # fmt: skip
    run = agents.train(config)
    assert run.model.num_timesteps == 64 and run.model._n_updates == 2
    resumed = agents.resume(run.path, timesteps=128)
    assert resumed.resumed_from == 64
    assert resumed.model.num_timesteps == 128 and resumed.model._n_updates == 4


def test_box_actions_with_the_flatten_extractor():
    env = gym.make("Pendulum-v1", max_episode_steps=20)
    model = TrXLPPO("MlpTrXLPolicy", env, seed=0, device="cpu", policy_kwargs=MEMORY, **TINY).learn(32)
    obs, _ = env.reset(seed=0)
    action, state = model.predict(obs, None, np.array([True]), deterministic=True)
    assert env.action_space.contains(action) and state[0].shape == (1, *model.policy.memory_shape)
    assert state[1].tolist() == [1]


def test_memory_focus_over_the_episode_steps():
    model = tiny_model(cue_env())
    policy = model.policy
    obs = torch.as_tensor(np.stack(episode(cue_env(), seed=0)[:3]))
    memory = torch.randn(3, *policy.memory_shape)
    mask = window_mask(torch.tensor([0, 2, 6]), 6)
    focus = memory_focus(policy, obs, memory, mask)
    for method in MEMORY_FOCUS_METHODS:
        np.testing.assert_allclose(focus[method].sum(axis=1), 1.0, atol=1e-6)
        assert (focus[method][:, :6][~mask.numpy()] == 0).all()  # steps of another episode get nothing
    assert focus["readout"][0].tolist() == [0.0] * 6 + [1.0]  # a first step looks only at itself
    assert (focus["effects"][:, -1] == 0).all() and (focus["effects"][2, :6] > 0).all()  # t-0 is never removed
    assert relevant_memory_parts({"relevant_ages": np.array([2, 9])}, 6).tolist() == [4]  # age 2 -> t-2
    assert relevant_memory_parts({"relevant_ages": np.array([9])}, 6) is None


@pytest.mark.slow
def test_training_and_evaluation_report_where_in_time_it_looked(tmp_path):
    config = RunConfig(
        env="attn/CueMemory-v0", algo="ppo_trxl", timesteps=32, n_envs=2, seed=0, run_root=str(tmp_path),
        save_freq=0, eval_freq=0, eval_episodes=2, attention_log_interval=1000, progress_bar=False,
        hyperparams=dict(TINY), policy_kwargs=dict(MEMORY), env_kwargs=dict(delay=3),
    )  # fmt: skip
    run = agents.train(config)
    memory = run.evaluation.extra["memory_focus"]
    assert list(memory["focus"]) == memory_part_names(6) and memory["method"] == "causal"
    assert memory["relevant_mass"] is not None and set(memory["methods"]) == {"causal", "readout"}
    assert "where in time it looked" in agents.format_evaluation(run.evaluation)
    header = (run.path / "progress.csv").read_text().splitlines()[0].split(",")
    for tag in (
        "attention/memory/readout/entropy",
        "attention/memory/causal/relevant_mass",
        "attention/memory/causal/relevant_effect",
    ):
        assert tag in header
    assert any(tag.startswith("attention/memory/causal/focus/t-") for tag in header)


def test_a_sweep_grid_over_the_memory_length_resolves(tmp_path):
    from agents.sweep import SweepSpec, parse_grid
    from agents.sweep.trials import grid_trials

    spec = SweepSpec(env="attn/CueMemory-v0", algo="ppo_trxl", extractors=["mlp"], run_root=str(tmp_path),
                     grid=["policy_kwargs.memory_length=8,16"], timesteps=64)  # fmt: skip
    trials = grid_trials(spec, parse_grid(spec.grid))
    assert [t.config.policy_kwargs["memory_length"] for t in trials] == [8, 16]
    assert all(t.config.algo == "ppo_trxl" and "--algo ppo_trxl" in t.command for t in trials)


@pytest.mark.parametrize(
    ("policy_kwargs", "match"),
    [
        ({"memory_dim": 15, "memory_heads": 2}, "memory_dim=15 is not divisible by memory_heads=2"),
        ({"memory_length": 0}, "memory_length=0 is invalid"),
        ({"memory_layers": 0}, "memory_layers=0 is invalid"),
        ({"share_features_extractor": False}, "shares one features extractor and one memory"),
    ],
)
def test_bad_memory_settings_raise_value_error(policy_kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrXLPPO("MlpTrXLPolicy", "CartPole-v1", device="cpu", policy_kwargs={**MEMORY, **policy_kwargs})
