"""Seeing where the agent looks: tensorboard pictures and histograms, hparams, focus table, videos, plots."""

import dataclasses
import io
import subprocess
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import agents
import envs  # noqa: F401
from agents.evaluation.focus_stats import format_focus_table, summarize_report
from agents.evaluation.probe import collect_probe
from agents.pictures import learning_curves
from agents.pictures.eval_video import has_moviepy, record_video
from agents.pictures.learning_curves import plot_runs
from agents.pictures.part_pictures import TITLE_HEIGHT
from agents.pictures.probe_pictures import attention_pictures
from agents.setup.resolution import resolve
from policies import AttentionReport, attention_report

ROOT = Path(__file__).resolve().parent.parent
#: The module's run: 768 steps on 2 envs, attention logged every 300 steps, a final evaluation of 2 episodes.
VISUALIZE_RUN = dict(
    timesteps=768,
    n_envs=2,
    eval_episodes=2,
    eval_freq=10_000,
    attention_log_interval=300,
    hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 1},
)


#: Videos of episodes of at most 12 steps: what a test of the frames needs, at a fraction of a full episode's drawing.
SHORT_EPISODES = {"max_episode_steps": 12}


def events_of(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "histograms": 0, "scalars": 0, "tensors": 0})
    events.Reload()
    return events


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_config) -> agents.Run:
    """PPO + attention on FindTarget: 2 envs x 64 steps per rollout, 768 steps, attention every 300 steps."""
    return agents.train(tiny_config(tmp_path_factory.mktemp("visualize"), **VISUALIZE_RUN))


@pytest.mark.slow
def test_scalars_follow_the_interval(run):
    events = events_of(run.path)
    tags = set(events.Tags()["scalars"])
    assert "attention/causal/focus/entity_0" in tags  # per part: the first method's focus only
    assert not any(t.startswith(("attention/rollout/focus/", "attention/readout/focus/")) for t in tags)
    for method in ("causal", "rollout", "readout"):
        for prefix in ("attention", "attention/probe"):
            for stat in ("entropy", "top1_mass", "relevant_mass"):
                assert f"{prefix}/{method}/{stat}" in tags, f"{prefix}/{method}/{stat}"
    for method in ("rollout", "readout"):  # scored against causal; causal itself is the reference
        for tag in (f"attention/faithfulness/{method}", f"attention/faithfulness/probe/{method}"):
            assert tag in tags, tag
        assert f"attention/deletion_ratio/probe/{method}" in tags
    assert not any(t.endswith("/causal") for t in tags if "faithfulness" in t or "deletion_ratio" in t)
    assert {"attention/causal/relevant_effect", "attention/probe/causal/relevant_effect"} <= tags  # causal only
    assert not any(t.endswith("relevant_effect") for t in tags if "/causal/" not in t)
    # Rollouts of 128 steps: the first rollout logs, then the first rollout ending >= 300 steps after the last log.
    assert [e.step for e in events.Scalars("attention/causal/entropy")] == [128, 512]
    # The probe is reported on once more at the end of training.
    assert [e.step for e in events.Scalars("attention/probe/causal/entropy")] == [128, 512, 768]
    for method in ("causal", "rollout", "readout"):
        assert all(0.0 <= e.value <= 1.0 for e in events.Scalars(f"attention/probe/{method}/relevant_mass"))
    assert all(-1.0 <= e.value <= 1.0 for e in events.Scalars("attention/faithfulness/probe/rollout"))


def test_images_decode_to_their_shape(run):
    events = events_of(run.path)
    images = set(events.Tags()["images"])
    methods = ("causal", "rollout", "readout")
    # the methods' heatmaps side by side in one image, the heads' raw weights in another, an overlay per method
    assert images == {"attention/heatmap", "attention/weights", *(f"attention/overlay/{m}" for m in methods)}
    for tag in images:
        logged = events.Images(tag)
        assert [e.step for e in logged] == [768]  # pictures every 50k steps by default, and at the end
        for event in logged:
            picture = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))
            assert picture.shape == (event.height, event.width, 3) and picture.dtype == np.uint8
            assert picture.std() > 10  # not blank
    overlay = events.Images("attention/overlay/causal")[-1]
    # 4 arenas of 128 px scaled x2 with 4 px gaps, under a title strip naming the method
    assert (overlay.height, overlay.width) == (TITLE_HEIGHT + 256, 4 * 256 + 3 * 4)


@pytest.mark.slow
def test_final_pictures_when_the_last_rollout_logged_at_the_last_step(tmp_path, tiny_config):
    # Both rollouts log (interval 100 <= 128 steps): the end of training adds the pictures, and no second set of
    # scalars at the same step. Ctrl-C right after a rollout ends takes the same path.
    config = tiny_config(
        tmp_path, **{**VISUALIZE_RUN, "timesteps": 256, "attention_log_interval": 100, "eval_episodes": 0}
    )
    events = events_of(agents.train(config).path)
    assert [e.step for e in events.Scalars("attention/probe/causal/entropy")] == [128, 256]
    assert [e.step for e in events.Images("attention/overlay/causal")] == [256]


def test_focus_histogram(run):
    events = events_of(run.path)
    assert set(events.Tags()["histograms"]) == {"attention/causal/focus_hist"}
    logged = events.Histograms("attention/causal/focus_hist")
    assert [e.step for e in logged] == [128, 512]
    histogram = logged[0].histogram_value
    assert histogram.num == 128 * 8  # the rollout's 128 observations x 8 real entity rows
    assert 0.0 <= histogram.min <= histogram.max <= 1.0
    assert histogram.sum == pytest.approx(128, rel=1e-4)  # each observation's focus sums to 1


def test_hyperparameters_table_when_training_starts(run):
    events = events_of(run.path)
    (text,) = events.Tensors("hyperparameters/text_summary")
    table = text.tensor_proto.string_val[0].decode()
    assert text.step == 0 and table.startswith("| parameter | value |\n|---|---|\n")
    assert "| hyperparams/n_steps | 64 |" in table and "| extractor | attention |" in table
    header = (run.path / "progress.csv").read_text().splitlines()[0].split(",")  # the table adds no CSV row
    assert "time/fps" in header  # steps per second: SB3's own scalar


def test_hparams_with_eval_metrics(run):
    events = events_of(run.path)
    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    names = {h.name for h in experiment.hparam_infos}
    assert {"algo", "extractor", "seed", "hyperparams/n_steps", "extractor_kwargs/num_layers"} <= names
    metrics = {m.name.tag for m in experiment.metric_infos}
    per_method = {f"eval/{m}/relevant_mass" for m in ("causal", "rollout", "readout")}
    faithfulness = {"eval/faithfulness/rollout", "eval/faithfulness/readout"}
    assert metrics == {"eval/mean_reward", "eval/success_rate", "eval/relevant_mass", *per_method, *faithfulness}
    assert metrics <= set(events.Tags()["scalars"])  # tensorboard reads the metric values from the scalars


def test_no_attention_log_when_off(tmp_path, tiny_config):
    run = agents.train(tiny_config(tmp_path, **{**VISUALIZE_RUN, "timesteps": 128, "eval_episodes": 0,
                                                "attention_log_interval": 0}))  # fmt: skip
    tags = events_of(run.path).Tags()
    assert not any(t.startswith("attention/") for t in tags["scalars"]) and not tags["images"]


def test_patch_overlay_and_query_heatmaps_for_images():
    config = resolve(agents.RunConfig(env="attn/PatchFind-v0", n_envs=1, extractor_kwargs={"num_layers": 1}))
    env = agents.make_env(config, 1, 0)
    model = agents.build_model(config, env)
    env.close()
    probe = collect_probe(gym.make("attn/PatchFind-v0", render_mode="rgb_array"), size=16, seed=3, stride=2)
    assert probe.observations.shape == (16, 48, 48, 3)
    assert sum(f is not None for f in probe.frames) == 8
    report = attention_report(model, probe.observations, method="rollout")
    pictures = attention_pictures(report, probe)
    assert set(pictures) == {"attention/weights", "attention/heatmap", "attention/overlay/rollout"}
    assert pictures["attention/overlay/rollout"].shape == (TITLE_HEIGHT + 192, 4 * 192 + 3 * 4, 3)  # 48 px x4
    assert pictures["attention/weights"].dtype == np.uint8


def test_heatmap_outlines_relevant_cells_and_draws_each_method():
    from agents.pictures.drawing import RELEVANT_DASH
    from agents.pictures.heatmaps import heatmap_panels

    focus = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    image = heatmap_panels([(focus, "causal"), (focus[:, ::-1], "readout")], ["a", "b", "c"], ["o0", "o1"], [[0], None])
    assert image.dtype == np.uint8 and image.ndim == 3
    dashes = np.all(image == RELEVANT_DASH[0], axis=-1)  # the marker's black dashes: nothing else is black
    assert dashes.any()  # the relevant cell of row 0 is outlined, in both panels
    left, right = dashes[:, : image.shape[1] // 2], dashes[:, image.shape[1] // 2 :]
    assert left.sum() == right.sum() > 0


def test_same_seed_same_probe():
    first = collect_probe(gym.make("attn/FindTarget-v0"), size=8, seed=1)
    second = collect_probe(gym.make("attn/FindTarget-v0"), size=8, seed=1)
    np.testing.assert_array_equal(first.observations, second.observations)
    assert [r.tolist() for r in first.relevant] == [r.tolist() for r in second.relevant]


def test_probe_without_a_renderer_goes_on_without_frames(monkeypatch):
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    calls = []

    def missing_pygame():  # what CartPole's render raises on a core install (no pygame)
        calls.append(1)
        raise gym.error.DependencyNotInstalled("pygame is not installed")

    monkeypatch.setattr(env, "render", missing_pygame)
    probe = collect_probe(env, size=8, seed=0, stride=1)
    assert probe.observations.shape == (8, 4) and probe.frames == [None] * 8
    assert len(calls) == 1  # tried once, then no more


def test_focus_table_names_relevance():
    focus = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    report = AttentionReport(
        part_names=["entity_0", "entity_1", "entity_2"],
        focus=focus,
        weights=focus[:, None, None, :],
        entropy=np.zeros(3),
        mask=np.ones((3, 3), dtype=bool),
        layers=[],
    )
    summary = summarize_report(report, [np.array([0]), np.array([1]), None])
    rows = {r["part"]: r for r in summary["parts"]}
    assert rows["entity_0"]["relevant_share"] == 0.5 and rows["entity_0"]["focus_when_relevant"] == pytest.approx(0.7)
    assert rows["entity_2"]["relevant_share"] == 0.0 and rows["entity_2"]["focus_when_relevant"] is None
    assert summary["relevant_mass"] == pytest.approx(0.75)
    lines = format_focus_table(summary)
    assert "relevant in" in lines[1] and "readout when relevant" in lines[1]
    assert lines[2].split()[:4] == ["entity_1", "0.400", "50%", "0.800"]  # most attended first
    assert lines[-1].startswith("  relevant mass   readout 0.750")


def test_relevant_effect_weighs_each_observation_by_how_much_its_action_depends_on_the_parts():
    # A policy that answers "1" when part 0 shows the cue and "0" by default: removing part 0 moves the first
    # decision a lot; nothing moves the second (noise of 1e-4 spread over the parts), which relevant mass still
    # counts in full and relevant effect counts by its size.
    effects = np.array([[6.0, 0.0, 0.0], [1e-4, 2e-4, 2e-4]])  # (B, N) KL of removing each part
    focus = effects / effects.sum(axis=1, keepdims=True)
    report = AttentionReport(
        part_names=["t-2", "t-1", "t-0"], focus=focus, weights=focus[:, None, None, :], entropy=np.zeros(2),
        mask=np.ones((2, 3), dtype=bool), layers=[], method="causal", effects=effects,
    )  # fmt: skip
    summary = summarize_report(report, [np.array([0]), np.array([0])])
    assert summary["relevant_mass"] == pytest.approx(0.6)  # (1.0 + 0.2) / 2
    assert summary["relevant_effect"] == pytest.approx(6.0001 / 6.0005)
    lines = format_focus_table({**summary, "method": "causal", "methods": {"causal": summary}})
    assert lines[-1].startswith("  relevant effect causal 1.000")
    readout = dataclasses.replace(report, method="readout")
    assert summarize_report(readout, [np.array([0]), np.array([0])])["relevant_effect"] is None


def count_video_frames(path: Path) -> tuple[int, tuple[int, int]]:
    if path.suffix == ".gif":
        with Image.open(path) as gif:
            return gif.n_frames, (gif.height, gif.width)
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    return sum(1 for _ in reader), tuple(meta["size"][::-1])


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_video_has_a_frame_per_step(run, tmp_path, suffix):
    if suffix == ".mp4" and not has_moviepy():
        pytest.skip('mp4 needs MoviePy: pip install "attention-rl[video]"')
    env_kwargs = {**run.config.env_kwargs, **SHORT_EPISODES}
    video = record_video(run.model, run.config.env, tmp_path / f"eval{suffix}", env_kwargs, episodes=2)
    assert video.path == tmp_path / f"eval{suffix}" and video.note == ""
    evaluation = agents.evaluate_model(run.model, run.config.env, env_kwargs, episodes=2, seed=0)
    expected = sum(evaluation.lengths) + 2  # the same episodes: a frame per step plus each episode's start
    assert video.frames == expected and video.returns == pytest.approx(evaluation.returns, abs=1e-5)
    frames, size = count_video_frames(video.path)
    assert size == video.size and size[0] % 16 == 0 and size[1] % 16 == 0
    # MoviePy can drop a clip's last frame to rounding, so the mp4 holds the last frame once more.
    assert frames == expected if suffix == ".gif" else frames in (expected, expected + 1)


def test_a_policy_without_attention_gets_a_video_of_what_it_did(tmp_path, tiny_config):
    run = agents.train(tiny_config(tmp_path, extractor="mlp", env_kwargs=SHORT_EPISODES))
    video = record_video(run.model, run.config.env, tmp_path / "eval.gif", SHORT_EPISODES, episodes=1)
    evaluation = agents.evaluate_model(run.model, run.config.env, SHORT_EPISODES, episodes=1, seed=0)
    assert video.frames == evaluation.lengths[0] + 1 and video.returns == pytest.approx(evaluation.returns, abs=1e-5)
    assert count_video_frames(video.path)[0] == video.frames


@pytest.mark.slow
def test_video_falls_back_to_gif_without_moviepy(run, tmp_path, monkeypatch):
    monkeypatch.setattr("agents.pictures.eval_video.has_moviepy", lambda: False)
    video = record_video(
        run.model, run.config.env, tmp_path / "eval.mp4", {**run.config.env_kwargs, **SHORT_EPISODES}, episodes=1
    )
    assert video.path == tmp_path / "eval.gif" and video.path.is_file()
    assert "MoviePy is not installed" in video.note and "attention-rl[video]" in video.note


def write_monitor(folder: Path, returns: list[float], length: int = 10) -> None:
    folder.mkdir(parents=True)
    lines = ['#{"t_start": 0.0, "env_id": "x"}', "r,l,t"]
    lines += [f"{r},{length},{i * 0.1:.1f}" for i, r in enumerate(returns)]
    (folder / "0.monitor.csv").write_text("\n".join(lines) + "\n")


def test_plot_groups_runs_by_label(tmp_path, monkeypatch):
    figures = []

    class RecordedFigure(learning_curves.Figure):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            figures.append(self)

    monkeypatch.setattr(learning_curves, "Figure", RecordedFigure)
    rng = np.random.default_rng(0)
    for extractor, slope in (("attention", 1.0), ("mlp", 0.5)):
        for seed in range(3):
            run_dir = tmp_path / "runs" / "attn-FindTarget-v0" / f"ppo_{extractor}_s{seed}"
            write_monitor(run_dir / "monitor", list(slope * np.linspace(0, 1, 60) + 0.1 * rng.standard_normal(60)))
            if extractor == "attention":  # its logged relevant mass gets a second panel
                rows = [f"{64 * i},{0.1 * i if i % 2 else ''}" for i in range(1, 9)]
                header = "time/total_timesteps,attention/relevant_mass"
                (run_dir / "progress.csv").write_text("\n".join([header, *rows]))
    out = plot_runs([tmp_path / "runs"], tmp_path / "curves.png", window=5)
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.size == (1100, 420)
    returns, relevance = figures[0].axes
    lines = {line.get_label(): line for line in returns.get_lines()}
    assert set(lines) == {"ppo_attention (3 runs)", "ppo_mlp (3 runs)"}  # seeds pooled by label
    for label, slope in (("ppo_attention (3 runs)", 1.0), ("ppo_mlp (3 runs)", 0.5)):
        x, y = lines[label].get_xdata(), lines[label].get_ydata()
        assert x[0] == 50 and x[-1] == 600  # episodes of 10 steps; the first full window of 5 ends at 50
        assert y[-1] == pytest.approx(slope * np.linspace(0, 1, 60)[-5:].mean(), abs=0.1)
        assert y[0] == pytest.approx(slope * np.linspace(0, 1, 60)[:5].mean(), abs=0.1)
    bands = [band.get_paths()[0].vertices[:, 1] for band in returns.collections]  # one 95% band per group
    assert len(bands) == 2 and all(band.max() - band.min() > 0.3 for band in bands)
    assert returns.get_title() == "attn-FindTarget-v0" and "95% bootstrap band" in figures[0].get_suptitle()
    (line,) = relevance.get_lines()
    assert line.get_label() == "ppo_attention" and (line.get_xdata()[0], line.get_xdata()[-1]) == (64, 448)
    assert line.get_ydata()[-1] == pytest.approx(0.7)  # only the rows that logged it (64, 192, 320, 448)


@pytest.mark.slow
def test_plot_gives_each_env_its_own_panel(tmp_path):
    for env, scale in (("Acrobot-v1", -500.0), ("attn-FindTarget-v0", 1.0)):
        run_dir = tmp_path / "runs" / env / "ppo_attention_s0"
        write_monitor(run_dir / "monitor", list(scale * np.linspace(1, 0.2, 40)))
    one = plot_runs([tmp_path / "runs" / "Acrobot-v1"], tmp_path / "one.png", window=5)
    two = plot_runs([tmp_path / "runs"], tmp_path / "two.png", window=5)
    with Image.open(one) as first, Image.open(two) as second:
        assert second.height > 1.7 * first.height  # a row of panels per env


def cli(*args: str, cwd: Path, monkeypatch, capsys) -> subprocess.CompletedProcess:
    """``train_rl.main(args)`` in ``cwd``, in this process (tests/test_cli.py runs train_rl.py as a process)."""
    import train_rl

    monkeypatch.chdir(cwd)
    capsys.readouterr()
    returncode = train_rl.main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["train_rl.py", *args], returncode, out, err)


@pytest.mark.slow
def test_cli_eval_video_and_plot(run, tmp_path, monkeypatch, capsys):
    video = ["--video", str(tmp_path / "v.gif"), "--video-episodes", "1"]
    result = cli("eval", str(run.path), "--episodes", "1", *video, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 0, result.stderr
    assert f"Video: {tmp_path / 'v.gif'}" in result.stdout and (tmp_path / "v.gif").is_file()
    assert "relevant in" in result.stdout  # the focus table
    result = cli(
        "plot", str(run.path), "--out", str(tmp_path / "p.png"), cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p.png").is_file() and "Learning curves:" in result.stdout


@pytest.mark.slow
def test_cli_plot_bad_input_says_one_line(tmp_path, monkeypatch, capsys):
    result = cli("plot", str(tmp_path / "nope"), cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"train_rl.py plot: error: {tmp_path / 'nope'} does not exist: pass run folders made by train_rl.py "
        "(or their parents)."
    ]
    (tmp_path / "empty_run").mkdir()
    result = cli("plot", str(tmp_path / "empty_run"), cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "No monitor files under" in lines[0]


@pytest.mark.slow
def test_video_of_a_normalized_run_acts_on_normalized_observations(tmp_path, monkeypatch, tiny_config):
    # The policy learned on VecNormalize's observations: the video must feed it those, as evaluate does.
    from stable_baselines3 import PPO

    from agents.evaluation.evaluate import eval_target
    from agents.pictures.eval_video import record_evaluation_video

    changes = {"env": "attn/CueMemory-v0", "timesteps": 256, "eval_episodes": 0, "normalize": True}
    run = agents.train(tiny_config(tmp_path, **{**VISUALIZE_RUN, **changes}))
    seen, predict = [], PPO.predict

    def spy(self, obs, *args, **kwargs):
        seen.append(np.array(obs))
        return predict(self, obs, *args, **kwargs)

    monkeypatch.setattr(PPO, "predict", spy)
    video = record_evaluation_video(run.path, tmp_path / "v.gif", episodes=2)
    monkeypatch.undo()
    stats = agents.load(run.path).get_vec_normalize_env()
    raw, _ = gym.make(run.config.env, **run.config.env_kwargs).reset(seed=eval_target(run.path).seed)
    np.testing.assert_allclose(seen[0], stats.normalize_obs(raw), rtol=1e-5, atol=1e-6)
    assert not np.allclose(seen[0], raw)
    evaluation = agents.evaluate(run.path, episodes=2, write=False)
    assert video.returns == pytest.approx(evaluation.returns, abs=1e-5)  # the same episodes, the same actions


def test_evaluation_video_takes_env_kwargs_over_the_runs(run, tmp_path, monkeypatch):
    from agents.pictures.eval_video import record_evaluation_video

    made = []

    def record_video(model, env_id, out, env_kwargs, **kwargs):
        made.append(env_kwargs)

    monkeypatch.setattr("agents.pictures.eval_video.record_video", record_video)
    record_evaluation_video(run.path, tmp_path / "v.gif", episodes=1, env_kwargs={"difficulty": 2})
    assert made == [{**run.config.env_kwargs, "difficulty": 2}]
