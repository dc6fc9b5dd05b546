"""Export a trained policy to ONNX: the observation as the env gives it in, the greedy action (and focus) out.

The exported graph does what ``model.predict(obs, deterministic=True)`` does: the run's ``VecNormalize``
statistics (frozen) and SB3's image transposition are folded in, then the policy's own preprocessing (uint8
images scaled to [0, 1], one-hot discrete keys), the features extractor with its masks and top-k, and the greedy
action: the arg-max of a categorical or Q-network, the mean of a Gaussian (clipped to the action space), or the
deterministic actor's action (rescaled to the bounds when squashed). Actor-critic policies also give their
``value``; with ``with_focus`` the graph also gives an exportable focus (``readout``, ``rollout``, or any method of
``policies.FOCUS_METHODS`` with an ``export`` function) over the named parts and
the mask of the real ones. The part names, the spaces, the focus method and the run's config are stored in the
ONNX metadata. Recurrent and memory policies are refused (their state would have to be an input and an output).

Needs ``pip install "attention-rl[export]"`` (onnx, onnxruntime).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import yaml
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize, VecTransposeImage
from torch import nn

from agents.evaluation.evaluate import eval_target, load_model_file
from agents.setup.algorithms import ALGORITHMS, algo_name
from agents.storage.outputs import check_output
from agents.storage.runs import save_atomic
from policies import FOCUS_METHODS, AttentionExtractor, find_attention_extractor
from policies.extractor import normalized_focus
from policies.focus_methods import check_focus_methods

#: ONNX opset of the export.
OPSET = 17


def require_onnx() -> None:
    """Raise ``ImportError`` with the pip command when onnx or onnxruntime is missing."""
    missing = [name for name in ("onnx", "onnxruntime") if _missing(name)]
    if missing:
        raise ImportError(
            f'ONNX export and evaluation need {" and ".join(missing)}: pip install "attention-rl[export]".'
        )


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def _input_names(space: spaces.Space) -> list[str]:
    return [f"obs.{key}" for key in space.spaces] if isinstance(space, spaces.Dict) else ["obs"]


class ExportedPolicy(nn.Module):
    """The exported computation: env observation(s) -> action [, value] [, focus, mask].

    Args:
        model: the SB3 model.
        env_space: the observation space as the env gives it (before SB3's image transposition).
        vec_normalize: frozen ``VecNormalize`` statistics to fold in, or None.
        focus: an exportable focus method to output the focus, or None.
    """

    def __init__(
        self, model: BaseAlgorithm, env_space: spaces.Space, vec_normalize: VecNormalize | None, focus: str | None
    ) -> None:
        super().__init__()
        self.policy = model.policy
        self.model_space = model.observation_space
        self.keys = list(env_space.spaces) if isinstance(env_space, spaces.Dict) else [None]
        self.focus = focus
        self.focus_fn = FOCUS_METHODS.get(focus).export if focus else None
        self.extractor: AttentionExtractor | None = find_attention_extractor(model) if focus else None
        self.is_actor_critic = hasattr(self.policy, "predict_values") and hasattr(self.policy, "action_net")
        action_space = model.action_space
        self.box_action = isinstance(action_space, spaces.Box)
        if self.box_action:
            self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32))
        self.transpose = {}
        self.norm: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for key in self.keys:
            env_sub = env_space if key is None else env_space.spaces[key]
            model_sub = self.model_space if key is None else self.model_space.spaces[key]
            self.transpose[key] = (
                isinstance(env_sub, spaces.Box) and len(env_sub.shape) == 3 and env_sub.shape != model_sub.shape
            )
            stats = _normalization(vec_normalize, key)
            if stats is not None:
                mean, std = stats
                name = "norm" if key is None else f"norm_{key}"
                self.register_buffer(f"{name}_mean", torch.as_tensor(mean, dtype=torch.float32))
                self.register_buffer(f"{name}_std", torch.as_tensor(std, dtype=torch.float32))
                self.norm[key] = (f"{name}_mean", f"{name}_std")
        self.clip_obs = float(vec_normalize.clip_obs) if vec_normalize is not None else None

    def _prepare(self, key: str | None, obs: torch.Tensor) -> torch.Tensor:
        """One input as the policy's ``obs_to_tensor`` would give it (normalised, transposed)."""
        if key in self.norm:
            mean, std = (getattr(self, name) for name in self.norm[key])
            obs = ((obs.float() - mean) / std).clamp(-self.clip_obs, self.clip_obs)
        if self.transpose[key]:
            obs = obs.permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W), as VecTransposeImage
        return obs

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``inputs``: one tensor per observation key (one for a non-Dict space), batch first."""
        prepared = [self._prepare(key, x) for key, x in zip(self.keys, inputs, strict=True)]
        obs = prepared[0] if self.keys == [None] else dict(zip(self.keys, prepared, strict=True))
        actions = self.policy._predict(obs, deterministic=True)
        if self.box_action:
            if self.policy.squash_output:
                actions = self.low + 0.5 * (actions + 1.0) * (self.high - self.low)
            else:
                actions = torch.maximum(torch.minimum(actions, self.high), self.low)
        outputs = [actions]
        if self.is_actor_critic:
            outputs.append(self.policy.predict_values(obs))
        if self.extractor is not None:
            explanation = self.extractor.explain(
                preprocess_obs(obs, self.model_space, normalize_images=self.policy.normalize_images)
            )
            empty = ~explanation.mask.any(dim=1, keepdim=True)  # (B, 1)
            focus = normalized_focus(self.focus_fn(explanation), explanation.mask, empty)  # (B, N)
            outputs += [focus, explanation.mask]
        return tuple(outputs)


def _normalization(vec_normalize: VecNormalize | None, key: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """``(mean, std)`` that ``VecNormalize`` divides the observation (or Dict key) by, or None."""
    if vec_normalize is None or not vec_normalize.norm_obs:
        return None
    if key is None:
        rms = vec_normalize.obs_rms
    elif key in (vec_normalize.norm_obs_keys or []):
        rms = vec_normalize.obs_rms[key]
    else:
        return None
    return rms.mean, np.sqrt(rms.var + vec_normalize.epsilon)


@dataclass
class ExportResult:
    """What ``export_onnx`` wrote."""

    path: Path
    inputs: list[str]
    outputs: list[str]
    part_names: list[str]
    focus: str | None
    size_bytes: int


def export_model(
    model: BaseAlgorithm,
    out: str | Path,
    env_space: spaces.Space | None = None,
    vec_normalize: VecNormalize | None = None,
    with_focus: bool = False,
    focus: str = "readout",
    metadata: dict[str, str] | None = None,
    *,
    overwrite: bool = False,
    own: Sequence[str | Path] = (),
) -> ExportResult:
    """Export ``model`` (see the module doc) to ``out``; the file is written atomically.

    Args:
        model: a trained SB3 model with a plain forward pass (not recurrent).
        out: the ``.onnx`` file.
        env_space: the observation space as the env gives it (default: that of the model's env before SB3's image
            transposition, or the model's own without an env).
        vec_normalize: ``VecNormalize`` statistics to fold in (default: the model's, when it has them).
        with_focus: also output ``focus (B, N)`` and ``mask (B, N)``.
        focus: an exportable focus method (``readout``, ``rollout`` or another with an ``export`` function).
        metadata: more ``key: value`` strings for the ONNX metadata.
        overwrite: replace ``out`` even when it is a model, a run's file or a link
            (``agents.storage.outputs.check_output``).
        own: earlier exports this one may replace without ``overwrite`` (``policy.onnx`` beside the model).

    Raises:
        ValueError: a recurrent policy, an unknown focus method, ``with_focus`` without an attention extractor, or an
            ``out`` kept from replacement.
        ImportError: onnx / onnxruntime missing (with the pip command).
    """
    out = check_output(out, overwrite=overwrite, own=own)
    require_onnx()
    import onnx

    name = algo_name(model)
    if ALGORITHMS.get(name).recurrent:
        raise ValueError(
            f"{type(model).__name__} keeps a memory (LSTM states, a transformer memory) between steps, which a plain "
            "ONNX forward pass has no place for: export a PPO, A2C, DQN, QR-DQN, SAC, TD3, DDPG, TQC, TRPO or "
            "MaskablePPO model."
        )
    focus = check_focus_methods([focus], supporting="export")[0]  # e.g. causal: one policy pass per removed part
    extractor = None
    try:
        extractor = find_attention_extractor(model)
    except TypeError:
        if with_focus:
            raise ValueError(
                f"with_focus needs an attention policy; {type(model).__name__}'s extractor is not one: export "
                "without the focus."
            ) from None
    env_space = env_space or _env_space(model)
    if vec_normalize is None:
        vec_normalize = model.get_vec_normalize_env()
    module = ExportedPolicy(model, env_space, vec_normalize, focus if with_focus else None).eval()
    inputs = _input_names(env_space)
    examples = tuple(torch.as_tensor(np.stack([_sample(space)] * 2)) for space in _subspaces(env_space))
    outputs = ["action", *(["value"] if module.is_actor_critic else []), *(["focus", "mask"] if with_focus else [])]
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings and the legacy exporter's deprecation note
            torch.onnx.export(
                module, examples, str(tmp), input_names=inputs, output_names=outputs, opset_version=OPSET,
                dynamic_axes={name: {0: "batch"} for name in [*inputs, *outputs]}, dynamo=False,
            )  # fmt: skip
        graph = onnx.load(str(tmp))
        info = {
            "part_names": json.dumps(list(extractor.part_names) if extractor is not None else []),
            "focus_method": focus if with_focus else "",
            "observation_space": repr(env_space),
            "action_space": repr(model.action_space),
            "algorithm": name,
            "vec_normalize_folded": str(vec_normalize is not None and vec_normalize.norm_obs),
            **(metadata or {}),
        }
        for key, value in info.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(tmp))

    save_atomic(out, write)
    part_names = list(extractor.part_names) if extractor is not None else []
    return ExportResult(out, inputs, outputs, part_names, focus if with_focus else None, out.stat().st_size)


def _env_space(model: BaseAlgorithm) -> spaces.Space:
    """The observation space as the model's env gives it: before SB3's ``VecTransposeImage``, if it has an env."""
    env = model.get_env()
    if isinstance(env, VecTransposeImage):
        return env.venv.observation_space
    return env.observation_space if env is not None else model.observation_space


def _subspaces(space: spaces.Space) -> list[spaces.Space]:
    return list(space.spaces.values()) if isinstance(space, spaces.Dict) else [space]


def _sample(space: spaces.Space) -> np.ndarray:
    sample = np.asarray(space.sample())
    return sample.astype(np.int64) if np.issubdtype(sample.dtype, np.integer) and sample.dtype != np.uint8 else sample


def export_onnx(
    path: str | Path,
    out: str | Path | None = None,
    which: str = "last",
    with_focus: bool = False,
    focus: str = "readout",
    env_id: str | None = None,
    algo: str | None = None,
    *,
    overwrite: bool = False,
) -> ExportResult:
    """Export the model of a run folder (or a ``.zip``) to ONNX, with the run's ``VecNormalize`` folded in.

    Args:
        path: a run folder made by ``train_rl.py`` or a model ``.zip``.
        out: the ``.onnx`` file (default: ``policy.onnx`` beside the model, ``best_policy.onnx`` for ``best``).
        which: ``last`` (``model.zip``) or ``best`` (``best_model.zip``) in a run folder.
        with_focus: also output the focus over the named parts.
        focus: an exportable focus method (``readout``, ``rollout``; ``policies.focus_methods.methods_with("export")``).
        env_id: the env the observations come from (default: the run's); a bare ``.zip`` needs it.
        algo: the algorithm of a bare ``.zip``.
        overwrite: replace ``out`` even when it is a model, a run's file or a link; the default ``out`` is updated
            without it.
    """
    from agents.setup.env_ids import import_gym_packages
    from agents.setup.vec_envs import load_statistics, saved_statistics

    target = eval_target(path, which, env_id=env_id, algo=algo)
    default = target.model_path.with_name("policy.onnx" if which == "last" else f"{which}_policy.onnx")
    out = check_output(default if out is None else out, overwrite=overwrite, own=[default])
    stats_path = saved_statistics(target.model_path, target.config)  # refused when a normalised run lost them
    require_onnx()
    if target.config is not None:
        import_gym_packages(target.config.gym_packages)
    model = load_model_file(target.model_path, target.algo, "cpu")
    env = DummyVecEnv([lambda: gym.make(target.env_id, **target.env_kwargs)])
    env_space = env.observation_space
    vec_normalize = None
    if stats_path is not None:
        vec_normalize = load_statistics(stats_path, env)
        vec_normalize.training, vec_normalize.norm_reward = False, False
    env.close()
    config = target.config.to_dict() if target.config is not None else {}
    metadata = {
        "env_id": target.env_id,
        "config": yaml.safe_dump(config, sort_keys=False),
        "model": str(target.model_path),
    }
    return export_model(
        model, out, env_space, vec_normalize, with_focus, focus, metadata, overwrite=overwrite, own=[default]
    )


__all__ = ["ExportResult", "ExportedPolicy", "export_model", "export_onnx", "require_onnx"]
