"""Load a trained agent and evaluate it: returns, success rate and where it looked.

``EvalResult``, ``action_digest``, ``interquartile_mean`` and ``format_evaluation`` live in
``agents.evaluation.episodes``
and are re-exported here.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.evaluation.episodes import EvalResult, action_digest, format_evaluation, interquartile_mean, run_episodes
from agents.evaluation.focus_stats import attention_summary, summarize_memory_focus
from agents.evaluation.safe_load import guarded_when_safe, load_safe
from agents.setup.algorithms import ALGORITHMS, algo_name
from agents.setup.config import DEFAULT_FOCUS_METHODS, RunConfig
from agents.setup.env_ids import check_env_id
from agents.setup.hyperparam_ranges import check_finite
from agents.setup.presets import read_yaml
from agents.setup.resolution import canonical_device, check_device, check_focus_methods
from agents.setup.simulators import evaluation_note
from agents.setup.vec_envs import check_spaces, make_env, saved_statistics, wrap_normalize
from agents.storage.layout import CONFIG_FILE
from agents.storage.outputs import check_output
from agents.storage.runs import eval_file_for, find_model, write_json, zip_damage
from agents.trxl.focus import MemoryFocusRecorder, memory_methods
from agents.trxl.policy import TrXLPolicy
from envs.validation import check_int
from policies import find_attention_extractor

#: Offset between the training seed and the evaluation env's seed, so evaluation never replays training.
EVAL_SEED_OFFSET = 10_000


def read_config(run_dir: Path) -> RunConfig:
    """Read the ``config.yaml`` a training run left in ``run_dir``."""
    return read_config_file(run_dir / CONFIG_FILE)


def read_config_file(path: Path) -> RunConfig:
    """Read a run's config YAML (plain data: ``safe_load``); one ``ValueError`` naming the file when it is bad."""
    try:
        return RunConfig.from_dict(read_yaml(path))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a run config train_rl.py can read: {exc}") from None


def load_model_file(model_path: Path, algo: str, device: str = "auto", env: VecEnv | None = None) -> BaseAlgorithm:
    """Load an SB3 zip as ``algo`` (on ``env`` when given); one clear ``ValueError`` for a file that is not one."""
    cls = ALGORITHMS.get(algo).cls
    check_device(device)
    device = canonical_device(device)
    if not zipfile.is_zipfile(model_path):
        raise ValueError(f"{model_path} is not a Stable-Baselines3 model zip (not a zip file at all).")
    try:
        return cls.load(model_path, env=env, device=device)
    except (pickle.UnpicklingError, EOFError) as exc:  # torch.load of policy.pth (weights_only)
        reason = str(exc).split(". ")[0] if str(exc) else type(exc).__name__
        raise ValueError(
            f"{model_path}: the weights inside it (policy.pth) are damaged or hold more than tensors ({reason})."
        ) from None
    except json.JSONDecodeError:
        raise ValueError(f"{model_path}: its 'data' entry is not valid JSON (a damaged or half-written zip).") from None
    except (zipfile.BadZipFile, KeyError, ValueError, RuntimeError, AttributeError, TypeError, AssertionError) as exc:
        reason = zip_damage(model_path) or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise ValueError(f"{model_path} is not a Stable-Baselines3 model zip for {cls.__name__} ({reason}).") from None


@guarded_when_safe
def load(
    path: str | Path,
    algo: str | None = None,
    device: str = "auto",
    which: str = "last",
    *,
    safe: bool = False,
    trusted_packages: Sequence[str] = (),
) -> BaseAlgorithm:
    """Load a trained model from a run folder or a ``.zip`` file.

    When the run normalised observations, the model comes back with the run's env (one copy) wrapped in
    the saved ``VecNormalize`` statistics, frozen: ``model.get_vec_normalize_env().normalize_obs(obs)``
    gives what the policy expects.

    The default load trusts the files: SB3 unpickles parts of the zip and ``vecnormalize.pkl`` (a run that
    did not normalise never has its ``.pkl`` read). ``safe=True`` unpickles nothing and imports no module the
    run names: see ``agents.evaluation.safe_load``.

    Args:
        path: a run folder made by ``train_rl.py`` or a model file.
        algo: algorithm name; read from the run's ``config.yaml`` when None.
        device: torch device.
        which: in a run folder, ``last`` (``model.zip``) or ``best`` (``best_model.zip``).
        safe: rebuild the model from the run's ``config.yaml`` and read only its weights (needs a run folder);
            neither the current folder nor the run folder is importable meanwhile.
        trusted_packages: with ``safe``, the modules the run names (``gym_packages``, a ``module:`` id prefix, class
            paths in ``env_kwargs``) that may be imported: a list of module names (each covers its submodules).

    Raises:
        FileNotFoundError: no model at ``path``.
        ValueError: the algorithm is unknown, or the file is not an SB3 model; with ``safe``, a module not
            trusted, or a file safe loading cannot read as data.
        TypeError: ``safe`` is not a bool or ``trusted_packages`` not a list of module names.
    """
    check_device(device)
    model_path, run_dir = find_model(path, which)
    config = read_config(run_dir) if run_dir is not None else None
    if safe:
        config_path = _safe_config_path(model_path, run_dir, config)
        return load_safe(model_path, config, config_path, device, trusted_packages)
    algo = model_algo(algo, config, model_path)
    model = load_model_file(model_path, algo, device)
    stats = saved_statistics(model_path, config) if config is not None else None  # only when the run normalised
    if stats is not None:
        env = make_env(dataclasses.replace(config, algo=algo), 1, config.seed + EVAL_SEED_OFFSET, vec_env="dummy")
        try:
            check_spaces(model_path, model.observation_space, model.action_space, env, config.env)
        except ValueError:
            env.close()
            raise
        model = load_model_file(model_path, algo, device, env=wrap_normalize(env, config, stats, training=False))
    return model


def evaluate_model(
    model: BaseAlgorithm,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    episodes: int = 50,
    seed: int = 0,
    deterministic: bool = True,
    *,
    vecnormalize: Path | None = None,
    render_mode: str | None = None,
    gym_packages: list[str] | tuple[str, ...] = (),
    model_path: Path | None = None,
    focus: Sequence[str] = DEFAULT_FOCUS_METHODS,
) -> EvalResult:
    """Run ``episodes`` episodes of ``env_id`` with ``model`` and collect returns, successes and attention.

    The env is one env seeded with ``seed``: the first episode resets with ``seed`` and the following
    ones continue its random stream, so the same model and seed give the same episodes. LSTM states and
    ``ppo_trxl``'s memory are carried through each episode (SB3's ``evaluate_policy``), and ``ppo_trxl``'s focus
    over its memory (parts ``t-M .. t-0``) goes to ``extra["memory_focus"]``; ``MaskablePPO`` gets the env's
    action masks.

    Args:
        model: the policy.
        env_id: env to run.
        env_kwargs: its constructor arguments.
        episodes: episodes to run.
        seed: seed of the env.
        deterministic: greedy or sampled actions.
        vecnormalize: saved ``VecNormalize`` statistics to apply (frozen, rewards left raw).
        render_mode: ``human`` (a window) or ``rgb_array`` (frames kept in ``EvalResult.frames``).
        gym_packages: modules to import so that ``env_id`` is registered.
        model_path: named in the error when the model does not fit the env.
        focus: focus methods of the attention summary (``readout``, ``rollout``, ``causal``), the first shown.

    Raises:
        ValueError: bad arguments, or a model trained on other spaces than the env's.
    """
    check_env_id(env_id, gym_packages)
    focus = check_focus_methods(focus)
    if episodes < 1:
        raise ValueError(f"episodes={episodes} is invalid: evaluate at least 1 episode.")
    if render_mode not in (None, "human", "rgb_array"):
        raise ValueError(f"render_mode='{render_mode}' is invalid: use human or rgb_array.")
    algo = algo_name(model)
    config = RunConfig(env=env_id, algo=algo, env_kwargs=dict(env_kwargs or {}), gym_packages=list(gym_packages))
    env = make_env(config, 1, seed, vec_env="dummy", render_mode=render_mode)
    try:
        check_spaces(model_path or Path("the model"), model.observation_space, model.action_space, env, env_id)
    except ValueError:
        env.close()
        raise
    env = wrap_normalize(env, config, vecnormalize, training=False) if vecnormalize is not None else env
    recorder = (
        MemoryFocusRecorder(model.policy, memory_methods(focus, defaults=DEFAULT_FOCUS_METHODS))
        if isinstance(model.policy, TrXLPolicy)
        else None
    )
    try:
        record = run_episodes(
            model, env, episodes, deterministic, masked=ALGORITHMS.get(algo).masked,
            frames=render_mode == "rgb_array", after_step=recorder.on_eval_step if recorder is not None else None,
        )  # fmt: skip
    finally:
        env.close()
    attention = None
    try:
        find_attention_extractor(model)
    except TypeError:
        pass
    else:
        attention = attention_summary(model, *record.attention_samples(), focus)
    result = record.result(env_id, deterministic, seed, attention)
    if recorder is not None and len(recorder):
        result.extra["memory_focus"] = summarize_memory_focus(recorder)
    return result


@dataclass
class EvalTarget:
    """What to evaluate, with every default taken from the run: see ``eval_target``."""

    model_path: Path
    run_dir: Path | None
    config: RunConfig | None
    env_id: str
    env_kwargs: dict[str, Any]
    seed: int
    deterministic: bool
    algo: str


def eval_target(
    path: str | Path,
    which: str = "last",
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    seed: int | None = None,
    deterministic: bool | None = None,
    algo: str | None = None,
) -> EvalTarget:
    """Resolve a run folder or model ``.zip`` and the evaluation settings left as None from the run's config.

    The env is the run's (its env kwargs under ``env_kwargs``), the seed the run's + 10000 (never a training
    seed), greedy or sampled actions as the run was evaluated (``eval_deterministic``), the run's algorithm.
    A bare ``.zip`` needs ``env_id`` and ``algo``; greedy actions and seed 10000 are its defaults.
    """
    model_path, run_dir = find_model(path, which)
    config = read_config(run_dir) if run_dir is not None else None
    if env_id is None:
        if config is None:
            raise ValueError(f"No {CONFIG_FILE} beside {model_path}: name the env to evaluate on (--env ID).")
        env_id = config.env
    run_kwargs = config.env_kwargs if config is not None and env_id == config.env else {}
    check_finite("env_kwargs", env_kwargs or {})
    if seed is None:
        seed = (config.seed if config is not None else 0) + EVAL_SEED_OFFSET
    check_int("seed", seed, 0, 2**32 - 1)
    if deterministic is None:
        deterministic = config.eval_deterministic is not False if config is not None else True
    algo = model_algo(algo, config, model_path)
    return EvalTarget(
        model_path, run_dir, config, env_id, {**run_kwargs, **(env_kwargs or {})}, seed, deterministic, algo
    )


@guarded_when_safe
def evaluate(
    path: str | Path,
    episodes: int = 50,
    deterministic: bool | None = None,
    seed: int | None = None,
    env_id: str | None = None,
    algo: str | None = None,
    write: bool = True,
    which: str = "last",
    env_kwargs: dict[str, Any] | None = None,
    render_mode: str | None = None,
    device: str = "auto",
    focus: Sequence[str] | None = None,
    *,
    safe: bool = False,
    trusted_packages: Sequence[str] = (),
    overwrite: bool = False,
) -> EvalResult:
    """Load the model at ``path`` and evaluate it; write the result beside it (``agents.storage.runs.eval_file_for``).

    Training's own final evaluation (``eval.json``) is never overwritten: ``eval_last.json`` beside a run's
    ``model.zip``, ``eval_best.json`` beside ``best_model.zip``, ``<model>_eval.json`` beside other model files.

    Args:
        path: a run folder or a model ``.zip``.
        episodes: episodes to run.
        deterministic: greedy actions (True) or sampled ones; None: as the run was evaluated (its config's
            ``eval_deterministic``), else greedy.
        seed: seed of the evaluation env; the run's seed + 10000 when None (never a training seed).
        env_id: env to evaluate on; the run's env when None.
        algo: algorithm; the run's when None.
        write: write the result into the run folder (or beside the model file), see above.
        which: in a run folder, ``last`` (``model.zip``) or ``best`` (``best_model.zip``).
        env_kwargs: env arguments over the run's (when it is the run's env).
        render_mode: ``human`` or ``rgb_array`` (frames in the result's ``frames``).
        device: torch device.
        focus: focus methods, the first shown; None: the run's (its config's ``focus``), else the defaults.
        safe: load and evaluate without unpickling anything or importing a module the run names (see ``load``).
        trusted_packages: with ``safe``, the modules the run names that may be imported (a list of names).
        overwrite: with ``write``, replace the result file even when it is a link
            (``agents.storage.outputs.check_output``).
    """
    check_device(device)
    target = eval_target(path, which, env_id, env_kwargs, seed, deterministic, algo)
    model_path, config = target.model_path, target.config
    if write:
        check_output(eval_file_for(model_path), overwrite=overwrite, own=[eval_file_for(model_path)])
    if safe:
        config_path = _safe_config_path(model_path, target.run_dir, config)
        model = load_safe(model_path, config, config_path, device, trusted_packages)
    else:
        model = load_model_file(model_path, target.algo, device)
    stats = saved_statistics(model_path, config, safe=safe)
    result = evaluate_model(
        model,
        target.env_id,
        target.env_kwargs,
        episodes=episodes,
        seed=target.seed,
        deterministic=target.deterministic,
        vecnormalize=stats,
        render_mode=render_mode,
        gym_packages=config.gym_packages if config is not None else (),
        model_path=model_path,
        focus=focus if focus is not None else (config.focus if config is not None else DEFAULT_FOCUS_METHODS),
    )
    result.model = str(model_path)
    note = evaluation_note(config.env, config.vec_env, target.env_id, target.env_kwargs) if config is not None else ""
    if note:
        result.extra["simulators"] = note
    if write:
        result.extra["written_to"] = str(eval_file_for(model_path))
        write_json(Path(result.extra["written_to"]), result.to_dict())
    return result


def _safe_config_path(model_path: Path, run_dir: Path | None, config: RunConfig | None) -> Path:
    """The ``config.yaml`` safe loading rebuilds ``model_path``'s model from (it needs one)."""
    if run_dir is None or config is None:
        raise ValueError(
            f"Safe loading rebuilds the model from its run's {CONFIG_FILE}, and there is none beside {model_path}: "
            "pass a run folder made by train_rl.py (or load without --safe if you trust the file)."
        )
    return run_dir / CONFIG_FILE


def model_algo(algo: str | None, config: RunConfig | None, model_path: Path) -> str:
    """The algorithm to load ``model_path`` as: ``algo``, else the run's; a run trained with another is an error."""
    if config is None:
        if algo is None:
            raise ValueError(
                f"No {CONFIG_FILE} beside {model_path}, so its algorithm is unknown: pass it (e.g. algo='ppo', "
                "or --algo ppo on the command line)."
            )
        return algo
    if algo is not None and ALGORITHMS.canonical(algo) != ALGORITHMS.canonical(config.algo):
        raise ValueError(
            f"{model_path} was trained with {config.algo}, not {algo}: drop --algo (the run's {CONFIG_FILE} names "
            f"it) or pass --algo {config.algo}."
        )
    return config.algo if algo is None else algo


__all__ = [
    "EVAL_SEED_OFFSET", "EvalResult", "EvalTarget", "action_digest", "eval_target", "evaluate", "evaluate_model",
    "format_evaluation", "interquartile_mean", "load", "load_model_file", "read_config", "read_config_file",
]  # fmt: skip
