import gymnasium as gym
import numpy as np
import pytest
from env_checks import assert_check_env_clean, assert_same_seed_same_rollout

from envs.patch_find import CROSS, DIFFICULTIES, PLUS, SPRITE, PatchFindEnv, distractor_color
from envs.rendering import AGENT, BACKGROUND, DISTRACTOR, TARGET
from policies.tokenizers.patches import PatchTokenizer

ENV_ID = "attn/PatchFind-v0"
if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point="envs.patch_find:PatchFindEnv", max_episode_steps=100)


def oracle_action(env: PatchFindEnv) -> int:
    """Walk straight at the target along the longer axis, from the ground-truth positions."""
    d_row, d_col = env.target_offset()
    if abs(d_row) >= abs(d_col):
        return 1 if d_row < 0 else 2
    return 3 if d_col < 0 else 4


def patches_of(mask: np.ndarray, patch_size: int) -> np.ndarray:
    """Row-major indices of the patches holding a True pixel of ``mask``."""
    cols = mask.shape[1] // patch_size
    rows, columns = np.nonzero(mask)
    return np.unique((rows // patch_size) * cols + columns // patch_size)


@pytest.mark.parametrize("egocentric", [False, True])
def test_check_env_passes_without_warnings(egocentric):
    assert_check_env_clean(ENV_ID, egocentric=egocentric)


@pytest.mark.parametrize("egocentric", [False, True])
def test_same_seed_same_rollout(egocentric):
    assert_same_seed_same_rollout(ENV_ID, egocentric=egocentric)


def test_relevant_parts_in_every_info():
    env = gym.make(ENV_ID, difficulty=2)
    n_parts = len(env.unwrapped.part_names)
    assert n_parts == 36
    _, info = env.reset(seed=0)
    for _ in range(400):
        parts = info["relevant_parts"]
        assert parts.dtype == np.int64 and parts.ndim == 1 and 1 <= len(parts) <= 3
        assert ((parts >= 0) & (parts < n_parts)).all()
        assert isinstance(info["is_success"], bool)
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            _, info = env.reset()


def test_relevant_parts_on_a_hand_built_layout():
    env = PatchFindEnv(similarity=0.0, egocentric=False)  # the fixed world: pixels at world positions
    # The plus at (6, 6) covers rows 6-10 of column 8 and columns 6-10 of row 8: patches r0c1, r1c0 and r1c1,
    # but not r0c0, which only its (empty) bounding-box corner reaches.
    obs, info = env.reset(seed=0, options={"agent": (40, 40), "target": (6, 6), "distractors": np.zeros((4, 2), int)})
    assert info["relevant_parts"].tolist() == [1, 6, 7]
    assert patches_of((obs == TARGET).all(axis=-1), 8).tolist() == [1, 6, 7]
    _, info = env.reset(seed=0, options={"target": (16, 24)})  # inside patch r2c3
    assert info["relevant_parts"].tolist() == [2 * 6 + 3]
    # A plus's two arms reach at most three of the four patches around a corner, never the fourth.
    _, info = env.reset(seed=0, options={"target": (14, 14)})  # centre pixel (16, 16): not r1c1
    assert info["relevant_parts"].tolist() == [8, 13, 14]
    _, info = env.reset(seed=0, options={"target": (13, 13)})  # centre pixel (15, 15): not r2c2
    assert info["relevant_parts"].tolist() == [7, 8, 13]


@pytest.mark.parametrize("patch_size", [4, 6, 8, 12, 16])
def test_relevant_parts_are_the_patches_with_target_pixels(patch_size):
    env = PatchFindEnv(patch_size=patch_size, similarity=0.0)  # red distractors: only the target is green
    tokenizer = PatchTokenizer(env.observation_space, embed_dim=4, patch_size=patch_size)
    assert env.part_names == tokenizer.part_names
    straddles = 0
    for seed in range(30):
        obs, info = env.reset(seed=seed)
        green = (obs == TARGET).all(axis=-1)
        assert green.sum() == PLUS.sum()
        expected = patches_of(green, patch_size)
        np.testing.assert_array_equal(info["relevant_parts"], expected)
        # The tokenizer's own pixel -> patch map agrees.
        names = {tokenizer.part_of((int(y), int(x), 0)) for y, x in np.argwhere(green)}
        assert sorted(env.part_names.index(name) for name in names) == info["relevant_parts"].tolist()
        straddles += len(expected) > 1
    if patch_size == 8:
        assert straddles > 0  # targets do straddle patch borders


def test_layout_sprites_and_colours():
    env = PatchFindEnv(n_distractors=6, similarity=1.0, egocentric=False)
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        boxes = np.concatenate([[env.agent_position(), env.target_position()], env.distractor_positions()])
        assert ((boxes >= 0) & (boxes <= env.size - SPRITE)).all()
        gaps = np.abs(boxes[:, None] - boxes[None]).max(axis=-1) + np.eye(len(boxes), dtype=int) * SPRITE
        assert (gaps >= SPRITE).all()  # no two sprites overlap at reset
        row, col = env.agent_position()
        assert (obs[row : row + SPRITE, col : col + SPRITE] == AGENT).all()
        row, col = env.target_position()
        np.testing.assert_array_equal((obs[row : row + SPRITE, col : col + SPRITE] == TARGET).all(-1), PLUS)
        for row, col in env.distractor_positions():
            patch = obs[row : row + SPRITE, col : col + SPRITE]
            np.testing.assert_array_equal((patch == TARGET).all(-1), CROSS)  # same green, another shape
            assert (patch[~CROSS] == BACKGROUND).all()
        assert (obs == TARGET).all(-1).sum() == PLUS.sum() * 7


def test_similarity_moves_the_distractor_colour_from_red_to_green():
    assert distractor_color(0.0) == DISTRACTOR
    assert distractor_color(1.0) == TARGET
    env = PatchFindEnv(n_distractors=3, similarity=0.5, egocentric=False)
    obs, _ = env.reset(seed=0)
    row, col = env.distractor_positions()[0]
    assert tuple(obs[row + 2, col + 2]) == distractor_color(0.5) not in (DISTRACTOR, TARGET)


def test_moves_are_move_pixels_and_clipped():
    env = PatchFindEnv(move=4, egocentric=False)
    env.reset(seed=0, options={"agent": (20, 2), "target": (40, 40)})
    for action, expected in [(1, (16, 2)), (2, (20, 2)), (4, (20, 6)), (3, (20, 2)), (3, (20, 0)), (0, (20, 0))]:
        obs, _, terminated, truncated, _ = env.step(action)
        assert tuple(env.agent_position()) == expected
        assert (obs[expected[0] : expected[0] + SPRITE, expected[1] : expected[1] + SPRITE] == AGENT).all()
        assert not terminated and not truncated


def test_reaching_the_target_terminates_with_bonus_and_shaping():
    env = PatchFindEnv()
    env.reset(seed=0, options={"agent": (20, 20), "target": (20, 28)})
    _, reward, terminated, _, info = env.step(4)  # 8 -> 4 pixels apart: overlap
    assert terminated and info["is_success"] is True
    assert reward == pytest.approx(1.0 + 4 / 48)
    env.reset(seed=0, options={"agent": (20, 20), "target": (20, 28)})
    _, reward, terminated, _, info = env.step(3)  # away: 12 pixels apart
    assert not terminated and info["is_success"] is False
    assert reward == pytest.approx(-4 / 48)


def test_egocentric_view_keeps_the_agent_centred_on_a_torus():
    env = PatchFindEnv(egocentric=True, similarity=0.0)  # red distractors: only the target is green
    centre = env.view_agent
    assert centre == 21
    obs, info = env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(200):
        assert (obs[centre : centre + SPRITE, centre : centre + SPRITE] == AGENT).all()
        green = (obs == TARGET).all(axis=-1)
        assert green.sum() == PLUS.sum()  # the whole target is always in view
        np.testing.assert_array_equal(info["relevant_parts"], patches_of(green, env.patch_size))
        # the target's pixels sit where target_offset says, relative to the centred agent (wrapping at the edges)
        expected = (np.argwhere(PLUS) + centre + env.target_offset()) % env.size
        assert {tuple(p) for p in expected} == {tuple(p) for p in np.argwhere(green)}
        obs, _, terminated, _, info = env.step(int(rng.integers(1, 5)))
        if terminated:
            obs, info = env.reset()
    # walking off the top edge enters at the bottom
    env.reset(seed=0, options={"agent": (0, 20), "target": (40, 40)})
    env.step(1)
    assert tuple(env.agent_position()) == (44, 20)
    assert tuple(env.target_offset()) == (-4, 20)  # the shorter way round
    # the target across the edge is reached across it
    env.reset(seed=0, options={"agent": (2, 20), "target": (42, 20)})  # 8 rows apart across the edge
    _, reward, terminated, _, info = env.step(1)  # row 2 -> 46: 4 rows apart, overlapping
    assert terminated and info["is_success"] is True and reward == pytest.approx(1.0 + 4 / 48)


@pytest.mark.parametrize("egocentric", [False, True])
@pytest.mark.parametrize("difficulty", [0, 1, 2])
def test_oracle_always_succeeds(difficulty, egocentric):
    env = gym.make(ENV_ID, difficulty=difficulty, egocentric=egocentric)
    for seed in range(30):
        _, info = env.reset(seed=seed)
        total, done, steps = 0.0, False, 0
        while not done:
            _, reward, terminated, truncated, info = env.step(oracle_action(env.unwrapped))
            total, done, steps = total + reward, terminated or truncated, steps + 1
        assert terminated and info["is_success"] is True
        assert total > 1.0 and steps <= 20


def test_render():
    env = PatchFindEnv(render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (192, 192, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame[::4, ::4], obs)
    assert PatchFindEnv().render() is None


@pytest.mark.parametrize("difficulty", [0, 1, 2])
def test_difficulty_presets(difficulty):
    env = PatchFindEnv(difficulty=difficulty)
    assert (env.n_distractors, env.similarity) == DIFFICULTIES[difficulty]
    assert PatchFindEnv(difficulty=2, n_distractors=1).n_distractors == 1  # explicit wins
    default = PatchFindEnv()
    assert (default.n_distractors, default.similarity) == (4, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 20}, r"size=20 is invalid: .*\[24, 256\]"),
        ({"size": 48.0}, r"size=48.0"),
        ({"patch_size": 5}, r"patch_size=5 is invalid: .*divisor of size=48.*\[1, 2, 3, 4, 6, 8, 12, 16, 24, 48\]"),
        ({"size": 36, "patch_size": 8}, r"patch_size=8 .*size=36"),
        ({"n_distractors": -1}, r"n_distractors=-1 is invalid: .*\[0, 14\]"),
        ({"n_distractors": 15}, r"n_distractors=15"),
        ({"size": 24, "n_distractors": 3}, r"n_distractors=3 is invalid: .*\[0, 2\]"),
        ({"similarity": 1.5}, r"similarity=1.5 is invalid: .*\[0, 1\]"),
        ({"move": 0}, r"move=0 is invalid: .*\[1, 9\]"),
        ({"move": 10}, r"move=10"),
        ({"difficulty": 3}, r"difficulty=3"),
        ({"egocentric": "yes"}, r"egocentric='yes' is invalid: use True or False"),
        ({"render_mode": "human"}, r"render_mode='human'"),
    ],
)
def test_bad_kwargs_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PatchFindEnv(**kwargs)


def test_bad_reset_options_and_actions_raise():
    env = PatchFindEnv()
    with pytest.raises(ValueError, match="target"):
        env.reset(seed=0, options={"target": (44, 0)})
    with pytest.raises(ValueError, match="distractors"):
        env.reset(seed=0, options={"distractors": np.zeros((3, 2), int)})
    with pytest.raises(ValueError, match="'goal' is unknown"):
        env.reset(seed=0, options={"goal": (0, 0)})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action=7"):
        env.step(7)
