"""Build, train, resume, save, load and evaluate agents; the callbacks that log attention to tensorboard.

from agents import RunConfig, train, load, evaluate, resume
run = train(RunConfig(env="attn/FindTarget-v0", extractor="attention", timesteps=50_000))
model = load(run.path)                       # or load(run.path, which="best")
result = evaluate(run.path, episodes=20)
run = resume(run.path, timesteps=100_000)    # from the last checkpoint
"""

from __future__ import annotations

from agents.evaluation.evaluate import (
    EvalResult,
    action_digest,
    evaluate,
    evaluate_model,
    format_evaluation,
    interquartile_mean,
    load,
)
from agents.export.onnx_export import export_onnx
from agents.setup.algorithms import ALGORITHMS, check_action_space
from agents.setup.build import build_model
from agents.setup.config import RunConfig
from agents.setup.dry_run import dry_run
from agents.setup.env_ids import check_env_id
from agents.setup.overrides import apply_overrides
from agents.setup.policy_kwargs import attention_policy_kwargs
from agents.setup.presets import load_preset
from agents.setup.resolution import resolve
from agents.setup.vec_envs import make_env
from agents.training.callbacks import AttentionLogCallback
from agents.training.train import Run, resume, train

__all__ = [
    "ALGORITHMS",
    "AttentionLogCallback",
    "EvalResult",
    "Run",
    "RunConfig",
    "action_digest",
    "apply_overrides",
    "attention_policy_kwargs",
    "build_model",
    "check_action_space",
    "check_env_id",
    "dry_run",
    "evaluate",
    "evaluate_model",
    "export_onnx",
    "format_evaluation",
    "interquartile_mean",
    "load",
    "load_preset",
    "make_env",
    "resolve",
    "resume",
    "train",
]
