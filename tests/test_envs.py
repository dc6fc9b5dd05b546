import gymnasium as gym
import numpy as np
import pytest
from env_checks import assert_check_env_clean, assert_same_seed_same_rollout

import envs
import envs.find_target
from envs.find_target import FEATURES, FindTargetEnv

ENV_IDS = list(envs.ENV_SPECS)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes_without_warnings(env_id):
    assert_check_env_clean(env_id)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_rollout(env_id):
    assert_same_seed_same_rollout(env_id)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_relevant_parts_in_every_info(env_id):
    env = gym.make(env_id)
    n_parts = len(env.unwrapped.part_names)
    _, info = env.reset(seed=0)
    for _ in range(300):
        parts = info["relevant_parts"]
        assert parts.dtype == np.int64 and parts.ndim == 1 and len(parts) >= 1
        assert ((parts >= 0) & (parts < n_parts)).all()
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            _, info = env.reset()


def test_relevant_part_is_the_target_row():
    env = FindTargetEnv(n_entities=6)
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        (row,) = info["relevant_parts"]
        assert obs[row, FEATURES.index("is_target")] == 1.0
        assert obs[:, FEATURES.index("is_target")].sum() == 1.0
        np.testing.assert_allclose(obs[row, :2], env.entity_positions()[row] - env.agent_position(), atol=1e-6)


def test_rows_are_shuffled_between_episodes():
    env = FindTargetEnv(n_entities=8)
    rows = {int(env.reset(seed=s)[1]["relevant_parts"][0]) for s in range(40)}
    assert len(rows) >= 6


def test_walking_to_the_target_succeeds_with_bonus():
    env = FindTargetEnv(n_entities=4)
    obs, info = env.reset(seed=1)
    total, done = 0.0, False
    while not done:
        dx, dy = obs[info["relevant_parts"][0], :2]
        action = (4 if dx > 0 else 3) if abs(dx) > abs(dy) else (1 if dy > 0 else 2)
        obs, reward, done, truncated, info = env.step(action)
        total += reward
        assert not truncated
    assert info["is_success"] is True
    assert total > 1.0


def test_variable_entity_count_pads_with_zero_rows():
    env = FindTargetEnv(n_entities=8, min_entities=2)
    counts = set()
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        present = obs[:, FEATURES.index("presence")] == 1
        assert (obs[~present] == 0).all()
        counts.add(int(present.sum()))
    assert min(counts) < 8 and max(counts) > 2


def test_render_draws_the_arena():
    env = FindTargetEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 3  # background, agent, entities
    assert FindTargetEnv().render() is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_entities": 0}, "n_entities=0"),
        ({"n_entities": 1}, "n_entities=1"),
        ({"n_entities": True}, "n_entities=True"),
        ({"n_entities": 4, "min_entities": 5}, "min_entities=5"),
        ({"step_size": 0.0}, "step_size"),
        ({"target_radius": -1}, "target_radius"),
        ({"render_mode": "human"}, "render_mode='human'"),
        ({"difficulty": 3}, "difficulty=3"),
        ({"lookalike_fraction": 1.5}, "lookalike_fraction=1.5"),
        ({"distractor_speed": -0.1}, "distractor_speed=-0.1"),
    ],
)
def test_bad_kwargs_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FindTargetEnv(**kwargs)


def test_invalid_action_raises():
    env = FindTargetEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action=7"):
        env.step(7)


def test_lookalikes_differ_from_the_target_by_one_flag_only():
    env = FindTargetEnv(n_entities=8, lookalike_fraction=1.0)
    obs, info = env.reset(seed=0)
    (row,) = info["relevant_parts"]
    marked, target = FEATURES.index("marked"), FEATURES.index("is_target")
    assert (obs[:, marked] == 1).all()  # every distractor looks like the target...
    assert obs[:, target].tolist() == [1.0 if i == row else 0.0 for i in range(8)]  # ...but for is_target
    plain = FindTargetEnv(n_entities=8).reset(seed=0)[0]
    assert plain[:, marked].sum() == 1  # without look-alikes only the target is marked


def test_moving_distractors_drift_bounce_and_stay_in_the_arena():
    env = FindTargetEnv(n_entities=6, distractor_speed=0.05)
    obs, info = env.reset(seed=2)
    start = env.entity_positions()
    (target,) = info["relevant_parts"]
    for _ in range(60):
        env.step(0)
        positions = env.entity_positions()
        assert ((positions >= 0) & (positions <= 1)).all()
    moved = np.linalg.norm(env.entity_positions() - start, axis=1)
    assert moved[target] == 0 and (np.delete(moved, target) > 0).all()
    speed = np.linalg.norm(obs[:, [FEATURES.index("vx"), FEATURES.index("vy")]], axis=1)
    np.testing.assert_allclose(np.delete(speed, target), 0.5, rtol=1e-5)  # 0.05 per step, scaled x10
    assert speed[target] == 0


@pytest.mark.parametrize("difficulty", [0, 1, 2])
def test_difficulty_presets(difficulty):
    env = FindTargetEnv(n_entities=8, difficulty=difficulty)
    lookalike, speed, present = envs.find_target.DIFFICULTIES[difficulty]
    assert (env.lookalike_fraction, env.distractor_speed) == (lookalike, speed)
    assert env.min_entities == round(8 * present)
    assert FindTargetEnv(difficulty=2, distractor_speed=0.0).distractor_speed == 0.0  # explicit wins


def test_arena_moves_clip_and_bounce():
    from envs.arena import MOVES, drift_and_bounce, step_agent

    assert MOVES.shape == (5, 2)
    np.testing.assert_allclose(step_agent(np.array([0.98, 0.5]), 4, 0.05), [1.0, 0.5])  # right, clipped at the wall
    np.testing.assert_allclose(step_agent(np.array([0.5, 0.5]), 1, 0.05), [0.5, 0.55])  # up
    positions = np.array([[0.99, 0.5], [0.5, 0.5], [0.0, 0.0]])
    velocities = np.array([[0.02, 0.01], [0.0, 0.0], [0.0, 0.0]])  # a drifting row, a still one, padding
    assert drift_and_bounce(positions, velocities)
    np.testing.assert_allclose(positions, [[1.0, 0.51], [0.5, 0.5], [0.0, 0.0]])
    np.testing.assert_allclose(velocities[0], [-0.02, 0.01])  # only the component across the wall turns
    assert not drift_and_bounce(positions, velocities)


def test_entity_rows_zero_the_padding():
    from envs.entities import entity_rows

    flags = np.array([[1.0, 1.0], [1.0, 0.0]], dtype=np.float32)  # the last flag is presence
    rows = entity_rows(np.array([[0.1, -0.2], [0.3, 0.4]]), np.array([[0.2, -0.01], [0.05, 0.0]]), flags)
    assert rows.dtype == np.float32 and rows.shape == (2, 6)
    np.testing.assert_allclose(rows[0], [0.1, -0.2, 1.0, -0.1, 1.0, 1.0], rtol=1e-6)  # velocity x10, clipped
    assert (rows[1] == [0, 0, 0, 0, 1, 0]).all()  # a row without presence shows only its flags
