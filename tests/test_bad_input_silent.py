"""Inputs that used to pass without a word: each now gets one line with the fix."""

import re

import numpy as np
import pytest
import torch
from gymnasium import spaces

import agents
from agents.setup.build import checked_model
from policies import AttentionExtractor, LatentAttentionExtractor, focus_reports
from policies.lean_readout import LeanEgoReadout, LeanQueryReadout


@pytest.mark.parametrize("shape", [(0,), (0, 7), (8, 0)])
def test_an_empty_box_is_refused(shape):
    with pytest.raises(ValueError, match="has a dimension of size 0"):
        AttentionExtractor(spaces.Box(0.0, 1.0, shape, np.float32))


def test_an_empty_dict_key_is_refused():
    space = spaces.Dict({"a": spaces.Box(0.0, 1.0, (3,), np.float32), "b": spaces.Box(0.0, 1.0, (0, 2), np.float32)})
    with pytest.raises(ValueError, match="key 'b'"):
        AttentionExtractor(space)


@pytest.mark.parametrize("cls", [AttentionExtractor, LatentAttentionExtractor])
def test_top_k_beyond_the_parts_is_refused(cls):
    with pytest.raises(ValueError, match=r"top_k=9 keeps more (parts|latents) than the readout has \(8\)"):
        cls(spaces.Box(-1.0, 1.0, (8, 7), np.float32), top_k=9)


def test_an_observation_of_the_wrong_shape_is_refused():
    extractor = AttentionExtractor(spaces.Box(-1.0, 1.0, (8, 7), np.float32))
    with pytest.raises(ValueError, match=r"shape \(8, 6\) \(batch of 2\) is not the space's \(8, 7\)"):
        extractor(torch.zeros(2, 8, 6))


@pytest.mark.parametrize("value", [1e30, -1e20, float("nan"), float("inf")])
def test_huge_or_non_finite_values_name_the_part(value):
    extractor = AttentionExtractor(spaces.Box(-np.inf, np.inf, (4, 3), np.float32))
    obs = torch.zeros(2, 4, 3)
    obs[1, 2, 0] = value
    with pytest.raises(ValueError, match=r"Observation 1 of the batch holds .* in part 'entity_2'"):
        extractor(obs)


def test_huge_values_in_a_dict_key_name_the_part():
    space = spaces.Dict({"pos": spaces.Box(-np.inf, np.inf, (3,), np.float32)})
    with pytest.raises(ValueError, match="in part 'pos'"):
        AttentionExtractor(space)({"pos": torch.tensor([[0.0, 1e25, 0.0]])})


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("hyperparams.gamma=5", r"hyperparams.gamma=5 is out of range for PPO: it must be in \(0, 1\]"),
        ("hyperparams.batch_size=0", "hyperparams.batch_size=0 is out of range for PPO: it must be >= 1"),
        ("hyperparams.learning_rate=-1e-3", r"learning_rate=-0.001 is out of range for PPO: it must be > 0"),
        ("hyperparams.gae_lambda=1.5", r"gae_lambda=1.5 is out of range"),
        (
            "policy_kwargs.log_std_init=1e30",
            r"policy_kwargs.log_std_init=1e\+30 is out of range for PPO: it must be in ",
        ),
    ],
)
def test_out_of_range_hyperparameters_are_refused(item, message):
    config = agents.apply_overrides(agents.RunConfig(n_envs=1), [item])
    with pytest.raises(ValueError, match=message):
        agents.dry_run(config)


def test_schedules_and_in_range_values_pass():
    config = agents.apply_overrides(
        agents.RunConfig(n_envs=1),
        ["hyperparams.learning_rate=lin_3e-4", "hyperparams.gamma=1.0", "policy_kwargs.log_std_init=-20"],
    )
    assert agents.dry_run(config).config.hyperparams["gamma"] == 1.0


@pytest.mark.parametrize(
    ("item", "where"),
    [("learning_rate=1e-3", "hyperparams"), ("net_arch=[64]", "policy_kwargs"), ("num_layers=1", "extractor_kwargs")],
)
def test_a_top_level_setting_suggests_its_section(item, where):
    with pytest.raises(ValueError, match=re.escape(f"is a setting inside '{where}': --set {where}.{item}.")):
        agents.apply_overrides(agents.RunConfig(), [item])


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True])
@pytest.mark.parametrize("options", [{}, {"lean": True}, {"lean": True, "pooling": "ego"}, {"pooling": "mean"}])
def test_a_top_k_that_is_not_a_count_is_refused_at_construction(top_k, options):
    with pytest.raises(ValueError, match=rf"top_k={top_k!r} is invalid: it must be an integer >= 1"):
        AttentionExtractor(spaces.Box(-1.0, 1.0, (8, 7), np.float32), top_k=top_k, **options)


@pytest.mark.parametrize("cls", [LeanQueryReadout, LeanEgoReadout])
def test_the_lean_readouts_refuse_a_top_k_below_one(cls):
    with pytest.raises(ValueError, match=r"top_k=0 is invalid: it must be an integer >= 1"):
        cls(16, 2, top_k=0)


def test_a_latent_top_k_below_one_is_refused():
    with pytest.raises(ValueError, match=r"top_k=-1 is invalid: it must be an integer >= 1"):
        LatentAttentionExtractor(spaces.Box(-1.0, 1.0, (8, 7), np.float32), top_k=-1)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "hyperparams.learning_rate=lin_-1e-3",
            r"learning_rate='lin_-1e-3' is out of range for PPO: the number in it must",
        ),
        (
            "hyperparams.learning_rate=lin_0",
            r"learning_rate='lin_0' is out of range for PPO: the number in it must be > 0",
        ),
        ("hyperparams.clip_range=lin_0", r"clip_range='lin_0' is out of range for PPO: the number in it must be > 0"),
        ("hyperparams.clip_range_vf=lin_-0.2", r"clip_range_vf='lin_-0.2' is out of range"),
        ("hyperparams.learning_rate=lin_nan", r"learning_rate='lin_nan' is not a finite number"),
    ],
)
def test_schedules_start_inside_the_range_of_the_plain_number(item, message):
    with pytest.raises(ValueError, match=message):
        agents.dry_run(agents.apply_overrides(agents.RunConfig(n_envs=1), [item]))


@pytest.mark.parametrize(
    "item",
    [
        "hyperparams.learning_rate=1e999",
        "hyperparams.learning_rate=.inf",
        "hyperparams.learning_rate=lin_inf",
        "hyperparams.ent_coef=.nan",
        "hyperparams.max_grad_norm=.inf",
        "policy_kwargs.log_std_init=-.inf",
        "policy_kwargs.optimizer_kwargs.eps=.nan",
        "extractor_kwargs.dropout=.nan",
        "env_kwargs.max_episode_steps=.inf",
        "normalize.clip_obs=.nan",
    ],
)
def test_non_finite_numbers_are_refused_before_a_run_folder_is_made(tmp_path, item):
    key = item.partition("=")[0]
    config = agents.apply_overrides(agents.RunConfig(n_envs=1, timesteps=32, run_root=str(tmp_path)), [item])
    with pytest.raises(ValueError, match=rf"{re.escape(key)}=.* is not a finite number"):
        agents.train(config)
    assert not any(tmp_path.iterdir())


def test_focus_reports_refuse_no_methods():
    model = checked_model(agents.resolve(agents.RunConfig(n_envs=1)))
    observations = np.stack([model.observation_space.sample() for _ in range(2)])
    assert set(focus_reports(model, observations, methods=["readout"])) == {"readout"}
    with pytest.raises(ValueError, match=r"focus=\[\] is invalid: give one or more of readout, rollout, causal"):
        focus_reports(model, observations, methods=[])
    with pytest.raises(TypeError, match=r"focus='readout' is one string: give a list of method names"):
        focus_reports(model, observations, methods="readout")


@pytest.mark.parametrize(
    ("algo", "env", "item", "message"),
    [
        ("dqn", "CartPole-v1", "hyperparams.gradient_steps=0", r"it must be >= 1, or -1 \(as many as the env steps"),
        ("dqn", "CartPole-v1", "hyperparams.train_freq=0", "train_freq=0 is out of range for DQN: it must be >= 1"),
        ("dqn", "CartPole-v1", "hyperparams.train_freq=[0, step]", r"train_freq=\[0, 'step'\] is out of range"),
        ("sac", "Pendulum-v1", "hyperparams.ent_coef=auto_inf", "ent_coef='auto_inf' is not a finite number"),
        ("ppo", "CartPole-v1", "hyperparams.stats_window_size=0", "stats_window_size=0 is out of range for PPO"),
        (
            "a2c",
            "CartPole-v1",
            "hyperparams.rms_prop_eps=0.0",
            r"rms_prop_eps=0.0 is out of range for A2C: it must be > 0",
        ),
        ("trpo", "CartPole-v1", "hyperparams.n_critic_updates=0", "n_critic_updates=0 is out of range for TRPO"),
        ("trpo", "CartPole-v1", "hyperparams.line_search_shrinking_factor=1.0", r"it must be in \(0, 1\)"),
    ],
)
def test_settings_that_would_never_train_or_end_in_nan_are_refused(algo, env, item, message):
    with pytest.raises(ValueError, match=message):
        agents.dry_run(agents.apply_overrides(agents.RunConfig(env=env, algo=algo, n_envs=1), [item]))


def test_gradient_steps_of_minus_one_still_pass():
    config = agents.apply_overrides(
        agents.RunConfig(env="CartPole-v1", algo="dqn", n_envs=1), ["hyperparams.gradient_steps=-1"]
    )
    assert agents.dry_run(config).config.hyperparams["gradient_steps"] == -1


def test_an_empty_normalize_mapping_is_recorded_as_true():
    config = agents.apply_overrides(agents.RunConfig(env="CartPole-v1", n_envs=1), ["normalize={}"])
    assert agents.resolve(config).normalize is True


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("normalize.clip_obs=0", "normalize.clip_obs=0 is out of range for VecNormalize: it must be > 0"),
        ("normalize.clip_obs=-1", "normalize.clip_obs=-1 is out of range"),
        ("normalize.clip_reward=0", "normalize.clip_reward=0 is out of range"),
        ("normalize.epsilon=0", "normalize.epsilon=0 is out of range"),
        ("normalize.gamma=5", r"normalize.gamma=5 is out of range for VecNormalize: it must be in \(0, 1\]"),
        ("normalize.norm_obs=maybe", "normalize.norm_obs='maybe' is invalid: use true or false"),
    ],
)
def test_normalize_settings_out_of_range_are_refused(item, message):
    with pytest.raises(ValueError, match=message):
        agents.dry_run(agents.apply_overrides(agents.RunConfig(env="CartPole-v1", n_envs=1), [item]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"part_names": ["a", "a", "b", "c"]}, "part_names names 'a' more than once"),
        ({"part_names": ["a", "", "b", "c"]}, "part_names holds an empty name"),
        ({"feature_names": ["x", "x", "y", "z"]}, "feature_names names 'x' more than once"),
    ],
)
def test_part_names_must_be_distinct(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AttentionExtractor(spaces.Box(-1.0, 1.0, (4,), np.float32), **kwargs)
