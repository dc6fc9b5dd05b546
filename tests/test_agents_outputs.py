"""No command writes over a model, a run's file or through a link unless told to (``--overwrite``)."""

import os
import shutil
from pathlib import Path

import pytest

import agents
import train_rl
from agents.storage.outputs import check_output, check_output_folder


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_config):
    """A CartPole run of 32 steps (trained once for the module)."""
    return agents.train(tiny_config(tmp_path_factory.mktemp("runs"), env="CartPole-v1")).path


@pytest.fixture
def run(finished_run, tmp_path) -> Path:
    """A copy of the finished run, for a test to attack."""
    return Path(shutil.copytree(finished_run, tmp_path / "runs" / "CartPole-v1" / "ppo_attention_s0"))


def _refused(argv: list[str], capsys: pytest.CaptureFixture, pattern: str) -> None:
    import re

    assert train_rl.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(pattern, err), err


def test_eval_video_and_export_never_replace_the_model(run, capsys):
    pytest.importorskip("moviepy", reason="--video writes a gif beside the path without moviepy (the video extra)")
    pytest.importorskip("pygame", reason="CartPole renders with pygame")
    model = (run / "model.zip").read_bytes()
    _refused(["eval", str(run), "--episodes", "1", "--video", str(run / "model.zip")], capsys, r"model\.zip exists "
             r"and is a model: refusing to replace it; pass --overwrite")  # fmt: skip
    assert not (run / "eval_last.json").exists()  # refused before the episodes ran
    _refused(["export", str(run), "--out", str(run / "model.zip")], capsys, r"model\.zip exists and is a model")
    checkpoint = next((run / "checkpoints").glob("model_*.zip"))
    _refused(["export", str(run), "--out", str(checkpoint)], capsys, r"model_\d+\.zip exists and is a model")
    _refused(["export", str(run), "--out", str(run / "config.yaml")], capsys, r"config\.yaml exists and is a run con")
    assert (run / "model.zip").read_bytes() == model


def test_eval_safe_video_never_writes_through_a_planted_link(run, tmp_path, capsys, monkeypatch):
    import agents.pictures.eval_video

    monkeypatch.setattr(agents.pictures.eval_video, "has_moviepy", lambda: False)  # the core install writes a gif
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run / "eval.gif").symlink_to(victim)
    argv = ["eval", str(run), "--safe", "--episodes", "1", "--video", "--video-episodes", "1"]
    _refused(argv, capsys, r"eval\.gif is a symbolic link: refusing to write through it; pass --overwrite")
    assert victim.read_text() == "precious"
    pytest.importorskip("pygame", reason="CartPole renders its frames with pygame")
    assert train_rl.main([*argv, "--overwrite"]) == 0  # replaces the link itself, never what it points to
    assert victim.read_text() == "precious"
    assert not (run / "eval.gif").is_symlink() and (run / "eval.gif").read_bytes()[:3] == b"GIF"
    assert train_rl.main(argv) == 0  # the run's own video is updated without asking


def test_plot_and_runs_keep_out_of_other_runs(run, tmp_path, capsys):
    for name in ("progress.csv", "vecnormalize.npz", "model.zip"):
        (run / name).touch(exist_ok=True)
        _refused(["plot", str(run), "--out", str(run / name)], capsys, rf"{name} exists and is .*pass --overwrite")
    outside = tmp_path / "curves.png"
    outside.write_text("an old plot")
    assert train_rl.main(["plot", str(run), "--out", str(outside)]) == 0  # an ordinary output is replaced
    assert outside.read_bytes()[:4] == b"\x89PNG"
    inside = r"--run-dir .*checkpoints lies inside the run folder .*ppo_attention_s0: give a folder outside"
    _refused(["--env", "CartPole-v1", "--timesteps", "32", "--run-dir", str(run / "checkpoints")], capsys, inside)
    assert [p.name for p in (run / "checkpoints").iterdir() if p.is_dir()] == []
    _refused(["sweep", "--env", "CartPole-v1", "--run-dir", str(run)], capsys, r"lies inside the run folder")
    _refused(["sweep", "--env", "CartPole-v1", "--name", "../../x"], capsys, r"--name '\.\./\.\./x': give a plain")


def test_check_output_is_the_one_rule(run, tmp_path):
    assert check_output(tmp_path / "new.onnx") == tmp_path / "new.onnx"
    assert check_output(run / "eval_last.json", own=[run / "eval_last.json"]) == run / "eval_last.json"
    assert check_output(run / "model.zip", overwrite=True) == run / "model.zip"
    (run / "link.mp4").symlink_to(tmp_path / "nowhere")  # a dangling link is still a link
    with pytest.raises(ValueError, match=r"link\.mp4 is a symbolic link"):
        check_output(run / "link.mp4", own=[run / "link.mp4"])
    with pytest.raises(ValueError, match=r"is a folder: give a file name"):
        check_output(run / "checkpoints", overwrite=True)
    with pytest.raises(ValueError, match=r"progress\.csv exists and is a file of the run"):
        check_output(run / "progress.csv")
    with pytest.raises(TypeError, match=r"overwrite='yes' must be True or False"):
        check_output(tmp_path / "x.png", overwrite="yes")
    with pytest.raises(ValueError, match=r"--run-dir .*model\.zip: it is a file"):
        check_output_folder(run / "model.zip", "--run-dir")
    assert check_output_folder(tmp_path / "elsewhere", "--run-dir") == tmp_path / "elsewhere"


def test_eval_result_file_is_never_written_through_a_link(run, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run / "eval_last.json").symlink_to(victim)
    _refused(["eval", str(run), "--episodes", "1"], capsys, r"eval_last\.json is a symbolic link.*--overwrite")
    assert train_rl.main(["eval", str(run), "--episodes", "1", "--overwrite"]) == 0
    assert victim.read_text() == "precious" and not (run / "eval_last.json").is_symlink()


def test_a_link_planted_at_the_temporary_name_is_not_written_through(run, tmp_path):
    from agents.pictures.learning_curves import plot_runs

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run / ".curves.tmp.png").symlink_to(victim)  # where the atomic write puts its temporary file
    out = plot_runs([run], run / "curves.png", window=5)
    assert victim.read_text() == "precious" and out.read_bytes()[:4] == b"\x89PNG"
    assert not (run / ".curves.tmp.png").exists()


def test_a_device_or_pipe_is_never_written_even_with_overwrite(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (Path("/dev/null"), fifo):
        for overwrite in (False, True):
            with pytest.raises(ValueError, match="is not a regular file"):
                check_output(path, overwrite=overwrite)
