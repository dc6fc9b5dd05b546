"""Evaluate an exported ONNX policy on its env with onnxruntime: the same returns, success and focus table.

So a user can check the file they will ship, on the env, before shipping it: ``train_rl.py eval --onnx
policy.onnx``. The exported graph is greedy (``deterministic=True``) and takes the raw observations (its
``VecNormalize`` statistics are folded in), so the env runs without normalisation here.

An ONNX file is what people ship, so nothing in it causes an import: the env id in its metadata is used only when it
names no module (``module:EnvId``) the caller did not list in ``gym_packages``, and neither the current folder nor
the file's folder is importable while it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from agents.evaluation.episodes import EvalResult, run_episodes
from agents.evaluation.focus_stats import summarize_report
from agents.evaluation.safe_load import local_imports_blocked
from agents.export.onnx_export import require_onnx
from agents.setup.config import RunConfig
from agents.setup.env_ids import check_env_id, covers, module_names
from agents.setup.vec_envs import describe_space, make_env
from envs.observations import stack_obs
from policies.report import AttentionReport, normalized_entropy


class OnnxPolicy:
    """An exported policy on onnxruntime, with SB3's ``predict`` signature (``evaluate_policy`` runs it).

    Args:
        path: the ``.onnx`` file written by ``agents.export_onnx``.
    """

    def __init__(self, path: str | Path) -> None:
        require_onnx()
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"No ONNX file at {self.path}: write one with train_rl.py export RUN_DIR.")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one observation at a time: more threads only wait on each other
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"{self.path} is not an ONNX model onnxruntime can load ({reason}).") from None
        self.inputs = [(i.name, i.type) for i in self.session.get_inputs()]
        self.input_shapes = {i.name: list(i.shape) for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]
        if "action" not in self.outputs:
            raise ValueError(
                f"{self.path} has no 'action' output (outputs: {', '.join(self.outputs) or 'none'}): it was not "
                "exported by train_rl.py export, which is what eval --onnx runs. Export one with train_rl.py export "
                "RUN_DIR."
            )
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.part_names: list[str] = json.loads(self.metadata.get("part_names", "[]"))
        self.focus_method = self.metadata.get("focus_method") or None

    def check_observation_space(self, space: spaces.Space, env_id: str) -> None:
        """Raise ``ValueError`` when the graph's observation inputs do not have the shapes ``space`` gives."""
        given = space.spaces if isinstance(space, spaces.Dict) else {None: space}
        for name, _ in self.inputs:
            key = name.split(".", 1)[1] if "." in name else None
            sub = given.get(key)
            wanted = self.input_shapes[name][1:]  # after the batch axis
            fits = sub is not None and (
                not isinstance(sub, spaces.Box) or not all(isinstance(d, int) for d in wanted) or
                tuple(wanted) == sub.shape
            )  # fmt: skip
            if not fits or (key is None and isinstance(space, spaces.Dict)):
                raise ValueError(
                    f"{self.path} takes observations '{name}' shaped {wanted}, but {env_id} gives "
                    f"{describe_space(space)}: evaluate it on the env (and env_kwargs) it was exported for."
                )

    def _feed(self, observation: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = {}
        for name, kind in self.inputs:
            value = observation[name.split(".", 1)[1]] if isinstance(observation, dict) else observation
            dtype = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int64)": np.int64}.get(kind)
            feed[name] = np.asarray(value, dtype=dtype)
        return feed

    def run(self, observation: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output of the graph for a batch of observations, by name."""
        return dict(zip(self.outputs, self.session.run(None, self._feed(observation)), strict=True))

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """The greedy actions for a batch of observations (as SB3's ``predict``; there is no state)."""
        return self.run(observation)["action"], None


def evaluate_onnx(
    path: str | Path,
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    episodes: int = 20,
    seed: int = 10_000,
    gym_packages: list[str] | tuple[str, ...] = (),
) -> EvalResult:
    """Run ``episodes`` greedy episodes of the exported policy on its env (default: the env it was exported for).

    The focus table comes from the graph's ``focus`` output (exported ``--with-focus``), by the method it was
    exported with.

    Raises:
        TypeError: ``gym_packages`` is not a list of module names.
        ValueError: the file names an env whose module the caller did not list (pass ``env_id`` or ``gym_packages``),
            or no env at all.
    """
    gym_packages = module_names(gym_packages, "gym_packages")
    with local_imports_blocked(Path(path).parent):
        return _evaluate_onnx(path, env_id, env_kwargs, episodes, seed, gym_packages)


def _evaluate_onnx(
    path: str | Path,
    env_id: str | None,
    env_kwargs: dict[str, Any] | None,
    episodes: int,
    seed: int,
    gym_packages: tuple[str, ...],
) -> EvalResult:
    policy = OnnxPolicy(path)
    if env_id is None:
        env_id = policy.metadata.get("env_id")
        module = (env_id or "").rpartition(":")[0]
        if module and not covers(gym_packages, module):
            raise ValueError(
                f"{path} names its env {env_id!r}, which would import {module}: nothing in an ONNX file is imported. "
                f"If you trust it: --env {env_id} (or --gym-packages {module.split('.')[0]})."
            )
    if not env_id:
        raise ValueError(f"{path} does not name its env: pass one (--env ID).")
    check_env_id(env_id, gym_packages)
    if episodes < 1:
        raise ValueError(f"episodes={episodes} is invalid: evaluate at least 1 episode.")
    config = RunConfig(
        env=env_id, algo=policy.metadata.get("algorithm", "ppo"), env_kwargs=dict(env_kwargs or {}),
        gym_packages=list(gym_packages),
    )  # fmt: skip
    env = make_env(config, 1, seed, vec_env="dummy")
    try:
        policy.check_observation_space(env.observation_space, env_id)
        record = run_episodes(policy, env, episodes, deterministic=True)
    finally:
        env.close()
    attention = None
    if "focus" in policy.outputs and record.samples:
        observations, relevant = record.attention_samples()
        out = policy.run(stack_obs(observations))
        mask = out["mask"].astype(bool)
        report = AttentionReport(
            part_names=policy.part_names, focus=out["focus"], weights=out["focus"][:, None, None, :],
            entropy=normalized_entropy(out["focus"], mask), mask=mask, layers=[], method=policy.focus_method,
        )  # fmt: skip
        attention = {"method": policy.focus_method, **summarize_report(report, relevant)}
    return record.result(env_id, True, seed, attention, model=str(path))
