"""The simulators ``intersection_fidelity.py`` compares, the policies it drives them with, and one episode's record.

Each candidate gives one env behind the same small interface (:class:`Simulator`): ``reset(seed)``, ``step(action)``
returning ``(obs, reward, terminated, crashed)`` with the episode over on ``terminated or truncated``, and the index
of a DiscreteMetaAction name. Observations are the raw Kinematics rows (15 x 7, highway-env's default intersection
observation: absolute, normalised, clipped), which is also what envpool's port returns; a trained policy acts on
the project adapter's rows instead (``layout="adapter"``).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

ENV_ID = "intersection-v0"
#: highway-env's DiscreteMetaAction names of intersection-v0's longitudinal actions, by index (envpool's port
#: takes the same three indices; ``IntersectionEnv.ACTIONS``).
LONGITUDINAL = ("SLOWER", "IDLE", "FASTER")
#: The same for the highway, merge and roundabout envs (``DiscreteMetaAction.ACTIONS_ALL``; envpool's ports alike).
ALL_META_ACTIONS = ("LANE_LEFT", "IDLE", "LANE_RIGHT", "FASTER", "SLOWER")


class Simulator:
    """One highway-env env (``intersection-v0`` unless said) behind the interface the fidelity benchmarks drive."""

    env_id = ENV_ID

    def reset(self, seed: int) -> np.ndarray:
        """Start an episode (the seed is ignored where the simulator cannot take one) and return its observation."""
        raise NotImplementedError

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, bool]:
        """``(obs, reward, terminated, truncated, crashed)`` after one policy step."""
        raise NotImplementedError

    def action_index(self, name: str) -> int:
        """Index of a DiscreteMetaAction name (``FASTER``, ``SLOWER``, ``IDLE``)."""
        raise NotImplementedError

    @property
    def num_actions(self) -> int:
        """Number of discrete actions."""
        return int(self.env.action_space.n)


class PythonSimulator(Simulator):
    """highway-env's Python ``env_id`` with its default config, but ``simulation_frequency`` (None: the env's).

    ``layout="raw"``: highway-env's own observation (its default intersection Kinematics: absolute rows),
    computed by the project's NumPy copy of highway-env's code (``FastKinematics``: the same numbers, tested).
    ``layout="adapter"``: the project adapter's rows (``HighwayEntities``: others relative to the ego).
    ``fast_simulation``: the adapter's exact fast road queries (``envs/adapters/highway_fast_road.py``) on or off.
    """

    def __init__(
        self,
        simulation_frequency: int | None = 15,
        layout: str = "raw",
        fast_simulation: bool = False,
        env_id: str = ENV_ID,
    ) -> None:
        import gymnasium as gym
        import highway_env  # noqa: F401  (registers the ids)

        from envs.adapters.highway import HighwayEntities

        if layout not in ("raw", "adapter"):
            raise ValueError(f"layout={layout!r} is invalid: use 'raw' or 'adapter'.")
        config = {} if simulation_frequency is None else {"simulation_frequency": int(simulation_frequency)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "intersection-v0 is out of date"
            env = gym.make(env_id, config=config)
        self.env_id = env_id
        self.layout = layout
        self.fast_simulation = bool(fast_simulation)
        self.env = HighwayEntities(env, fast_simulation=self.fast_simulation) if layout == "adapter" else env
        self._install_fast_road()

    def _install_fast_road(self) -> None:
        if self.fast_simulation:
            from envs.adapters.highway_fast_road import install_fast_road

            install_fast_road(self.env)  # the adapter installs it itself; for the raw env, before each reset

    def reset(self, seed: int) -> np.ndarray:  # noqa: D102
        from envs.adapters.highway_kinematics import install_fast_kinematics

        obs, _ = self.env.reset(seed=int(seed))
        self._install_fast_road()
        install_fast_kinematics(self.env)  # the adapter installs it itself; the raw env needs it after each reset
        return np.asarray(obs, dtype=np.float32)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, bool]:  # noqa: D102
        obs, reward, terminated, truncated, info = self.env.step(int(action))
        return (
            np.asarray(obs, dtype=np.float32),
            float(reward),
            bool(terminated),
            bool(truncated),
            bool(info["crashed"]),
        )

    def action_index(self, name: str) -> int:  # noqa: D102
        indexes = self.env.unwrapped.action_type.actions_indexes
        if name not in indexes:
            raise ValueError(f"action {name!r} is unknown: {self.env_id}'s actions are {sorted(indexes)}.")
        return int(indexes[name])


class EnvpoolSimulator(Simulator):
    """envpool's C++ port of ``env_id`` (one env; its seed is fixed at construction)."""

    def __init__(self, seed: int = 0, env_id: str = ENV_ID) -> None:
        try:
            import envpool
        except ImportError as error:
            raise ImportError("the envpool candidate needs envpool: pip install envpool") from error
        self.env_id = env_id
        self.env = envpool.make_gymnasium(env_id, num_envs=1, seed=int(seed))
        self.config = dict(envpool.make_spec(env_id).config._asdict())
        self.actions = LONGITUDINAL if env_id.startswith("intersection") else ALL_META_ACTIONS

    def reset(self, seed: int) -> np.ndarray:  # noqa: D102
        obs, _ = self.env.reset()  # envpool ignores a reset seed (it warns): its seed is fixed at make
        return obs[0]

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, bool]:  # noqa: D102
        obs, reward, terminated, truncated, info = self.env.step(np.array([int(action)]))
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), bool(info["crashed"][0])

    def action_index(self, name: str) -> int:  # noqa: D102
        if name not in self.actions:
            raise ValueError(f"action {name!r} is unknown: {self.env_id}'s actions are {list(self.actions)}.")
        return self.actions.index(name)


@dataclass(frozen=True)
class Candidate:
    """One simulator of the fidelity table."""

    name: str
    """Short name (a table row and a JSON key)."""
    description: str
    """What it is, for the table's notes."""
    make: Callable[..., Simulator]
    """Builds it; takes ``layout`` (``raw`` or ``adapter``) where it can give the adapter's rows."""
    adapter_layout: bool
    """Whether it can give the adapter's rows (needed by a trained policy)."""
    takes_seed: bool = True
    """Whether ``reset(seed)`` decides the episode (then its episodes pair with the reference's, seed by seed)."""


CANDIDATES: dict[str, Candidate] = {
    candidate.name: candidate
    for candidate in (
        Candidate(
            "python-15hz",
            "highway-env's Python intersection-v0, default config (simulation 15 Hz, policy 1 Hz): the original",
            lambda layout="raw": PythonSimulator(15, layout),
            True,
        ),
        Candidate(
            "python-5hz",
            "the same with highway-env's fast setting simulation_frequency=5 (as highway-fast-v0 is made)",
            lambda layout="raw": PythonSimulator(5, layout),
            True,
        ),
        Candidate(
            "python-15hz-fast",
            "the original with the adapter's exact fast road queries (fast_simulation=True, the adapter's default)",
            lambda layout="raw": PythonSimulator(15, layout, fast_simulation=True),
            True,
        ),
        Candidate(
            "envpool",
            "envpool 1.2.5's C++ port of intersection-v0, as shipped",
            lambda: EnvpoolSimulator(),
            False,
            False,
        ),
    )
}
#: The reference every other candidate is compared with.
REFERENCE = "python-15hz"


def policy_actions(policy: str) -> Callable[[Simulator, np.ndarray, np.random.Generator], int]:
    """The action rule of a named policy: ``random`` (uniform), ``faster`` or ``slower`` (always that action).

    Raises:
        ValueError: an unknown policy name.
    """
    if policy == "random":
        return lambda sim, obs, rng: int(rng.integers(sim.num_actions))
    if policy in ("faster", "slower"):
        return lambda sim, obs, rng: sim.action_index(policy.upper())
    raise ValueError(f"policy {policy!r} is unknown: use random, faster, slower or --policy RUN_DIR.")


def trained_actions(run_dir: str) -> Callable[[Simulator, np.ndarray, np.random.Generator], int]:
    """The greedy action of a model trained by this project (``agents.load``), on the adapter's rows."""
    from agents import load

    model = load(run_dir)
    return lambda sim, obs, rng: int(np.asarray(model.predict(obs, deterministic=True)[0]).reshape(-1)[0])


def first_obs_key(obs: np.ndarray) -> str:
    """A short hash of an observation's bytes: equal observations, equal keys."""
    return hashlib.sha1(np.ascontiguousarray(obs, dtype=np.float32).tobytes()).hexdigest()[:16]


def run_episode(
    sim: Simulator, act: Callable[[Simulator, np.ndarray, np.random.Generator], int], seed: int
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """One episode: its record, its first observation ``(V, F)`` and its observations stacked ``(T + 1, V, F)``.

    The record: ``seed``, ``return``, ``length`` (policy steps), ``crashed``, ``arrived`` (terminated without a
    crash: intersection-v0 ends early only on a crash or on arrival) and ``first`` (:func:`first_obs_key`).
    """
    rng = np.random.default_rng(seed)
    obs = sim.reset(seed)
    observations, total, length, done = [obs], 0.0, 0, False
    terminated = crashed = False
    while not done:
        obs, reward, terminated, truncated, crashed = sim.step(act(sim, obs, rng))
        observations.append(obs)
        total += reward
        length += 1
        done = terminated or truncated
    record = {
        "seed": int(seed),
        "return": round(total, 6),
        "length": length,
        "crashed": bool(crashed),
        "arrived": bool(terminated and not crashed),
        "first": first_obs_key(observations[0]),
    }
    return record, observations[0], np.stack(observations)
