"""One evaluation's episodes and their record: ``run_episodes`` (any policy with SB3's ``predict``) and ``EvalResult``.

Shared by ``agents.evaluation.evaluate`` (a PyTorch model) and ``agents.export.onnx_eval`` (an exported file on
onnxruntime), so both count returns, successes, action digests and the observations the focus is reported on
in the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sb3_contrib.common.maskable.evaluation import evaluate_policy as maskable_evaluate_policy
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from agents.evaluation.focus_stats import format_focus_table
from envs.observations import ObsT, observations_with_relevance

#: At most this many observations (sampled evenly) go into the evaluation's attention summary.
MAX_ATTENTION_SAMPLES = 2048


def action_digest(actions: list[np.ndarray]) -> str:
    """SHA-256 of an episode's actions, to compare action sequences across processes."""
    stacked = np.asarray(actions, dtype=np.float64).reshape(len(actions), -1)  # (T, action_dim)
    return hashlib.sha256(stacked.tobytes()).hexdigest()


@dataclass
class EvalResult:
    """The outcome of an evaluation, as written to ``eval.json``."""

    env: str
    episodes: int
    deterministic: bool
    seed: int
    returns: list[float]
    lengths: list[int]
    successes: list[bool] | None
    """Per-episode ``info["is_success"]`` at the episode's end; None when the env never reports it."""
    actions_sha256: list[str]
    attention: dict[str, Any] | None = None
    """``{"method", "focus": {part: mass}, "entropy", "top1_mass", "relevant_mass", "parts", "methods"}`` (see
    ``agents.evaluation.focus_stats.summarize_reports``); None without attention."""
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    crashes: list[bool] | None = None
    """Per-episode ``info["crashed"]`` at the episode's end (highway-env's collisions); None when the env never
    reports it."""
    action_counts: list[int] | None = None
    """How often each discrete action was taken, by index, over every step of every episode; None when the
    actions are not single integers (continuous or multi-discrete)."""
    frames: list[np.ndarray] = field(default_factory=list, repr=False)
    """Rendered frames with ``render_mode="rgb_array"`` (not written to ``eval.json``)."""

    @property
    def mean_return(self) -> float:
        """Mean episode return."""
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        """Standard deviation of the episode returns."""
        return float(np.std(self.returns))

    @property
    def iqm_return(self) -> float:
        """Interquartile mean of the episode returns (the middle 50%)."""
        return interquartile_mean(self.returns)

    @property
    def mean_length(self) -> float:
        """Mean episode length."""
        return float(np.mean(self.lengths))

    @property
    def success_rate(self) -> float | None:
        """Fraction of successful episodes, or None when the env does not define success."""
        return None if self.successes is None else float(np.mean(self.successes))

    @property
    def crash_rate(self) -> float | None:
        """Fraction of episodes that ended in a collision, or None when the env does not report collisions."""
        return None if self.crashes is None else float(np.mean(self.crashes))

    def to_dict(self) -> dict[str, Any]:
        """Plain data with the summary figures first."""
        frames, self.frames = self.frames, []
        try:
            data = asdict(self)
        finally:
            self.frames = frames
        data.pop("frames")
        summary = {
            "mean_return": self.mean_return,
            "std_return": self.std_return,
            "iqm_return": self.iqm_return,
            "success_rate": self.success_rate,
            "crash_rate": self.crash_rate,
            "mean_length": self.mean_length,
        }
        return {"model": data.pop("model"), "env": data.pop("env"), **summary, **data}


def interquartile_mean(values: list[float] | np.ndarray) -> float:
    """Mean of the middle 50% (``scipy.stats.trim_mean(values, 0.25)``): robust to a few outlier episodes."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    cut = int(0.25 * len(ordered))
    return float(np.mean(ordered[cut : len(ordered) - cut]))


@dataclass
class Episodes:
    """What ``run_episodes`` saw."""

    returns: list[float]
    lengths: list[int]
    successes: list[bool | None]
    crashes: list[bool | None]
    digests: list[str]
    samples: list[tuple[ObsT, np.ndarray | None]]
    """Every observation after a step, with the parts its env called relevant."""
    frames: list[np.ndarray]
    discrete_actions: list[int] | None = field(default_factory=list)
    """Every step's action while each is a single integer; None once one is not."""

    def add_action(self, action: np.ndarray) -> None:
        """Keep one step's action, if actions are still single integers."""
        if self.discrete_actions is None:
            return
        if action.size == 1 and np.issubdtype(action.dtype, np.integer):
            self.discrete_actions.append(int(action.reshape(())))
        else:
            self.discrete_actions = None

    def action_counts(self) -> list[int] | None:
        """Steps per discrete action index (None when an action is not a single integer, or no step ran)."""
        return np.bincount(self.discrete_actions).tolist() if self.discrete_actions else None

    def attention_samples(self) -> tuple[tuple[ObsT, ...], tuple[np.ndarray | None, ...]]:
        """At most ``MAX_ATTENTION_SAMPLES`` observations, spread evenly, and their relevant parts."""
        chosen = np.linspace(0, len(self.samples) - 1, min(len(self.samples), MAX_ATTENTION_SAMPLES)).astype(int)
        observations, relevant = zip(*(self.samples[i] for i in chosen), strict=True)
        return observations, relevant

    def result(
        self, env_id: str, deterministic: bool, seed: int, attention: dict[str, Any] | None, model: str = ""
    ) -> EvalResult:
        """The ``EvalResult`` of these episodes."""
        result = EvalResult(
            env=env_id,
            episodes=len(self.returns),
            deterministic=deterministic,
            seed=seed,
            returns=[float(r) for r in self.returns],
            lengths=[int(n) for n in self.lengths],
            successes=_reported(self.successes),
            crashes=_reported(self.crashes),
            actions_sha256=self.digests,
            attention=attention,
            model=model,
            action_counts=self.action_counts(),
        )
        result.frames = self.frames
        return result


def _reported(flags: list[bool | None]) -> list[bool] | None:
    """Per-episode flags as bools, or None when no episode reported one."""
    return None if all(flag is None for flag in flags) else [bool(flag) for flag in flags]


def run_episodes(
    policy: object,
    env: VecEnv,
    episodes: int,
    deterministic: bool,
    masked: bool = False,
    frames: bool = False,
    after_step: Callable[[dict[str, Any]], None] | None = None,
) -> Episodes:
    """Run ``episodes`` episodes of ``policy`` (SB3's ``predict``) on ``env`` through SB3's ``evaluate_policy``.

    ``masked`` uses sb3-contrib's evaluation (the env's action masks); ``frames`` keeps ``env.get_images()``.
    Memory (an LSTM's state, ``ppo_trxl``'s window) is carried through each episode as ``predict`` returns it;
    ``after_step`` receives ``evaluate_policy``'s locals after each step (``states``: the memory the next action
    is taken with).
    """
    record = Episodes([], [], [], [], [], [], [])
    actions: list[np.ndarray] = []

    def on_step(local: dict[str, Any], _globals: dict[str, Any]) -> None:
        actions.append(np.array(local["actions"][local["i"]]))
        record.add_action(actions[-1])
        new_obs = local["new_observations"] if "new_observations" in local else local["observations"]
        record.samples.extend(observations_with_relevance(new_obs, local["infos"], local["dones"]))
        if frames:
            record.frames.extend(frame for frame in env.get_images() if frame is not None)
        if after_step is not None:
            after_step(local)
        if local["done"]:
            record.successes.append(local["info"].get("is_success"))
            record.crashes.append(local["info"].get("crashed"))
            record.digests.append(action_digest(actions))
            actions.clear()

    evaluate: Callable[..., Any] = maskable_evaluate_policy if masked else evaluate_policy
    returns, lengths = evaluate(
        policy, env, n_eval_episodes=episodes, deterministic=deterministic, return_episode_rewards=True,
        callback=on_step, warn=False,
    )  # fmt: skip
    record.returns, record.lengths = list(returns), list(lengths)
    return record


def format_evaluation(result: EvalResult, max_parts: int = 16) -> str:
    """Human-readable summary: return, success rate, length and the focus table (top ``max_parts`` parts)."""
    mode = "deterministic" if result.deterministic else "stochastic"
    lines = [
        f"Evaluation of {result.model or 'the model'} on {result.env}: {result.episodes} episodes, {mode}, "
        f"seed {result.seed}",
        f"  mean return   {result.mean_return:.3f} ± {result.std_return:.3f}  (IQM {result.iqm_return:.3f})",
    ]
    if result.extra.get("simulators"):
        lines.append(f"  {result.extra['simulators']}")
    if result.success_rate is not None:
        lines.append(f"  success rate  {100 * result.success_rate:.1f}%")
    if result.crash_rate is not None:
        lines.append(f"  crash rate    {100 * result.crash_rate:.1f}%")
    lines.append(f"  mean length   {np.mean(result.lengths):.1f}")
    if result.action_counts:
        total = sum(result.action_counts)
        shares = sorted(enumerate(result.action_counts), key=lambda pair: -pair[1])[:4]
        lines.append("  actions       " + "  ".join(f"{i}: {100 * n / total:.1f}%" for i, n in shares if n))
    if result.attention:
        lines += format_focus_table(result.attention, max_parts)
    if result.extra.get("memory_focus"):
        lines.append("  where in time it looked (focus over the memory's steps; t-0 = the current step):")
        lines += format_focus_table(result.extra["memory_focus"], max_parts)
    return "\n".join(lines)
