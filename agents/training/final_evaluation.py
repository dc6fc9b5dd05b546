"""The evaluation at the end of a run: ``eval.json``, the best model, and the ``eval/`` scalars and HPARAMS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger

from agents.evaluation.evaluate import EVAL_SEED_OFFSET, EvalResult, evaluate_model
from agents.setup.config import RunConfig
from agents.setup.simulators import evaluation_note
from agents.storage.layout import EVAL_FILE, MODEL_FILE, vecnormalize_path
from agents.storage.runs import write_json
from agents.training.callbacks import NOT_SCALAR_FORMATS
from agents.training.checkpoints import read_best, save_best
from agents.training.hparams import hparam_record


def final_evaluation(model: BaseAlgorithm, config: RunConfig, run_dir: Path) -> EvalResult:
    """Evaluate the saved model, write ``eval.json``, update the best model and log the ``eval/`` scalars."""
    stats = vecnormalize_path(run_dir / MODEL_FILE)
    evaluation = evaluate_model(
        model,
        config.env,
        config.env_kwargs,
        episodes=config.eval_episodes,
        seed=config.seed + EVAL_SEED_OFFSET,
        deterministic=config.eval_deterministic,
        vecnormalize=stats if stats.is_file() else None,
        gym_packages=config.gym_packages,
        model_path=run_dir / MODEL_FILE,
        focus=config.focus,
    )
    evaluation.model = str(run_dir / MODEL_FILE)
    note = evaluation_note(config.env, config.vec_env, config.env, config.env_kwargs)
    if note:
        evaluation.extra["simulators"] = note
    write_json(run_dir / EVAL_FILE, evaluation.to_dict())
    best = read_best(run_dir)
    if best is None or evaluation.mean_return > best["mean_reward"]:
        save_best(model, run_dir, evaluation.mean_return)
    model.logger.record("eval/mean_reward", evaluation.mean_return)
    if evaluation.success_rate is not None:
        model.logger.record("eval/success_rate", evaluation.success_rate)
    record_eval_attention(model.logger, evaluation.attention)
    metrics = {k: v for k, v in model.logger.name_to_value.items() if k.startswith("eval/")}  # logged above
    model.logger.record("hparams", hparam_record(config.to_dict(), metrics), exclude=NOT_SCALAR_FORMATS)
    model.logger.dump(model.num_timesteps)
    return evaluation


def record_eval_attention(logger: Logger, attention: dict[str, Any] | None) -> None:
    """The final evaluation's focus scores as ``eval/`` scalars (also the HPARAMS tab's metrics).

    ``eval/relevant_mass`` is the first focus method's; ``eval/<method>/relevant_mass`` and
    ``eval/faithfulness/<method>`` (Spearman with ``causal``) each method's.
    """
    if not attention:
        return
    if attention["relevant_mass"] is not None:
        logger.record("eval/relevant_mass", attention["relevant_mass"])
    for method, stats in attention.get("methods", {}).items():
        if stats["relevant_mass"] is not None:
            logger.record(f"eval/{method}/relevant_mass", stats["relevant_mass"])
        spearman = (stats.get("faithfulness") or {}).get("spearman")
        if spearman is not None:
            logger.record(f"eval/faithfulness/{method}", spearman)
