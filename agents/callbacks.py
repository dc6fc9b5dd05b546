"""Training callbacks: where the policy looks, to tensorboard (scalars, heatmaps, overlays, histograms, hparams)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HParam, Image

from agents.visualize import heatmap_image, scene_with_attention, tile_horizontally
from policies import AttentionReport, attention_report, find_attention_extractor

ObsT = np.ndarray | dict[str, np.ndarray]

#: Output formats that only take scalars: pictures, histograms and hparams are kept out of them.
NOT_SCALAR_FORMATS = ("stdout", "log", "json", "csv")

#: Log attention every this many env steps by default: measured to cost under 5% of training speed
#: (``benchmarks/callback_overhead.py``, docs/BENCHMARKS.md).
DEFAULT_LOG_INTERVAL = 10_000
#: Pictures (heatmaps, overlays) by default every this many env steps, and at the end of training.
DEFAULT_IMAGE_INTERVAL = 50_000


def index_obs(batch: ObsT, i: int) -> ObsT:
    """The ``i``-th observation of a vectorised batch (array or dict of arrays), copied."""
    if isinstance(batch, dict):
        return {k: np.array(v[i]) for k, v in batch.items()}
    return np.array(batch[i])


def stack_obs(observations: Sequence[ObsT]) -> ObsT:
    """Stack single observations (arrays or dicts of arrays) into one batch."""
    if isinstance(observations[0], dict):
        return {k: np.stack([o[k] for o in observations]) for k in observations[0]}
    return np.stack(observations)


def observations_with_relevance(
    new_obs: ObsT, infos: Sequence[dict[str, Any]], dones: np.ndarray
) -> Iterator[tuple[ObsT, np.ndarray | None]]:
    """Pair each env's latest observation with the ``relevant_parts`` its env reported for it.

    A VecEnv resets a finished env at once, so for a done env the observation that goes with the step's
    info is ``info["terminal_observation"]``, not the reset observation in ``new_obs``.
    """
    for i, info in enumerate(infos):
        obs = info["terminal_observation"] if dones[i] and "terminal_observation" in info else index_obs(new_obs, i)
        yield obs, as_relevant(info)


def as_relevant(info: Mapping[str, Any]) -> np.ndarray | None:
    """``info["relevant_parts"]`` as an int64 array, or None when the env does not name them."""
    relevant = info.get("relevant_parts")
    return None if relevant is None else np.asarray(relevant, dtype=np.int64)


def summarize_report(report: AttentionReport, relevant: Sequence[np.ndarray | None]) -> dict[str, Any]:
    """Attention statistics of a report: mean focus per part, entropy, top-1 mass, relevant mass, focus table.

    Returns:
        ``{"focus": {part: mass}, "entropy", "top1_mass", "relevant_mass": float | None, "parts": [...]}``.
        Relevant mass is averaged over the observations whose env named their relevant parts. ``parts`` has
        one row per part: ``{"part", "focus", "relevant_share", "focus_when_relevant"}``, where
        ``relevant_share`` is the fraction of those observations in which the part was relevant and
        ``focus_when_relevant`` the part's mean focus then (None where never relevant or unknown).
    """
    masses = report.relevant_mass(relevant)  # (B,), NaN where unknown
    known = ~np.isnan(masses)
    is_relevant = np.zeros(report.focus.shape, dtype=bool)  # (B, N)
    for row, parts in enumerate(relevant):
        if parts is not None:
            is_relevant[row, np.asarray(parts, dtype=np.int64)] = True
    times_relevant = is_relevant.sum(axis=0)  # (N,)
    focus_when_relevant = (report.focus * is_relevant).sum(axis=0) / np.maximum(times_relevant, 1)
    mean_focus = report.focus.mean(axis=0)
    parts = [
        {
            "part": name,
            "focus": float(mean_focus[i]),
            "relevant_share": float(times_relevant[i] / known.sum()) if known.any() else None,
            "focus_when_relevant": float(focus_when_relevant[i]) if times_relevant[i] else None,
        }
        for i, name in enumerate(report.part_names)
    ]
    return {
        "focus": report.mean_focus(),
        "entropy": float(report.entropy.mean()),
        "top1_mass": float(report.focus.max(axis=1).mean()),
        "relevant_mass": float(masses[known].mean()) if known.any() else None,
        "parts": parts,
    }


def attention_summary(model: object, observations: Sequence[ObsT], relevant: Sequence[np.ndarray | None]) -> dict:
    """Attention statistics of a batch of single observations (see ``summarize_report``)."""
    return summarize_report(attention_report(model, stack_obs(observations)), relevant)


def format_focus_table(attention: Mapping[str, Any], max_parts: int = 16) -> list[str]:
    """Lines of the focus table, most attended part first, then the focus entropy and the relevant mass.

    Each row gives a part's mean focus and, where the env names relevant parts, how often the part was
    relevant and its mean focus then (the column that shows attention on shuffled entity rows).
    """
    rows = attention.get("parts") or [
        {"part": p, "focus": m, "relevant_share": None, "focus_when_relevant": None}
        for p, m in attention["focus"].items()
    ]
    rows = sorted(rows, key=lambda r: -r["focus"])
    with_relevance = any(r["relevant_share"] is not None for r in rows)
    width = max(len("part"), *(len(r["part"]) for r in rows))
    header = f"    {'part':<{width}}  focus"
    if with_relevance:
        header += "  relevant in  focus when relevant"
    lines = ["  mean focus per part:", header]
    for r in rows[:max_parts]:
        line = f"    {r['part']:<{width}}  {r['focus']:.3f}"
        if with_relevance:
            share = "" if r["relevant_share"] is None else f"{100 * r['relevant_share']:.0f}%"
            when = "" if r["focus_when_relevant"] is None else f"{r['focus_when_relevant']:.3f}"
            line += f"  {share:>11}  {when:>18}"
        lines.append(f"{line}  {'█' * round(30 * r['focus'])}")
    if len(rows) > max_parts:
        lines.append(f"    ... {len(rows) - max_parts} more parts in eval.json")
    lines.append(f"  focus entropy {attention['entropy']:.3f} (0 = one part, 1 = uniform)")
    if attention.get("relevant_mass") is not None:
        lines.append(f"  relevant mass {attention['relevant_mass']:.3f} (focus on the parts the env names)")
    return lines


def picture_indices(size: int, count: int) -> np.ndarray:
    """``count`` indices spread evenly over a probe of ``size`` observations (the ones drawn in pictures)."""
    return np.unique(np.linspace(0, size - 1, min(size, count)).astype(np.int64))


@dataclass
class Probe:
    """A fixed batch of observations to report on during training, with what is needed to draw them."""

    observations: ObsT
    """The batch, as the env gives it (stacked)."""
    relevant: list[np.ndarray | None]
    """``info["relevant_parts"]`` per observation (None where the env does not name them)."""
    frames: list[np.ndarray | None]
    """``env.render()`` at the probed step for the first few observations (None without a renderer)."""
    positions: list[np.ndarray | None]
    """``env.unwrapped.entity_positions()`` at the probed step, for entity envs that have it."""


def collect_probe(env: gym.Env, size: int = 64, seed: int = 0, stride: int = 8, n_frames: int = 8) -> Probe:
    """Roll ``env`` with random actions from ``reset(seed=seed)`` and keep every ``stride``-th step.

    Args:
        env: the env to probe; with ``render_mode="rgb_array"``, ``n_frames`` kept steps spread evenly over
            the probe (``picture_indices``) are rendered.
        size: observations to keep.
        seed: seed of the reset and of the random actions (the same seed gives the same probe).
        stride: steps between two kept observations (so the probe spans several episodes).
        n_frames: kept steps that are also rendered (and whose entity positions are kept).
    """
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    positions_of = getattr(env.unwrapped, "entity_positions", None)
    renders = getattr(env, "render_mode", None) == "rgb_array"
    observations, relevant, frames, positions = [], [], [], []
    pictured = set(picture_indices(size, n_frames).tolist())
    step = 0
    while len(observations) < size:
        if step % stride == 0:
            keep_frame = len(observations) in pictured
            observations.append(obs)
            relevant.append(as_relevant(info))
            frames.append(env.render() if renders and keep_frame else None)
            positions.append(positions_of() if positions_of is not None and keep_frame else None)
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, info = env.reset()
        step += 1
    return Probe(stack_obs(observations), relevant, frames, positions)


def make_probe_env(spec: gym.envs.registration.EnvSpec) -> gym.Env:
    """A fresh env like the training one (same id and kwargs), rendering ``rgb_array`` if it can."""
    kwargs = {k: v for k, v in (spec.kwargs or {}).items() if k != "render_mode"}
    try:
        return gym.make(spec.id, render_mode="rgb_array", **kwargs)
    except (TypeError, ValueError, gym.error.Error):
        return gym.make(spec.id, **kwargs)


def attention_pictures(report: AttentionReport, probe: Probe, max_rows: int = 8) -> dict[str, np.ndarray]:
    """The pictures of a probe report, by tensorboard tag, as ``(H, W, 3)`` uint8 arrays.

    - ``attention/heatmap/head{h}``: per head, the last layer's weights as queries x parts for the first
      probe observation; a one-query readout (query pooling) instead shows its weights for ``max_rows``
      probe observations, one per row, the env's relevant parts outlined in green.
    - ``attention/overlay``: up to 4 probe observations with the focus drawn on them (patch focus over
      images, rings around the attended entities), when the env can show them.
    """
    weights = report.weights  # (B, H, Q, N)
    shown = picture_indices(len(weights), max_rows)
    pictures = {}
    for head in range(weights.shape[1]):
        if weights.shape[2] == 1:
            matrix, labels = weights[shown, head, 0], [f"obs {i}" for i in shown]
            relevant = [probe.relevant[i] for i in shown]
            title = f"head {head}: readout weights, one probe observation per row (green: relevant)"
        else:
            matrix, labels = weights[0, head], [f"query {q}" for q in range(weights.shape[2])]
            relevant, title = None, f"head {head}: queries x parts, probe observation 0"
        pictures[f"attention/heatmap/head{head}"] = heatmap_image(matrix, report.part_names, labels, title, relevant)
    drawable = [i for i, frame in enumerate(probe.frames) if frame is not None or report.grid is not None]
    scenes = []
    for k in picture_indices(len(drawable), 4) if drawable else []:
        i = drawable[k]
        observation = index_obs(probe.observations, i)
        scene = scene_with_attention(
            probe.frames[i], observation, report.focus[i], report.mask[i], report.grid, probe.positions[i],
            probe.relevant[i],
        )  # fmt: skip
        if scene is not None:
            scenes.append(scene)
    if scenes:
        pictures["attention/overlay"] = tile_horizontally(scenes)
    return pictures


def hparam_record(config: Mapping[str, Any], metrics: Mapping[str, float]) -> HParam:
    """SB3 ``HParam`` of a run's config (nested dicts flattened as ``key/sub``) with final ``metrics``.

    The metrics must also be logged as scalars under the same tags for tensorboard's HPARAMS tab to show them.
    """
    flat: dict[str, bool | str | float | None] = {}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, sub in value.items():
                add(f"{prefix}/{key}" if prefix else str(key), sub)
        elif isinstance(value, (bool, int, float, str)) or value is None:
            flat[prefix] = value
        else:
            flat[prefix] = str(value)

    add("", config)
    return HParam(flat, dict(metrics))


class AttentionLogCallback(BaseCallback):
    """Log where the policy looks to tensorboard, on the latest rollout and on a fixed probe batch.

    At the first rollout end, then at most once every ``interval`` env steps, and at the end of training, it
    runs the attention extractor once with weight capture (training itself stays on the fused fast path) and
    records through SB3's logger:

    - ``attention/focus/<part>``: mean readout focus per part on the latest rollout's observations (the
      ``max_parts`` most attended parts when there are more);
    - ``attention/entropy`` (focus entropy / log(real parts): 0 = one part, 1 = uniform),
      ``attention/top1_mass`` (focus on the most attended part) and ``attention/relevant_mass`` (focus on the
      parts the env names in ``info["relevant_parts"]``), on the latest rollout;
    - the same three under ``attention/probe/`` on the probe batch: fixed observations (a seeded random
      rollout of a fresh copy of the env, collected once), so their curves show learning, not a change of
      the states visited;
    - ``attention/focus_hist``: a histogram of the per-part focus of the latest rollout (real parts only);
    - every ``image_interval`` steps and at the end of training: ``attention/heatmap/head{h}`` and
      ``attention/overlay``
      images (see ``attention_pictures``).

    Pictures, histograms and hparams are kept out of stdout and CSV. Does nothing (and says so once with
    ``verbose=1``) when the policy has no ``AttentionExtractor``.

    Args:
        interval: minimum env steps between two logs (>= 1).
        image_interval: minimum env steps between two sets of pictures; 0 = no pictures.
        sample_size: latest observations (over all envs) reported on.
        probe_size: observations in the probe batch; 0 = no probe.
        probe_env: env (or a function making one) to collect the probe from; by default a fresh
            ``gym.make`` of the training env's id and kwargs with ``render_mode="rgb_array"``.
        probe_seed: seed of the probe rollout.
        max_parts: at most this many ``attention/focus/<part>`` scalars.
        verbose: 1 prints why nothing is logged for a non-attention policy.
    """

    def __init__(
        self,
        interval: int = DEFAULT_LOG_INTERVAL,
        image_interval: int = DEFAULT_IMAGE_INTERVAL,
        sample_size: int = 256,
        probe_size: int = 64,
        probe_env: gym.Env | Callable[[], gym.Env] | None = None,
        probe_seed: int = 12_345,
        max_parts: int = 16,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if interval < 1 or image_interval < 0 or sample_size < 1 or probe_size < 0 or max_parts < 1:
            raise ValueError(
                f"interval={interval} and sample_size={sample_size} must be >= 1, image_interval={image_interval} "
                f"and probe_size={probe_size} >= 0, max_parts={max_parts} >= 1."
            )
        self.interval, self.image_interval = interval, image_interval
        self.sample_size, self.probe_size, self.probe_seed = sample_size, probe_size, probe_seed
        self.max_parts = max_parts
        self._probe_env = probe_env
        self.probe: Probe | None = None
        self._samples: deque[tuple[ObsT, np.ndarray | None]] = deque(maxlen=sample_size)
        self._last_logged = -1
        self._last_pictures = 0  # pictures first after one image_interval (then at the end of training)
        self._collecting = False
        self._rollout_start = self._rollout_steps = 0
        self._enabled = True

    # ------------------------------------------------------------------ SB3 hooks
    def _init_callback(self) -> None:
        try:
            find_attention_extractor(self.model)
        except TypeError as exc:
            self._enabled = False
            if self.verbose:
                print(f"AttentionLogCallback: nothing to log: {exc}")
            return
        if self.probe_size > 0 and self.probe is None:
            self.probe = self._collect_probe()

    def _on_rollout_start(self) -> None:
        # Observations are kept only in a rollout whose end will log: one that ends a whole interval after the
        # last log, judging its length by the previous rollout's.
        expected_end = self.num_timesteps + self._rollout_steps
        self._rollout_start = self.num_timesteps
        self._collecting = self._enabled and (
            self._last_logged < 0 or expected_end - self._last_logged >= self.interval
        )
        if self._collecting:
            self._samples.clear()

    def _on_step(self) -> bool:
        if self._collecting:
            self._samples.extend(
                observations_with_relevance(self.locals["new_obs"], self.locals["infos"], self.locals["dones"])
            )
        return True

    def _on_rollout_end(self) -> None:
        self._rollout_steps = self.num_timesteps - self._rollout_start
        if self._collecting and self._samples:
            self._collecting = False
            self.log_attention(pictures=self._due(self.image_interval, self._last_pictures))

    def _on_training_end(self) -> None:
        if not self._enabled or self.num_timesteps == self._last_logged or self.probe is None:
            return
        self._samples.clear()  # an older rollout's: only the probe is reported on at the end
        self.log_attention(pictures=self.image_interval > 0)
        self.logger.dump(self.num_timesteps)

    # ------------------------------------------------------------------ logging
    def _due(self, interval: int, last: int) -> bool:
        return interval > 0 and (last < 0 or self.num_timesteps - last >= interval)

    def _collect_probe(self) -> Probe | None:
        env = self._probe_env
        if env is None:
            spec = self.training_env.get_attr("spec", indices=[0])[0]
            if spec is None:
                return None
            env = make_probe_env(spec)
        elif not isinstance(env, gym.Env):
            env = env()
        try:
            return collect_probe(env, self.probe_size, seed=self.probe_seed)
        finally:
            if env is not self._probe_env:
                env.close()

    def _probe_observations(self) -> ObsT:
        """The probe batch, normalised like the training observations when a ``VecNormalize`` is used."""
        vec_normalize = self.model.get_vec_normalize_env()
        observations = self.probe.observations
        return observations if vec_normalize is None else vec_normalize.normalize_obs(observations)

    def log_attention(self, pictures: bool = True) -> None:
        """Record the scalars, the histogram and (with ``pictures``) the images now."""
        self._last_logged = self.num_timesteps
        record = self.logger.record
        if self._samples:
            observations, relevant = zip(*self._samples, strict=True)
            report = attention_report(self.model, stack_obs(observations))
            summary = summarize_report(report, relevant)
            focus = sorted(summary["focus"].items(), key=lambda kv: -kv[1])[: self.max_parts]
            for part, mass in focus:
                record(f"attention/focus/{part}", mass)
            self._record_stats("attention", summary)
            if report.mask.any():  # tensorboard refuses an empty histogram (every part masked out)
                record("attention/focus_hist", report.focus[report.mask], exclude=NOT_SCALAR_FORMATS)
        if self.probe is not None:
            report = attention_report(self.model, self._probe_observations())
            self._record_stats("attention/probe", summarize_report(report, self.probe.relevant))
            if pictures:
                self._last_pictures = self.num_timesteps
                for tag, image in attention_pictures(report, self.probe).items():
                    record(tag, Image(image, "HWC"), exclude=NOT_SCALAR_FORMATS)

    def _record_stats(self, prefix: str, summary: Mapping[str, Any]) -> None:
        self.logger.record(f"{prefix}/entropy", summary["entropy"])
        self.logger.record(f"{prefix}/top1_mass", summary["top1_mass"])
        if summary["relevant_mass"] is not None:
            self.logger.record(f"{prefix}/relevant_mass", summary["relevant_mass"])
