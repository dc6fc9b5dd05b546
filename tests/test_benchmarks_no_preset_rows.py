"""benchmarks/no_preset.py: which settings each row's extractors train with."""

import importlib
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_rows_settings(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    no_preset = importlib.import_module("no_preset")
    lunar = no_preset.run_settings("LunarLander-v3", "mlp")
    assert lunar["n_envs"] == 16 and lunar["normalize"] is False  # rl-zoo's, completed with SB3's defaults
    assert lunar["hyperparams"]["gamma"] == 0.999 and lunar["hyperparams"]["learning_rate"] == 3.0e-4
    assert no_preset.run_settings("LunarLander-v3", "attention") == {}  # its preset
    for extractor in ("attention", "mlp"):  # no rl-zoo entry: the preset for both
        assert no_preset.run_settings("intersection-v2", extractor) == {}
    assert no_preset.setting_label("intersection-v2", "mlp") == "its preset (no rl-zoo entry), both extractors"


def test_same_settings_rows_keep_attentions_learning_rate_and_noise(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    no_preset = importlib.import_module("no_preset")
    mlp = no_preset.run_settings("Pendulum-v1", "mlp")["hyperparams"]
    assert mlp["learning_rate"] == 1.0e-3 and mlp["use_sde"] is True and mlp["sde_sample_freq"] == 4  # rl-zoo's
    attention = no_preset.run_settings("Pendulum-v1", "attention")["hyperparams"]
    assert attention["learning_rate"] == 3.0e-4 and attention["use_sde"] is False  # the default section's / SB3's
    assert "sde_sample_freq" not in attention and attention["gamma"] == mlp["gamma"] == 0.9  # the rest: rl-zoo's
    assert no_preset.run_settings("Pendulum-v1", "attention", own=False)["hyperparams"] == mlp
    assert no_preset.setting_label("Pendulum-v1", "attention") == (
        "rl-zoo's hyperparameters, lr 0.0003, no gSDE, rewards normalised"
    )
    assert no_preset.setting_label("MountainCar-v0", "attention") == (  # rl-zoo's rate and noise are its own
        "rl-zoo's hyperparameters, observations and rewards normalised"
    )


def test_render_keeps_the_latest_run_of_a_seed(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    no_preset = importlib.import_module("no_preset")

    def run(seed, greedy):
        return {"env": "Acrobot-v1", "algo": "ppo", "extractor": "attention", "seed": seed, "timesteps": 1000,
                "seconds": 1.0, "greedy": greedy, "sampled": greedy}  # fmt: skip

    section = no_preset.render([run(0, -500.0), run(1, -90.0), run(0, -80.0)])  # seed 0 re-run
    assert "| Acrobot-v1 | attention | defaults (no preset) | 1,000 | 2 | -85.0 [-90.0, -80.0] |" in section


def test_runs_side_by_side_keep_each_others_rows(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    no_preset = importlib.import_module("no_preset")
    results = tmp_path / "results.json"
    monkeypatch.setattr(no_preset, "RESULTS", results)
    monkeypatch.setattr(no_preset, "write_section", lambda *args: None)

    def run_one(env_id, extractor, seed, *args):
        other = {"env": env_id, "extractor": "mlp", "seed": seed, "timesteps": 1, "seconds": 1.0, "greedy": 0.0,
                 "sampled": 0.0}  # fmt: skip
        results.write_text(no_preset.json.dumps([*no_preset.read_results(), other]))  # another process's run
        return {**other, "extractor": extractor}

    monkeypatch.setattr(no_preset, "run_one", run_one)
    no_preset.main(["--rows", "Acrobot-v1", "--extractors", "attention", "--seeds", "0", "1"])
    assert [r["extractor"] for r in no_preset.read_results()] == ["mlp", "attention", "mlp", "attention"]
