"""The rows of ``learning.py``: envs, budgets, solved scores, and the run configuration of each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from no_preset import RL_ZOO

import envs
from agents import RunConfig, load_preset
from agents.evaluation.statistics import steps_to_solve
from agents.storage.monitor_files import read_monitor
from envs.wrappers import ShuffleParts

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
PLOT_NAME = "learning_curves.png"
RESULTS_NAME = "learning_results.json"
START_MARKER = "<!-- learning:start -->"
END_MARKER = "<!-- learning:end -->"
#: Points of the learning curves kept per run (in the JSON and the plot).
CURVE_POINTS = 50
#: Attention is logged to tensorboard every this many steps (the default, every rollout, costs on CartPole).
ATTENTION_LOG_INTERVAL = 10_000
#: ``FindTarget`` with its rows shuffled again at every step by ``envs.wrappers.ShuffleParts``.
SHUFFLED_FIND_TARGET = "bench/ShuffledFindTarget-v0"
#: Relevant mass conv-token attention should reach where one part matters.
CONV_MASS_TARGET = 0.6


#: rl-baselines3-zoo's PPO hyperparameters for CartPole-v1 (``hyperparams/ppo.yml``, 500 ± 0 at 1e5 steps; the
#: no-preset benchmark's copy) with the learning rate this suite's CartPole rows were measured with (lin_2.5e-4, not
#: rl-zoo's lin_0.001).
CARTPOLE_ZOO = {
    **RL_ZOO["CartPole-v1"],
    "hyperparams": {**RL_ZOO["CartPole-v1"]["hyperparams"], "learning_rate": "lin_2.5e-4"},
}


def register_bench_envs() -> None:
    """Register the suite's wrapped envs (idempotent; also called in every worker process)."""
    if SHUFFLED_FIND_TARGET not in gym.registry:
        entry_point, max_steps = envs.ENV_SPECS[f"{envs.NAMESPACE}/FindTarget-v0"]
        gym.register(
            SHUFFLED_FIND_TARGET,
            entry_point=entry_point,
            max_episode_steps=max_steps,
            additional_wrappers=(ShuffleParts.wrapper_spec(per="step", keep_first=False),),
        )


@dataclass(frozen=True)
class Row:
    """One row of the suite: an env, its budget and what counts as solved."""

    key: str
    """Name on the command line (``--envs``)."""
    label: str
    """Name in the table."""
    env: str
    """Registered env id."""
    timesteps: int
    """Training budget per run (steps)."""
    solved: float
    """Solved score: the mean training return over the last 100 episodes that counts as solved."""
    solved_note: str
    """Where ``solved`` comes from."""
    one_part: bool | None
    """True where one part matters (relevant-mass target), False where several do, None: no relevant parts."""
    attention: str = "attention"
    """The attention extractor's registry name."""
    preset_env: str | None = None
    """Take the preset of this env id (for an env id that ``configs/ppo.yaml`` does not know)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    """``RunConfig`` fields over the preset (``n_envs``, ``hyperparams``...), for both extractors."""
    mass_target: float = 0.8
    """Relevant mass the attention should reach where one part matters."""
    extra: tuple[str, ...] = ()
    """More attention extractors compared on the same row (same budget, seeds and baseline runs)."""

    @property
    def extractors(self) -> tuple[str, ...]:
        """Every extractor of the row, the baseline (``mlp``) last."""
        return (self.attention, *self.extra, "mlp")

    @property
    def baseline(self) -> str:
        """What SB3's own extractor is for this env: ``mlp`` or ``cnn`` (images)."""
        return "cnn" if any(name in self.env for name in PIXEL_ENVS) else "mlp"


#: Envs whose observations are pictures (SB3 trains them with ``CnnPolicy``, NatureCNN).
PIXEL_ENVS = ("PatchFind", "MiniGridPixels")
FT = f"{envs.NAMESPACE}/FindTarget-v0"
PF = f"{envs.NAMESPACE}/PatchFind-v0"
PF_SOLVED = "about 90% of walking straight to the target, 1.34; the random policy scores 0.64"
FT_SOLVED = "about 90% of walking straight to the target, 1.44"
SUITE: tuple[Row, ...] = (
    Row("findtarget-4", "FindTarget N=4", FT, 100_000, 1.3, FT_SOLVED, True, env_kwargs={"n_entities": 4}),
    Row("findtarget-8", "FindTarget N=8", FT, 100_000, 1.3, FT_SOLVED, True, env_kwargs={"n_entities": 8}),
    Row("findtarget-16", "FindTarget N=16", FT, 100_000, 1.3, FT_SOLVED, True, env_kwargs={"n_entities": 16}),
    Row(
        "findtarget-shuffled", "ShuffleParts(FindTarget N=8, per step)", SHUFFLED_FIND_TARGET, 100_000, 1.3,
        FT_SOLVED, True, preset_env=FT, env_kwargs={"n_entities": 8},
    ),
    Row("patchfind", "PatchFind", PF, 150_000, 1.2, PF_SOLVED, True, extra=("conv",)),
    Row(
        "patchfind-allo", "PatchFind egocentric=False (conv tokens)", PF, 150_000, 1.3,
        "about 90% of walking straight to the target, 1.46; the random policy scores 0.44", True, attention="conv",
        env_kwargs={"egocentric": False}, mass_target=CONV_MASS_TARGET,
    ),
    Row(
        "minigrid-pixels", "MiniGrid DoorKey-5x5 pixels (conv tokens)", f"{envs.NAMESPACE}/MiniGridPixels-v0",
        100_000, 0.9, "the goal within 28 steps (1 - 0.9 * 28 / 250)", False, attention="conv",
    ),
    Row(
        "sensors", "Sensors", f"{envs.NAMESPACE}/Sensors-v0", 100_000, 18.0,
        "90% accuracy, the env's success line; the cued-sensor reader scores 20.0", False,
    ),
    Row(
        "cuememory", "CueMemory (difficulty=3, 8 options)", f"{envs.NAMESPACE}/CueMemory-v0", 100_000, 0.95,
        "95% right answers; the cue reader scores 1.0, the random policy 0.13", True,
        env_kwargs={"difficulty": 3, "n_options": 8},
    ),
    Row(
        "cartpole", "CartPole-v1 (feature tokens)", "CartPole-v1", 100_000, 475.0,
        "Gymnasium's `reward_threshold`", None, attention="features", overrides=CARTPOLE_ZOO,
    ),
)  # fmt: skip
ROWS = {row.key: row for row in SUITE}
QUICK_ROWS = ("findtarget-8",)
QUICK_TIMESTEPS = 30_000


def run_config(row: Row, extractor: str, seed: int, timesteps: int, run_root: str, eval_episodes: int) -> RunConfig:
    """The ``RunConfig`` of one run: the env's preset, the row's overrides, the budget."""
    fields: dict[str, Any] = {}
    if row.preset_env is not None:
        preset = load_preset("ppo", row.preset_env)
        fields = {
            key: preset[key] for key in ("n_envs", "hyperparams", "extractor_kwargs", "policy_kwargs") if key in preset
        }
    fields.update(row.overrides)
    return RunConfig(
        env=row.env,
        extractor=extractor,
        timesteps=timesteps,
        seed=seed,
        run_root=run_root,
        env_kwargs=dict(row.env_kwargs),
        eval_episodes=eval_episodes,
        attention_log_interval=ATTENTION_LOG_INTERVAL,
        progress_bar=False,
        **fields,
    )


def run_figures(run: Any, row: Row) -> dict[str, Any]:
    """What a finished run (``agents.train``'s result) gives a learning table, as plain data.

    Its final evaluation, the steps to the row's solved score (None: never, or the row has none), its wall time.
    """
    episodes = read_monitor(run.path / "monitor")
    evaluation = run.evaluation
    attention = (evaluation.attention or {}) if evaluation is not None else {}
    return {
        "timesteps": int(run.model.num_timesteps),
        "wall_s": run.wall_time_s,
        "eval_return": None if evaluation is None else evaluation.mean_return,
        "eval_success": None if evaluation is None else evaluation.success_rate,
        "relevant_mass": attention.get("relevant_mass"),
        "steps_to_solve": steps_to_solve(episodes.steps, episodes.returns, row.solved) if row.solved else None,
    }
