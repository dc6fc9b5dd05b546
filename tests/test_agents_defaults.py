"""An env with no preset of its own trains with the defaults that learn: Acrobot-v1 as the example."""

import pytest
from stable_baselines3 import PPO

import agents
from agents.setup.dry_run import dry_run
from agents.setup.presets import load_preset
from agents.setup.vec_envs import wrap_normalize
from policies.tokenizers.features import MLPValue


def test_acrobot_has_no_preset_of_its_own():
    assert load_preset("ppo", "Acrobot-v1") == load_preset("ppo", "NoSuchEnvAnywhere-v0")


def test_no_preset_acrobot_build_uses_the_new_defaults():
    config = agents.resolve(agents.RunConfig(env="Acrobot-v1", n_envs=1, threads=1))
    assert config.extractor == "attention"
    assert config.normalize == {"norm_obs": False}  # returns scaled, observations raw
    env = wrap_normalize(agents.make_env(config, 1, 0), config)
    try:
        assert env.norm_reward and not env.norm_obs
        model = agents.build_model(config, env)
    finally:
        env.close()
    tokenizer = model.policy.features_extractor.tokenizer
    assert isinstance(tokenizer.value, MLPValue) and tokenizer.squash == "symlog"
    assert tokenizer.part_names[-1] == "feature:theta2_velocity"
    head = [type(m).__name__ for m in model.policy.features_extractor.head]
    assert head == ["Linear", "LayerNorm", "Tanh"]  # bounded, centred features (MountainCar: docs/BENCHMARKS.md)


def test_sections_measured_with_the_relu_head_keep_it():
    measured = ("attn/FindTarget-v0", "attn/PatchFind-v0", "CartPole-v1", "LunarLander-v3", "intersection-v2",
                "popgym-RepeatPreviousEasy-v0")  # fmt: skip
    for env_id in measured:  # the presets alone: no optional env package is needed
        assert load_preset("ppo", env_id)["extractor_kwargs"]["head"] == "relu", env_id
    assert load_preset("ppo", "attn/PatchFind-v0", extractor="conv")["extractor_kwargs"]["head"] == "relu"


def test_measured_presets_keep_raw_rewards():
    for env_id in ("attn/FindTarget-v0", "CartPole-v1"):
        assert agents.resolve(agents.RunConfig(env=env_id)).normalize is False


def test_minigrid_cells_and_pixels_take_the_default_hyperparameters_annealed_pixels_half_the_bonus():
    default = load_preset("ppo", "NoSuchEnvAnywhere-v0")["hyperparams"]
    for env_id in ("MiniGrid-DoorKey-5x5-v0", "MiniGrid-Empty-5x5-v0"):
        preset = load_preset("ppo", env_id)
        # the default section's, the learning rate decaying from its value to 0 (a late collapse, BENCHMARKS.md)
        assert default["learning_rate"] == 3.0e-4
        assert preset["hyperparams"] == {**default, "learning_rate": "lin_3.0e-4"}
        assert preset["normalize"] == {"norm_obs": False}
        assert preset["extractor_kwargs"]["presence_column"] == 0 and preset["eval_deterministic"] is False
    pixels = load_preset("ppo", "attn/MiniGridPixels-v0")  # the cells' settings, half the entropy bonus (both)
    assert default["ent_coef"] == 0.01
    assert pixels["hyperparams"] == {**default, "learning_rate": "lin_3.0e-4", "ent_coef": 0.005}
    assert pixels["extractor"] == "conv"


@pytest.mark.parametrize("extractor", ["attention", "mlp"])
def test_gsde_with_attention_warns_what_to_change(extractor, recwarn):
    config = agents.resolve(
        agents.RunConfig(env="Pendulum-v1", extractor=extractor, n_envs=1, threads=1, hyperparams={"use_sde": True})
    )
    env = agents.make_env(config, 1, 0)
    try:
        agents.build_model(config, env)
    finally:
        env.close()
    gsde = [w for w in recwarn if "use_sde" in str(w.message)]
    if extractor == "mlp":
        assert not gsde  # SB3's own MLP: gSDE as rl-zoo uses it
    else:
        assert len(gsde) == 1 and "use_sde=false" in str(gsde[0].message)


def test_minigrid_pixels_preset_gives_the_cnn_its_own_layout():
    """``net_arch: []`` is what SB3's CnnPolicy picks for NatureCNN: the CNN's runs under the preset are unchanged."""
    pytest.importorskip("minigrid", reason="attn/MiniGridPixels-v0 needs the minigrid extra")
    preset = dry_run(agents.RunConfig(env="attn/MiniGridPixels-v0", extractor="mlp"))
    env = agents.make_env(preset.config, 1, 0)
    sb3 = PPO("CnnPolicy", env, device="cpu")  # SB3's own default layout
    env.close()
    assert preset.config.policy_kwargs == {"net_arch": []} and preset.policy == "CnnPolicy"
    assert preset.parameters == sum(p.numel() for p in sb3.policy.parameters())
    conv = dry_run(agents.RunConfig(env="attn/MiniGridPixels-v0")).config.extractor_kwargs
    assert conv["features_dim"] == 256 and conv["head"] == "layernorm_tanh"


def test_intersection_dqn_preset_is_the_social_attention_papers_setup():
    paper = {"gamma": 0.95, "batch_size": 32, "buffer_size": 15_000, "target_update_interval": 50}
    attention = load_preset("dqn", "intersection-v0", extractor="attention")
    mlp = load_preset("dqn", "intersection-v0", extractor="mlp")
    for preset in (attention, mlp):
        assert paper.items() <= preset["hyperparams"].items()
        assert preset["hyperparams"]["exploration_final_eps"] == 0.05
        assert preset["n_timesteps"] == 45_000
    assert mlp["policy_kwargs"]["net_arch"] == [128, 128] and "extractor_kwargs" not in mlp
    kwargs = attention["extractor_kwargs"]
    assert (kwargs["embed_dim"], kwargs["num_heads"], kwargs["num_layers"], kwargs["pooling"]) == (64, 2, 0, "ego")
    assert kwargs["features_dim"] == 64 and attention["policy_kwargs"]["net_arch"] == [64]  # the [64, 64] decoder
