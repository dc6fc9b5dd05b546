"""Presets, --config, --set and --dry-run; every bad input gets one clear line and exit code 2."""

import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

import agents
import train_rl
from agents.setup.config import RunConfig
from agents.setup.overrides import apply_overrides, parse_override
from agents.setup.presets import load_preset
from agents.setup.resolution import resolve

ROOT = Path(__file__).resolve().parent.parent
PPO_TINY = ["hyperparams.n_steps=32", "hyperparams.batch_size=32", "hyperparams.n_epochs=1"]


def one_error_line(capsys, *args) -> str:
    code = train_rl.main([str(a) for a in args])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("lr=1e-3", 1e-3),
        ("lr=3.0e-4", 3e-4),
        ("n=64", 64),
        ("x=true", True),
        ("a=[64, 64]", [64, 64]),
        ("d={norm_reward: false}", {"norm_reward": False}),
        ("s=tanh", "tanh"),
        ("s=lin_0.001", "lin_0.001"),
        ("e=", ""),
    ],
)
def test_set_values_are_typed_by_yaml(text, value):
    assert parse_override(text)[1] == value


def test_set_reaches_into_dicts_and_merges_over_the_preset():
    config = apply_overrides(
        RunConfig(),
        [
            "hyperparams.learning_rate=1e-3",
            "extractor_kwargs.num_layers=1",
            "n_timesteps=5000",
            "normalize.norm_obs=false",
        ],
    )
    resolved = resolve(config)
    assert resolved.hyperparams["learning_rate"] == 1e-3 and resolved.hyperparams["n_steps"] == 256
    assert resolved.extractor_kwargs == {"head": "relu", "presence_column": -1, "num_layers": 1, "lean": True}
    assert resolved.timesteps == 5000 and resolved.normalize == {"norm_obs": False}
    deep = apply_overrides(RunConfig(), ["env_kwargs.config.observation.vehicles_count=5"])
    assert deep.env_kwargs == {"config": {"observation": {"vehicles_count": 5}}}


def test_normalizing_the_presence_column_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"presence column \(extractor_kwargs.presence_column=-1\).*normalize=false"):
        resolve(RunConfig(normalize=True))  # FindTarget's preset masks padding with column -1
    assert resolve(RunConfig(normalize={"norm_obs": False})).normalize == {"norm_obs": False}  # rewards only
    assert resolve(RunConfig(normalize=True, extractor="mlp")).normalize is True  # no mask to break
    resolve(RunConfig(normalize=True, extractor_kwargs={"presence_column": None}))


def test_config_file_merges_over_the_builtin_preset(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"attn/FindTarget-v0": {"n_envs": 2, "hyperparams": {"n_epochs": 3}}}))
    preset = load_preset("ppo", "attn/FindTarget-v0", config_file=path)
    assert preset["n_envs"] == 2 and preset["hyperparams"]["n_epochs"] == 3 and preset["hyperparams"]["n_steps"] == 256
    assert resolve(RunConfig(config_file=str(path), n_envs=4)).n_envs == 4  # flags win over files


def test_dry_run_prints_config_and_parameters_and_writes_nothing(tmp_path, capsys):
    args = ["--run-dir", tmp_path / "runs", "--dry-run", "--set", "extractor_kwargs.embed_dim=32"]
    code = train_rl.main([str(a) for a in args])
    out = capsys.readouterr().out
    assert code == 0
    config = yaml.safe_load(out.split("\npolicy:")[0])
    assert config["extractor_kwargs"]["embed_dim"] == 32 and config["seed"] == 0 and config["algo"] == "ppo"
    assert "policy: PPO MlpPolicy" in out and "parameters: " in out
    assert not (tmp_path / "runs").exists()


def test_interquartile_mean_drops_the_outer_quarters():
    assert agents.interquartile_mean([1, 2, 3, 4, 5, 6, 7, 1000]) == pytest.approx(4.5)
    assert agents.interquartile_mean([2.0]) == 2.0


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "n_env=3"], "--set n_env=3: unknown key 'n_env'. Did you mean 'n_envs'?"),
        (["--set", "hyperparams.learnig_rate=1e-3"], "PPO has no hyperparameter 'learnig_rate'. Did you mean"),
        (["--set", "extractor_kwargs.embed_dm=8"], "Extractor 'attention' has no argument 'embed_dm'. Did you mean"),
        (["--set", "normalize.norm_rewards=false"], "has no argument 'norm_rewards'. Did you mean 'norm_reward'?"),
        (["--set", "n_envs=abc"], "n_envs='abc' has the wrong type: expected int"),
        (["--set", "hyperparams.n_steps=1.5"], "hyperparams.n_steps=1.5 has the wrong type: PPO wants an integer"),
        (["--set", "hyperparams.learning_rate=fast"], "PPO wants a number (or lin_<number>)"),
        (["--set", "seed.x=1"], "'seed' is not a mapping"),
        (["--set", "policy_kwargs.activation_fn=relux"], "Unknown activation 'relux'. Did you mean 'relu'?"),
        (["--set", "noequals"], "expected KEY=VALUE"),
        (["--vec-env", "subproc", "--set", "vec_env=threads"], "vec_env='threads' is invalid"),
        (["--algo", "RecurentPPO"], "Unknown algorithm 'RecurentPPO'. Did you mean 'recurrentppo'?"),
        (["--algo", "dqn", "--env", "Pendulum-v1"], "Algorithm 'dqn' does not support the action space Box"),
    ],
)
def test_bad_settings_give_one_line(tmp_path, capsys, args, expected):
    line = one_error_line(capsys, "--run-dir", tmp_path, "--dry-run", *args)
    assert expected in line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"attn/FindTarget-v0": {"n_env": 2}}, "unknown key 'n_env' in section 'attn/FindTarget-v0'. Did you mean"),
        ({"default": {"n_envs": "four"}}, "'n_envs: 'four'' in section 'default' must be a int"),
        ({"default": {"hyperparams": [1, 2]}}, "must be a dict"),
        ({"CartPole-v1": {"n_envs": 2}}, "has presets for CartPole-v1, not for 'attn/FindTarget-v0'"),
        ({"n_envs": 2}, "top-level key 'n_envs' is a setting, but a preset file is keyed by env id"),
    ],
)
def test_bad_config_files_give_one_line(tmp_path, capsys, data, expected):
    path = write(tmp_path / "preset.yaml", data)
    line = one_error_line(capsys, "--run-dir", tmp_path / "runs", "--config", path)
    assert expected in line and str(path) in line
    assert not (tmp_path / "runs").exists()


def test_config_file_that_is_not_yaml(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("default: {n_envs: [\n")
    assert "is not valid YAML" in one_error_line(capsys, "--config", path, "--dry-run")
    assert "No preset file at" in one_error_line(capsys, "--config", tmp_path / "nope.yaml", "--dry-run")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, tiny_config):
    run = agents.train(tiny_config(tmp_path_factory.mktemp("small")))
    return run.path


def test_model_trained_on_another_observation_space(small_run, capsys):
    line = one_error_line(capsys, "eval", small_run, "--episodes", "1", "--env-kwargs", "n_entities=16")
    assert "model.zip was trained on Box(8, 7), this env gives Box(16, 7)" in line
    with pytest.raises(ValueError, match=r"trained on Box\(8, 7\), this env gives Box\(4, 7\)"):
        agents.evaluate(small_run, episodes=1, env_kwargs={"n_entities": 4}, write=False)
    line = one_error_line(capsys, "eval", small_run, "--episodes", "1", "--env", "CartPole-v1")
    assert "trained on Box(8, 7), this env gives Box(4)" in line


def test_model_file_that_is_not_an_sb3_zip(tmp_path, capsys):
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("hello.txt", "not a model")
    line = one_error_line(capsys, "eval", other_zip, "--algo", "ppo", "--env", "attn/FindTarget-v0")
    assert f"{other_zip} is not a Stable-Baselines3 model zip for PPO" in line
    text = tmp_path / "model.zip"
    text.write_text("plain text")
    line = one_error_line(capsys, "eval", text, "--algo", "ppo", "--env", "attn/FindTarget-v0")
    assert "is not a Stable-Baselines3 model zip (not a zip file at all)" in line


def test_best_model_missing_is_explained(small_run, capsys):
    line = one_error_line(capsys, "eval", small_run, "--which", "best")
    assert "No best_model.zip in" in line and "--which last" in line
    result = agents.evaluate(small_run, episodes=1, write=False, which="last")
    assert np.isfinite(result.mean_return)


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


PRESET_FILES = sorted((ROOT / "configs").glob("*.yaml"))
PRESET_CASES = [
    pytest.param(
        path.stem,
        env,
        id=f"{path.stem}-{env}",
        marks=[
            pytest.mark.skipif("Lunar" in env and not _has("Box2D"), reason='needs pip install "attention-rl[box2d]"'),
            pytest.mark.skipif(
                any(k in env for k in ("highway", "intersection", "roundabout", "merge", "parking"))
                and not _has("highway_env"),
                reason='needs pip install "attention-rl[highway]"',
            ),
            pytest.mark.skipif(
                "MiniGrid" in env and not _has("minigrid"), reason='needs pip install "attention-rl[minigrid]"'
            ),
            pytest.mark.skipif(
                env.startswith("popgym-") and not _has("popgym"), reason='needs pip install "attention-rl[popgym]"'
            ),
        ],
    )
    for path in PRESET_FILES
    for env in yaml.safe_load(path.read_text())
    if env != "default"
]


def test_presets_cover_every_attn_env_and_the_promised_ones():
    import envs

    ppo = yaml.safe_load((ROOT / "configs" / "ppo.yaml").read_text())
    assert set(envs.ENV_SPECS) | {"CartPole-v1", "LunarLander-v3", "highway-fast-v0"} <= set(ppo)
    assert {path.stem for path in PRESET_FILES} == set(agents.ALGORITHMS.names())


@pytest.mark.parametrize(("algo", "env"), PRESET_CASES)
def test_every_preset_builds_its_model(algo, env):
    env, _, extractor = env.partition("@")  # an <env id>@<extractor> section: that extractor on that env
    report = agents.dry_run(RunConfig(env=env, algo=algo, n_envs=1, extractor=extractor or None))
    # An attention extractor has parameters; SB3's Flatten (extractor: mlp, the memory algorithms' POPGym
    # presets) has none.
    assert report.parameters > report.extractor_parameters >= (0 if report.config.extractor == "mlp" else 1)
    assert report.config.timesteps >= 10_000


def test_an_extractor_section_takes_the_place_of_the_env_section(tmp_path):
    conv = resolve(RunConfig(env="attn/PatchFind-v0", extractor="conv"))
    # no patch_size from the patches' section
    preset = {"head": "relu", "stem": "medium", "num_layers": 0, "top_k": 3, "top_k_per_head": True}
    assert conv.extractor_kwargs == preset
    assert resolve(RunConfig(env="attn/PatchFind-v0")).extractor_kwargs["patch_size"] == 8
    own = tmp_path / "own.yaml"
    own.write_text("attn/PatchFind-v0@conv:\n  extractor_kwargs:\n    stem: nature\n")
    from_file = resolve(RunConfig(env="attn/PatchFind-v0", extractor="conv", config_file=str(own)))
    # over the built-in one
    assert from_file.extractor_kwargs == {**preset, "stem": "nature"}


def test_eval_deterministic_comes_from_the_preset_and_flags_win(tmp_path):
    assert resolve(RunConfig(env="attn/FindTarget-v0")).eval_deterministic is True
    sampled = tmp_path / "sampled.yaml"
    sampled.write_text("attn/PatchFind-v0:\n  eval_deterministic: false\n")  # as rl-zoo evaluates Atari
    assert resolve(RunConfig(env="attn/PatchFind-v0", config_file=str(sampled))).eval_deterministic is False
    flag = RunConfig(env="attn/PatchFind-v0", config_file=str(sampled), eval_deterministic=True)
    assert resolve(flag).eval_deterministic is True
    preset = tmp_path / "p.yaml"
    preset.write_text("default:\n  eval_deterministic: 'no'\n")
    with pytest.raises(ValueError, match=r"eval_deterministic: 'no'.*must be a bool"):
        resolve(RunConfig(config_file=str(preset)))


@pytest.mark.slow
def test_evaluate_samples_when_the_run_was_evaluated_by_sampling(small_run):
    config_file = small_run / "config.yaml"
    original = config_file.read_text()
    assert agents.evaluate(small_run, episodes=2, write=False).deterministic is True
    try:
        config_file.write_text(yaml.safe_dump({**yaml.safe_load(original), "eval_deterministic": False}))
        assert agents.evaluate(small_run, episodes=2, write=False).deterministic is False
        assert agents.evaluate(small_run, episodes=2, write=False, deterministic=True).deterministic is True
    finally:
        config_file.write_text(original)
