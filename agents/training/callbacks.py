"""Training callbacks: where the policy looks, to tensorboard (scalars, heatmaps, overlays, histograms)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Image

from agents.evaluation.focus_stats import summarize_reports
from agents.evaluation.probe import Probe, collect_probe, make_probe_env
from agents.pictures.probe_pictures import attention_pictures
from agents.setup.config import DEFAULT_FOCUS_METHODS, DEFAULT_LOG_INTERVAL
from agents.setup.resolution import check_focus_methods
from envs.observations import ObsT, observations_with_relevance, stack_obs
from policies import AttentionReport, find_attention_extractor, focus_reports

#: Output formats that only take scalars: pictures, histograms and hparams are kept out of them.
NOT_SCALAR_FORMATS = ("stdout", "log", "json", "csv")

#: Pictures (heatmaps, overlays) by default every this many env steps, and at the end of training.
DEFAULT_IMAGE_INTERVAL = 50_000


class AttentionLogCallback(BaseCallback):
    """Log where the policy looks to tensorboard, on the latest rollout and on a fixed probe batch.

    At the first rollout end, then at most once every ``interval`` env steps, and at the end of training, it
    runs the attention extractor once with weight capture (training itself stays on the fused fast path), asks
    the policy for the causal focus when ``methods`` need it (one batched forward pass with each part removed),
    and records through SB3's logger, for each focus method ``<m>`` of ``methods`` (``readout``, ``rollout``,
    ``causal``; the first is the one drawn):

    - ``attention/<m>/focus/<part>`` (first method only): mean focus per part on the latest rollout's
      observations (the ``max_parts`` most focused parts when there are more);
    - ``attention/<m>/entropy`` (focus entropy / log(real parts): 0 = one part, 1 = uniform),
      ``attention/<m>/top1_mass`` (focus on the most focused part) and ``attention/<m>/relevant_mass`` (focus
      on the parts the env names in ``info["relevant_parts"]``; not logged where the env names none), on the
      latest rollout; ``attention/causal/relevant_effect``: those parts' share of the summed causal effects;
    - ``attention/faithfulness/<m>`` and ``attention/deletion_ratio/<m>`` for ``readout`` and ``rollout``: how
      well that focus ranks the parts as removing them moves the policy (Spearman with ``causal``), and how
      much more removing its top part moves the policy than removing another (see ``policies.faithfulness``);
    - the same statistics under ``attention/probe/<m>/`` on the probe batch: fixed observations (a seeded
      random rollout of a fresh copy of the env, collected once), so their curves show learning, not a change
      of the states visited;
    - ``attention/<m>/focus_hist`` (first method): a histogram of the per-part focus of the latest rollout;
    - every ``image_interval`` steps and at the end of training: ``attention/heatmap/<m>``,
      ``attention/overlay/<m>`` and ``attention/weights/head{h}`` images (see ``attention_pictures``).

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
        max_parts: at most this many ``attention/<m>/focus/<part>`` scalars.
        methods: focus methods to log (``policies.FOCUS_METHODS``), the first one drawn.
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
        methods: Sequence[str] = DEFAULT_FOCUS_METHODS,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.methods = check_focus_methods(methods)
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
        if not self._enabled or self.probe is None:
            return
        pictures = self.image_interval > 0 and self._last_pictures != self.num_timesteps
        if self.num_timesteps == self._last_logged:  # the last rollout logged its scalars at this very step
            if pictures:
                self._record_pictures(focus_reports(self.model, self._probe_observations(), self.methods))
                self.logger.dump(self.num_timesteps)
            return
        self._samples.clear()  # an older rollout's: only the probe is reported on at the end
        self.log_attention(pictures=pictures)
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
        first = self.methods[0]
        if self._samples:
            observations, relevant = zip(*self._samples, strict=True)
            reports = focus_reports(self.model, stack_obs(observations), self.methods)
            summary = summarize_reports(reports, relevant)
            focus = sorted(summary["focus"].items(), key=lambda kv: -kv[1])[: self.max_parts]
            for part, mass in focus:
                record(f"attention/{first}/focus/{part}", mass)
            self._record_stats("attention", summary)
            report = reports[first]
            if report.mask.any():  # tensorboard refuses an empty histogram (every part masked out)
                record(f"attention/{first}/focus_hist", report.focus[report.mask], exclude=NOT_SCALAR_FORMATS)
        if self.probe is not None:
            reports = focus_reports(self.model, self._probe_observations(), self.methods)
            self._record_stats("attention/probe", summarize_reports(reports, self.probe.relevant))
            if pictures:
                self._record_pictures(reports)

    def _record_pictures(self, reports: Mapping[str, AttentionReport]) -> None:
        """The probe's heatmaps, weights and overlays (``attention_pictures``) as images at this step."""
        self._last_pictures = self.num_timesteps
        for tag, image in attention_pictures(reports, self.probe).items():
            self.logger.record(tag, Image(image, "HWC"), exclude=NOT_SCALAR_FORMATS)

    def _record_stats(self, prefix: str, summary: Mapping[str, Any]) -> None:
        for method, stats in summary["methods"].items():
            self.logger.record(f"{prefix}/{method}/entropy", stats["entropy"])
            self.logger.record(f"{prefix}/{method}/top1_mass", stats["top1_mass"])
            for key in ("relevant_mass", "relevant_effect"):
                if stats.get(key) is not None:
                    self.logger.record(f"{prefix}/{method}/{key}", stats[key])
            scores = stats["faithfulness"] or {}
            if scores.get("spearman") is not None:
                self.logger.record(
                    f"{prefix.replace('attention', 'attention/faithfulness', 1)}/{method}", scores["spearman"]
                )
            if scores.get("deletion_ratio") is not None:
                self.logger.record(
                    f"{prefix.replace('attention', 'attention/deletion_ratio', 1)}/{method}", scores["deletion_ratio"]
                )
