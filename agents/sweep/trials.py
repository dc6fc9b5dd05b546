"""What a sweep runs: its spec, the ``--grid`` dimensions, and the trials (resolved configs, deterministic ids).

No Ray here: everything a sweep can check before it starts Ray, and what a Ray worker rebuilds a trial from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.setup.algorithms import ALGORITHMS
from agents.setup.build import check_hyperparams
from agents.setup.config import RunConfig
from agents.setup.overrides import apply_overrides, parse_override
from agents.setup.resolution import resolve
from agents.storage.layout import EVAL_FILE
from agents.storage.outputs import check_output_folder
from agents.storage.runs import env_folder_name, run_name
from policies import EXTRACTORS

TRIAL_FILE = "trial.json"
#: Prefix of the trials that ``--tune`` samples (grid trials have none).
TUNE_PREFIX = "tune-"
#: Settings that do not change what a trial learns: left out of its id.
_NOT_IDENTITY = ("run_root", "progress_bar", "verbose", "threads", "device")
#: Settings the sweep sets itself, so a grid may not vary them.
_SWEEP_KEYS = {"extractor": "--extractors", "seed": "--seeds", "run_root": "--run-dir"}
_RANGE = re.compile(r"^(log|range)\((.*)\)$")


@dataclass(frozen=True)
class Dimension:
    """One ``--grid`` dimension: categorical values (as typed) or a numeric range (for ``--tune``)."""

    key: str
    values: tuple[str, ...] = ()
    """Categorical values, each as typed (a YAML value, applied like ``--set key=value``)."""
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    """``log(LOW,HIGH)``: log-uniform floats."""
    integer: bool = False
    """``range(LOW,HIGH)`` with integer bounds: integers from LOW to HIGH inclusive (else uniform floats)."""

    @property
    def is_range(self) -> bool:
        """Whether this dimension is a range (only ``--tune`` can sample it)."""
        return not self.values

    def domain(self, tune: Any) -> Any:
        """The Ray Tune search domain (``OptunaSearch`` turns it into an Optuna distribution)."""
        if not self.is_range:
            return tune.choice(list(self.values))
        if self.log:
            return tune.loguniform(self.low, self.high)
        if self.integer:
            return tune.randint(int(self.low), int(self.high) + 1)
        return tune.uniform(self.low, self.high)


def split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets: ``[64,64],[32]`` -> ``["[64,64]", "[32]"]``."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if depth < 0:
            raise ValueError(f"unbalanced brackets in '{text}'")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if depth != 0:
        raise ValueError(f"unbalanced brackets in '{text}'")
    return [*parts, current.strip()]


def _number(text: str) -> float | int:
    _, value = parse_override(f"x={text}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'{text}' is not a number")
    return value


def parse_dimension(item: str) -> Dimension:
    """Parse ``KEY=V1,V2,...``, ``KEY=log(LOW,HIGH)`` or ``KEY=range(LOW,HIGH)``, checking the key."""
    usage = "expected KEY=V1,V2 (values as for --set), KEY=log(LOW,HIGH) or KEY=range(LOW,HIGH)"
    key, sep, text = item.partition("=")
    key, text = key.strip(), text.strip()
    if not sep or not key or not text:
        raise ValueError(f"--grid '{item}': {usage}, e.g. hyperparams.learning_rate=1e-4,3e-4.")
    top = key.split(".")[0]
    if top in _SWEEP_KEYS:
        raise ValueError(f"--grid '{item}': the sweep sets '{top}' itself; use {_SWEEP_KEYS[top]}.")
    try:
        match = _RANGE.match(text)
        if match:
            bounds = split_top_level(match.group(2))
            if len(bounds) != 2:
                raise ValueError(f"{match.group(1)}() takes two numbers, LOW and HIGH")
            low, high = (_number(b) for b in bounds)
            if not low < high:
                raise ValueError(f"LOW ({low}) must be below HIGH ({high})")
            if match.group(1) == "log" and low <= 0:
                raise ValueError(f"log() needs LOW > 0, got {low}")
            integer = match.group(1) == "range" and isinstance(low, int) and isinstance(high, int)
            dimension = Dimension(key, low=low, high=high, log=match.group(1) == "log", integer=integer)
        else:
            values = tuple(split_top_level(text))
            if any(not v for v in values):
                raise ValueError("an empty value (two commas in a row, or one at an end)")
            if len(set(values)) != len(values):
                raise ValueError("a value given twice")
            dimension = Dimension(key, values=values)
    except ValueError as exc:
        raise ValueError(f"--grid '{item}': {exc}; {usage}.") from None
    example = dimension.values[0] if dimension.values else str(dimension.low)
    try:
        apply_overrides(RunConfig(), [f"{key}={example}"])  # an unknown key raises with a suggestion
    except ValueError as exc:
        raise ValueError(f"--grid '{item}': {str(exc).removeprefix(f'--set {key}={example}: ')}") from None
    return dimension


def parse_grid(items: list[str]) -> list[Dimension]:
    """Parse every ``--grid`` item; a key given twice is an error."""
    dimensions = [parse_dimension(item) for item in items]
    keys = [d.key for d in dimensions]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"--grid: '{key}' is given twice; list all its values in one KEY=V1,V2 item.")
    return dimensions


def parse_extractors(text: str | list[str]) -> list[str]:
    """``attention,mlp`` -> registered names; an unknown one raises with a suggestion."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    if not names or any(not n for n in names):
        raise ValueError(f"--extractors '{text}': expected names separated by commas, e.g. attention,mlp.")
    checked = []
    for name in names:
        try:
            EXTRACTORS.get(name)
        except ValueError as exc:
            raise ValueError(f"--extractors: {exc}") from None
        checked.append(name.lower())
    return list(dict.fromkeys(checked))


@dataclass
class SweepSpec:
    """What a sweep trains: the run settings shared by its trials and what varies between them."""

    env: str = "attn/FindTarget-v0"
    algo: str = "ppo"
    extractors: list[str] = field(default_factory=lambda: ["attention"])
    seeds: int = 1
    """How many seeds per extractor and grid point: ``first_seed`` .. ``first_seed + seeds - 1`` (``tune``: seed 0)."""
    first_seed: int = 0
    """The first seed, so a second machine can train more seeds of the same sweep (``--seeds 10 --first-seed 10``)."""
    grid: list[str] = field(default_factory=list)
    """``KEY=V1,V2`` (categorical), ``KEY=log(LOW,HIGH)`` or ``KEY=range(LOW,HIGH)`` (``tune`` only)."""
    overrides: list[str] = field(default_factory=list)
    """``--set KEY=VALUE`` items applied to every trial (before the grid's values)."""
    config_file: str | None = None
    timesteps: int | None = None
    n_envs: int | None = None
    eval_episodes: int = 20
    eval_freq: int | None = None
    """Steps between periodic evaluations (what ``tune``'s scheduler sees); None: the run default."""
    run_root: str = "runs"
    name: str | None = None
    """Sweep folder name under ``<run_root>/sweeps/`` (default ``<env>_<algo>``)."""
    tune: int = 0
    """Trials for Optuna to sample (0: run the whole grid)."""
    metric: str = "eval/mean_reward"
    scheduler: str = "asha"
    address: str | None = None
    """A Ray cluster (``ray://host:10001`` or ``host:6379``); None starts Ray on this machine."""
    cpus_per_trial: float = 1.0
    num_cpus: int | None = None
    """CPUs of a local Ray (None: all)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (as written to ``sweep.yaml`` and sent to the trials)."""
        return dataclasses.asdict(self)

    @property
    def sweep_dir(self) -> Path:
        """The sweep folder (absolute: trials run in other working directories), never inside a run folder."""
        if self.name is not None and (Path(self.name).name != self.name or self.name in ("", ".", "..")):
            raise ValueError(f"--name {self.name!r}: give a plain folder name (it goes under <run-dir>/sweeps/).")
        name = self.name or f"{env_folder_name(self.env)}_{ALGORITHMS.canonical(self.algo)}"
        return check_output_folder((Path(self.run_root) / "sweeps" / name).resolve(), "--run-dir")


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: its id, what varies, and its resolved config (``run_root`` = its own folder)."""

    trial_id: str
    extractor: str
    seed: int
    params: dict[str, str]
    config: RunConfig
    command: str

    @property
    def root(self) -> Path:
        """The trial's folder in the sweep folder (its ``trial.json``; the run folder is below it)."""
        return Path(self.config.run_root)

    @property
    def run_dir(self) -> Path:
        """The run folder ``agents.train`` makes for this trial."""
        c = self.config
        return self.root / env_folder_name(c.env) / run_name(c.algo, c.extractor, c.seed)

    def finished(self) -> bool:
        """Whether the run has its final evaluation (or a record of one from a machine without this disk)."""
        return (self.run_dir / EVAL_FILE).is_file() or read_record(self.root).get("status") == "ok"

    def payload(self) -> dict[str, Any]:
        """What a Ray worker needs to run it (plain data)."""
        return {"trial_id": self.trial_id, "config": self.config.to_dict(), "command": self.command}


def _label(params: dict[str, str]) -> str:
    text = "".join(f"_{k.rsplit('.', 1)[-1]}={v}" for k, v in params.items())
    return re.sub(r"[^\w.=+-]", "", text)[:60]


def make_trial(spec: SweepSpec, extractor: str, seed: int, params: dict[str, str], prefix: str = "") -> Trial:
    """Resolve one trial's config (preset, ``--config``, flags, ``--set``, then the grid values) and name it.

    Raises ``ValueError`` for a bad name, key or hyperparameter, before anything runs.
    """
    config = RunConfig(
        env=spec.env,
        algo=spec.algo,
        extractor=extractor,
        timesteps=spec.timesteps,
        seed=seed,
        n_envs=spec.n_envs,
        config_file=spec.config_file,
        eval_episodes=spec.eval_episodes,
        threads=max(1, int(spec.cpus_per_trial)),
        progress_bar=False,
    )
    if spec.eval_freq is not None:
        config = dataclasses.replace(config, eval_freq=spec.eval_freq)
    sets = [*spec.overrides, *(f"{k}={v}" for k, v in params.items())]
    resolved = resolve(apply_overrides(config, sets))
    check_hyperparams(ALGORITHMS.get(resolved.algo).cls, resolved.hyperparams)
    identity = {k: v for k, v in resolved.to_dict().items() if k not in _NOT_IDENTITY}
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
    trial_id = f"{prefix}{resolved.extractor}{_label(params)}_s{seed}_{digest}"
    resolved = dataclasses.replace(resolved, run_root=str(spec.sweep_dir / trial_id))
    argv = ["python", "train_rl.py", "--env", spec.env, "--algo", resolved.algo, "--extractor", extractor]
    argv += ["--seed", str(seed), "--timesteps", str(resolved.timesteps)]
    argv += ["--config", spec.config_file] if spec.config_file else []
    argv += ["--set", *sets] if sets else []
    command = f"{shlex.join(argv)}  # sweep {spec.sweep_dir.name}, trial {trial_id}"
    return Trial(trial_id, resolved.extractor, seed, dict(params), resolved, command)


def grid_trials(spec: SweepSpec, dimensions: list[Dimension]) -> list[Trial]:
    """Every seed x extractor x grid point, seed first: a sweep stopped early has every arm on the same seeds."""
    points = list(itertools.product(*(d.values for d in dimensions)))
    return [
        make_trial(spec, extractor, seed, dict(zip([d.key for d in dimensions], point, strict=True)))
        for seed in range(spec.first_seed, spec.first_seed + spec.seeds)
        for extractor, point in itertools.product(parse_extractors(spec.extractors), points)
    ]


def read_record(trial_root: Path) -> dict[str, Any]:
    """A trial's ``trial.json`` (status, error, final figures), or ``{}``."""
    path = trial_root / TRIAL_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def sampled_trial(spec: SweepSpec | dict[str, Any], config: dict[str, Any]) -> Trial:
    """The trial for one ``--tune`` sample: the spec, the sampled extractor and grid values."""
    spec = spec if isinstance(spec, SweepSpec) else SweepSpec(**spec)
    params = {key: _value_text(value) for key, value in config["params"].items()}
    return make_trial(spec, config["extractor"], 0, params, prefix=TUNE_PREFIX)


def _value_text(value: object) -> str:
    """A sampled value as ``--set`` text (floats to 4 significant digits: ids stay readable)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
