"""Build an SB3 / sb3-contrib model from a ``RunConfig``: plain-data settings -> constructor arguments."""

from __future__ import annotations

import inspect
import re
import warnings
from typing import Any

import gymnasium as gym
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv
from torch import nn

from agents.setup.algorithms import ALGORITHMS, check_action_space
from agents.setup.config import RunConfig
from agents.setup.hyperparam_ranges import check_ranges
from agents.setup.memory_budget import check_fits
from agents.setup.vec_envs import make_env
from envs.feature_names import part_names_of
from envs.validation import check_int
from policies import EXTRACTORS, TOKENIZERS, AttentionExtractor, Tokenizer
from policies.registry import Registry, did_you_mean
from policies.tokenizers import auto_tokenizer_name

#: ``policy_kwargs.activation_fn`` by name (configs are plain data).
ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")
for _name, _cls in (
    ("relu", nn.ReLU),
    ("tanh", nn.Tanh),
    ("elu", nn.ELU),
    ("leaky_relu", nn.LeakyReLU),
    ("gelu", nn.GELU),
    ("silu", nn.SiLU),
):
    ACTIVATIONS.register(_name, _cls)

#: ``policy_kwargs.optimizer_class`` by name.
OPTIMIZERS: Registry[type[torch.optim.Optimizer]] = Registry("optimizer")
for _name, _cls in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("rmsprop", torch.optim.RMSprop)):
    OPTIMIZERS.register(_name, _cls)

# Constructor arguments that the run config sets itself.
_NOT_HYPERPARAMS = (
    "self",
    "policy",
    "env",
    "policy_kwargs",
    "verbose",
    "seed",
    "device",
    "tensorboard_log",
    "_init_setup_model",
)

#: Hyperparameters that take a schedule: ``lin_<x>`` goes linearly from x to 0 over training (rl-zoo style).
SCHEDULED = ("learning_rate", "clip_range", "clip_range_vf")


class LinearSchedule:
    """``start`` at the beginning of training, linearly down to 0 at the end, then 0 (picklable, for saved models).

    SB3 collects whole rollouts, so a run overshoots its budget (100k steps with 8 envs x 256 steps end at 100,352)
    and the last update sees ``progress_remaining < 0``. rl-zoo's ``linear_schedule`` (``progress_remaining * x``)
    then gives a negative learning rate: the last update climbs the loss. Measured on a MiniGrid pixel run
    (docs/BENCHMARKS.md, learning notes): from the same checkpoint and rollouts, that one update took the final
    policy from 0.96 to 0.81 return; held at 0, the policy stays as it was. So the value stops at 0, as SB3's
    ``get_linear_fn`` does.
    """

    def __init__(self, start: float) -> None:
        self.start = float(start)

    def __call__(self, progress_remaining: float) -> float:
        """The value at ``progress_remaining`` (1 at the start, 0 at the end and after it)."""
        return max(progress_remaining, 0.0) * self.start

    def __repr__(self) -> str:
        return f"lin_{self.start}"


def _schedule(key: str, value: str) -> LinearSchedule:
    try:
        return LinearSchedule(float(value.removeprefix("lin_")))
    except ValueError:
        raise ValueError(f"hyperparams.{key}='{value}' is invalid: use a number or lin_<number>.") from None


#: What an optional (default None) hyperparameter must otherwise be, by the type named in its annotation.
_OPTIONAL_TYPES = {"float": ("a number", (int, float)), "int": ("an integer", (int,)), "dict": ("a mapping", (dict,))}


def _optional_expected(annotation: Any, value: Any) -> str | None:
    """``a number`` etc. when ``value`` fits none of the types an optional hyperparameter's annotation names."""
    text = str(annotation)
    wanted = [(name, kinds) for word, (name, kinds) in _OPTIONAL_TYPES.items() if re.search(rf"\b{word}\b", text)]
    if not wanted or (not isinstance(value, bool) and any(isinstance(value, kinds) for _, kinds in wanted)):
        return None
    return " or ".join(name for name, _ in wanted)


def check_hyperparams(algo: type[BaseAlgorithm], hyperparams: dict[str, Any]) -> None:
    """Raise ``ValueError`` for a hyperparameter the algorithm does not take, of the wrong type, or out of range.

    A value must have the type of the constructor's default (ints for ints, numbers for floats, booleans
    for booleans); ``lin_<x>`` strings are accepted for the scheduled ones, lists for ``train_freq``; numbers
    must lie in ``agents.setup.hyperparam_ranges.RANGES``.
    """
    signature = inspect.signature(algo.__init__).parameters
    params = {name: p for name, p in signature.items() if name not in _NOT_HYPERPARAMS}
    for key, value in hyperparams.items():
        if key not in params:
            raise ValueError(
                f"{algo.__name__} has no hyperparameter '{key}'.{did_you_mean(key, params)} "
                f"Valid ones: {', '.join(params)}."
            )
        default = params[key].default
        if key in SCHEDULED and isinstance(value, str) and value.startswith("lin_"):
            continue
        if key == "train_freq" and isinstance(value, list):
            continue
        expected = None
        if isinstance(default, bool):
            expected = "a boolean" if not isinstance(value, bool) else None
        elif isinstance(default, int):
            expected = "an integer" if isinstance(value, bool) or not isinstance(value, int) else None
        elif isinstance(default, float):
            expected = "a number" if isinstance(value, bool) or not isinstance(value, (int, float)) else None
        elif isinstance(default, str):
            expected = "a string" if not isinstance(value, str) else None
        elif default is None and value is not None:  # optional: the annotation says what else it takes
            expected = _optional_expected(params[key].annotation, value)
        if expected:
            hint = " (or lin_<number>)" if key in SCHEDULED else ""
            raise ValueError(f"hyperparams.{key}={value!r} has the wrong type: {algo.__name__} wants {expected}{hint}.")
    check_ranges(algo.__name__, hyperparams)


def algorithm_kwargs(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """Plain-data hyperparameters -> constructor arguments (``lin_x`` schedules, ``train_freq`` tuples)."""
    kwargs = dict(hyperparams)
    for key in SCHEDULED:
        if isinstance(kwargs.get(key), str):
            kwargs[key] = _schedule(key, kwargs[key])
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    return kwargs


def policy_kwargs_from_config(config: RunConfig) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` from plain data: activation and optimizer names, the extractor by name."""
    policy_kwargs = dict(config.policy_kwargs)
    if isinstance(policy_kwargs.get("activation_fn"), str):
        policy_kwargs["activation_fn"] = ACTIVATIONS.get(policy_kwargs["activation_fn"])
    if isinstance(policy_kwargs.get("optimizer_class"), str):
        policy_kwargs["optimizer_class"] = OPTIMIZERS.get(policy_kwargs["optimizer_class"])
    extractor = EXTRACTORS.get(config.extractor)
    if extractor is not None:
        policy_kwargs["features_extractor_class"] = extractor
        policy_kwargs["features_extractor_kwargs"] = dict(config.extractor_kwargs)
    return policy_kwargs


def policy_name(observation_space: spaces.Space, extractor: type | None, infix: str = "") -> str:
    """SB3's policy alias for an observation space and extractor class (None: SB3's own extractor).

    ``MultiInputPolicy`` for Dict spaces, ``CnnPolicy`` for images with SB3's own extractor (NatureCNN),
    ``MlpPolicy`` otherwise (an attention extractor replaces the policy's features extractor); algorithms with
    memory get their variant through ``infix`` (``Algorithm.policy_infix``: ``MlpLstmPolicy``, ``MlpTrXLPolicy``).
    """
    if isinstance(observation_space, spaces.Dict):
        prefix = "MultiInput"
    elif extractor is None and is_image_space(observation_space, check_channels=False):
        prefix = "Cnn"
    else:
        prefix = "Mlp"
    return f"{prefix}{infix}Policy"


def _wrapper_attr(env: gym.Env, name: str) -> Any:
    """``env``'s attribute ``name`` through its wrappers, or None."""
    try:
        return env.get_wrapper_attr(name)
    except AttributeError:
        return None


def chosen_tokenizer(extractor: str, tokenizer: str | None, space: spaces.Space) -> type[Tokenizer]:
    """The tokenizer class an extractor of that registry name builds for ``space`` (``patch`` makes patches...)."""
    name = tokenizer or (extractor if extractor in TOKENIZERS else "auto")
    return TOKENIZERS.get(auto_tokenizer_name(space) if name == "auto" else name)


def env_part_names(config: RunConfig, env: VecEnv | gym.Env) -> list[str] | None:
    """The names the env gives its parts, when the extractor's parts are exactly those; else None.

    An adapter's ``part_names`` (``cell_r2c3``, ``vehicle_1``) or, for Gymnasium's flat-vector envs, the names
    of their features (``feature:pole_angle``); None when the config names parts itself (``part_names``,
    ``feature_names``), the tokenizer's parts are not the env's own (``Tokenizer.env_parts``: rows, features), or
    the counts differ.
    """
    kwargs = {**(config.extractor_kwargs.get("tokenizer_kwargs") or {}), **config.extractor_kwargs}
    space = env.observation_space
    extractor = EXTRACTORS.get(config.extractor)
    if (
        extractor is None
        or not issubclass(extractor, AttentionExtractor)  # a CNN baseline (grid_cnn) has no parts
        or "part_names" in kwargs
        or kwargs.get("feature_names") is not None
        or not isinstance(space, spaces.Box)
        or len(space.shape) not in (1, 2)
        or not chosen_tokenizer(config.extractor, kwargs.get("tokenizer"), space).env_parts
    ):
        return None
    if not isinstance(env, VecEnv):
        names = _wrapper_attr(env, "part_names")
        if names is None and len(space.shape) == 1:
            names = part_names_of(config.env, space.shape[0])
    elif env.has_attr("part_names"):  # (a SubprocVecEnv worker dies on a get_attr of a missing attribute)
        names = env.get_attr("part_names", indices=[0])[0]
    else:
        names = part_names_of(config.env, space.shape[0]) if len(space.shape) == 1 else None
    return list(names) if names is not None and len(names) == space.shape[0] else None


#: Why gSDE and attention extractors do not mix well (measured: docs/BENCHMARKS.md, "No preset", Pendulum-v1).
GSDE_WARNING = (
    "hyperparams.use_sde=true with extractor '{extractor}': gSDE draws its exploration noise from the policy "
    "latent, which attention's features drive near saturation, so the noise and the action mean can leave the "
    "action range (Pendulum-v1 with rl-zoo's PPO settings: -898 with gSDE and lr 1e-3, -180 with plain Gaussian "
    "noise and lr 3e-4; docs/BENCHMARKS.md, 'No preset'). Consider hyperparams.use_sde=false."
)


def build_model(config: RunConfig, env: VecEnv) -> BaseAlgorithm:
    """Create the algorithm with its policy and (unless ``mlp``) the attention extractor.

    The extractor's parts take the env's names (``env_part_names``) unless the config names them.
    """
    entry = ALGORITHMS.get(config.algo)
    check_action_space(config.algo, env.action_space)
    check_hyperparams(entry.cls, config.hyperparams)
    extractor = EXTRACTORS.get(config.extractor)
    if extractor is not None and config.hyperparams.get("use_sde"):
        warnings.warn(GSDE_WARNING.format(extractor=config.extractor), UserWarning, stacklevel=1)  # once a process
    policy_kwargs = policy_kwargs_from_config(config)
    names = env_part_names(config, env)
    if names is not None:
        policy_kwargs["features_extractor_kwargs"]["part_names"] = names
    policy = policy_name(env.observation_space, extractor, entry.policy_infix)
    check_fits(
        entry.cls, policy, config.hyperparams, policy_kwargs, env.num_envs, env.observation_space, env.action_space
    )
    try:
        model = entry.cls(
            policy,
            env,
            seed=config.seed,
            device=config.device,
            verbose=config.verbose,
            policy_kwargs=policy_kwargs,
            **algorithm_kwargs(config.hyperparams),
        )
    except MemoryError as exc:  # what the estimate leaves out (a tokenizer's own tables, an env's arrays)
        raise out_of_memory(config, exc) from None
    except RuntimeError as exc:
        if "allocate" not in str(exc):
            raise
        raise out_of_memory(config, exc) from None
    if config.compile and extractor is not None:
        problem = compile_problem(config.device)
        if problem is not None:
            print(f"compile: true: torch.compile cannot compile here ({problem}); the extractor runs eagerly.")
            return model
        for module in model.policy.modules():
            if isinstance(module, BaseFeaturesExtractor):
                module.compile()  # in place: the state_dict keeps its keys, so saved models load as ever
    return model


def compile_problem(device: str) -> str | None:
    """Why ``torch.compile`` (inductor) cannot compile for ``device`` on this machine, or None when it can.

    On CPU inductor writes C++ and needs a C++ compiler; ``torch.compile`` itself would only fail at the first
    forward pass, deep inside training.
    """
    if str(device).startswith("cuda"):
        return None
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception as exc:  # any failure to find a compiler means: stay eager
        return f"no C++ compiler for inductor: {' '.join(str(exc).split())[:160]}"
    return None


#: Torch threads when the run does not say (``threads: null``). The models trained here are small (tens of
#: thousands of parameters, batches of 64-256): a second intra-op thread gains 7-54% on an idle 2-core machine
#: and loses 2-7x as soon as anything else runs beside it (``benchmarks/threads.py``, docs/BENCHMARKS.md).
DEFAULT_THREADS = 1


def out_of_memory(config: RunConfig, exc: BaseException) -> ValueError:
    """The one-line error of a model that ran out of memory while being built."""
    reason = " ".join(str(exc).split())[:200]
    return ValueError(
        f"Building {config.algo} on {config.env} ran out of memory ({reason}): lower the sizes in hyperparams "
        "(n_steps, buffer_size), extractor_kwargs (features_dim, embed_dim) or policy_kwargs (net_arch)."
    )


def set_threads(threads: int | None) -> int:
    """``torch.set_num_threads``: ``threads``, or ``DEFAULT_THREADS`` when None; returns the count set."""
    count = check_int("threads", DEFAULT_THREADS if threads is None else threads, 1)
    torch.set_num_threads(count)
    return count


def checked_model(config: RunConfig) -> BaseAlgorithm:
    """Build the model on a throwaway one-process env: bad settings fail before a run folder exists."""
    env = make_env(config, config.n_envs, config.seed, vec_env="dummy")
    try:
        return build_model(config, env)
    except (TypeError, AssertionError, KeyError, ZeroDivisionError) as exc:  # SB3/torch on a setting they reject
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(
            f"Building {config.algo} on {config.env} failed with these settings: {reason}. Check hyperparams, "
            "policy_kwargs and extractor_kwargs (--dry-run shows the resolved config)."
        ) from None
    finally:
        env.close()
