import gymnasium as gym
import numpy as np
import pytest
from env_checks import assert_check_env_clean, assert_same_seed_same_rollout

import envs.cue_memory
from envs.cue_memory import CueMemoryEnv

ENV_ID = "attn/CueMemory-v0"
if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="envs.cue_memory:CueMemoryEnv", max_episode_steps=128)


def oracle_action(obs: np.ndarray, info: dict, env: CueMemoryEnv) -> int:
    """Scripted policy on the ground truth: answer the option one-hot in the rows named by relevant_parts."""
    return int(np.argmax(obs[info["relevant_parts"], : env.n_options].sum(axis=0)))


def fooled_action(obs: np.ndarray, env: CueMemoryEnv) -> int:
    """Answer the latest one-hot in the cue columns, cue or distractor flash alike."""
    (rows,) = np.nonzero(obs[:, : env.n_options].sum(axis=1))
    return int(np.argmax(obs[rows[-1], : env.n_options]))


def run(env: gym.Env, seed: int, policy: str) -> tuple[float, bool, int]:
    obs, info = env.reset(seed=seed)
    total, done, steps = 0.0, False, 0
    while not done:
        if policy == "oracle":
            action = oracle_action(obs, info, env.unwrapped)
        elif policy == "fooled":
            action = fooled_action(obs, env.unwrapped)
        else:
            action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        total, done, steps = total + reward, terminated or truncated, steps + 1
    return total, info["is_success"], steps


def cue_rows(obs: np.ndarray, env: CueMemoryEnv) -> list[int]:
    """The cue rows of an observation, found from the features alone: a one-hot that is no distractor flash."""
    n = env.n_options
    one_hot = obs[:, :n].sum(axis=1) == 1
    return np.flatnonzero(one_hot & (obs[:, n] == 0)).tolist()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"difficulty": 2},
        {"difficulty": 3},
        {"difficulty": 4},
        {"noise_features": 0, "n_options": 4},
        {"cue_steps": 3, "delay": 0},
    ],
)
def test_check_env_passes_without_warnings(kwargs):
    assert_check_env_clean(ENV_ID, **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"difficulty": 1, "n_options": 3}, {"difficulty": 3}])
def test_same_seed_same_rollout(kwargs):
    assert_same_seed_same_rollout(ENV_ID, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"difficulty": 2}, {"cue_steps": 3, "delay": 5, "window": 9}, {"distractor_prob": 1.0, "n_options": 5}],
)
def test_relevant_parts_in_every_info_hold_the_cue(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    inner = env.unwrapped
    env.action_space.seed(0)
    obs, info = env.reset(seed=0)
    for _ in range(200):
        parts = info["relevant_parts"]
        assert parts.dtype == np.int64 and parts.ndim == 1 and len(parts) >= 1
        assert ((parts >= 0) & (parts < inner.window)).all()
        assert parts.tolist() == cue_rows(obs, inner)  # exactly the rows that hold the cue...
        assert (obs[parts, inner.cued_option] == 1).all()  # ...of the cued option
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, info = env.reset()


def test_window_slides_oldest_first_latest_last():
    env = CueMemoryEnv(cue_steps=2, delay=3, window=8, noise_features=1)
    obs, info = env.reset(seed=5)
    time = env.feature_names.index("time")
    assert (obs[:-1] == 0).all() and obs[-1, env.cued_option] == 1  # only the first cue row so far
    assert info["relevant_parts"].tolist() == [7]
    history = [obs]
    for k in range(1, env.episode_length):
        obs, reward, terminated, _, info = env.step(0)
        np.testing.assert_array_equal(obs[:-1], history[-1][1:])  # the window slid by one row
        assert obs[-1, time] == pytest.approx(k / (env.episode_length - 1))
        assert (obs[: 7 - k] == 0).all()  # rows before the episode started
        assert info["relevant_parts"].tolist() == list(range(7 - k, 7 - k + min(2, k + 1)))
        assert reward == 0.0 and not terminated
        history.append(obs)
    assert obs[-1, env.feature_names.index("query")] == 1


def test_part_axis_matches_the_time_tokenizer():
    from policies.tokenizers import TimeTokenizer

    env = CueMemoryEnv()
    tokenizer = TimeTokenizer(env.observation_space, embed_dim=8)
    assert env.part_names == tokenizer.part_names
    obs, info = env.reset(seed=0)
    for _ in range(env.episode_length - 1):
        obs, _, _, _, info = env.step(0)
    # At the query the cue is part t-(cue_steps + delay) = t-9, and that row holds the cue.
    assert [env.part_names[i] for i in info["relevant_parts"]] == ["t-9"]
    assert obs[info["relevant_parts"][0], env.cued_option] == 1


@pytest.mark.parametrize("right", [True, False])
def test_answer_on_the_query_step_ends_the_episode(right):
    env = CueMemoryEnv(n_options=3, delay=4)
    obs, info = env.reset(seed=1)
    for _ in range(env.cue_steps + env.delay):
        obs, reward, terminated, truncated, info = env.step(env.cued_option)  # ignored before the query
        assert (reward, terminated, truncated, info["is_success"]) == (0.0, False, False, False)
    answer = env.cued_option if right else (env.cued_option + 1) % 3
    final, reward, terminated, truncated, info = env.step(answer)
    assert terminated and not truncated
    assert (reward, info["is_success"]) == ((1.0, True) if right else (0.0, False))
    np.testing.assert_array_equal(final, obs)  # the terminal observation repeats the query window
    assert final[info["relevant_parts"], env.cued_option].all()


def test_distractor_flashes_look_like_cues_but_for_their_flag():
    always = CueMemoryEnv(n_options=4, delay=8, distractor_prob=1.0, window=10)
    never = CueMemoryEnv(n_options=4, delay=8, distractor_prob=0.0, window=10)
    for env, expected in ((always, 8), (never, 0)):
        obs, _ = env.reset(seed=0)
        for _ in range(env.episode_length - 1):
            obs, _, _, _, _ = env.step(0)
        flags = obs[:, env.feature_names.index("distractor")]
        assert flags.sum() == expected
        assert (obs[flags == 1, :4].sum(axis=1) == 1).all()  # a one-hot in the cue columns, like a cue
    options = set()
    for seed in range(40):
        always.reset(seed=seed)
        options.add(always.cued_option)
    assert options == {0, 1, 2, 3}


def test_oracle_solves_and_random_is_at_chance():
    env = gym.make(ENV_ID, difficulty=2)
    env.action_space.seed(0)
    oracle = [run(env, seed, "oracle") for seed in range(50)]
    assert all(success for _, success, _ in oracle) and all(total == 1.0 for total, _, _ in oracle)
    assert {steps for _, _, steps in oracle} == {env.unwrapped.episode_length} == {16}
    random = np.mean([run(env, seed, "random")[1] for seed in range(200)])
    fooled = np.mean([run(env, seed, "fooled")[1] for seed in range(200)])
    assert 0.35 < random < 0.65 and fooled < 0.85


def test_registered_time_limit_fits_every_preset():
    for difficulty in (None, 0, 1, 2, 3, 4):
        env = gym.make(ENV_ID, difficulty=difficulty)
        assert env.unwrapped.episode_length <= env.spec.max_episode_steps
        assert env.observation_space.shape == (16, 7)


def test_render_draws_the_window():
    env = CueMemoryEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (16 * 8, 7 * 8, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 3  # background, the cue, time and noise shades
    assert CueMemoryEnv().render() is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_options": 1}, r"n_options=1 is invalid: it must be an integer in \[2, 16\]"),
        ({"cue_steps": 0}, r"cue_steps=0 is invalid: it must be an integer in \[1, 16\]"),
        ({"delay": -1}, "delay=-1 is invalid: it must be an integer >= 0"),
        ({"delay": 2.5}, "delay=2.5"),
        ({"delay": 15}, r"window=16 is invalid: it must be an integer >= cue_steps \+ delay \+ 1 = 17"),
        ({"cue_steps": 2, "delay": 3, "window": 5}, r"window=5 is invalid: .* = 6"),
        ({"distractor_prob": 1.5}, r"distractor_prob=1.5 is invalid: it must be a number in \[0, 1\]"),
        ({"noise_features": -1}, "noise_features=-1"),
        ({"difficulty": 5}, "difficulty=5"),
        ({"delay": 40}, "pass allow_short_window=True"),
        ({"difficulty": 4, "allow_short_window": False}, r"window=16 is invalid: .* = 102"),
        ({"allow_short_window": 1}, "allow_short_window=1 is invalid"),
        ({"delay": 40, "window": 0, "allow_short_window": True}, "window=0 is invalid"),
        ({"delay": 5, "max_delay": 4}, r"max_delay=4 is invalid: it must be an integer >= 5"),
        ({"max_delay": 15}, r"window=16 is invalid: it must be an integer >= cue_steps \+ max_delay \+ 1 = 17"),
        ({"render_mode": "human"}, "render_mode='human'"),
    ],
)
def test_bad_kwargs_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CueMemoryEnv(**kwargs)


def test_invalid_action_raises():
    env = CueMemoryEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action=2"):
        env.step(2)


@pytest.mark.parametrize("difficulty", [0, 1, 2, 3, 4])
def test_difficulty_presets(difficulty):
    env = CueMemoryEnv(difficulty=difficulty)
    delay, max_delay, prob = envs.cue_memory.DIFFICULTIES[difficulty]
    assert (env.delay, env.max_delay, env.distractor_prob) == (delay, max_delay or delay, prob)
    assert CueMemoryEnv(difficulty=2, delay=3).delay == 3  # explicit wins
    assert CueMemoryEnv(difficulty=3, delay=5).max_delay == 5  # an explicit delay alone is fixed


def test_max_delay_moves_the_cue_row_and_relevant_parts_follow_it():
    env = gym.make(ENV_ID, difficulty=3, n_options=8)
    lengths, query_rows = set(), set()
    for seed in range(60):
        obs, info = env.reset(seed=seed)
        done, steps = False, 0
        while not done:
            last_obs, last_info = obs, info
            obs, reward, terminated, truncated, info = env.step(oracle_action(obs, info, env.unwrapped))
            done, steps = terminated or truncated, steps + 1
        assert reward == 1.0 and info["is_success"]
        assert steps == env.unwrapped.episode_length and 1 + 2 + 1 <= steps <= 1 + 14 + 1
        # At the query the relevant part is the cue row, found from the features alone.
        assert last_info["relevant_parts"].tolist() == cue_rows(last_obs, env.unwrapped)
        lengths.add(steps)
        query_rows.update(last_info["relevant_parts"].tolist())
    assert len(lengths) >= 8 and len(query_rows) >= 8  # the cue sits at many rows, not at one
    assert env.observation_space.shape == (16, 13)


def test_max_delay_equal_to_delay_is_a_fixed_delay():
    # A fixed delay draws nothing more from the RNG: max_delay=delay gives the episodes of a fixed delay.
    env = CueMemoryEnv(difficulty=1)
    obs, _ = env.reset(seed=3)
    assert env.episode_length == 10 and env.max_delay == env.delay == 8
    fixed = CueMemoryEnv(delay=8, max_delay=8, distractor_prob=0.3)
    np.testing.assert_array_equal(fixed.reset(seed=3)[0], obs)


def test_long_delays_leave_the_window_and_relevant_ages_follow_the_cue():
    env = gym.make(ENV_ID, difficulty=4, cue_steps=2)
    lengths = set()
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        cue = env.unwrapped.cued_option
        done, step = False, 0
        while not done:
            ages = info["relevant_ages"]
            assert ages.tolist() == [a for a in (step - 1, step) if a >= 0]  # the two cue rows, steps back
            parts = info["relevant_parts"]  # window rows of the cue still in view
            assert parts.tolist() == [15 - a for a in ages[::-1] if a < 16] == cue_rows(obs, env.unwrapped)
            if step >= 17:  # out of view: the window holds no trace of the cue
                assert len(parts) == 0 and not obs[:, :2].any()
            obs, reward, terminated, truncated, info = env.step(cue)  # always the right answer
            done, step = terminated or truncated, step + 1
        assert terminated and not truncated and reward == 1.0
        lengths.add(step)
        assert 2 + 20 + 1 <= step <= 2 + 100 + 1
    assert len(lengths) >= 15  # delays spread over 20-100
