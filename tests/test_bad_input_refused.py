"""Inputs that ended in a traceback or a hang: each gets one line naming the value and the fix (exit code 2)."""

import re
import resource
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from conftest import TINY_PPO

import agents
import train_rl
from agents.pictures.learning_curves import run_label
from policies import AttentionExtractor
from policies.inputs import MAX_PARTS

ROOT = Path(train_rl.__file__).resolve().parent

#: A module of envs that break the rules, imported through ``--env attack_envs:<id>``.
ATTACK_ENVS = """
import numpy as np, gymnasium as gym
from gymnasium import spaces

SPACES = {
    "Tuple": lambda: spaces.Tuple((spaces.Box(0, 1, (3,)), spaces.Discrete(2))),
    "Nested": lambda: spaces.Dict({"a": spaces.Dict({"b": spaces.Box(0, 1, (3,))})}),
    "Text": lambda: spaces.Text(5),
    "Graph": lambda: spaces.Graph(spaces.Box(0, 1, (3,)), None),
    "Sequence": lambda: spaces.Sequence(spaces.Box(0, 1, (3,))),
    "Big": lambda: spaces.Box(0, 1, (100_000,)),
    "Flat": lambda: spaces.Box(0, 1, (3,)),
}

class Attack(gym.Env):
    def __init__(self, space="Flat", reward=0.0, allocate=False):
        if allocate:
            raise MemoryError("Unable to allocate 26.1 GiB for an array")
        self.observation_space = SPACES[space]()
        self.action_space = spaces.Discrete(2)
        self.reward, self.t = reward, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return self.observation_space.sample(), self.reward if self.t > 3 else 0.0, False, self.t >= 20, {}

for name in SPACES:
    gym.register(f"Attack{name}-v0", entry_point=Attack, kwargs={"space": name})
gym.register("AttackNan-v0", entry_point=Attack, kwargs={"reward": float("nan")})
gym.register("AttackInf-v0", entry_point=Attack, kwargs={"reward": float("inf")})
gym.register("AttackMemory-v0", entry_point=Attack, kwargs={"allocate": True})
"""


@pytest.fixture(scope="module")
def attack_modules(tmp_path_factory):
    """A folder on ``sys.path`` holding ``attack_envs`` and modules that fail at import."""
    folder = tmp_path_factory.mktemp("modules")
    (folder / "attack_envs.py").write_text(textwrap.dedent(ATTACK_ENVS))
    (folder / "raises_runtime.py").write_text("raise RuntimeError('boom at import')\n")
    (folder / "raises_syntax.py").write_text("def broken(:\n")
    (folder / "raises_exit.py").write_text("import sys\nsys.exit(3)\n")
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


def run_cli(capsys, *args):
    code = train_rl.main([str(a) for a in args])
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if "Warning" not in line and not line.startswith(" ")]
    return code, lines


def assert_one_line(code, lines, message):
    assert code == 2 and len(lines) == 1 and message in lines[0], lines


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 128-step run with checkpoints every 32 steps, made once for the module."""
    root = tmp_path_factory.mktemp("runs")
    config = agents.RunConfig(
        run_root=str(root), timesteps=128, n_envs=1, eval_episodes=1, eval_freq=0, save_freq=32, progress_bar=False,
        hyperparams=dict(TINY_PPO),
    )  # fmt: skip
    return agents.train(config).path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "hyperparams.n_steps=1000000000"], "The rollout buffer (hyperparams.n_steps=1000000000 x n_envs"),
        (["--set", "extractor_kwargs.features_dim=2000000000"], "lower extractor_kwargs.features_dim"),
        (["--algo", "ppo_trxl", "--set", "policy_kwargs.memory_length=100000000"], "policy_kwargs.memory_length"),
        (["--algo", "dqn", "--env", "CartPole-v1", "--set", "hyperparams.buffer_size=10000000000"], "replay buffer"),
    ],
)
def test_settings_that_cannot_fit_in_memory_are_refused_before_allocating(capsys, args, message):
    code, lines = run_cli(capsys, *args, "--dry-run")
    assert_one_line(code, lines, message)
    assert "of memory available" in lines[0]


def test_an_env_that_runs_out_of_memory_is_named(capsys, attack_modules):
    code, lines = run_cli(capsys, "--env", "attack_envs:AttackMemory-v0", "--dry-run")
    assert_one_line(code, lines, "Making attack_envs:AttackMemory-v0 with env_kwargs {} ran out of memory")


@pytest.mark.slow
def test_a_huge_env_setting_is_refused_under_safe_eval(finished, tmp_path, capsys):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["env_kwargs"] = {**config.get("env_kwargs", {}), "n_entities": 1_000_000_000}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    shutil.rmtree(run_dir / "checkpoints")  # no recorded config to compare the edit with
    code, lines = run_cli(capsys, "eval", run_dir, "--safe", "--episodes", "1")
    assert_one_line(code, lines, "n_entities=1000000000 is invalid: it must be an integer in [2, 1024]")


def _limited_memory() -> None:
    """``preexec_fn``: at most 3 GiB of address space, so a regression fails fast instead of filling the memory."""
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


@pytest.mark.slow
def test_a_run_file_linked_to_dev_zero_is_refused(finished, tmp_path):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    (run_dir / "config.yaml").unlink()
    (run_dir / "config.yaml").symlink_to("/dev/zero")
    commands = [
        ["eval", str(run_dir), "--episodes", "1"],
        ["eval", str(run_dir), "--episodes", "1", "--safe"],
        ["plot", str(run_dir), "--out", str(tmp_path / "p.png")],
    ]
    # One memory-limited process runs the three command lines through train_rl.main, each followed by its exit code.
    script = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import train_rl\n"
    script += f"for argv in {commands!r}:\n    print('exit', train_rl.main(argv), file=sys.stderr, flush=True)\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, timeout=300, preexec_fn=_limited_memory, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    parts = re.split(r"^exit (\d+)$", done.stderr, flags=re.MULTILINE)  # output, code, output, code, ...
    outputs, codes = parts[0:-1:2], parts[1::2]
    assert codes == ["2"] * len(commands), done.stderr[-2000:]
    for output in outputs:
        lines = [line for line in output.splitlines() if "error:" in line]
        assert len(lines) == 1, output[-2000:]
        assert "config.yaml is not a regular file" in lines[0]


def test_an_oversized_config_is_refused(finished, tmp_path, capsys):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    (run_dir / "config.yaml").write_text("# padding\n" * 200_000)
    code, lines = run_cli(capsys, "eval", run_dir, "--episodes", "1")
    assert_one_line(code, lines, "config.yaml holds 2,000,000 bytes, more than the 1,048,576")


@pytest.mark.parametrize("device", ["meta", "mps", "xla", "garbage"])
def test_devices_torch_cannot_use_here_are_refused(finished, capsys, device):
    code, lines = run_cli(capsys, "--device", device, "--dry-run")
    assert_one_line(code, lines, f"device='{device}' is invalid or not available here")
    code, lines = run_cli(capsys, "eval", finished, "--episodes", "1", "--device", device)
    assert_one_line(code, lines, f"device='{device}' is invalid or not available here")


@pytest.mark.parametrize(
    ("module", "error"),
    [
        ("raises_runtime", "RuntimeError: boom at import"),
        ("raises_syntax", "SyntaxError"),
        ("raises_exit", "SystemExit"),
    ],
)
def test_a_module_that_fails_at_import_is_named(capsys, attack_modules, module, error):
    code, lines = run_cli(capsys, "--env", f"{module}:Env-v0", "--dry-run")
    assert_one_line(code, lines, f"Importing gym package '{module}' failed inside the module: {error}")


@pytest.mark.parametrize("space", ["Tuple", "Nested", "Text", "Graph", "Sequence"])
def test_observation_spaces_no_tokenizer_takes_are_named(capsys, attack_modules, space):
    code, lines = run_cli(capsys, "--env", f"attack_envs:Attack{space}-v0", "--dry-run")
    assert_one_line(code, lines, "which Stable-Baselines3 and the tokenizers do not take: supported are Box")


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Text(5),
        gym.spaces.Graph(gym.spaces.Box(0, 1, (3,)), None),
        gym.spaces.Sequence(gym.spaces.Box(0, 1, (3,))),
    ],
)
def test_the_extractor_names_a_space_it_does_not_take(space):
    with pytest.raises(TypeError, match="No tokenizer supports the observation space"):
        AttentionExtractor(space)


def test_a_box_of_too_many_parts_is_refused_before_it_is_built(capsys, attack_modules):
    with pytest.raises(ValueError, match=f"makes 100,000 parts, more than the {MAX_PARTS:,} attention takes"):
        AttentionExtractor(gym.spaces.Box(0, 1, (100_000,)))
    code, lines = run_cli(capsys, "--env", "attack_envs:AttackBig-v0", "--dry-run")
    assert_one_line(code, lines, "makes 100,000 parts")


@pytest.mark.parametrize(("env", "value"), [("AttackNan-v0", "nan"), ("AttackInf-v0", "inf")])
def test_a_non_finite_reward_is_named_as_the_envs(tmp_path, capsys, attack_modules, env, value):
    code, lines = run_cli(
        capsys, "--env", f"attack_envs:{env}", "--timesteps", "128", "--n-envs", "1", "--no-progress-bar",
        "--run-dir", tmp_path, "--eval-episodes", "0", "--set", *(f"hyperparams.{k}={v}" for k, v in TINY_PPO.items()),
    )  # fmt: skip
    assert_one_line(code, lines, f"returned a non-finite reward ({value}) at step 4 (env 0 of the VecEnv)")


def test_the_extractor_converts_numpy_and_other_floats_and_names_integers():
    extractor = AttentionExtractor(gym.spaces.Box(-1, 1, (4, 3)))
    batch = torch.rand(2, 4, 3)
    expected = extractor(batch)
    for given in (batch.double(), batch.numpy(), batch.numpy().astype(np.float64)):
        torch.testing.assert_close(extractor(given), expected)
    for given in (batch.long(), (batch * 255).to(torch.uint8), batch.numpy().astype(np.int32)):
        with pytest.raises(TypeError, match="the extractor takes floats as SB3's policy passes them"):
            extractor(given)
    with pytest.raises(TypeError, match="observations of type list"):
        extractor(batch.tolist())


def _damage(path, how):
    """Flip a byte inside ``policy.pth`` (a CRC error) or cut it in half (a whole zip of a cut entry)."""
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
        info = archive.getinfo("policy.pth")
    if how == "crc":
        data = bytearray(path.read_bytes())
        data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 200] ^= 0xFF
        path.write_bytes(bytes(data))
        return
    files["policy.pth"] = files["policy.pth"][: len(files["policy.pth"]) // 2]
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)


@pytest.mark.parametrize("how", ["crc", "cut"])
def test_a_checkpoint_with_damaged_weights_falls_back_to_the_one_before(finished, tmp_path, capsys, how):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    (run_dir / "model.zip").unlink()
    _damage(run_dir / "checkpoints" / "model_128.zip", how)
    with pytest.warns(UserWarning, match="model_128.zip is damaged .*: passed over for the one before it"):
        assert train_rl.main(["eval", str(run_dir), "--episodes", "1"]) == 0
    assert "model_96_eval.json" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="model_128.zip is damaged"):
        assert train_rl.main(["--resume", str(run_dir), "--no-progress-bar"]) == 0
    assert "resumed from 96 steps" in capsys.readouterr().out


def test_a_model_zip_with_a_crc_error_is_named(finished, tmp_path, capsys):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    _damage(run_dir / "model.zip", "crc")
    code, lines = run_cli(capsys, "eval", run_dir, "--episodes", "1")
    assert_one_line(code, lines, "model.zip is not a Stable-Baselines3 model zip for PPO (its entry policy.pth fails")


def test_onnx_eval_names_another_env_and_a_foreign_file(finished, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    exported = tmp_path / "policy.onnx"
    assert train_rl.main(["export", str(finished), "--out", str(exported)]) == 0
    code, lines = run_cli(capsys, "eval", "--onnx", exported, "--env", "CartPole-v1", "--episodes", "1")
    assert_one_line(code, lines, "takes observations 'obs' shaped [8, 7], but CartPole-v1 gives Box(4)")
    foreign = tmp_path / "foreign.onnx"
    torch.onnx.export(torch.nn.Linear(4, 2), torch.zeros(1, 4), str(foreign), input_names=["obs"], dynamo=False)
    code, lines = run_cli(capsys, "eval", "--onnx", foreign, "--env", "CartPole-v1", "--episodes", "1")
    assert_one_line(code, lines, "has no 'action' output")


@pytest.mark.parametrize(
    ("content", "label"),
    [("- a\n- b\n", "run"), ("env: [1, 2]\nalgo: {x: 1}\nextractor: 3\n", "run"), ("algo: ppo\n", "run")],
)
def test_plot_takes_a_foreign_config_by_its_folder_name(finished, tmp_path, capsys, content, label):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    (run_dir / "config.yaml").write_text(content)
    assert run_label(run_dir) == label
    assert train_rl.main(["plot", str(run_dir), "--out", str(tmp_path / "curves.png")]) == 0


def test_plot_names_a_config_that_is_no_yaml(finished, tmp_path, capsys):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    (run_dir / "config.yaml").write_text("algo: [unclosed\n")
    code, lines = run_cli(capsys, "plot", run_dir, "--out", tmp_path / "curves.png")
    assert_one_line(code, lines, "config.yaml is not valid YAML")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threads", "0"], "threads=0 is invalid: it must be an integer >= 1"),
        (["--seed", "-5"], "seed=-5 is invalid: it must be an integer in [0, 4294967295]"),
    ],
)
def test_eval_names_a_bad_thread_count_or_seed(finished, capsys, args, message):
    code, lines = run_cli(capsys, "eval", finished, "--episodes", "1", *args)
    assert_one_line(code, lines, message)


def test_plot_names_a_bad_window_and_a_folder_as_out(finished, tmp_path, capsys):
    code, lines = run_cli(capsys, "plot", finished, "--window", "0", "--out", tmp_path / "curves.png")
    assert_one_line(code, lines, "window=0 is invalid: it must be an integer >= 1")
    code, lines = run_cli(capsys, "plot", finished, "--out", tmp_path)
    assert_one_line(code, lines, f"--out {tmp_path} is a folder: give the PNG file to write")
    assert train_rl.main(["plot", str(finished), "--out", str(tmp_path / "curves")]) == 0
    assert f"Learning curves: {tmp_path / 'curves.png'}" in capsys.readouterr().out
    assert (tmp_path / "curves.png").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "extractor_kwargs.num_layers=100000"],
            "num_layers=100000 is invalid: it must be an integer in [0, 64]",
        ),
        (
            ["--algo", "ppo_trxl", "--set", "policy_kwargs.memory_layers=100000"],
            "memory_layers=100000 is invalid: it must be an integer in [1, 64]",
        ),
    ],
)
def test_a_stack_of_blocks_too_deep_to_build_is_refused(capsys, args, message):
    code, lines = run_cli(capsys, *args, "--dry-run")
    assert_one_line(code, lines, message)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("best_model.json", '{"mean_reward": "x"}', "best_model.json is damaged (no numbers mean_reward"),
        ("best_model.json", '{"mean_reward": 1', "best_model.json is damaged (not valid JSON"),
        ("evaluations.npz", "garbage", "evaluations.npz is damaged"),
    ],
)
def test_resume_names_a_damaged_run_file(finished, tmp_path, capsys, name, content, message):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    (run_dir / name).write_text(content)
    code, lines = run_cli(capsys, "--resume", run_dir, "--timesteps", "160", "--eval-freq", "32", "--no-progress-bar")
    assert_one_line(code, lines, message)


def test_plot_names_a_monitor_file_without_its_header(finished, tmp_path, capsys):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    (run_dir / "monitor" / "0.monitor.csv").write_text("#{bad json\nr,l,t\n1,2,3\n")
    code, lines = run_cli(capsys, "plot", run_dir, "--out", tmp_path / "curves.png")
    assert_one_line(code, lines, "0.monitor.csv: its first line is not the JSON header SB3's Monitor writes")


def test_sweep_names_a_local_ray_without_cpus(tmp_path, capsys):
    pytest.importorskip("ray")
    code, lines = run_cli(capsys, "sweep", "--num-cpus", "0", "--run-dir", tmp_path)
    assert_one_line(code, lines, "--num-cpus 0: the local Ray needs at least 1 CPU")
