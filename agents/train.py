"""Build and train an agent from a ``RunConfig``; everything lands in one run folder."""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from pathlib import Path

from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import VecEnv

from agents.algorithms import ALGORITHMS, check_action_space
from agents.callbacks import NOT_SCALAR_FORMATS, AttentionLogCallback, hparam_record
from agents.config import RunConfig, resolve
from agents.evaluate import EvalResult, evaluate_model
from agents.runs import (
    COMMAND_FILE,
    CONFIG_FILE,
    EVAL_FILE,
    MODEL_FILE,
    new_run_dir,
    save_model_atomic,
    write_atomic,
    write_json,
    write_yaml,
)
from policies import EXTRACTORS
from policies.registry import did_you_mean

#: Offset between the training seed and the evaluation env's seed, so evaluation never replays training.
EVAL_SEED_OFFSET = 10_000


@dataclass
class Run:
    """What ``train`` leaves behind."""

    path: Path
    """The run folder."""
    config: RunConfig
    """The resolved config (as saved in ``config.yaml``)."""
    model: BaseAlgorithm
    """The trained model (also saved as ``model.zip``)."""
    wall_time_s: float
    """Seconds spent in ``learn``."""
    interrupted: bool
    """True when training was stopped with Ctrl-C (the model reached so far is saved)."""
    evaluation: EvalResult | None
    """The final evaluation, or None with ``eval_episodes=0``."""

    @property
    def model_path(self) -> Path:
        """Path of the saved model."""
        return self.path / MODEL_FILE


def make_env(config: RunConfig, n_envs: int, seed: int, monitor_dir: Path | None = None) -> VecEnv:
    """A monitored ``DummyVecEnv`` of ``config.env`` with ``config.env_kwargs``."""
    return make_vec_env(
        config.env,
        n_envs=n_envs,
        seed=seed,
        env_kwargs=config.env_kwargs,
        monitor_dir=None if monitor_dir is None else str(monitor_dir),
    )


def check_hyperparams(algo: type[BaseAlgorithm], hyperparams: dict[str, object]) -> None:
    """Raise ``ValueError`` for a hyperparameter the algorithm's constructor does not take."""
    accepted = [p for p in inspect.signature(algo.__init__).parameters if p not in ("self", "policy", "env")]
    for key in hyperparams:
        if key not in accepted:
            raise ValueError(
                f"{algo.__name__} has no hyperparameter '{key}'.{did_you_mean(key, accepted)} "
                f"Valid ones: {', '.join(accepted)}."
            )


def policy_name(observation_space: spaces.Space, extractor: type | None) -> str:
    """SB3's policy alias for an observation space and extractor class (None: SB3's own extractor).

    ``MultiInputPolicy`` for Dict spaces, ``CnnPolicy`` for images with SB3's own extractor (NatureCNN),
    ``MlpPolicy`` otherwise (an attention extractor replaces the policy's features extractor).
    """
    if isinstance(observation_space, spaces.Dict):
        return "MultiInputPolicy"
    if extractor is None and is_image_space(observation_space, check_channels=False):
        return "CnnPolicy"
    return "MlpPolicy"


def build_model(config: RunConfig, env: VecEnv) -> BaseAlgorithm:
    """Create the algorithm with its policy and (unless ``mlp``) the attention extractor."""
    algo = ALGORITHMS.get(config.algo).cls
    check_action_space(config.algo, env.action_space)
    check_hyperparams(algo, config.hyperparams)
    policy_kwargs = dict(config.policy_kwargs)
    extractor = EXTRACTORS.get(config.extractor)
    if extractor is not None:
        policy_kwargs["features_extractor_class"] = extractor
        policy_kwargs["features_extractor_kwargs"] = dict(config.extractor_kwargs)
    return algo(
        policy_name(env.observation_space, extractor),
        env,
        seed=config.seed,
        device=config.device,
        verbose=config.verbose,
        policy_kwargs=policy_kwargs,
        **config.hyperparams,
    )


def train(config: RunConfig, command: str | None = None) -> Run:
    """Train an agent as ``config`` says, save it, evaluate it, and return the run.

    The run folder ``<run_root>/<env>/<algo>_<extractor>_s<seed>[_k]/`` receives ``config.yaml`` (the
    resolved config), ``command.txt``, the tensorboard events and ``progress.csv``, ``monitor/``,
    ``model.zip`` and ``eval.json``. Ctrl-C stops training early and still saves and evaluates the model.
    """
    config = resolve(config)
    env = make_env(config, config.n_envs, config.seed)  # built before the folder: a bad env leaves no litter
    try:
        model = build_model(config, env)
    except BaseException:
        env.close()
        raise
    env.close()
    run_dir = new_run_dir(config.run_root, config.env, config.algo, config.extractor, config.seed)
    write_yaml(run_dir / CONFIG_FILE, config.to_dict())
    if command is not None:
        write_atomic(run_dir / COMMAND_FILE, command + "\n")
    model.set_env(make_env(config, config.n_envs, config.seed, monitor_dir=run_dir / "monitor"))
    formats = ["tensorboard", "csv"] + (["stdout"] if config.verbose else [])
    model.set_logger(configure(str(run_dir), formats))

    interrupted = False
    start = time.perf_counter()
    try:
        model.learn(
            config.timesteps,
            callback=AttentionLogCallback(interval=config.attention_log_interval)
            if config.attention_log_interval > 0
            else None,
            progress_bar=config.progress_bar,
        )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        wall_time = time.perf_counter() - start
        save_model_atomic(model, run_dir / MODEL_FILE)
        model.get_env().close()

    evaluation = None
    if config.eval_episodes > 0:
        evaluation = evaluate_model(
            model,
            config.env,
            config.env_kwargs,
            episodes=config.eval_episodes,
            seed=config.seed + EVAL_SEED_OFFSET,
        )
        evaluation.model = str(run_dir / MODEL_FILE)
        write_json(run_dir / EVAL_FILE, evaluation.to_dict())
        model.logger.record("eval/mean_reward", evaluation.mean_return)
        if evaluation.success_rate is not None:
            model.logger.record("eval/success_rate", evaluation.success_rate)
        if evaluation.attention and evaluation.attention["relevant_mass"] is not None:
            model.logger.record("eval/relevant_mass", evaluation.attention["relevant_mass"])
        metrics = {k: v for k, v in model.logger.name_to_value.items() if k.startswith("eval/")}  # logged above
        model.logger.record("hparams", hparam_record(config.to_dict(), metrics), exclude=NOT_SCALAR_FORMATS)
        model.logger.dump(model.num_timesteps)
    model.logger.close()
    return Run(run_dir, config, model, wall_time, interrupted, evaluation)
