import gymnasium as gym
import numpy as np
import pytest
from env_checks import assert_check_env_clean, assert_same_seed_same_rollout

from envs.sensors import CUE, DIFFICULTIES, SensorsEnv, sensor_keys
from policies.tokenizers.dict import DictTokenizer

ENV_ID = "attn/Sensors-v0"
if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point="envs.sensors:SensorsEnv", max_episode_steps=20)


def cued_reader(env: SensorsEnv, obs: dict) -> int:
    """Sum the sensors that the cue marks and take the argmax over the action entries."""
    total = sum(obs[key] for key, cued in zip(env.sensor_keys, obs[CUE], strict=True) if cued > 0.5)
    return int(np.argmax(total[: env.n_actions]))


def test_check_env_passes_without_warnings():
    assert_check_env_clean(ENV_ID)


def test_same_seed_same_rollout():
    assert_same_seed_same_rollout(ENV_ID)


def test_part_order_is_the_spaces_order():
    env = SensorsEnv()
    assert env.part_names == list(env.observation_space.spaces)
    assert env.part_names == ["cue", "sensor_0", "sensor_1", "sensor_2", "sensor_3", "sensor_4", "sensor_5"]
    assert DictTokenizer(env.observation_space, embed_dim=8).part_names == env.part_names
    many = SensorsEnv(n_sensors=12)
    assert list(many.observation_space.spaces) == ["cue", *sensor_keys(12)] == many.part_names
    assert many.part_names[1:3] == ["sensor_00", "sensor_01"] and many.part_names[-1] == "sensor_11"
    obs, _ = many.reset(seed=0)
    assert list(obs) == many.part_names


def test_relevant_parts_in_every_info():
    env = gym.make(ENV_ID)
    n_parts = len(env.unwrapped.part_names)
    _, info = env.reset(seed=0)
    for _ in range(200):
        parts = info["relevant_parts"]
        assert parts.dtype == np.int64 and parts.ndim == 1 and len(parts) == 2
        assert ((parts >= 1) & (parts < n_parts)).all()  # never the cue (part 0)
        assert isinstance(info["is_success"], bool)
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert not terminated
        if terminated or truncated:
            _, info = env.reset()


@pytest.mark.parametrize(("n_sensors", "n_informative"), [(6, 2), (12, 3), (3, 3), (4, 1)])
def test_relevant_parts_are_the_cued_sensor_keys(n_sensors, n_informative):
    env = SensorsEnv(n_sensors=n_sensors, n_informative=n_informative, noise=0.0)
    keys = list(env.observation_space.spaces)
    seen = set()
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        cued = [env.sensor_keys[i] for i in np.flatnonzero(obs[CUE])]
        assert info["relevant_parts"].tolist() == sorted(keys.index(key) for key in cued)
        assert len(cued) == n_informative
        seen.update(cued)
        for _ in range(5):
            correct = env.correct_action
            shown = {key: int(np.argmax(obs[key])) for key in env.sensor_keys}
            assert all(shown[key] == correct for key in cued)  # informative sensors show a*
            assert all(np.isin(obs[key], (0.0, 1.0)).all() and obs[key].sum() == 1 for key in env.sensor_keys)
            obs, _, _, _, info = env.step(0)
            assert [keys[i] for i in info["relevant_parts"]] == cued  # constant within the episode
    if n_informative < n_sensors:
        assert len(seen) > n_informative  # the informative sensors change from episode to episode


def test_hand_built_informative_sensors():
    env = SensorsEnv(n_sensors=6, noise=0.0)
    obs, info = env.reset(seed=0, options={"informative": [4, 1]})
    assert info["relevant_parts"].tolist() == [2, 5]  # sensor_1 and sensor_4, after the cue
    assert obs[CUE].tolist() == [0, 1, 0, 0, 1, 0]
    assert env.informative_sensors.tolist() == [1, 4]
    # The decoys show their own random actions, so over a few steps some disagree with a*.
    disagree = 0
    for _ in range(20):
        assert np.argmax(obs["sensor_1"]) == np.argmax(obs["sensor_4"]) == env.correct_action
        disagree += sum(np.argmax(obs[f"sensor_{i}"]) != env.correct_action for i in (0, 2, 3, 5))
        obs, *_ = env.step(0)
    assert disagree > 20


def test_decoys_look_like_signals():
    env = SensorsEnv(noise=0.3)
    env.reset(seed=0)
    informative, decoy = [], []
    for _ in range(500):
        obs, *_ = env.step(0)
        for i, key in enumerate(env.sensor_keys):
            (informative if i in env.informative_sensors else decoy).append(np.sort(obs[key]))
    # Same distribution of sorted readings (a one-hot plus noise) whether informative or not.
    np.testing.assert_allclose(np.mean(informative, axis=0), np.mean(decoy, axis=0), atol=0.03)
    assert all(env.observation_space[key].contains(obs[key]) for key in obs)


def test_rewards_accuracy_and_success():
    env = SensorsEnv()
    _, info = env.reset(seed=0)
    assert info["is_success"] is False and info["accuracy"] == 0.0
    _, reward, _, _, info = env.step(env.correct_action)
    assert reward == 1.0 and info["accuracy"] == 1.0 and info["is_success"] is True
    _, reward, _, _, info = env.step((env.correct_action + 1) % env.n_actions)
    assert reward == 0.0 and info["accuracy"] == 0.5 and info["is_success"] is False
    for _ in range(8):
        _, _, _, _, info = env.step(env.correct_action)
    assert info["accuracy"] == 0.9 and info["is_success"] is True


def test_time_limit_truncates_and_env_never_terminates():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    for step in range(1, 21):
        _, _, terminated, truncated, _ = env.step(0)
        assert not terminated and truncated == (step == 20)


@pytest.mark.parametrize("difficulty", [0, 1])
def test_oracles_succeed(difficulty):
    env = gym.make(ENV_ID, difficulty=difficulty)
    for policy in ("cued", "truth"):
        for seed in range(30):
            obs, _ = env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                action = env.unwrapped.correct_action if policy == "truth" else cued_reader(env.unwrapped, obs)
                obs, reward, terminated, truncated, info = env.step(action)
                total, done = total + reward, terminated or truncated
            assert truncated and info["is_success"] is True
            assert total >= 19.0 and (policy == "cued" or total == 20.0)


def test_random_policy_fails():
    env = gym.make(ENV_ID)
    env.action_space.seed(0)
    successes = []
    for seed in range(30):
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
        successes.append(info["is_success"])
    assert not any(successes)


def test_render():
    env = SensorsEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (16 * 6 + 4, 16 * 4 + 8, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 4
    assert SensorsEnv().render() is None


@pytest.mark.parametrize("difficulty", [0, 1, 2])
def test_difficulty_presets(difficulty):
    assert SensorsEnv(difficulty=difficulty).noise == DIFFICULTIES[difficulty]
    assert SensorsEnv().noise == 0.3
    assert SensorsEnv(difficulty=2, noise=0.0).noise == 0.0  # explicit wins


def test_wider_sensors_than_actions():
    env = SensorsEnv(sensor_dim=6, n_actions=3, noise=0.0)
    obs, _ = env.reset(seed=0)
    assert env.action_space.n == 3
    for key in env.sensor_keys:
        assert obs[key].shape == (6,) and obs[key][3:].tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_sensors": 1}, r"n_sensors=1 is invalid: .*\[2, 64\]"),
        ({"n_sensors": 6.0}, r"n_sensors=6.0"),
        ({"n_informative": 0}, r"n_informative=0 is invalid: .*\[1, n_sensors=6\]"),
        ({"n_informative": 7}, r"n_informative=7"),
        ({"sensor_dim": 1}, r"sensor_dim=1 is invalid: .*\[2, 64\]"),
        ({"n_actions": 5}, r"n_actions=5 is invalid: .*\[2, sensor_dim=4\]"),
        ({"n_actions": 1}, r"n_actions=1"),
        ({"noise": -0.1}, r"noise=-0.1 is invalid: .*\[0, 5.0\]"),
        ({"difficulty": 3}, r"difficulty=3"),
        ({"render_mode": "human"}, r"render_mode='human'"),
    ],
)
def test_bad_kwargs_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SensorsEnv(**kwargs)


def test_bad_reset_options_and_actions_raise():
    env = SensorsEnv()
    for informative in ([1], [1, 1], [0, 6], [0.0, 1.0]):
        with pytest.raises(ValueError, match="informative="):
            env.reset(seed=0, options={"informative": informative})
    with pytest.raises(ValueError, match="unknown"):
        env.reset(seed=0, options={"cue": [1, 0]})
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action=4 .*\[0, 3\]"):
        env.step(4)
