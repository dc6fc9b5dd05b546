"""Inputs that used to end in a traceback: each gets one line, exit code 2, nothing written."""

import os
import shutil
import stat
import sys
import zipfile

import pytest
from conftest import TINY_PPO

import agents
import train_rl
from agents.training import final_evaluation


def run_cli(capsys, *args):
    code = train_rl.main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err.strip().splitlines()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1", "--dry-run"], "seed=-1 is invalid: it must be an integer in [0, 4294967295]"),
        (["--device", "gpu0", "--dry-run"], "device='gpu0' is invalid or not available here"),
        (["--set", "n_envs=10000000", "--dry-run"], "n_envs=10000000 is invalid: it must be an integer in [1, 1024]"),
        (["--set", "policy_kwargs.net_arch=foo", "--dry-run"], "policy_kwargs.net_arch='foo' is invalid"),
        (["--set", "policy_kwargs.net_arch=[64, -1]", "--dry-run"], "policy_kwargs.net_arch=[64, -1] is invalid"),
        (["--set", "hyperparams.target_kl=abc", "--dry-run"], "hyperparams.target_kl='abc' has the wrong type"),
        (["--set", "hyperparams.rollout_buffer_kwargs=3", "--dry-run"], "wants a mapping"),
        (
            ["--set", "policy_kwargs.optimizer_kwargs={eps: abc}", "--dry-run"],
            "Building ppo on attn/FindTarget-v0 failed with these settings",
        ),
    ],
)
def test_bad_settings_say_one_line(capsys, args, message):
    code, lines = run_cli(capsys, *args)
    assert code == 2 and len(lines) == 1 and message in lines[0], lines


def test_a_binary_or_tagged_config_file_is_named(tmp_path, capsys):
    binary = tmp_path / "preset.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81binary")
    code, lines = run_cli(capsys, "--config", binary, "--dry-run")
    assert code == 2 and f"{binary} is not a text file" in lines[0]
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("default: !!python/object/apply:os.system ['echo hi']\n")
    code, lines = run_cli(capsys, "--config", tagged, "--dry-run")
    assert code == 2 and f"{tagged} is not valid YAML" in lines[0]


def test_a_run_dir_that_is_a_file_is_refused_before_anything_is_written(tmp_path, capsys):
    target = tmp_path / "runs"
    target.write_text("not a folder")
    code, lines = run_cli(capsys, "--run-dir", target, "--timesteps", "64", "--no-progress-bar")
    assert code == 2 and len(lines) == 1 and "is a file, not a folder" in lines[0]


def test_a_run_whose_config_does_not_parse_is_named(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.zip").write_bytes(b"x")
    (run_dir / "config.yaml").write_text("algo: [unclosed\n")
    code, lines = run_cli(capsys, "eval", run_dir)
    assert code == 2 and len(lines) == 1 and "config.yaml is not valid YAML" in lines[0]
    code, lines = run_cli(capsys, "--resume", run_dir)
    assert code == 2 and "config.yaml is not valid YAML" in lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 64-step run (with its final evaluation), made once for the module."""
    root = tmp_path_factory.mktemp("runs")
    config = agents.RunConfig(
        run_root=str(root), timesteps=64, n_envs=1, eval_episodes=1, eval_freq=0, progress_bar=False,
        hyperparams=dict(TINY_PPO),
    )  # fmt: skip
    return agents.train(config).path


def _rewrite_entry(model_zip, name, cut):
    with zipfile.ZipFile(model_zip) as archive:
        files = {entry: archive.read(entry) for entry in archive.namelist()}
    files[name] = cut(files[name])
    with zipfile.ZipFile(model_zip, "w") as archive:
        for entry, content in files.items():
            archive.writestr(entry, content)


@pytest.mark.parametrize(
    ("entry", "cut", "message"),
    [
        ("policy.pth", lambda b: b"garbage", "the weights inside it (policy.pth) are damaged"),
        ("data", lambda b: b[: len(b) // 2], "its 'data' entry is not valid JSON"),
    ],
)
def test_a_damaged_entry_of_a_model_zip_is_named(finished, tmp_path, capsys, entry, cut, message):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    _rewrite_entry(run_dir / "model.zip", entry, cut)
    code, lines = run_cli(capsys, "eval", run_dir, "--episodes", "1")
    assert code == 2 and len(lines) == 1 and f"model.zip: {message}" in lines[0], lines


@pytest.mark.parametrize(
    ("where", "stage"),
    [("save", "the final save"), ("evaluation", "the final evaluation")],
)
def test_ctrl_c_during_the_final_save_or_evaluation_says_how_to_finish(tmp_path, capsys, monkeypatch, where, stage):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "save":
        monkeypatch.setattr(sys.modules["agents.training.train"], "save_with_stats", interrupt)
    else:
        monkeypatch.setattr(final_evaluation, "evaluate_model", interrupt)
    code, lines = run_cli(
        capsys, "--timesteps", "32", "--eval-episodes", "1", "--no-progress-bar", "--run-dir", tmp_path,
        "--set", "hyperparams.n_steps=32", "hyperparams.batch_size=32", "hyperparams.n_epochs=1",
    )  # fmt: skip
    assert code == 130 and len(lines) == 1, lines
    assert f"interrupted (Ctrl-C) during {stage}" in lines[0] and "python train_rl.py --resume" in lines[0]


def test_run_files_get_the_same_permissions_as_the_models(finished):
    mode = stat.S_IMODE(os.stat(finished / "model.zip").st_mode)
    for name in ("config.yaml", "command.txt", "eval.json", "checkpoints/config.yaml"):
        if (finished / name).is_file():
            assert stat.S_IMODE(os.stat(finished / name).st_mode) == mode, name


def test_the_tensorboard_hint_names_a_folder_that_holds_the_run(finished, tmp_path, capsys):
    moved = shutil.copytree(finished, tmp_path / "elsewhere")  # not under <root>/<env>/ any more
    assert train_rl.main(["--resume", str(moved), "--timesteps", "96", "--no-progress-bar"]) == 0
    assert f"tensorboard --logdir {moved}\n" in capsys.readouterr().out
