import gymnasium as gym
import numpy as np
import pytest
from env_checks import assert_check_env_clean, assert_same_seed_same_rollout

import envs.collect_avoid
from envs.collect_avoid import FEATURES, CollectAvoidEnv

ENV_ID = "attn/CollectAvoid-v0"
if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="envs.collect_avoid:CollectAvoidEnv", max_episode_steps=200)

DX, DY, VX, VY = (FEATURES.index(name) for name in ("dx", "dy", "vx", "vy"))
IS_TARGET, IS_HAZARD, PRESENCE = (FEATURES.index(name) for name in ("is_target", "is_hazard", "presence"))
MOVES = [(0, 0), (0, 1), (0, -1), (-1, 0), (1, 0)]  # action -> lattice step


def oracle_action(env: CollectAvoidEnv) -> int:
    """Scripted policy on the ground truth: breadth-first search on the agent's move lattice to the nearest
    reachable target, around the hazards (where they will be after this step, with a margin)."""
    step = env.step_size
    agent = env.agent_position()

    def axis(a: float) -> tuple[np.ndarray, int]:
        below, above = int(np.floor(a / step + 1e-9)), int(np.floor((1 - a) / step + 1e-9))
        return a + step * np.arange(-below, above + 1), below

    xs, i0 = axis(agent[0])
    ys, j0 = axis(agent[1])
    grid = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1)  # (X, Y, 2)
    positions, velocities = env.entity_positions(), env.entity_velocities()
    hazards = (positions + velocities)[env.hazard_rows()]  # (H, 2) next step, ignoring bounces
    targets = positions[env.target_rows()]  # (T, 2)

    def near(points: np.ndarray, radius: float) -> np.ndarray:
        gap = grid[:, :, None, :] - points[None, None, :, :]
        return ((gap**2).sum(-1) <= radius**2).any(-1)

    blocked = near(hazards, env.hazard_radius + 2 * env.hazard_speed + 0.01)
    frontier = near(targets, env.reach - 1e-6) & ~blocked
    dist = np.where(frontier, 0, -1)
    depth = 0
    while frontier.any():
        depth += 1
        grown = np.zeros_like(frontier)
        grown[1:] |= frontier[:-1]
        grown[:-1] |= frontier[1:]
        grown[:, 1:] |= frontier[:, :-1]
        grown[:, :-1] |= frontier[:, 1:]
        frontier = grown & ~blocked & (dist < 0)
        dist[frontier] = depth
    best, best_score = None, None
    for action, (di, dj) in enumerate(MOVES):
        i, j = i0 + di, j0 + dj
        if 0 <= i < len(xs) and 0 <= j < len(ys) and dist[i, j] >= 0 and (best is None or dist[i, j] < best_score):
            best, best_score = action, dist[i, j]
    if best is not None:
        return best
    # No path: step where the nearest hazard is farthest.
    moves = np.clip(agent + step * np.array(MOVES, dtype=np.float64), 0, 1)  # (5, 2)
    clearance = np.sqrt(((moves[:, None] - hazards[None]) ** 2).sum(-1)).min(axis=1) if len(hazards) else -moves[:, 0]
    return int(np.argmax(clearance))


def run_oracle(env: gym.Env, seed: int) -> tuple[float, bool, int]:
    env.reset(seed=seed)
    total, done, info, steps = 0.0, False, {}, 0
    while not done:
        _, reward, terminated, truncated, info = env.step(oracle_action(env.unwrapped))
        total, done, steps = total + reward, terminated or truncated, steps + 1
    return total, info["is_success"], steps


def expected_parts(obs: np.ndarray, k_hazards: int) -> list[int]:
    """The answer computed from an observation alone: nearest present target row, then nearest hazard rows."""
    dist = np.hypot(obs[:, DX], obs[:, DY])
    targets = np.flatnonzero(obs[:, IS_TARGET] == 1)
    hazards = np.flatnonzero(obs[:, IS_HAZARD] == 1)
    return [int(targets[np.argmin(dist[targets])]), *hazards[np.argsort(dist[hazards], kind="stable")[:k_hazards]]]


LAYOUT = {
    "agent": [0.5, 0.5],
    "targets": [[0.9, 0.5], [0.5, 0.2], [0.1, 0.9]],
    "hazards": [[0.2, 0.2], [0.75, 0.75], [0.5, 0.95]],
}


def row_of(env: CollectAvoidEnv, point: list[float]) -> int:
    (row,) = np.flatnonzero(np.all(np.isclose(env.entity_positions(), point), axis=1))
    return int(row)


@pytest.mark.parametrize("kwargs", [{}, {"difficulty": 2}, {"n_hazards": 0}, {"k_hazards": 3}])
def test_check_env_passes_without_warnings(kwargs):
    assert_check_env_clean(ENV_ID, **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"difficulty": 2}])
def test_same_seed_same_rollout(kwargs):
    assert_same_seed_same_rollout(ENV_ID, **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"difficulty": 2, "k_hazards": 2}, {"n_hazards": 0}, {"n_targets": 1}])
def test_relevant_parts_in_every_info_and_correct(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    k_hazards = env.unwrapped.k_hazards
    n_parts = env.observation_space.shape[0]
    env.action_space.seed(0)
    obs, info = env.reset(seed=0)
    for _ in range(400):
        parts = info["relevant_parts"]
        assert parts.dtype == np.int64 and parts.ndim == 1 and len(parts) == 1 + k_hazards
        assert ((parts >= 0) & (parts < n_parts)).all()
        assert set(info) == {"relevant_parts", "is_success", "targets_left"}
        if info["targets_left"] > 0:
            assert parts.tolist() == expected_parts(obs, k_hazards)
            assert info["targets_left"] == int(obs[:, IS_TARGET].sum())
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, info = env.reset()


def test_hand_built_layout_parts_collection_and_padding():
    env = CollectAvoidEnv(k_hazards=2)
    obs, info = env.reset(seed=0, options=LAYOUT)
    near_target, far_target = row_of(env, [0.5, 0.2]), row_of(env, [0.9, 0.5])
    assert info["relevant_parts"].tolist() == [near_target, row_of(env, [0.75, 0.75]), row_of(env, [0.2, 0.2])]
    np.testing.assert_allclose(obs[near_target, :2], [0.0, -0.3], atol=1e-6)
    for _ in range(4):  # down to y = 0.3: still 0.1 away
        obs, reward, terminated, _, info = env.step(2)
        assert not terminated and info["targets_left"] == 3
        np.testing.assert_allclose(reward, 0.05)  # the shaping: 0.05 closer
    obs, reward, terminated, _, info = env.step(2)  # y = 0.25: within reach (0.075) of (0.5, 0.2)
    assert not terminated and info["targets_left"] == 2 and not info["is_success"]
    assert (obs[near_target] == 0).all()  # collected: an all-zero padding row, still in its slot
    assert obs[:, PRESENCE].sum() == 5 and obs[:, IS_TARGET].sum() == 2
    # +1, and the potential moves to the next nearest target: (0.9, 0.5) at sqrt(0.4^2 + 0.25^2).
    np.testing.assert_allclose(reward, 1.0 + 0.1 - np.hypot(0.4, 0.25), atol=1e-9)
    assert info["relevant_parts"].tolist() == [far_target, row_of(env, [0.2, 0.2]), row_of(env, [0.75, 0.75])]


def test_collecting_every_target_succeeds_and_names_the_last_target():
    env = CollectAvoidEnv(n_targets=2, n_hazards=1)
    layout = {"agent": [0.5, 0.5], "targets": [[0.5, 0.6], [0.5, 0.65]], "hazards": [[0.1, 0.1]]}
    env.reset(seed=0, options=layout)
    _, reward, terminated, _, info = env.step(1)  # y = 0.55: collects (0.5, 0.6) only
    assert not terminated and info["targets_left"] == 1
    _, reward, terminated, _, info = env.step(1)  # y = 0.60: collects (0.5, 0.65)
    assert terminated and info["is_success"] is True and info["targets_left"] == 0
    assert info["relevant_parts"].tolist() == [row_of(env, [0.5, 0.65]), row_of(env, [0.1, 0.1])]
    np.testing.assert_allclose(reward, 1.0 + 0.1)  # +1 and the last 0.1 of distance to (0.5, 0.65)


def test_touching_a_hazard_ends_the_episode_with_the_penalty():
    env = CollectAvoidEnv(hazard_penalty=2.0, shaping=0.0)
    layout = {"agent": [0.5, 0.5], "targets": [[0.9, 0.9]] * 3, "hazards": [[0.5, 0.58], [0.1, 0.1], [0.9, 0.1]]}
    env.reset(seed=0, options=layout)
    _, reward, terminated, truncated, info = env.step(1)
    assert terminated and not truncated and reward == -2.0 and info["is_success"] is False
    assert info["relevant_parts"][1] == row_of(env, [0.5, 0.58])


def test_no_episode_starts_solved_or_touching():
    env = CollectAvoidEnv(n_targets=4, n_hazards=6, difficulty=2)
    for seed in range(50):
        obs, info = env.reset(seed=seed)
        dist = np.hypot(obs[:, DX], obs[:, DY])
        assert (dist[obs[:, IS_TARGET] == 1] > 2 * env.reach + env.step_size).all()
        assert (dist[obs[:, IS_HAZARD] == 1] > env.hazard_radius + 2 * (env.step_size + env.hazard_speed)).all()
        positions = env.entity_positions()
        gaps = positions[env.target_rows(), None] - positions[None, env.hazard_rows()]
        assert (np.sqrt((gaps**2).sum(-1)) > env.hazard_radius + env.reach).all()
        assert info["targets_left"] == 4 and obs[:, IS_HAZARD].sum() == 6


def test_rows_are_shuffled_between_episodes():
    env = CollectAvoidEnv()
    layouts = {tuple(np.flatnonzero(env.reset(seed=s)[0][:, IS_TARGET]).tolist()) for s in range(40)}
    assert len(layouts) >= 10  # 20 ways to choose the 3 target rows of 6


def test_moving_hazards_bounce_and_stay_in_the_arena():
    env = CollectAvoidEnv(hazard_speed=0.05, n_hazards=4)
    obs, _ = env.reset(seed=2)
    start = env.entity_positions()
    for _ in range(60):  # staying put; a hazard may end it
        obs, _, terminated, _, _ = env.step(0)
        positions = env.entity_positions()
        assert ((positions >= 0) & (positions <= 1)).all()
        if terminated:
            break
    moved = np.linalg.norm(env.entity_positions() - start, axis=1)
    assert (moved[env.hazard_rows()] > 0).all() and (moved[env.target_rows()] == 0).all()
    speed = np.hypot(obs[:, VX], obs[:, VY])
    np.testing.assert_allclose(speed[env.hazard_rows()], 0.5, rtol=1e-5)  # 0.05 per step, scaled x10
    assert (speed[env.target_rows()] == 0).all()


@pytest.mark.parametrize(("kwargs", "min_success"), [({}, 0.95), ({"difficulty": 2}, 0.95)])
def test_scripted_oracle_succeeds(kwargs, min_success):
    env = gym.make(ENV_ID, **kwargs)
    results = [run_oracle(env, seed) for seed in range(20)]
    assert np.mean([success for _, success, _ in results]) >= min_success
    assert np.mean([total for total, _, _ in results]) > 3.0


def test_random_policy_rarely_succeeds():
    env = gym.make(ENV_ID)
    env.action_space.seed(0)
    successes = 0
    for seed in range(30):
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
        successes += info["is_success"]
    assert successes <= 3


def test_render_draws_the_arena():
    env = CollectAvoidEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 4  # background, agent, targets, hazards
    assert CollectAvoidEnv().render() is None


def test_part_names_follow_the_entity_tokenizer():
    from gymnasium import spaces

    from policies.tokenizers import EntityTokenizer

    env = CollectAvoidEnv(n_targets=2, n_hazards=5)
    assert isinstance(env.observation_space, spaces.Box) and env.observation_space.shape == (7, len(FEATURES))
    assert env.part_names == EntityTokenizer(env.observation_space, embed_dim=8, presence_column=-1).part_names


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_targets": 0}, r"n_targets=0 is invalid: it must be an integer in \[1, 32\]"),
        ({"n_targets": 2.5}, "n_targets=2.5"),
        ({"n_hazards": -1}, r"n_hazards=-1 is invalid: it must be an integer in \[0, 32\]"),
        ({"n_hazards": 33}, "n_hazards=33"),
        ({"n_hazards": 2, "k_hazards": 3}, r"k_hazards=3 is invalid: .*\[0, n_hazards=2\]"),
        ({"k_hazards": -1}, "k_hazards=-1"),
        ({"hazard_speed": 0.2}, r"hazard_speed=0.2 is invalid: it must be a number in \[0.0, 0.1\]"),
        ({"hazard_radius": 0.0}, r"hazard_radius=0.0 is invalid: it must be a number in \(0.0, 0.25\]"),
        ({"hazard_penalty": -1.0}, "hazard_penalty=-1.0"),
        ({"shaping": float("nan")}, "shaping=nan"),
        ({"step_size": 0.0}, "step_size=0.0"),
        ({"reach": 0.6}, r"reach=0.6 is invalid: it must be a number in \(0.0, 0.5\]"),
        ({"difficulty": 3}, "difficulty=3"),
        ({"render_mode": "human"}, "render_mode='human'"),
    ],
)
def test_bad_kwargs_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CollectAvoidEnv(**kwargs)


def test_bad_reset_options_and_actions_raise():
    env = CollectAvoidEnv()
    with pytest.raises(ValueError, match="'targets' must be an array of shape"):
        env.reset(seed=0, options={"targets": [[0.5, 0.5]]})
    with pytest.raises(ValueError, match=r"\['speed'\] are not supported"):
        env.reset(seed=0, options={"speed": 1})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action=7"):
        env.step(7)


def test_impossible_layout_raises():
    env = CollectAvoidEnv(n_targets=32, n_hazards=32, hazard_radius=0.25, reach=0.5)  # no room left
    with pytest.raises(RuntimeError, match="Could not place"):
        env.reset(seed=0)


@pytest.mark.parametrize("difficulty", [0, 1, 2])
def test_difficulty_presets(difficulty):
    env = CollectAvoidEnv(difficulty=difficulty)
    assert (env.hazard_speed, env.hazard_radius) == envs.collect_avoid.DIFFICULTIES[difficulty]
    assert CollectAvoidEnv(difficulty=2, hazard_speed=0.0).hazard_speed == 0.0  # explicit wins
