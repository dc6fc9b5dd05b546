"""``run_episodes`` and ``EvalResult``: what an evaluation counts per episode."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.evaluation.episodes import format_evaluation, run_episodes


class CrashEnv(gym.Env):
    """Episodes of 3 steps; every second one ends in a crash, the others in success (highway-env's info keys)."""

    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, report_crashes=True):
        self.report_crashes, self.episode, self.t = report_crashes, -1, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t == 3
        crashed = done and self.episode % 2 == 1
        info = {"is_success": done and not crashed}
        if self.report_crashes:
            info["crashed"] = crashed
        return np.zeros(2, np.float32), 1.0, done, False, info


class Zero:
    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return np.zeros(len(obs), dtype=np.int64), state


def test_crashes_are_counted_per_episode_and_written():
    record = run_episodes(Zero(), DummyVecEnv([CrashEnv]), episodes=4, deterministic=True)
    result = record.result("Crash-v0", True, 0, None)
    assert result.crashes == [False, True, False, True] and result.crash_rate == 0.5
    assert result.successes == [True, False, True, False]
    assert result.to_dict()["crash_rate"] == 0.5
    assert "crash rate    50.0%" in format_evaluation(result)


def test_an_env_without_collisions_reports_none():
    result = run_episodes(Zero(), DummyVecEnv([lambda: CrashEnv(False)]), 2, True).result("Crash-v0", True, 0, None)
    assert result.crashes is None and result.crash_rate is None and result.to_dict()["crash_rate"] is None
    assert "crash rate" not in format_evaluation(result)


class Alternate:
    """Action 1 on the first step of each episode, 0 after it."""

    def __init__(self):
        self.t = 0

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        action = 1 if self.t % 3 == 0 else 0
        self.t += 1
        return np.full(len(obs), action, dtype=np.int64), state


class Continuous(CrashEnv):
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)


class Half:
    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return np.full((len(obs), 1), 0.5, dtype=np.float32), state


def test_discrete_actions_are_counted_by_index_and_shown():
    result = run_episodes(Alternate(), DummyVecEnv([CrashEnv]), 2, True).result("Crash-v0", True, 0, None)
    assert result.action_counts == [4, 2] and result.to_dict()["action_counts"] == [4, 2]
    assert "actions       0: 66.7%  1: 33.3%" in format_evaluation(result)


def test_continuous_actions_have_no_counts():
    result = run_episodes(Half(), DummyVecEnv([Continuous]), 2, True).result("Crash-v0", True, 0, None)
    assert result.action_counts is None and "actions " not in format_evaluation(result)
