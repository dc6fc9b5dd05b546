"""How sharp trained policies are: per-step entropy, the top action's probability, features and logits, episodes.

For each run folder given, it loads the last model (``agents.load``), plays ``--episodes`` episodes of the run's
env with sampled actions and as many with greedy ones (env seeds from ``--env-seed``, the same for every run), and
prints one line per run: the mean entropy of the action distribution per step of the sampled episodes (nats), the
mean and 10th percentile of the top action's probability, the mean L2 norm of the extractor's features and the
mean range of the action logits (largest minus smallest) over those steps, and the mean return and length of the
sampled and greedy episodes (the sampled return with its 95% interval, 1.96 standard errors). A second table
gives the steps where each policy hesitates: the share of sampled steps whose entropy exceeds ``--hesitation``
nats, and the pairs of actions (most likely / second) it hesitates between most often, named by the env's
``actions`` enum where it has one (MiniGrid's), else by index. Discrete actions only.

It measures where two policies that take the same greedy paths differ in a sampled evaluation: a policy that
keeps more probability on other actions takes longer sampled episodes, and the pairs say in which choice.

Usage::

    python benchmarks/policy_sharpness.py RUN_DIR [RUN_DIR ...] [--episodes 30] [--env-seed 5000] [--hesitation 0.3]
"""

from __future__ import annotations

import argparse
import enum
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents import load, make_env
from agents.evaluation.evaluate import read_config
from agents.evaluation.tables import markdown_table


@dataclass
class Sharpness:
    """One run's figures (see the module docstring)."""

    entropy: float
    top_prob: float
    top_prob_p10: float
    features_norm: float
    logit_range: float
    sampled_return: float
    sampled_return_ci: float
    sampled_length: float
    greedy_return: float
    greedy_length: float
    hesitant_share: float
    hesitations: list[tuple[str, float]]


def step_stats(model: BaseAlgorithm, obs: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """For one observation batch ``(1, ...)``: action probabilities ``(A,)``, entropy, features norm, logit range."""
    policy = model.policy
    tensor, _ = policy.obs_to_tensor(obs)
    with torch.no_grad():
        features = policy.extract_features(tensor, policy.pi_features_extractor)  # (1, F)
        latent_pi = policy.mlp_extractor.forward_actor(features)
        logits = policy.action_net(latent_pi)[0]  # (A,)
    probs = torch.softmax(logits, dim=-1)
    entropy = float(-(probs * torch.log(probs.clamp_min(1e-12))).sum())
    return probs.numpy(), entropy, float(features.norm()), float(logits.max() - logits.min())


def action_names(env: VecEnv, n_actions: int) -> list[str]:
    """The env's names for its actions (an ``actions`` enum, as MiniGrid's), else ``"0"``, ``"1"``..."""
    try:
        actions = env.get_attr("actions")[0]
    except AttributeError:
        actions = None
    if isinstance(actions, type) and issubclass(actions, enum.Enum):
        names = {int(member.value): member.name for member in actions}
        return [names.get(i, str(i)) for i in range(n_actions)]
    return [str(i) for i in range(n_actions)]


def play(
    model: BaseAlgorithm, run_dir: Path, episodes: int, env_seed: int, greedy: bool
) -> tuple[list, list, list, list[str]]:
    """``episodes`` episodes of the run's env: (returns, lengths, per-step stats of the sampled ones, action names).

    A sampled step's stats: ``(probs, entropy, features norm, logit range)``.
    """
    env = make_env(read_config(run_dir), n_envs=1, seed=env_seed)
    names = action_names(env, int(model.action_space.n))
    rng = np.random.default_rng(env_seed)
    returns, lengths, steps = [], [], []
    obs = env.reset()
    while len(returns) < episodes:
        probs, entropy, norm, spread = step_stats(model, obs)
        if greedy:
            action = int(np.argmax(probs))
        else:
            action = int(rng.choice(len(probs), p=probs / probs.sum()))
            steps.append((probs, entropy, norm, spread))
        obs, _, dones, infos = env.step(np.array([action]))
        if dones[0]:
            returns.append(float(infos[0]["episode"]["r"]))
            lengths.append(int(infos[0]["episode"]["l"]))
    env.close()
    return returns, lengths, steps, names


def hesitation_pairs(probs: np.ndarray, names: list[str], top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` most frequent (most likely / second) action pairs in ``probs`` ``(S, A)``, with their shares."""
    order = np.argsort(-probs, axis=1)[:, :2]  # (S, 2)
    counts = Counter(f"{names[a]}/{names[b]}" for a, b in order)
    return [(pair, n / len(probs)) for pair, n in counts.most_common(top)]


def measure(run_dir: Path, episodes: int, env_seed: int, hesitation: float = 0.3) -> Sharpness:
    """The figures of one run's last model; steps above ``hesitation`` nats of entropy count as hesitant."""
    model = load(run_dir, device="cpu")
    if not isinstance(model.action_space, spaces.Discrete):
        raise ValueError(f"{run_dir} has {model.action_space} actions: this script reads discrete policies only.")
    if model.get_vec_normalize_env() is not None:
        raise ValueError(f"{run_dir} normalised its observations: this script reads raw observations only.")
    sampled_r, sampled_l, steps, names = play(model, run_dir, episodes, env_seed, greedy=False)
    greedy_r, greedy_l, _, _ = play(model, run_dir, episodes, env_seed, greedy=True)
    probs, entropy, norm, spread = (np.array(column) for column in zip(*steps, strict=True))  # probs: (S, A)
    top = probs.max(axis=1)  # (S,)
    hesitant = entropy > hesitation  # (S,)
    ci = 1.96 * float(np.std(sampled_r, ddof=1)) / np.sqrt(len(sampled_r)) if len(sampled_r) > 1 else float("nan")
    return Sharpness(
        float(entropy.mean()), float(top.mean()), float(np.percentile(top, 10)), float(norm.mean()),
        float(spread.mean()), float(np.mean(sampled_r)), ci, float(np.mean(sampled_l)), float(np.mean(greedy_r)),
        float(np.mean(greedy_l)), float(hesitant.mean()), hesitation_pairs(probs[hesitant], names),
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    """Print the figures of every run given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (train_rl.py's or benchmarks/learning.py's)")
    parser.add_argument("--episodes", type=int, default=30, help="sampled episodes, and as many greedy ones (30)")
    parser.add_argument("--env-seed", type=int, default=5000, help="seed of the evaluation env (5000)")
    parser.add_argument("--hesitation", type=float, default=0.3, help="entropy (nats) of a hesitant step (0.3)")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes {args.episodes}: give at least 1 episode.")
    if not args.hesitation > 0:
        parser.error(f"--hesitation {args.hesitation}: give a positive entropy in nats (e.g. 0.3).")
    torch.set_num_threads(1)
    rows, hesitations = [], []
    for run in args.runs:
        s = measure(run, args.episodes, args.env_seed, args.hesitation)
        rows.append([
            str(run), f"{s.entropy:.3f}", f"{s.top_prob:.3f}", f"{s.top_prob_p10:.3f}", f"{s.features_norm:.1f}",
            f"{s.logit_range:.1f}", f"{s.sampled_return:.4f} ± {s.sampled_return_ci:.4f} / {s.sampled_length:.2f}",
            f"{s.greedy_return:.4f} / {s.greedy_length:.2f}",
        ])  # fmt: skip
        pairs = ", ".join(f"{pair} {share:.0%}" for pair, share in s.hesitations) or "—"
        hesitations.append([str(run), f"{s.hesitant_share:.2%}", pairs])
    header = ["run", "entropy", "top prob", "top prob p10", "features norm", "logit range",
              "sampled return ± 95% / length", "greedy return / length"]  # fmt: skip
    print(markdown_table(header, rows))
    print()
    header = ["run", f"steps above {args.hesitation:g} nats", "most likely / second action (share of those steps)"]
    print(markdown_table(header, hesitations))


if __name__ == "__main__":
    sys.exit(main())
