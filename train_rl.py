"""Train an attention policy, then evaluate it: the attention-rl command line.

python train_rl.py                      # PPO + attention on attn/FindTarget-v0, a few minutes on 2 cores
python train_rl.py --extractor mlp      # the same with SB3's MLP, for comparison
tensorboard --logdir runs               # watch returns and attention
python train_rl.py eval RUN_DIR --episodes 20
"""

from __future__ import annotations

import argparse
import shlex
import sys

COMMANDS = ("train", "eval")


def train_parser() -> argparse.ArgumentParser:
    """Arguments of ``train_rl.py [train]``."""
    parser = argparse.ArgumentParser(
        prog="train_rl.py",
        description="Train an agent; every run gets a folder with tensorboard logs.",
        epilog="Evaluate a run with: train_rl.py eval RUN_DIR_OR_MODEL",
    )
    parser.add_argument("--env", default="attn/FindTarget-v0", help="Gymnasium env id (default: %(default)s)")
    parser.add_argument("--algo", default="ppo", help="algorithm: ppo, a2c, dqn, sac, td3, ddpg (default: %(default)s)")
    parser.add_argument(
        "--extractor",
        default="attention",
        help="features extractor: attention (tokenizer from the space), entity, patch, features, time, latent, "
        "or mlp for SB3's default (CNN for images) (default: %(default)s)",
    )
    parser.add_argument("--timesteps", type=int, default=None, help="env steps to train (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--n-envs", type=int, default=None, help="parallel envs (default: the preset's)")
    parser.add_argument(
        "--run-dir",
        default="runs",
        help="root folder of the runs; each run gets <env>/<algo>_<extractor>_s<seed> below it (default: %(default)s)",
    )
    parser.add_argument("--eval-episodes", type=int, default=50, help="episodes of the final evaluation (default: 50)")
    parser.add_argument("--device", default="auto", help="torch device (default: %(default)s)")
    parser.add_argument(
        "--progress-bar",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show SB3's progress bar (default: on)",
    )
    parser.add_argument("--verbose", type=int, default=0, help="1 also prints SB3's logger tables")
    return parser


def eval_parser() -> argparse.ArgumentParser:
    """Arguments of ``train_rl.py eval``."""
    parser = argparse.ArgumentParser(
        prog="train_rl.py eval", description="Load a trained policy, run episodes, report returns and focus."
    )
    parser.add_argument("path", help="a run folder (holding model.zip) or a model .zip file")
    parser.add_argument("--episodes", type=int, default=20, help="episodes to run (default: %(default)s)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--deterministic",
        dest="deterministic",
        action="store_true",
        default=True,
        help="greedy actions (default)",
    )
    mode.add_argument("--stochastic", dest="deterministic", action="store_false", help="sample actions")
    parser.add_argument("--seed", type=int, default=None, help="seed of the evaluation env (default: run seed + 10000)")
    parser.add_argument("--env", default=None, help="env id (default: the run's)")
    parser.add_argument("--algo", default=None, help="algorithm, for a bare .zip without config.yaml")
    return parser


def run_train(argv: list[str]) -> int:
    """Train, evaluate and print where to look next."""
    args = train_parser().parse_args(argv)
    from agents import RunConfig, format_evaluation, train

    config = RunConfig(
        env=args.env,
        algo=args.algo,
        extractor=args.extractor,
        timesteps=args.timesteps,
        seed=args.seed,
        n_envs=args.n_envs,
        run_root=args.run_dir,
        eval_episodes=args.eval_episodes,
        device=args.device,
        progress_bar=args.progress_bar,
        verbose=args.verbose,
    )
    command = shlex.join(["python", "train_rl.py", *argv])
    run = train(config, command=command)
    state = "interrupted (Ctrl-C) after" if run.interrupted else "trained"
    print(f"\n{state} {run.model.num_timesteps} steps in {run.wall_time_s:.0f} s; run folder: {run.path}")
    if run.evaluation is not None:
        print(format_evaluation(run.evaluation))
    print(f"\nWatch training:  tensorboard --logdir {run.config.run_root}")
    print(f"Evaluate again:  python train_rl.py eval {run.path} --episodes 20")
    return 0


def run_eval(argv: list[str]) -> int:
    """Evaluate a saved policy and print its returns and focus table."""
    args = eval_parser().parse_args(argv)
    from agents import evaluate, format_evaluation

    result = evaluate(
        args.path,
        episodes=args.episodes,
        deterministic=args.deterministic,
        seed=args.seed,
        env_id=args.env,
        algo=args.algo,
    )
    print(format_evaluation(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch to ``train`` (the default) or ``eval``; bad input exits 2 with one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    try:
        return run_train(argv) if command == "train" else run_eval(argv)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"train_rl.py {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
