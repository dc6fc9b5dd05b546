"""The POPGym Easy suite with the defaults: ``ppo_trxl`` against ``ppo_lstm``, each as the command line trains it.

Run through ``benchmarks/memory.py --suite popgym-easy`` (see its doc). Every env of POPGym's Easy level, no preset
section for any of them: each arm takes its ``configs/<algo>.yaml`` default section and what the observation
space implies (``agents.setup.automatic``: a flat observation becomes one token per step), exactly as
``python train_rl.py --algo ppo_trxl --env popgym-<Name>Easy-v0`` does. Each run is evaluated greedily on
``--eval-episodes`` episodes; the random policy's mean return is measured on as many episodes (its own seeds) so
that a return can be read against chance. Results go to ``docs/popgym_results.jsonl``, the section between
``<!-- popgym:start -->`` and ``<!-- popgym:end -->`` of docs/BENCHMARKS.md is drawn from that file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents import RunConfig, train
from agents.evaluation.statistics import mean_ci
from agents.evaluation.tables import markdown_table
from agents.setup.vec_envs import make_single_env

START_MARKER, END_MARKER = "<!-- popgym:start -->", "<!-- popgym:end -->"
ARMS = ("ppo_trxl", "ppo_lstm")


@dataclass(frozen=True)
class SuiteEnv:
    """One POPGym Easy env: its id and whether it is a recall task (the answer is an earlier observation)."""

    name: str
    recall: bool

    @property
    def env(self) -> str:
        """The Gymnasium id."""
        return f"popgym-{self.name}-v0"


#: POPGym's Easy level (popgym 1.0's registered ``*Easy-v0`` ids), recall tasks first.
SUITE = tuple(
    SuiteEnv(name, recall)
    for name, recall in (
        ("RepeatFirstEasy", True), ("RepeatPreviousEasy", True), ("CountRecallEasy", True),
        ("AutoencodeEasy", True), ("ConcentrationEasy", True), ("HigherLowerEasy", False),
        ("MultiarmedBanditEasy", False), ("BattleshipEasy", False), ("MineSweeperEasy", False),
        ("PositionOnlyCartPoleEasy", False), ("VelocityOnlyCartpoleEasy", False),
        ("NoisyPositionOnlyCartPoleEasy", False), ("PositionOnlyPendulumEasy", False),
        ("NoisyPositionOnlyPendulumEasy", False),
    )
)  # fmt: skip
BY_NAME = {env.name: env for env in SUITE}


def suite_config(env: SuiteEnv, arm: str, seed: int, timesteps: int, run_root: str, eval_episodes: int) -> RunConfig:
    """The ``RunConfig`` the command line builds for ``--algo ARM --env ENV`` (no extractor, no preset section)."""
    return RunConfig(
        env=env.env, algo=arm, timesteps=timesteps, seed=seed, run_root=run_root, eval_episodes=eval_episodes,
        eval_freq=0, save_freq=0, attention_log_interval=0, progress_bar=False, focus=["causal", "readout"],
    )  # fmt: skip


def run_suite_one(env: SuiteEnv, arm: str, seed: int, timesteps: int, run_root: str, eval_episodes: int) -> dict:
    """Train and evaluate one (env, arm, seed); its figures as plain data."""
    run = train(suite_config(env, arm, seed, timesteps, run_root, eval_episodes))
    return {
        "env": env.name, "arm": arm, "seed": seed, "timesteps": int(run.model.num_timesteps),
        "extractor": run.config.extractor, "wall_s": run.wall_time_s, "eval_return": run.evaluation.mean_return,
    }  # fmt: skip


def random_return(env: SuiteEnv, episodes: int, seed: int = 12345) -> float:
    """Mean return of uniformly random actions over ``episodes`` episodes."""
    single = make_single_env(env.env, {}, ())
    single.action_space.seed(seed)
    returns = []
    try:
        for episode in range(episodes):
            single.reset(seed=seed + episode)
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, _ = single.step(single.action_space.sample())
                total, done = total + float(reward), terminated or truncated
            returns.append(total)
    finally:
        single.close()
    return float(np.mean(returns))


def _cell(values: Sequence[float]) -> str:
    if not values:
        return "not run"
    mean, low, high = mean_ci(list(values))
    return f"{mean:.2f}" if len(values) == 1 else f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def render_suite_section(runs: Sequence[dict[str, Any]], randoms: dict[str, float], meta: dict[str, Any]) -> str:
    """The markdown section: one row per env at its largest budget, both arms, the random policy, the verdict."""
    lines = [START_MARKER, "## POPGym Easy with the defaults: ppo_trxl vs ppo_lstm", ""]
    lines += [f"Produced by `{c}` ({d})." for c, d in meta.get("commands", [])]
    lines += ["", *(f"- {fact}" for fact in meta.get("machine", [])), ""]
    lines.append(
        "Each arm as `python train_rl.py --algo ARM --env popgym-<Name>-v0` trains it: its `configs/<algo>.yaml` "
        "default section (no POPGym section) and the automatic one token per step (SB3's Flatten). Greedy "
        "evaluation after training; returns are POPGym's (1 is perfect); means with 95% bootstrap CIs over "
        "seeds (one seed: the mean alone). Random: uniformly random actions, same number of episodes."
    )
    header = ["env", "recall task", "steps", "seeds", "ppo_trxl", "ppo_lstm", "random", "ppo_trxl vs ppo_lstm"]
    table, missing = [], []
    for env in SUITE:
        mine = [r for r in runs if r["env"] == env.name]
        if not mine:
            missing.append(env.name)
            continue
        budget = max(r["timesteps"] for r in mine)
        by_arm = {arm: [r["eval_return"] for r in mine if (r["arm"], r["timesteps"]) == (arm, budget)] for arm in ARMS}
        seeds = max(len(v) for v in by_arm.values())
        random = f"{randoms[env.name]:.2f}" if env.name in randoms else ""
        table.append([env.name, "yes" if env.recall else "", f"{budget:,}", seeds, _cell(by_arm["ppo_trxl"]),
                      _cell(by_arm["ppo_lstm"]), random, verdict(by_arm["ppo_trxl"], by_arm["ppo_lstm"])])  # fmt: skip
    lines += ["", markdown_table(header, table)]
    if missing:
        lines += ["", f"**Not run** (no figure above is claimed for them): {', '.join(missing)}."]
    notes = meta.get("notes", [])
    lines += ["", "Notes:", "", *(f"- {note}" for note in notes)] if notes else []
    return "\n".join([*lines, "", END_MARKER])


def verdict(trxl: Sequence[float], lstm: Sequence[float]) -> str:
    """``above`` / ``within`` / ``below`` ``ppo_lstm``'s CI (one seed each: ``higher`` / ``equal`` / ``lower``)."""
    if not trxl or not lstm:
        return ""
    a, b = mean_ci(list(trxl)), mean_ci(list(lstm))
    if len(trxl) == 1 or len(lstm) == 1:
        return "higher (one seed)" if a[0] > b[0] + 1e-9 else ("equal (one seed)" if a[0] >= b[0] - 1e-9 else
                                                                "lower (one seed)")  # fmt: skip
    return "above its CI" if a[0] > b[2] else ("within its CI" if a[0] >= b[1] else "**below its CI**")
