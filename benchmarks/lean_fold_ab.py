"""The default run's PPO speed with the lean head folded (now) against unfolded (before), and the MLP's.

``AttentionExtractor(lean=True)`` folds the output layer's ``Linear`` into the lean readout's value map (one
``Linear`` of the heads' pooled parts to the features, 2 parameter tensors fewer). This script trains three PPO
models with FindTarget's preset (the default run's settings, one torch thread): ``unfolded`` (the same extractor
with its value map to ``embed_dim`` and a head ``Linear`` after it, as before the fold), ``folded`` (the extractor
as built now) and ``mlp`` (SB3's ``FlattenExtractor``); it interleaves ``model.learn`` rounds of each (A B C A B C
...) in one process and prints the median steps/s and the ratios. It writes nothing; docs/BENCHMARKS.md quotes it.

Usage::

    python benchmarks/lean_fold_ab.py --rounds 7 --steps 4096
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Sequence

from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from agents import RunConfig, build_model, make_env, resolve
from agents.setup.build import set_threads


def build(kind: str) -> BaseAlgorithm:
    """A PPO model of FindTarget's preset: ``folded``, ``unfolded`` or ``mlp``."""
    config = resolve(
        RunConfig(env="attn/FindTarget-v0", extractor="mlp" if kind == "mlp" else "attention", threads=1, verbose=0)
    )
    model = build_model(config, make_env(config, config.n_envs, 0))
    if kind == "unfolded":
        policy = model.policy
        extractor = policy.features_extractor
        extractor.readout.value = nn.Linear(extractor.readout.value.in_features, extractor.embed_dim)
        extractor.head[0] = nn.Linear(extractor.embed_dim, extractor.features_dim)
        policy.optimizer = policy.optimizer_class(
            policy.parameters(), lr=model.lr_schedule(1.0), **policy.optimizer_kwargs
        )
    return model


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments, time the three models interleaved and print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=4096, help="timesteps per model per round")
    args = parser.parse_args(argv)
    set_threads(1)
    models = {kind: build(kind) for kind in ("unfolded", "folded", "mlp")}
    for model in models.values():
        model.learn(2048)  # warm-up
    speeds: dict[str, list[float]] = {kind: [] for kind in models}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        for kind, model in models.items():
            start = time.perf_counter()
            model.learn(args.steps, reset_num_timesteps=False)
            speeds[kind].append(args.steps / (time.perf_counter() - start))
    median = {kind: statistics.median(values) for kind, values in speeds.items()}
    for kind, model in models.items():
        tensors = sum(1 for _ in model.policy.parameters())
        print(f"{kind:9s} {median[kind]:7.0f} steps/s (median of {args.rounds}), {tensors} parameter tensors")
    print(
        f"folded / unfolded {median['folded'] / median['unfolded']:.3f}; folded / mlp "
        f"{median['folded'] / median['mlp']:.3f}; unfolded / mlp {median['unfolded'] / median['mlp']:.3f}; "
        f"1-minute load at the start {load:.2f}"
    )


if __name__ == "__main__":
    main()
