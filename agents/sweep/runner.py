"""Sweeps over extractors, seeds and hyperparameters, each trial a normal run, scheduled by Ray Tune.

from agents.sweep import SweepSpec, run_sweep
result = run_sweep(SweepSpec(env="attn/FindTarget-v0", extractors=["attention", "mlp"], seeds=5,
                             grid=["hyperparams.learning_rate=1e-4,3e-4"], timesteps=50_000))
result.table_md, result.plot     # runs/sweeps/<name>/results.md, results.png

Every trial is ``agents.train`` on one resolved ``RunConfig``: its run folder (config.yaml, tensorboard events,
eval.json...) lies under ``<run_root>/sweeps/<name>/<trial_id>/``. The trial id is derived from the resolved config
(extractor, grid values, seed and a hash of the rest), so a sweep started again skips the trials whose ``eval.json``
exists and continues the others from their last checkpoint. A trial that raises is recorded (status ``error`` and
the error's last line) and the others go on. With ``tune > 0`` Optuna's TPE (through Ray Tune's ``OptunaSearch``)
samples the grid's dimensions, an ASHA or median-stopping scheduler stops poor trials early from the periodic
evaluations that each trial reports, and the best trial's config is written as a preset (``best.yaml``).

Ray and Optuna are optional (``pip install "attention-rl[sweep]"``) and imported only here, when used.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from agents.setup.algorithms import ALGORITHMS
from agents.setup.config import RunConfig
from agents.storage.layout import EVAL_FILE
from agents.storage.runs import env_folder_name, run_name, write_json, write_yaml
from agents.sweep.ray_session import check_address, import_ray, ray_session
from agents.sweep.results import (
    BEST_FILE,
    METRIC_COLUMNS,
    PLOT_FILE,
    summary_from_eval,
    write_best_preset,
    write_plot,
    write_table,
)
from agents.sweep.trials import (
    TRIAL_FILE,
    TUNE_PREFIX,
    Dimension,
    SweepSpec,
    Trial,
    grid_trials,
    make_trial,
    parse_extractors,
    parse_grid,
    read_record,
    sampled_trial,
)
from agents.training.checkpoints import latest_checkpoint

__all__ = ["SweepResult", "run_sweep"]

SPEC_FILE = "sweep.yaml"
SCHEDULERS = ("asha", "median", "none")


class TuneReportCallback(BaseCallback):
    """After each periodic evaluation (as ``EvalCallback``'s ``callback_after_eval``), report it to Ray Tune.

    Reports ``eval/mean_reward``, ``eval/success_rate`` (where the env gives success) and ``timesteps``:
    what the ASHA / median-stopping scheduler compares trials on.
    """

    def __init__(self, trial_id: str) -> None:
        super().__init__()
        self.trial_id = trial_id

    def _on_step(self) -> bool:
        from ray import tune

        metrics: dict[str, Any] = {
            "eval/mean_reward": float(self.parent.last_mean_reward),
            "timesteps": self.num_timesteps,
            "trial_id": self.trial_id,
        }
        successes = getattr(self.parent, "evaluations_successes", None)
        if successes:
            metrics["eval/success_rate"] = float(sum(successes[-1]) / len(successes[-1]))
        tune.report(metrics)
        return True


def run_trial(config: dict[str, Any], spec: dict[str, Any] | None = None) -> None:
    """The Ray Tune trainable: train one trial (a grid payload, or a ``--tune`` sample of ``spec``), report it."""
    import ray
    from ray import tune

    from agents.training.train import resume, train

    if "trial" in config:
        trial_id, run_config = config["trial"]["trial_id"], RunConfig.from_dict(config["trial"]["config"])
        command = config["trial"]["command"]
    else:
        trial = sampled_trial(spec, config)
        trial_id, run_config, command = trial.trial_id, trial.config, trial.command
    root = Path(run_config.run_root)
    earlier = root / env_folder_name(run_config.env) / run_name(run_config.algo, run_config.extractor, run_config.seed)
    start = time.perf_counter()
    if latest_checkpoint(earlier) is not None:  # an interrupted earlier attempt: go on from its last checkpoint
        run = resume(earlier, command=command, after_eval=TuneReportCallback(trial_id))
    else:
        shutil.rmtree(root / env_folder_name(run_config.env), ignore_errors=True)  # stopped before a checkpoint
        root.mkdir(parents=True, exist_ok=True)
        run = train(run_config, command=command, after_eval=TuneReportCallback(trial_id))
    final = {k: v for k, v in summary_from_eval(run.evaluation.to_dict()).items() if v is not None}
    tune.report(
        {
            **final,
            "eval/mean_reward": run.evaluation.mean_return,
            **({"eval/success_rate": run.evaluation.success_rate} if run.evaluation.success_rate is not None else {}),
            "timesteps": run.model.num_timesteps,
            "wall_s": time.perf_counter() - start,
            "trial_id": trial_id,
            "run_dir": str(run.path),
            "node": ray.get_runtime_context().get_node_id(),  # the Ray node it ran on
            "final": True,
        }
    )


@dataclass
class SweepResult:
    """What a sweep leaves behind."""

    sweep_dir: Path
    rows: list[dict[str, Any]]
    table_csv: Path
    table_md: Path
    plot: Path
    ran: list[str]
    """Trial ids run by this invocation."""
    skipped: list[str]
    """Trial ids finished before and skipped."""
    best: Path | None = None
    """``best.yaml`` (``--tune``): the best trial's config as a preset for ``--config``."""


def _error_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def record_results(
    spec: SweepSpec, results: Iterable[Any], by_id: dict[str, Trial], log: Callable[[str], None]
) -> list[str]:
    """Write each Ray result's ``trial.json``; the ids of the trials that ran.

    A sweep stopped with Ctrl-C hands back a result without a config for every trial that never started: those are
    counted and the user is told how to go on, rather than failing on them.
    """
    ran, not_run = [], 0
    for result in results:
        if result.config is None:  # never started: the sweep was stopped before its turn
            not_run += 1
            continue
        trial = by_id.get(result.config["trial"]["trial_id"]) if not spec.tune else None
        _record(spec, result, trial)
        ran.append(trial.trial_id if trial else str((result.metrics or {}).get("trial_id", "")))
    if not_run:
        log(
            f"{not_run} trial(s) did not start (the sweep was stopped): run the same command again; finished "
            "trials are skipped and stopped ones go on from their last checkpoint"
        )
    return ran


def _record(spec: SweepSpec, result: Any, trial: Trial | None) -> None:
    """Write ``trial.json`` for one Ray result: ``ok``, ``error`` (with its last line) or ``stopped`` (pruned)."""
    metrics = dict(result.metrics or {})
    if trial is None:  # a --tune sample: rebuild its trial from the sampled config
        try:
            trial = sampled_trial(spec, result.config)
        except ValueError:
            return
    status = "error" if result.error is not None else "ok" if metrics.get("final") else "stopped"
    figures = {k: metrics.get(k) for k in ("timesteps", "wall_s", *summary_from_eval({}))}
    if status == "stopped":  # pruned by the scheduler: its last periodic evaluation
        figures["mean_return"] = metrics.get("eval/mean_reward")
        figures["success_rate"] = metrics.get("eval/success_rate")
    record = {
        "trial_id": trial.trial_id,
        "status": status,
        "error": _error_line(result.error) if result.error is not None else None,
        "extractor": trial.extractor,
        "seed": trial.seed,
        "params": trial.params,
        "node": metrics.get("node"),
        **figures,
    }
    trial.root.mkdir(parents=True, exist_ok=True)
    write_json(trial.root / TRIAL_FILE, record)


def _row(trial_id: str, record: dict[str, Any], run_dir: Path | None) -> dict[str, Any]:
    """A table row from a trial's record, or from its ``eval.json`` when no record was written."""
    row: dict[str, Any] = {"trial": trial_id, **record, **record.get("params", {})}
    if run_dir is not None and (run_dir / EVAL_FILE).is_file() and record.get("status") != "ok":
        row.update(summary_from_eval(json.loads((run_dir / EVAL_FILE).read_text())), status="ok", error=None)
    row.setdefault("status", "not run")
    row["run_dir"] = str(run_dir) if run_dir is not None and run_dir.is_dir() else ""
    return row


def _tune_run(spec: SweepSpec, tune: Any, dimensions: list[Dimension], todo: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule
    from ray.tune.search.optuna import OptunaSearch

    extractors = parse_extractors(spec.extractors)
    probe = make_trial(spec, extractors[0], 0, {})
    eval_freq = max(probe.config.eval_freq, 1)
    schedulers: dict[str, Callable[[], Any]] = {
        "asha": lambda: ASHAScheduler(
            # max_t above the budget: a trial that trains to the end is not stopped before its final report
            time_attr="timesteps",
            max_t=probe.config.timesteps + 1,
            grace_period=eval_freq,
            reduction_factor=2,
        ),
        "median": lambda: MedianStoppingRule(time_attr="timesteps", grace_period=eval_freq, min_samples_required=2),
        "none": FIFOScheduler,
    }
    param_space = {
        "extractor": tune.choice(extractors) if len(extractors) > 1 else extractors[0],
        "params": {d.key: d.domain(tune) for d in dimensions},
    }
    return tune.Tuner(
        tune.with_resources(tune.with_parameters(run_trial, spec=spec.to_dict()), {"cpu": spec.cpus_per_trial}),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode="max",
            search_alg=OptunaSearch(seed=0),  # TPE, Optuna's default sampler
            scheduler=schedulers[spec.scheduler](),
            num_samples=todo,
            trial_dirname_creator=_tune_dirname,
        ),
        run_config=_ray_run_config(spec, tune, "tune"),
    ).fit()


def _grid_dirname(trial: Any) -> str:
    return trial.config["trial"]["trial_id"]


def _tune_dirname(trial: Any) -> str:
    return f"{trial.trial_id}_{trial.config['extractor']}"


def _ray_run_config(spec: SweepSpec, tune: Any, kind: str) -> Any:
    return tune.RunConfig(
        name=f"{kind}_{time.strftime('%Y%m%d-%H%M%S')}",
        storage_path=str(spec.sweep_dir / "ray"),
        failure_config=tune.FailureConfig(max_failures=0),
        verbose=1,
    )


def check_spec(spec: SweepSpec) -> list[Dimension]:
    """Validate everything that can be checked without Ray; return the grid's dimensions."""
    extractors = parse_extractors(spec.extractors)
    dimensions = parse_grid(spec.grid)
    if spec.seeds < 1:
        raise ValueError(f"--seeds {spec.seeds}: a sweep needs at least one seed.")
    if spec.first_seed < 0:
        raise ValueError(f"--first-seed {spec.first_seed}: seeds are >= 0.")
    if spec.eval_episodes < 1:
        raise ValueError("--eval-episodes must be >= 1: a trial is finished when its final evaluation is written.")
    if spec.cpus_per_trial <= 0:
        raise ValueError(f"--cpus-per-trial {spec.cpus_per_trial}: must be > 0.")
    if spec.num_cpus is not None and spec.num_cpus < 1:
        raise ValueError(f"--num-cpus {spec.num_cpus}: the local Ray needs at least 1 CPU (or leave it out: all).")
    if spec.scheduler not in SCHEDULERS:
        raise ValueError(f"--scheduler '{spec.scheduler}': use one of {', '.join(SCHEDULERS)}.")
    if spec.tune < 0:
        raise ValueError(f"--tune {spec.tune}: the number of trials to sample must be >= 1.")
    if spec.tune:
        if spec.metric not in METRIC_COLUMNS:
            raise ValueError(f"--metric '{spec.metric}': use one of {', '.join(METRIC_COLUMNS)}.")
        if spec.seeds != 1 or spec.first_seed != 0:
            raise ValueError(
                "--tune trains each sample once (seed 0); check the best config over seeds afterwards: "
                "sweep --config best.yaml --seeds 5."
            )
        if not dimensions and len(extractors) < 2:
            raise ValueError("--tune needs something to search: --grid KEY=... dimensions or several --extractors.")
    else:
        ranges = [d.key for d in dimensions if d.is_range]
        if ranges:
            raise ValueError(f"--grid {', '.join(ranges)}: log()/range() are for --tune; a grid lists values.")
    return dimensions


def run_sweep(spec: SweepSpec, log: Callable[[str], None] = print) -> SweepResult:
    """Run the sweep's unfinished trials on Ray Tune, then write the table, the plot (and ``best.yaml``).

    Everything is validated (names, keys, ranges, every grid trial's config) before Ray is imported, so bad
    input gets its one-line error with or without the ``sweep`` extra.
    """
    dimensions = check_spec(spec)
    if spec.address is not None:
        check_address(spec.address)
    # Absolute paths: trials run in Ray's own working directories (on a cluster: a filesystem all nodes share).
    config_file = str(Path(spec.config_file).resolve()) if spec.config_file else None
    spec = dataclasses.replace(spec, run_root=str(Path(spec.run_root).resolve()), config_file=config_file)
    sweep_dir = spec.sweep_dir
    if spec.tune:
        make_trial(spec, parse_extractors(spec.extractors)[0], 0, {})  # the shared settings are valid
        done = [p for p in sweep_dir.glob(f"{TUNE_PREFIX}*") if read_record(p).get("status") in ("ok", "stopped")]
        todo = spec.tune - len(done)
        skipped = [p.name for p in done]
        if skipped:
            log(f"{len(skipped)} tuning trial(s) done before; sampling {max(todo, 0)} more")
    else:
        trials = grid_trials(spec, dimensions)
        pending = [t for t in trials if not t.finished()]
        skipped = [t.trial_id for t in trials if t.finished()]
        todo = len(pending)
        for trial_id in skipped:
            log(f"skip {trial_id}: finished before ({EVAL_FILE} exists)")
    tune = import_ray(optuna=spec.tune > 0) if todo > 0 else None
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_yaml(sweep_dir / SPEC_FILE, spec.to_dict())
    ran: list[str] = []
    by_id: dict[str, Trial] = {}
    if todo > 0:
        log(f"running {todo} trial(s) on Ray ({spec.address or 'local'}); folder {sweep_dir}")
        with ray_session(spec):
            if spec.tune:
                results = _tune_run(spec, tune, dimensions, todo)
            else:
                by_id = {t.trial_id: t for t in pending}
                results = tune.Tuner(
                    tune.with_resources(run_trial, {"cpu": spec.cpus_per_trial}),
                    param_space={"trial": tune.grid_search([t.payload() for t in pending])},
                    tune_config=tune.TuneConfig(trial_dirname_creator=_grid_dirname),
                    run_config=_ray_run_config(spec, tune, "grid"),
                ).fit()
        ran = record_results(spec, results, by_id, log)
    if spec.tune:
        roots = sorted(sweep_dir.glob(f"{TUNE_PREFIX}*"))
        records = {p.name: read_record(p) for p in roots if read_record(p)}
        rows = [_row(tid, rec, _run_dir_of(sweep_dir / tid)) for tid, rec in records.items()]
    else:
        rows = grid_rows(trials)
    keys = [d.key for d in dimensions]
    title = f"sweep {sweep_dir.name}: {ALGORITHMS.canonical(spec.algo)} on {spec.env}"
    table_csv, table_md = write_table(rows, sweep_dir, keys, title)
    plot = write_plot(rows, sweep_dir / PLOT_FILE, keys, title)
    best = _write_best(spec, rows) if spec.tune else None
    return SweepResult(sweep_dir, rows, table_csv, table_md, plot, ran, skipped, best)


def grid_rows(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """A table row per grid trial: its record (or its ``eval.json``), its identity even when it never started."""
    rows = []
    for trial in trials:
        who = {"extractor": trial.extractor, "seed": trial.seed, "params": trial.params}
        rows.append(_row(trial.trial_id, {**who, **read_record(trial.root)}, trial.run_dir))
    return rows


def _run_dir_of(trial_root: Path) -> Path | None:
    found = sorted(trial_root.glob("*/*/config.yaml"))
    return found[0].parent if found else None


def _write_best(spec: SweepSpec, rows: list[dict[str, Any]]) -> Path | None:
    """``best.yaml``: the finished tuning trial with the highest final ``--metric``, as a preset."""
    column = METRIC_COLUMNS[spec.metric]
    finished = [r for r in rows if r["status"] == "ok" and r.get(column) is not None]
    if not finished:
        return None
    best = max(finished, key=lambda r: r[column])
    trial = make_trial(spec, best["extractor"], best["seed"], best.get("params", {}), prefix=TUNE_PREFIX)
    note = f"best of {len(finished)} tuning trials of sweep {spec.sweep_dir.name}: {column}={best[column]:.4g}"
    return write_best_preset(spec.sweep_dir / BEST_FILE, trial.config, f"{note} ({trial.trial_id})")
