"""Load a trained agent and evaluate it: returns, success rate and where it looked."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from agents.algorithms import ALGORITHMS
from agents.callbacks import attention_summary, format_focus_table, observations_with_relevance
from agents.config import RunConfig, check_env_id
from agents.runs import CONFIG_FILE, EVAL_FILE, find_model, write_json
from policies import find_attention_extractor

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
    """``{"focus": {part: mass}, "entropy", "top1_mass", "relevant_mass"}``; None without attention."""
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_return(self) -> float:
        """Mean episode return."""
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        """Standard deviation of the episode returns."""
        return float(np.std(self.returns))

    @property
    def success_rate(self) -> float | None:
        """Fraction of successful episodes, or None when the env does not define success."""
        return None if self.successes is None else float(np.mean(self.successes))

    def to_dict(self) -> dict[str, Any]:
        """Plain data with the summary figures first."""
        data = asdict(self)
        summary = {
            "mean_return": self.mean_return,
            "std_return": self.std_return,
            "success_rate": self.success_rate,
            "mean_length": float(np.mean(self.lengths)),
        }
        return {"model": data.pop("model"), "env": data.pop("env"), **summary, **data}


def read_config(run_dir: Path) -> RunConfig:
    """Read the ``config.yaml`` a training run left in ``run_dir``."""
    with (run_dir / CONFIG_FILE).open() as f:
        return RunConfig.from_dict(yaml.safe_load(f))


def load(path: str | Path, algo: str | None = None, device: str = "auto") -> BaseAlgorithm:
    """Load a trained model from a run folder or a ``.zip`` file.

    Args:
        path: a run folder made by ``train_rl.py`` (its ``model.zip``) or a model file.
        algo: algorithm name; read from the run's ``config.yaml`` when None.
        device: torch device.

    Raises:
        FileNotFoundError: no model at ``path``.
        ValueError: the algorithm is unknown, or the file is not an SB3 model.
    """
    model_path, run_dir = find_model(path)
    if algo is None:
        if run_dir is None:
            raise ValueError(
                f"No {CONFIG_FILE} beside {model_path}, so its algorithm is unknown: pass it (e.g. algo='ppo', "
                "or --algo ppo on the command line)."
            )
        algo = read_config(run_dir).algo
    cls = ALGORITHMS.get(algo).cls
    if not zipfile.is_zipfile(model_path):
        raise ValueError(f"{model_path} is not a Stable-Baselines3 model zip (not a zip file at all).")
    try:
        return cls.load(model_path, device=device)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ValueError(f"{model_path} is not a Stable-Baselines3 model zip for {cls.__name__} ({exc}).") from None


def evaluate_model(
    model: BaseAlgorithm,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    episodes: int = 50,
    seed: int = 0,
    deterministic: bool = True,
) -> EvalResult:
    """Run ``episodes`` episodes of ``env_id`` with ``model`` and collect returns, successes and attention.

    The env is ``make_vec_env(env_id, n_envs=1, seed=seed)``: the first episode resets with ``seed`` and the
    following ones continue its random stream, so the same model and seed give the same episodes.
    """
    check_env_id(env_id)
    if episodes < 1:
        raise ValueError(f"episodes={episodes} is invalid: evaluate at least 1 episode.")
    env = make_vec_env(env_id, n_envs=1, seed=seed, env_kwargs=env_kwargs or {})
    successes: list[bool | None] = []
    digests: list[str] = []
    episode_actions: list[np.ndarray] = []
    samples: list[tuple[Any, np.ndarray | None]] = []

    def on_step(local: dict[str, Any], _globals: dict[str, Any]) -> None:
        episode_actions.append(np.array(local["actions"][local["i"]]))
        samples.extend(observations_with_relevance(local["new_observations"], local["infos"], local["dones"]))
        if local["done"]:
            successes.append(local["info"].get("is_success"))
            digests.append(action_digest(episode_actions))
            episode_actions.clear()

    try:
        returns, lengths = evaluate_policy(
            model,
            env,
            n_eval_episodes=episodes,
            deterministic=deterministic,
            return_episode_rewards=True,
            callback=on_step,
            warn=False,
        )
    finally:
        env.close()

    attention = None
    try:
        find_attention_extractor(model)
    except TypeError:
        pass
    else:
        chosen = np.linspace(0, len(samples) - 1, min(len(samples), MAX_ATTENTION_SAMPLES)).astype(int)
        observations, relevant = zip(*(samples[i] for i in chosen), strict=True)
        attention = attention_summary(model, observations, relevant)
    return EvalResult(
        env=env_id,
        episodes=episodes,
        deterministic=deterministic,
        seed=seed,
        returns=[float(r) for r in returns],
        lengths=[int(n) for n in lengths],
        successes=None if all(s is None for s in successes) else [bool(s) for s in successes],
        actions_sha256=digests,
        attention=attention,
    )


def evaluate(
    path: str | Path,
    episodes: int = 50,
    deterministic: bool = True,
    seed: int | None = None,
    env_id: str | None = None,
    algo: str | None = None,
    write: bool = True,
) -> EvalResult:
    """Load the model at ``path`` and evaluate it; write ``eval.json`` beside it.

    Args:
        path: a run folder or a model ``.zip``.
        episodes: episodes to run.
        deterministic: greedy actions (True) or sampled ones.
        seed: seed of the evaluation env; the run's seed + 10000 when None (never a training seed).
        env_id: env to evaluate on; the run's env when None.
        algo: algorithm; the run's when None.
        write: write ``eval.json`` into the run folder (or beside the model file).
    """
    model_path, run_dir = find_model(path)
    config = read_config(run_dir) if run_dir is not None else None
    if env_id is None:
        if config is None:
            raise ValueError(f"No {CONFIG_FILE} beside {model_path}: name the env to evaluate on (--env ID).")
        env_id = config.env
    env_kwargs = config.env_kwargs if config is not None and env_id == config.env else {}
    if seed is None:
        seed = (config.seed if config is not None else 0) + 10_000
    model = load(model_path, algo=algo or (config.algo if config else None))
    result = evaluate_model(model, env_id, env_kwargs, episodes=episodes, seed=seed, deterministic=deterministic)
    result.model = str(model_path)
    if write:
        write_json((run_dir or model_path.parent) / EVAL_FILE, result.to_dict())
    return result


def format_evaluation(result: EvalResult, max_parts: int = 16) -> str:
    """Human-readable summary: return, success rate, length and the focus table (top ``max_parts`` parts)."""
    mode = "deterministic" if result.deterministic else "stochastic"
    lines = [
        f"Evaluation of {result.model or 'the model'} on {result.env}: {result.episodes} episodes, {mode}, "
        f"seed {result.seed}",
        f"  mean return   {result.mean_return:.3f} ± {result.std_return:.3f}",
    ]
    if result.success_rate is not None:
        lines.append(f"  success rate  {100 * result.success_rate:.1f}%")
    lines.append(f"  mean length   {np.mean(result.lengths):.1f}")
    if result.attention:
        lines += format_focus_table(result.attention, max_parts)
    return "\n".join(lines)
