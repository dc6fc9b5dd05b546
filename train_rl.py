"""Train an attention policy, then evaluate it: the attention-rl command line.

python train_rl.py                      # PPO + attention on attn/FindTarget-v0, a few minutes on 2 cores
python train_rl.py --extractor mlp      # the same with SB3's MLP, for comparison
python train_rl.py --algo dqn --env CartPole-v1 --set hyperparams.learning_rate=1e-3
python train_rl.py --resume runs/attn-FindTarget-v0/ppo_attention_s0 --timesteps 200000
tensorboard --logdir runs               # watch returns and attention
python train_rl.py eval RUN_DIR --episodes 20 --which best
python train_rl.py eval RUN_DIR --video  # + an mp4 with the attention drawn on each frame
python train_rl.py plot runs/attn-FindTarget-v0  # learning curves of every run below, as a PNG
python train_rl.py sweep --env CartPole-v1 --extractors attention,mlp --seeds 5  # on Ray Tune
python train_rl.py export RUN_DIR --with-focus   # policy.onnx: observation in, action and focus out
python train_rl.py eval --onnx RUN_DIR/policy.onnx   # the exported file on onnxruntime
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass


def _algo_help() -> str:
    """The ``--algo`` choices, from the algorithms registry."""
    from agents.setup.algorithms import ALGORITHMS

    return f"{', '.join(ALGORITHMS.names())} (or the class name)"


def _extractor_help() -> str:
    """The ``--extractor`` choices, from the extractors registry."""
    from policies import EXTRACTORS

    attention = [name for name in EXTRACTORS.names() if EXTRACTORS.get(name) is not None]
    return (
        f"features extractor: {', '.join(attention)}, or mlp for SB3's default (CNN for images); attention picks "
        "its tokenizer from the observation space (default: the preset's; ppo_lstm / ppo_trxl on a flat observation "
        "with no section for the env: mlp, one token per step, said before training; else attention)"
    )


def resume_flags() -> list[str]:
    """The flags ``--resume`` takes: those of ``agents.training.train.RESUME_SETTINGS``."""
    from agents.training.train import RESUME_SETTINGS

    flags = {field: flag for flag, field in _CONFIG_FLAGS.items()}
    return [f"--{flags[setting].replace('_', '-')}" for setting in RESUME_SETTINGS]


def train_parser() -> argparse.ArgumentParser:
    """Arguments of ``train_rl.py [train]``."""
    parser = argparse.ArgumentParser(
        prog="train_rl.py",
        description="Train an agent; every run gets a folder with tensorboard logs, checkpoints and the best model.",
        epilog="Evaluate a run with: train_rl.py eval RUN_DIR_OR_MODEL",
    )
    what = parser.add_argument_group("what to train (defaults: configs/<algo>.yaml, keyed by env id)")
    what.add_argument("--env", default=None, help="Gymnasium env id, or module:EnvId (default: attn/FindTarget-v0)")
    what.add_argument("--algo", default=None, help=f"algorithm: {_algo_help()} (default: ppo)")
    what.add_argument(
        "--extractor",
        default=None,
        help=_extractor_help(),
    )
    what.add_argument("--timesteps", type=int, default=None, help="total env steps (default: the preset's)")
    what.add_argument("--config", default=None, metavar="FILE", help="a preset file (keyed by env id) over the preset")
    what.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override any setting, e.g. hyperparams.learning_rate=1e-3 extractor_kwargs.num_layers=1 "
        "normalize=true n_envs=4 (values are YAML)",
    )
    what.add_argument(
        "--gym-packages",
        nargs="+",
        default=None,
        metavar="PKG",
        help="modules to import so that they register their envs",
    )
    how = parser.add_argument_group("how to run")
    how.add_argument("--seed", type=int, default=None, help="random seed (default: 0; recorded in config.yaml)")
    how.add_argument("--n-envs", type=int, default=None, help="parallel envs (default: the preset's)")
    how.add_argument(
        "--vec-env",
        choices=("dummy", "subproc", "envpool"),
        default=None,
        help="one process, one per env, or envpool's C++ port (highway-fast-v0; evaluations still run on "
        "highway-env's Python original; pip install \"attention-rl[envpool]\") (default: the preset's, else dummy)",
    )
    how.add_argument("--device", default=None, help="torch device (default: auto)")
    how.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (torch.set_num_threads; default 1, see docs/BENCHMARKS.md#torch-threads)",
    )
    how.add_argument(
        "--run-dir",
        default=None,
        help="root folder of the runs; each run gets <env>/<algo>_<extractor>_s<seed> below it (default: runs)",
    )
    how.add_argument("--save-freq", type=int, default=None, metavar="STEPS", help="checkpoint every STEPS (10000)")
    how.add_argument("--eval-freq", type=int, default=None, metavar="STEPS", help="evaluate every STEPS (10000)")
    how.add_argument("--eval-episodes", type=int, default=None, help="episodes of the final evaluation (50)")
    how.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    how.add_argument("--dry-run", action="store_true", help="print the resolved config and parameter count, exit")
    how.add_argument(
        "--progress-bar", action=argparse.BooleanOptionalAction, default=None, help="SB3's progress bar (default: on)"
    )
    how.add_argument("--verbose", type=int, default=None, help="1 also prints SB3's logger tables")
    how.add_argument(
        "--attention-log-interval",
        type=int,
        default=None,
        metavar="STEPS",
        help="log attention to tensorboard every STEPS env steps (default: 10000; 0 = off)",
    )
    how.add_argument(
        "--no-attention-log", action="store_true", help="no attention in tensorboard (as --attention-log-interval 0)"
    )
    how.add_argument("--focus", type=_focus_methods, default=None, metavar="METHOD[,METHOD]", help=focus_help())
    return parser


def focus_help() -> str:
    """Help of ``--focus`` (train and eval): every registered focus method (``policies.FOCUS_METHODS``)."""
    from agents.setup.config import DEFAULT_FOCUS_METHODS
    from policies import FOCUS_METHODS

    methods = ", ".join(f"{name} ({method.description})" for name, method in FOCUS_METHODS.items())
    default = ",".join(DEFAULT_FOCUS_METHODS)
    return f"focus methods logged and evaluated, the first one drawn: {methods} (default: {default})"


def _focus_methods(text: str) -> list[str]:
    """``--focus causal,rollout`` -> ``["causal", "rollout"]``."""
    return [name.strip() for name in text.split(",") if name.strip()]


#: train_rl.py flag -> RunConfig field.
_CONFIG_FLAGS = {
    "env": "env",
    "algo": "algo",
    "extractor": "extractor",
    "timesteps": "timesteps",
    "config": "config_file",
    "gym_packages": "gym_packages",
    "seed": "seed",
    "n_envs": "n_envs",
    "vec_env": "vec_env",
    "device": "device",
    "threads": "threads",
    "run_dir": "run_root",
    "save_freq": "save_freq",
    "eval_freq": "eval_freq",
    "eval_episodes": "eval_episodes",
    "progress_bar": "progress_bar",
    "verbose": "verbose",
    "attention_log_interval": "attention_log_interval",
    "focus": "focus",
}


def run_train(argv: list[str]) -> int:
    """Train (or resume, or dry-run), evaluate and print where to look next."""
    args = train_parser().parse_args(argv)
    if args.no_attention_log:
        args.attention_log_interval = 0
    from agents import RunConfig, apply_overrides, dry_run, format_evaluation, resume, train
    from agents.training.train import RESUME_SETTINGS

    given = {field: getattr(args, flag) for flag, field in _CONFIG_FLAGS.items() if getattr(args, flag) is not None}
    command = shlex.join(["python", "train_rl.py", *argv])
    if args.resume is not None:
        fixed = sorted(set(given) - set(RESUME_SETTINGS))
        if fixed or args.overrides or args.dry_run:
            extra = [*fixed, *(["--set"] if args.overrides else []), *(["--dry-run"] if args.dry_run else [])]
            raise ValueError(
                f"--resume continues the run as its config.yaml says; it cannot change {', '.join(extra)}. "
                f"It takes {', '.join(resume_flags())} (--timesteps: the new total)."
            )
        run = resume(args.resume, command=command, **given)
    else:
        config = apply_overrides(RunConfig(**given), args.overrides)
        if args.dry_run:
            print(dry_run(config).format(), end="")
            return 0
        run = train(config, command=command)
    if run.interrupted:
        state = "interrupted (Ctrl-C) after"
    elif run.resumed_from is not None:
        state = f"resumed from {run.resumed_from} steps, trained to"
    else:
        state = "trained"
    print(f"\n{state} {run.model.num_timesteps} steps in {run.wall_time_s:.0f} s; run folder: {run.path}")
    if run.evaluation is not None:
        print(format_evaluation(run.evaluation))
    print(f"\nWatch training:  tensorboard --logdir {run.logdir}")
    print(f"Evaluate again:  python train_rl.py eval {run.path} --episodes 20 [--which best]")
    if run.interrupted:
        print(f"Continue:        python train_rl.py --resume {run.path}")
    else:
        print(f"Train on:        python train_rl.py --resume {run.path} --timesteps {2 * run.config.timesteps}")
    return 0


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    return key, value


def eval_parser() -> argparse.ArgumentParser:
    """Arguments of ``train_rl.py eval``."""
    parser = argparse.ArgumentParser(
        prog="train_rl.py eval", description="Load a trained policy, run episodes, report returns and focus."
    )
    parser.add_argument("path", nargs="?", help="a run folder (holding model.zip) or a model .zip file")
    parser.add_argument(
        "--onnx", default=None, metavar="FILE", help="evaluate an exported policy on onnxruntime instead (greedy)"
    )
    parser.add_argument("--which", choices=("best", "last"), default="last", help="in a run folder: best or last")
    parser.add_argument("--episodes", type=int, default=20, help="episodes to run (default: %(default)s)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--deterministic",
        dest="deterministic",
        action="store_true",
        default=None,
        help="greedy actions (default, unless the run's preset says eval_deterministic: false)",
    )
    mode.add_argument("--stochastic", dest="deterministic", action="store_false", help="sample actions")
    parser.add_argument("--seed", type=int, default=None, help="seed of the evaluation env (default: run seed + 10000)")
    parser.add_argument("--env", default=None, help="env id (default: the run's)")
    parser.add_argument(
        "--env-kwargs",
        nargs="+",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="env arguments over the run's (values are YAML)",
    )
    parser.add_argument("--algo", default=None, help="algorithm, for a bare .zip without config.yaml")
    parser.add_argument("--render", choices=("human", "rgb_array"), default=None, help="render the episodes")
    parser.add_argument("--device", default="auto", help="torch device (default: %(default)s)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (torch.set_num_threads; default 1, see docs/BENCHMARKS.md#torch-threads)",
    )
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
    parser.add_argument("--focus", type=_focus_methods, default=None, metavar="METHOD[,METHOD]", help=focus_help())
    parser.add_argument(
        "--safe",
        action="store_true",
        help="for runs you did not make: rebuild the model from config.yaml and read only its weights, unpickle "
        "nothing, import no module the run names (see README: Loading runs you did not make)",
    )
    parser.add_argument(
        "--gym-packages",
        nargs="+",
        default=[],
        metavar="PKG",
        help="with --safe: modules the run names (its gym_packages, a module:EnvId prefix, class paths in its "
        "env_kwargs) that you trust to be imported; with --onnx: modules to import for the env",
    )
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    return parser


#: Help of ``--overwrite`` (eval, export, plot).
OVERWRITE_HELP = (
    "let the output replace an existing model, run config, statistics or file of a run, or a symbolic link (the link "
    "itself); without it such a path is refused"
)


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
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    return parser


def run_eval(argv: list[str]) -> int:
    """Evaluate a saved policy and print its returns and focus table."""
    args = eval_parser().parse_args(argv)
    from agents import evaluate, format_evaluation
    from agents.setup.build import set_threads
    from agents.setup.overrides import parse_override

    set_threads(args.threads)
    env_kwargs = {}
    for key, value in args.env_kwargs:
        _, env_kwargs[key] = parse_override(f"{key}={value}")
    if args.onnx is not None:
        return run_onnx_eval(args, env_kwargs)
    if args.path is None:
        raise ValueError("name what to evaluate: a run folder or a model .zip (or --onnx FILE).")
    # The evaluation and its video run the same episodes of the same env.
    target = dict(
        deterministic=args.deterministic, seed=args.seed, env_id=args.env, algo=args.algo, which=args.which,
        env_kwargs=env_kwargs, safe=args.safe, trusted_packages=args.gym_packages, overwrite=args.overwrite,
    )  # fmt: skip
    if args.gym_packages and not args.safe:
        raise ValueError("--gym-packages trusts modules for --safe loading; add --safe (a run's own are imported).")
    if args.video is not None:  # a video that would be refused (its path, an env that cannot render) is refused now
        import warnings

        from agents.pictures.eval_video import check_evaluation_video

        with warnings.catch_warnings():  # a fallback to a checkpoint is told once, by the evaluation
            warnings.simplefilter("ignore")
            check_evaluation_video(
                args.path, args.video or None, args.which, args.env, env_kwargs, args.seed, args.algo,
                safe=args.safe, trusted_packages=args.gym_packages, overwrite=args.overwrite,
            )  # fmt: skip
    result = evaluate(
        args.path, episodes=args.episodes, render_mode=args.render, device=args.device, focus=args.focus, **target
    )
    print(format_evaluation(result))
    print(f"  written to {result.extra['written_to']} (training's own eval.json is kept)")
    if args.render == "rgb_array":
        print(f"  rendered {len(result.frames)} frames (rgb_array)")
    if args.video is not None:
        from agents.pictures.eval_video import record_evaluation_video

        video = record_evaluation_video(
            args.path, args.video or None, episodes=args.video_episodes, focus=(args.focus or [None])[0], **target
        )
        if video.note:
            print(video.note)
        height, width = video.size
        print(f"Video: {video.path} ({video.frames} frames of {width}x{height}, {args.video_episodes} episodes)")
    return 0


def run_plot(argv: list[str]) -> int:
    """Plot learning curves of runs into a PNG."""
    args = plot_parser().parse_args(argv)
    from agents.pictures.learning_curves import plot_runs

    out = plot_runs(args.runs, args.out, window=args.window, title=args.title, overwrite=args.overwrite)
    print(f"Learning curves: {out}")
    return 0


def sweep_parser() -> argparse.ArgumentParser:
    """Arguments of ``train_rl.py sweep``."""
    parser = argparse.ArgumentParser(
        prog="train_rl.py sweep",
        description="Train every extractor x grid point x seed (or --tune N Optuna samples) on Ray Tune; each trial "
        "is a normal run under <run-dir>/sweeps/<name>/, gathered into results.csv/.md and results.png. Trials "
        'already finished are skipped. Needs: pip install "attention-rl[sweep]"',
    )
    parser.add_argument("--env", default="attn/FindTarget-v0", help="Gymnasium env id (default: %(default)s)")
    parser.add_argument("--algo", default="ppo", help=f"algorithm: {_algo_help()} (default: %(default)s)")
    parser.add_argument("--extractors", default="attention", help="comma-separated, e.g. attention,mlp")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per extractor and grid point (1): 0..N-1")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="start at this seed: K..K+N-1 (more seeds on a second machine)"
    )
    parser.add_argument(
        "--grid",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=V1,V2",
        help="a dimension: values (as for --set), or for --tune log(LOW,HIGH) / range(LOW,HIGH)",
    )
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE")
    parser.add_argument("--config", default=None, metavar="FILE", help="a preset file over the built-in preset")
    parser.add_argument("--timesteps", type=int, default=None, help="env steps per trial (default: the preset's)")
    parser.add_argument("--n-envs", type=int, default=None, help="parallel envs per trial (default: the preset's)")
    parser.add_argument("--eval-episodes", type=int, default=20, help="episodes of each final evaluation (20)")
    parser.add_argument("--eval-freq", type=int, default=None, metavar="STEPS", help="periodic evaluations (10000)")
    parser.add_argument("--run-dir", default="runs", help="the sweep goes to RUN_DIR/sweeps/NAME (default: runs)")
    parser.add_argument("--name", default=None, help="sweep folder name (default: <env>_<algo>)")
    parser.add_argument("--tune", type=int, default=0, metavar="N_TRIALS", help="sample N configs with Optuna TPE")
    parser.add_argument("--metric", default="eval/mean_reward", help="--tune maximises it (or eval/success_rate)")
    parser.add_argument("--scheduler", default="asha", help="--tune early stopping: asha, median or none")
    parser.add_argument("--address", default=None, help="a Ray cluster: ray://HEAD:10001 (default: Ray here)")
    parser.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs Ray reserves per trial (1)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    return parser


def run_sweep(argv: list[str]) -> int:
    """Run a sweep on Ray Tune and print where its table, plot and best config are."""
    args = sweep_parser().parse_args(argv)
    from agents.sweep import SweepSpec, parse_extractors
    from agents.sweep import run_sweep as sweep

    given = {k: v for k, v in vars(args).items() if k not in ("config", "run_dir", "extractors")}
    spec = SweepSpec(
        **given, extractors=parse_extractors(args.extractors), config_file=args.config, run_root=args.run_dir
    )
    result = sweep(spec)
    print(result.table_md.read_text())
    failed = sum(row["status"] == "error" for row in result.rows)
    print(f"ran {len(result.ran)}, skipped {len(result.skipped)} finished, {failed} failed; folder {result.sweep_dir}")
    print(f"table: {result.table_csv} {result.table_md}\nplot:  {result.plot}")
    if result.best is not None:
        print(f"best:  {result.best}  (python train_rl.py --env {spec.env} --config {result.best})")
    print(f"Watch: tensorboard --logdir {result.sweep_dir}")
    return 0


def run_onnx_eval(args: argparse.Namespace, env_kwargs: dict) -> int:
    """``eval --onnx FILE``: the exported policy on onnxruntime, with the same report."""
    from agents import format_evaluation
    from agents.export.onnx_eval import evaluate_onnx

    if args.path is not None or args.video is not None or args.deterministic is False or args.focus is not None:
        raise ValueError(
            "eval --onnx FILE runs the exported greedy policy and its exported focus: drop the run folder, "
            "--video, --stochastic and --focus."
        )
    seed = 10_000 if args.seed is None else args.seed
    result = evaluate_onnx(
        args.onnx, args.env, env_kwargs, episodes=args.episodes, seed=seed, gym_packages=args.gym_packages
    )
    print(format_evaluation(result))
    return 0


def export_parser() -> argparse.ArgumentParser:
    """Arguments of ``train_rl.py export``."""
    parser = argparse.ArgumentParser(
        prog="train_rl.py export",
        description="Export a trained policy to ONNX: the observation as the env gives it in (VecNormalize and "
        "image transposition folded in), the greedy action (and value, and with --with-focus the focus) out.",
    )
    parser.add_argument("path", help="a run folder (holding model.zip) or a model .zip file")
    parser.add_argument("--out", default=None, help="the .onnx file (default: policy.onnx beside the model)")
    parser.add_argument("--which", choices=("best", "last"), default="last", help="in a run folder: best or last")
    parser.add_argument("--with-focus", action="store_true", help="also output the focus over the named parts")
    from policies.focus_methods import methods_with

    parser.add_argument(
        "--focus",
        default="readout",
        help=f"the exported focus: {', '.join(methods_with('export'))}, or an exportable method the run's "
        "gym_packages register (default: readout)",
    )
    parser.add_argument("--env", default=None, help="env id of the observations (default: the run's)")
    parser.add_argument("--algo", default=None, help="algorithm, for a bare .zip without config.yaml")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    return parser


def run_export(argv: list[str]) -> int:
    """Export to ONNX and print how to check the file."""
    args = export_parser().parse_args(argv)
    from agents.export.onnx_export import export_onnx

    result = export_onnx(
        args.path, args.out, which=args.which, with_focus=args.with_focus, focus=args.focus, env_id=args.env,
        algo=args.algo, overwrite=args.overwrite,
    )  # fmt: skip
    print(f"Exported {result.path} ({result.size_bytes / 1024:.0f} KiB)")
    print(f"  inputs  {', '.join(result.inputs)}\n  outputs {', '.join(result.outputs)}")
    if result.focus:
        print(f"  focus   {result.focus} over {len(result.part_names)} parts: {', '.join(result.part_names[:8])}...")
    print(f"Check it: python train_rl.py eval --onnx {result.path} --episodes 20")
    return 0


@dataclass(frozen=True)
class Command:
    """A subcommand: its handler (argv -> exit code)."""

    run: Callable[[list[str]], int]
    help: str


#: Subcommands by name; ``train`` is the default when the first argument names none.
COMMANDS: dict[str, Command] = {
    "train": Command(run_train, "train an agent (the default)"),
    "eval": Command(run_eval, "evaluate a saved agent"),
    "plot": Command(run_plot, "plot learning curves of runs"),
    "sweep": Command(run_sweep, "seeds, extractors and hyperparameters on Ray Tune"),
    "export": Command(run_export, "export a trained policy to ONNX"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand (``train`` by default); bad input exits 2 with one line on stderr."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    try:
        return COMMANDS[name].run(argv)
    except (ValueError, TypeError, OSError, ImportError) as exc:  # OSError: a read-only or full disk too
        message = " ".join(str(exc).split())  # one line, whatever the exception held
        print(f"train_rl.py {name}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # a second Ctrl-C (the first one stops training and still saves)
        from agents.storage.runs import RunInterrupted

        if isinstance(exc, RunInterrupted):
            advice = (
                f"{exc}: every file written so far is whole; `python train_rl.py --resume {exc.run_dir}` finishes "
                "the run (from its latest good checkpoint)"
            )
        else:
            advice = "interrupted (Ctrl-C); files written so far are whole"
        print(f"train_rl.py {name}: {advice}.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
