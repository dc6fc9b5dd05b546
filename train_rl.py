"""Train an attention policy, then evaluate it: the attention-rl command line.

python train_rl.py                      # PPO + attention on attn/FindTarget-v0, a few minutes on 2 cores
python train_rl.py --extractor mlp      # the same with SB3's MLP, for comparison
tensorboard --logdir runs               # watch returns and attention
python train_rl.py eval RUN_DIR --episodes 20 --video   # + an mp4 with the attention drawn on each frame
python train_rl.py plot runs/attn-FindTarget-v0         # learning curves of every run below, as a PNG
"""

from __future__ import annotations

import argparse
import shlex
import sys

COMMANDS = ("train", "eval", "plot")


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
    parser.add_argument(
        "--attention-log-interval",
        type=int,
        default=None,
        help="log attention to tensorboard every N env steps (default: 10000; 0 = off)",
    )
    parser.add_argument(
        "--no-attention-log", action="store_true", help="no attention in tensorboard (as --attention-log-interval 0)"
    )
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
    parser.add_argument(
        "--video",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="also record the first --video-episodes episodes with the attention drawn on each frame, as an mp4 "
        "(a gif without moviepy) at PATH (default: eval.mp4 beside the model)",
    )
    parser.add_argument("--video-episodes", type=int, default=3, help="episodes in the video (default: %(default)s)")
    return parser


def plot_parser() -> argparse.ArgumentParser:
    """Arguments of ``train_rl.py plot``."""
    parser = argparse.ArgumentParser(
        prog="train_rl.py plot",
        description="Learning curves of runs (grouped by env, algorithm and extractor; mean over seeds with a 95%% "
        "bootstrap band) from their monitor files, saved as a PNG.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders, or folders holding run folders")
    parser.add_argument("--out", default="learning_curves.png", help="PNG to write (default: %(default)s)")
    parser.add_argument("--window", type=int, default=50, help="episodes in the moving average (default: %(default)s)")
    parser.add_argument("--title", default=None, help="title of the returns panel")
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
    if args.no_attention_log or args.attention_log_interval is not None:
        config.attention_log_interval = 0 if args.no_attention_log else args.attention_log_interval
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
    if args.video is not None:
        from agents.video import record_evaluation_video

        video = record_evaluation_video(
            args.path,
            args.video or None,
            episodes=args.video_episodes,
            deterministic=args.deterministic,
            seed=args.seed,
            env_id=args.env,
            algo=args.algo,
        )
        if video.note:
            print(video.note)
        height, width = video.size
        print(f"Video: {video.path} ({video.frames} frames of {width}x{height}, {args.video_episodes} episodes)")
    return 0


def run_plot(argv: list[str]) -> int:
    """Plot learning curves of runs into a PNG."""
    args = plot_parser().parse_args(argv)
    from agents.plotting import plot_runs

    out = plot_runs(args.runs, args.out, window=args.window, title=args.title)
    print(f"Learning curves: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch to ``train`` (the default) or ``eval``; bad input exits 2 with one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    try:
        return {"train": run_train, "eval": run_eval, "plot": run_plot}[command](argv)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"train_rl.py {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
