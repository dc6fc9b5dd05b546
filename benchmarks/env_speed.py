"""Speed of the own environments, their random-policy score, and a short PPO + attention run against it.

For every env id in ``envs.ENV_SPECS`` (or those given with ``--envs``) it measures:

- single-threaded ``step`` throughput with random actions (steps/s, the env alone: ``env.unwrapped``, with a
  reset whenever an episode ends), and the same for ``ShuffleParts`` over FindTarget (``--no-wrappers`` skips
  it);
- the random policy's mean return and success rate over seeded episodes (``gymnasium.make``, time limit
  included);
- a short PPO run with the attention extractor (``agents.train`` with the env's ``configs/ppo.yaml`` preset and
  ``--ppo-steps`` timesteps), evaluated deterministically on fresh seeds: does it beat the random policy?

It prints a table and writes it between ``<!-- env_speed:start -->`` and ``<!-- env_speed:end -->`` in
``docs/BENCHMARKS.md``.

Usage::

    python benchmarks/env_speed.py                         # all own envs, writes docs/BENCHMARKS.md
    python benchmarks/env_speed.py --envs attn/FindTarget-v0 --ppo-steps 20000 --output /tmp/env.md
    python benchmarks/env_speed.py --no-ppo                # speed and random scores only
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from doc_sections import machine_facts, write_section

import envs
from agents import RunConfig, train
from agents.evaluation.tables import markdown_table
from envs.wrappers import ShuffleParts

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
START_MARKER = "<!-- env_speed:start -->"
END_MARKER = "<!-- env_speed:end -->"
#: Steps/s targets: pixel envs are allowed to be slower.
TARGETS = {"default": 20_000, f"{envs.NAMESPACE}/PatchFind-v0": 3_000}
FIND_TARGET = f"{envs.NAMESPACE}/FindTarget-v0"
#: Wrapped envs measured for speed only (label -> factory): the wrapper's cost over the bare env above.
WRAPPED: dict[str, Callable[[], gym.Env]] = {
    f"ShuffleParts({FIND_TARGET}, per='{per}')": (
        lambda per=per: ShuffleParts(gym.make(FIND_TARGET).unwrapped, per=per)
    )
    for per in ("episode", "step")
}


@dataclass
class EnvResult:
    """What was measured for one env."""

    env_id: str
    steps_per_s: float
    random_return: float | None
    random_success: float | None
    ppo_steps: int = 0
    ppo_return: float | None = None
    ppo_return_std: float | None = None
    ppo_success: float | None = None
    ppo_relevant_mass: float | None = None
    ppo_wall_s: float | None = None


def steps_per_second(make_env: Callable[[], gym.Env], seconds: float, seed: int) -> float:
    """Random-action ``step`` calls per second of an env, resets included.

    Args:
        make_env: builds the env to time (e.g. ``gym.make(env_id).unwrapped``: the env alone).
        seconds: how long to run.
        seed: seed of the env and the actions.
    """
    env = make_env()
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(4096)]
    env.reset(seed=seed)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for action in actions[:512]:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        steps += 512
        actions = actions[512:] + actions[:512]
    return steps / (time.perf_counter() - start)


def random_policy_score(env_id: str, episodes: int, seed: int) -> tuple[float, float | None]:
    """Mean return and success rate (None when the env reports none) of uniform random actions.

    Args:
        env_id: registered env id.
        episodes: episodes to run, seeded ``seed``, ``seed + 1``, ...
        seed: first seed.
    """
    env = gym.make(env_id)
    env.action_space.seed(seed)
    returns, successes = [], []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        total, done, info = 0.0, False, {}
        while not done:
            _, reward, terminated, truncated, info = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        successes.append(info.get("is_success"))
    known = [s for s in successes if s is not None]
    return float(np.mean(returns)), (float(np.mean(known)) if known else None)


def ppo_score(env_id: str, timesteps: int, seed: int, result: EnvResult, eval_episodes: int) -> None:
    """Train PPO + attention for ``timesteps`` (the env's preset otherwise) and fill the PPO fields.

    Args:
        env_id: registered env id.
        timesteps: training budget.
        seed: training seed (evaluation uses other seeds).
        result: filled in place.
        eval_episodes: episodes of the deterministic evaluation.
    """
    with tempfile.TemporaryDirectory() as root:
        run = train(
            RunConfig(
                env=env_id,
                timesteps=timesteps,
                seed=seed,
                run_root=root,
                eval_episodes=eval_episodes,
                progress_bar=False,
                threads=1,  # one torch thread: several runs share 2 cores without oversubscription
            )
        )
    evaluation = run.evaluation
    result.ppo_steps = run.model.num_timesteps
    result.ppo_return, result.ppo_return_std = evaluation.mean_return, evaluation.std_return
    result.ppo_success = evaluation.success_rate
    result.ppo_relevant_mass = (evaluation.attention or {}).get("relevant_mass")
    result.ppo_wall_s = run.wall_time_s


def fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    """Format a figure, or an em dash for none."""
    return "—" if value is None else pattern.format(value)


def render_section(results: Sequence[EnvResult], args: argparse.Namespace, command: str) -> str:
    """The markdown section (markers included)."""
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    speed_rows = []
    for r in results:
        target = TARGETS.get(r.env_id, TARGETS["default"])
        speed_rows.append([
            f"`{r.env_id}`", f"{r.steps_per_s:,.0f}", f"{target:,}", "met" if r.steps_per_s >= target else "**missed**",
            fmt(r.random_return), fmt(r.random_success, "{:.0%}"),
        ])  # fmt: skip
    parts = [
        START_MARKER,
        "## Environments: speed, random policy, short PPO + attention",
        f"Produced by `{command}` on {date}. One run, so its figures are only as steady as the machine "
        "(load below).\n\n" + "\n".join(f"- {fact}" for fact in machine_facts("cpu")),
        f"### Speed and random policy\n\nSteps/s: `env.unwrapped.step` with random actions for {args.seconds:g} s, "
        "single-threaded, resets included (a `ShuffleParts` row wraps the bare FindTarget). Random policy: "
        f"{args.random_episodes} seeded episodes through `gymnasium.make` (time limit included).\n\n"
        + markdown_table(["env", "steps/s", "target", "", "random return", "random success"], speed_rows),
    ]
    if not args.no_ppo:
        ppo_rows = []
        for r in results:
            if r.random_return is None:  # a speed-only row
                continue
            beats = r.ppo_return is not None and r.ppo_return > r.random_return
            ppo_rows.append([
                f"`{r.env_id}`", f"{r.ppo_steps:,}", fmt(r.ppo_wall_s, "{:.0f} s"),
                f"{fmt(r.ppo_return)} ± {fmt(r.ppo_return_std)}", fmt(r.ppo_success, "{:.0%}"),
                fmt(r.random_return), "yes" if beats else "**no**", fmt(r.ppo_relevant_mass),
            ])  # fmt: skip
        parts.append(
            f"### Short PPO + attention against the random policy\n\n`agents.train` with the env's "
            f"`configs/ppo.yaml` preset (one torch thread), seed {args.seed}, then {args.eval_episodes} deterministic "
            'evaluation episodes on other seeds. Relevant mass: the readout\'s focus on `info["relevant_parts"]` '
            "during the evaluation.\n\n"
            + markdown_table(
                [
                    "env",
                    "PPO steps",
                    "train time",
                    "PPO return",
                    "PPO success",
                    "random return",
                    "beats random",
                    "relevant mass",
                ],
                ppo_rows,
            )
        )
    parts.append(END_MARKER)
    return "\n\n".join(parts)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Speed, random score and short PPO run of the own envs.")
    parser.add_argument("--envs", nargs="+", default=list(envs.ENV_SPECS), help="env ids (default: all own envs)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of stepping per env (default: 3)")
    parser.add_argument("--random-episodes", type=int, default=300, help="random-policy episodes (default: 300)")
    parser.add_argument("--ppo-steps", type=int, default=None, help="PPO timesteps (default: the env's preset)")
    parser.add_argument("--no-ppo", action="store_true", help="skip the PPO runs")
    parser.add_argument("--no-wrappers", action="store_true", help="skip the ShuffleParts speed rows")
    parser.add_argument("--eval-episodes", type=int, default=50, help="PPO evaluation episodes (default: 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file to write the section into")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every env, print the section and write it into the output file."""
    args = parse_args(argv)
    command = shlex.join(["python", "benchmarks/env_speed.py", *(sys.argv[1:] if argv is None else argv)])
    results = []
    for env_id in args.envs:
        random_return, random_success = random_policy_score(env_id, args.random_episodes, args.seed)
        speed = steps_per_second(lambda env_id=env_id: gym.make(env_id).unwrapped, args.seconds, args.seed)
        result = EnvResult(env_id, speed, random_return, random_success)
        if not args.no_ppo:
            ppo_score(env_id, args.ppo_steps, args.seed, result, args.eval_episodes)
        print(result, flush=True)
        results.append(result)
    if not args.no_wrappers:
        for label, make_env in WRAPPED.items():
            result = EnvResult(label, steps_per_second(make_env, args.seconds, args.seed), None, None)
            print(result, flush=True)
            results.append(result)
    section = render_section(results, args, command)
    print(section)
    write_section(args.output, section, START_MARKER, END_MARKER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
