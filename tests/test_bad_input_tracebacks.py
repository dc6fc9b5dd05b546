"""Inputs that used to end in a traceback (issue 15): each gets one line, exit code 2, nothing written."""

import pytest

import train_rl


def run_cli(capsys, *args):
    code = train_rl.main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err.strip().splitlines()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1", "--dry-run"], "seed=-1 is invalid: it must be an integer in [0, 4294967295]"),
        (["--device", "gpu0", "--dry-run"], "device='gpu0' is invalid: use auto, cpu, cuda or cuda:<index>"),
        (["--set", "n_envs=10000000", "--dry-run"], "n_envs=10000000 is invalid: it must be an integer in [1, 1024]"),
        (["--set", "policy_kwargs.net_arch=foo", "--dry-run"], "policy_kwargs.net_arch='foo' is invalid"),
        (["--set", "policy_kwargs.net_arch=[64, -1]", "--dry-run"], "policy_kwargs.net_arch=[64, -1] is invalid"),
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
