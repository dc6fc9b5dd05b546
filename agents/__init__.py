"""Build, train, save, load and evaluate agents; the callbacks that log attention to tensorboard.

from agents import RunConfig, train, load, evaluate
run = train(RunConfig(env="attn/FindTarget-v0", extractor="attention", timesteps=50_000))
model = load(run.path)
result = evaluate(run.path, episodes=20)
"""

from __future__ import annotations

from agents.algorithms import ALGORITHMS, check_action_space
from agents.callbacks import AttentionLogCallback
from agents.config import RunConfig, check_env_id, load_preset, resolve
from agents.evaluate import EvalResult, action_digest, evaluate, evaluate_model, format_evaluation, load
from agents.train import Run, build_model, make_env, train

__all__ = [
    "ALGORITHMS",
    "AttentionLogCallback",
    "EvalResult",
    "Run",
    "RunConfig",
    "action_digest",
    "build_model",
    "check_action_space",
    "check_env_id",
    "evaluate",
    "evaluate_model",
    "format_evaluation",
    "load",
    "load_preset",
    "make_env",
    "resolve",
    "train",
]
