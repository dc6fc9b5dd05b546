import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.adapters import highway as highway_adapter
from envs.adapters import minigrid as minigrid_adapter

HIGHWAY_ID = "attn/Highway-v0"
MINIGRID_ID = "attn/MiniGridCells-v0"
if HIGHWAY_ID not in gym.registry:
    gym.register(HIGHWAY_ID, entry_point="envs.adapters.highway:make_highway_env", max_episode_steps=30)
if MINIGRID_ID not in gym.registry:
    gym.register(MINIGRID_ID, entry_point="envs.adapters.minigrid:make_minigrid_env", max_episode_steps=256)

# check_env warns whenever it is given a wrapper (it recommends checking env.unwrapped, which here is the
# third-party env with its own spaces): the adapters are wrappers by design, so this warning is allowed.
WRAPPER_WARNING = "is different from the unwrapped version"
# pygame's font lookup on machines without the font MiniGrid asks for (third-party, from render()).
FONT_WARNING = "The system font"


def unexpected(caught: list) -> list[str]:
    allowed = (WRAPPER_WARNING, FONT_WARNING)
    return [str(w.message) for w in caught if not any(text in str(w.message) for text in allowed)]


def assert_same_trace(a: list, b: list) -> None:
    for step_a, step_b in zip(a, b, strict=True):
        for x, y in zip(step_a, step_b, strict=True):
            np.testing.assert_array_equal(x, y)


def trace(env: gym.Env, seed: int, steps: int) -> list:
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [(obs, info["relevant_parts"])]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        out.append((obs, reward, terminated, truncated, info["relevant_parts"], info["is_success"]))
        if terminated or truncated:
            obs, info = env.reset()
    return out


def check_parts(info: dict, n_parts: int) -> np.ndarray:
    parts = info["relevant_parts"]
    assert isinstance(parts, np.ndarray) and parts.dtype == np.int64 and parts.ndim == 1
    assert ((parts >= 0) & (parts < n_parts)).all()
    assert isinstance(info["is_success"], bool)
    return parts


# ====================================================================== highway-env
@pytest.fixture
def highway():
    pytest.importorskip("highway_env")
    return highway_adapter


def expected_ttc_rows(env: gym.Env, obs: np.ndarray, k: int) -> list[int]:
    """The relevant rows recomputed from the raw observation, one vehicle at a time (straight road along x)."""
    ranges = env.unwrapped.observation_type.features_range
    features = list(env.get_wrapper_attr("features"))

    def raw(row: np.ndarray, name: str) -> float:
        lo, hi = ranges[name]
        return lo + (float(row[features.index(name)]) + 1) * (hi - lo) / 2

    closing, ahead = [], []
    for i in range(1, len(obs)):
        if obs[i, 0] != 1:
            continue
        s, dv = raw(obs[i], "x"), raw(obs[i], "vx")
        rate = -dv if s > 0 else dv  # how fast the gap shrinks
        gap = abs(s) - 5.0
        if rate > 0 and gap > 0:
            closing.append((gap / rate, i))
        elif s > 0:
            ahead.append((s, i))
    rows = [i for _, i in sorted(closing)][:k]
    return rows + [i for _, i in sorted(ahead)][: k - len(rows)]


def test_highway_spaces_ego_row_and_presence(highway):
    env = highway.make_highway_env(vehicles_count=6, config={"vehicles_count": 3})
    assert env.observation_space.shape == (6, 7) and env.observation_space.dtype == np.float32
    assert env.observation_space.low[0].tolist() == [0, -1, -1, -1, -1, -1, -1]
    assert env.get_wrapper_attr("part_names") == [
        "ego",
        "vehicle_1",
        "vehicle_2",
        "vehicle_3",
        "vehicle_4",
        "vehicle_5",
    ]
    assert highway.PRESENCE_COLUMN == 0 and highway.DEFAULT_FEATURES[0] == "presence"
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs[0, 0] == 1  # the ego row, first
    ego = env.unwrapped.vehicle
    assert obs[0, 3] == pytest.approx(ego.velocity[0] / 80, abs=1e-5)  # ego row: absolute vx, / 2 x max speed
    present = obs[:, 0] == 1
    assert present.sum() == 4  # ego + the 3 vehicles on the road
    assert (obs[~present] == 0).all()  # padding rows: all zeros
    check_parts(info, 6)


@pytest.mark.slow
def test_highway_relevant_parts_are_the_smallest_ttc_rows(highway):
    for k in (1, 3):
        env = highway.make_highway_env(vehicles_count=8, k=k)
        for seed in range(2):
            obs, info = env.reset(seed=seed)
            np.testing.assert_allclose(env.get_wrapper_attr("lane_direction")(), [1.0, 0.0], atol=1e-12)
            for step in range(8):
                parts = check_parts(info, 8)
                assert parts.tolist() == expected_ttc_rows(env, obs, k), (k, seed, step)
                assert 1 <= len(parts) <= k and 0 not in parts
                obs, _, terminated, truncated, info = env.step(1)
                if terminated or truncated:
                    break


def test_highway_relevant_rows_of_a_batch_are_each_observations_own(rng):
    """The batched rule (envpool's VecEnv uses it for all its envs at once) against one vehicle at a time."""
    kinematics = np.round(rng.uniform(-60, 60, size=(50, 8, 4)), 0)  # rounded: ties in TTC and offset happen
    present = rng.random((50, 8)) < 0.7
    present[:, 0] = True
    direction = np.tile([1.0, 0.0], (50, 1))
    for k in (1, 3):
        batch = highway_adapter.relevant_rows(kinematics, present, direction, k)
        for n in range(50):
            closing, ahead = [], []
            for i in np.flatnonzero(present[n, 1:]) + 1:
                s, rate = kinematics[n, i, 0], -np.sign(kinematics[n, i, 0]) * kinematics[n, i, 2]
                if rate > 0 and abs(s) - 5.0 > 0:
                    closing.append(((abs(s) - 5.0) / rate, i))
                elif s > 0:
                    ahead.append((s, i))
            rows = [i for _, i in sorted(closing)][:k]
            assert batch[n].tolist() == rows + [i for _, i in sorted(ahead)][: k - len(rows)]


def test_highway_ttc_ranking_on_a_hand_built_state(highway):
    env = highway.make_highway_env(vehicles_count=7, k=3)
    env.reset(seed=0)  # sets the straight road and highway-env's normalisation ranges
    wrapper = env
    ranges = env.unwrapped.observation_type.features_range

    def row(dx: float, dy: float, dvx: float) -> list[float]:
        norm = [dx / ranges["x"][1], dy / ranges["y"][1], dvx / ranges["vx"][1], 0.0]
        return [1.0, *norm, 1.0, 0.0]

    obs = np.zeros((7, 7), dtype=np.float32)
    obs[0] = [1, 0.5, 0.3, 0.3, 0, 1, 0]  # the ego (absolute values, unused)
    obs[1] = row(30, 0, 0)  # ahead, same speed: not closing
    obs[2] = row(60, 4, -5)  # ahead, slower: TTC (60 - 5) / 5 = 11 s
    obs[3] = row(-20, 0, 10)  # behind, faster: TTC (20 - 5) / 10 = 1.5 s
    obs[4] = row(3, 4, -10)  # side by side (overlapping lengthwise): no positive TTC
    obs[5] = row(-40, -4, -3)  # behind, slower: moving away
    # obs[6]: padding
    ttc = wrapper.time_to_collision(obs)
    np.testing.assert_allclose(ttc[[1, 2]], [11.0, 1.5], rtol=1e-5)
    assert np.isinf(ttc[[0, 3, 4, 5]]).all()
    assert wrapper.relevant_parts(obs).tolist() == [3, 2, 4]  # by TTC, then the nearest ahead (side-by-side row 4, s=3)
    wrapper.k = 1
    assert wrapper.relevant_parts(obs).tolist() == [3]
    obs[[2, 3], 3] = 0.0  # nobody closes in any more: the nearest vehicle ahead
    assert wrapper.relevant_parts(obs).tolist() == [4]
    obs[[1, 2, 4]] = 0.0  # only a vehicle behind, moving away: nothing is relevant
    assert wrapper.relevant_parts(obs).tolist() == []


def test_highway_mean_speed_is_the_episodes_mean_and_the_monitor_records_it(highway, tmp_path):
    from agents.setup.config import RunConfig
    from agents.setup.vec_envs import make_env

    env = highway.make_highway_env("intersection-v0")
    _, info = env.reset(seed=1)
    speeds, done = [], False
    assert info["mean_speed"] == 0.0
    while not done:
        _, _, terminated, truncated, info = env.step(2)  # FASTER on intersection
        speeds.append(info["speed"])
        assert info["mean_speed"] == pytest.approx(np.mean(speeds))
        done = terminated or truncated
    venv = make_env(RunConfig(env="intersection-v0", algo="dqn"), 1, 0, monitor_dir=tmp_path)
    venv.reset()
    for _ in range(40):
        venv.step(np.array([2]))
    venv.close()
    header, first = (tmp_path / "0.monitor.csv").read_text().splitlines()[1:3]
    assert header == "r,l,t,mean_speed" and float(first.split(",")[3]) > 0


def test_highway_check_env_passes(highway):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = highway.make_highway_env(vehicles_count=5, render_mode="rgb_array", config={"vehicles_count": 5})
        check_env(env, skip_render_check=False)
    assert unexpected(caught) == []


def test_highway_same_seed_same_rollout(highway):
    def make() -> gym.Env:
        return highway.make_highway_env(vehicles_count=5, config={"vehicles_count": 8})

    a, b, c = trace(make(), 3, 12), trace(make(), 3, 12), trace(make(), 4, 12)
    assert_same_trace(a, b)
    assert not np.array_equal(a[0][0], c[0][0])


def test_highway_render_and_gymnasium_make(highway):
    env = gym.make(HIGHWAY_ID, vehicles_count=5, render_mode="rgb_array", lanes_count=2)
    obs, info = env.reset(seed=0)
    assert obs.shape == (5, 7) and env.unwrapped.config["lanes_count"] == 2
    check_parts(info, 5)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    assert env.spec.max_episode_steps == 30


def scripted_ttc_action(env: gym.Env, obs: np.ndarray, info: dict) -> int:
    """Change lane (or slow down) when the relevant vehicle, or the one ahead in the ego's lane, is close."""
    kin = env.physical_kinematics(obs)  # (V, 4) x, y, vx, vy in metres; rows >= 1 relative to the ego
    others = np.flatnonzero(obs[1:, 0] == 1) + 1
    threats = [r for r in info["relevant_parts"] if kin[r, 0] > 0 and abs(kin[r, 1]) < 3]
    in_lane = others[(np.abs(kin[others, 1]) < 3) & (kin[others, 0] > 0)]
    threats += [in_lane[np.argmin(kin[in_lane, 0])]] if len(in_lane) else []
    ttc = env.time_to_collision(obs)
    if not any(ttc[r - 1] < 8 or kin[r, 0] < 25 for r in threats):
        return 3 if kin[0, 2] < 25 else 1  # faster up to 25 m/s, else idle

    def free(dy: float) -> bool:
        return not ((np.abs(kin[others, 1] - dy) < 3) & (kin[others, 0] > -15) & (kin[others, 0] < 30)).any()

    if kin[0, 1] > 2 and free(-4):  # not in the leftmost lane (y = 0)
        return 0
    if kin[0, 1] < 6 and free(4):  # not in the rightmost of 3 lanes (y = 8)
        return 2
    return 4


@pytest.mark.slow
def test_highway_scripted_ttc_policy_survives(highway):
    env = highway.make_highway_env(vehicles_count=15)
    for seed in range(2):
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(scripted_ttc_action(env, obs, info))
            done = terminated or truncated
        assert not terminated and info["is_success"] is True


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vehicles_count": 1}, r"vehicles_count=1 is invalid: it must be an integer >= 2"),
        ({"k": 0}, r"k=0 is invalid: it must be an integer in \[1, vehicles_count - 1\]"),
        ({"vehicles_count": 4, "k": 4}, r"k=4 is invalid.*\[1, 3\]"),
        ({"features": ["x", "presence", "y", "vx", "vy"]}, r"features=.*'presence' first"),
        ({"features": ["presence", "x", "y", "vx"]}, r"features=.*\['x', 'y', 'vx', 'vy'\] included"),
        ({"features": ["presence", "x", "y", "vx", "vy", "heading"]}, r"features=.*distinct names from"),
    ],
)
def test_highway_bad_kwargs_raise_value_error(highway, kwargs, match):
    with pytest.raises(ValueError, match=match):
        highway.make_highway_env(**kwargs)


def test_highway_wrapping_another_env_raises_type_error(highway):
    with pytest.raises(TypeError, match="needs a highway-env env"):
        highway.HighwayEntities(gym.make("CartPole-v1"))


def test_highway_missing_package_gives_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "highway_env", None)
    with pytest.raises(ImportError, match=r'pip install "attention-rl\[highway\]".*pip install highway-env'):
        highway_adapter.make_highway_env()
    with pytest.raises(ImportError, match="pip install highway-env"):
        highway_adapter.HighwayEntities(gym.make("CartPole-v1"))


# ====================================================================== MiniGrid
@pytest.fixture
def minigrid():
    pytest.importorskip("minigrid")
    return minigrid_adapter


def world_targets(env: gym.Env, obj_type: str, color: str | None = None) -> list[int]:
    """Tokens of the visible world cells holding ``obj_type`` (of ``color``), from the simulator's own view maths."""
    base = env.unwrapped
    tokens = []
    for x in range(base.width):
        for y in range(base.height):
            cell = base.grid.get(x, y)
            if cell is None or cell.type != obj_type or (color is not None and cell.color != color):
                continue
            if base.agent_sees(x, y):
                vx, vy = base.relative_coords(x, y)
                tokens.append(vy * base.agent_view_size + vx)
    return sorted(tokens)


def test_minigrid_spaces_token_layout_and_padding(minigrid):
    env = minigrid.make_minigrid_env("MiniGrid-FourRooms-v0")
    assert env.observation_space.shape == (49, 21) and env.observation_space.dtype == np.float32
    names = env.get_wrapper_attr("part_names")
    assert len(names) == 49 and names[0] == "cell_r0c0" and names[45] == "cell_r6c3"
    assert len(minigrid.FEATURES) == 21 and minigrid.PRESENCE_COLUMN == 0
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    raw = env.unwrapped.gen_obs()["image"]  # (x, y, 3)
    feature = minigrid.FEATURES.index
    for r in range(7):
        for c in range(7):
            token, (obj, color, state) = obs[r * 7 + c], raw[c, r]
            if obj == 0:  # unseen: padding
                assert (token == 0).all()
                continue
            assert token[0] == 1
            assert token[feature(f"is_{minigrid.OBJECTS[obj]}")] == 1 and token[1:11].sum() == 1
            assert token[11:17].sum() == (0 if minigrid.OBJECTS[obj] == "empty" else 1)
            if minigrid.OBJECTS[obj] != "empty":
                assert token[feature(f"color_{minigrid.COLORS[color]}")] == 1
            assert token[feature("state")] == state / 2
            assert token[feature("right")] == pytest.approx((c - 3) / 3)
            assert token[feature("forward")] == pytest.approx((6 - r) / 6)
    agent = obs[6 * 7 + 3]
    assert agent[0] == 1 and agent[feature("right")] == 0 and agent[feature("forward")] == 0
    check_parts(info, 49)


def test_minigrid_unseen_cells_are_padding(minigrid):
    env = minigrid.make_minigrid_env("MiniGrid-FourRooms-v0")
    env.reset(seed=0)
    env.action_space.seed(0)
    unseen_steps = 0
    for _ in range(30):
        obs, *_ = env.step(env.action_space.sample())
        raw = env.unwrapped.gen_obs()["image"].transpose(1, 0, 2).reshape(49, 3)
        unseen = raw[:, 0] == 0
        assert (obs[unseen] == 0).all() and (obs[~unseen, 0] == 1).all()
        unseen_steps += bool(unseen.any())
    assert unseen_steps > 0  # walls hide cells in FourRooms


@pytest.mark.parametrize("env_id", ["MiniGrid-Empty-8x8-v0", "MiniGrid-FourRooms-v0"])
def test_minigrid_relevant_parts_are_the_visible_goal(minigrid, env_id):
    env = minigrid.make_minigrid_env(env_id)
    obs, info = env.reset(seed=1)
    env.action_space.seed(1)
    seen_goal = 0
    for _ in range(150):
        parts = check_parts(info, 49)
        assert parts.tolist() == world_targets(env, "goal")
        assert (obs[parts, minigrid.FEATURES.index("is_goal")] == 1).all()
        mission = obs[:, minigrid.FEATURES.index("mission_object")]
        assert np.flatnonzero(mission).tolist() == parts.tolist()
        seen_goal += len(parts)
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, info = env.reset()
    assert seen_goal > 0


def test_minigrid_relevant_parts_follow_a_go_to_mission(minigrid):
    env = minigrid.make_minigrid_env("MiniGrid-GoToObject-8x8-N2-v0")
    visible = 0
    for seed in range(10):
        _, info = env.reset(seed=seed)
        base = env.unwrapped
        assert base.mission == f"go to the {base.target_color} {base.targetType}"
        assert env.get_wrapper_attr("mission_target") == (
            minigrid.OBJECTS.index(base.targetType),
            minigrid.COLORS.index(base.target_color),
        )
        for action in (0, 0, 2, 2):
            parts = check_parts(info, 49)
            assert parts.tolist() == world_targets(env, base.targetType, base.target_color)
            visible += len(parts)
            *_, info = env.step(action)
    assert visible > 0


@pytest.mark.parametrize(
    ("mission", "expected"),
    [
        ("get to the green goal square", ("goal", None)),
        ("use the key to open the door and then get to the goal", ("goal", None)),
        ("go to the red ball", ("ball", "red")),
        ("get a green key", ("key", "green")),
        ("you must fetch a purple box", ("box", "purple")),
        ("open the door", ("door", None)),
        ("open the red door then the blue door", ("door", "red")),
        ("put the yellow ball near the blue key", ("ball", "yellow")),
        ("go to the matching object at the end of the hallway", None),
        ("", None),
    ],
)
def test_minigrid_parse_mission(minigrid, mission, expected):
    parsed = minigrid.parse_mission(mission)
    if expected is None:
        assert parsed is None
    else:
        obj, color = expected
        assert parsed == (minigrid.OBJECTS.index(obj), None if color is None else minigrid.COLORS.index(color))


def test_minigrid_check_env_passes(minigrid):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = minigrid.make_minigrid_env(render_mode="rgb_array")
        check_env(env, skip_render_check=False)
    assert unexpected(caught) == []


def test_minigrid_same_seed_same_rollout(minigrid):
    def make() -> gym.Env:
        return minigrid.make_minigrid_env("MiniGrid-FourRooms-v0")

    a, b, c = trace(make(), 3, 60), trace(make(), 3, 60), trace(make(), 4, 60)
    assert_same_trace(a, b)
    assert not np.array_equal(a[0][0], c[0][0])


def test_minigrid_render_and_gymnasium_make(minigrid):
    env = gym.make(MINIGRID_ID, render_mode="rgb_array", env_id="MiniGrid-Empty-5x5-v0")
    obs, info = env.reset(seed=0)
    assert obs.shape == (49, 21)
    check_parts(info, 49)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    small = minigrid.make_minigrid_env(agent_view_size=5)
    assert small.observation_space.shape == (25, 21)
    assert small.get_wrapper_attr("part_names")[-1] == "cell_r4c4"


def test_minigrid_walking_to_the_relevant_cell_succeeds(minigrid):
    env = minigrid.make_minigrid_env("MiniGrid-Empty-8x8-v0")
    wall = minigrid.FEATURES.index("is_wall")
    obs, info = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        if len(info["relevant_parts"]):
            r, c = divmod(int(info["relevant_parts"][0]), 7)
            action = 2 if r < 6 else (1 if c > 3 else 0)  # forward until level with the goal, then turn
        else:
            action = 1 if obs[5 * 7 + 3, wall] == 1 else 2  # explore: forward, turn right at walls
        obs, reward, done, truncated, info = env.step(action)
        total += float(reward)
        assert not truncated
    assert info["is_success"] is True and total > 0.9


def test_minigrid_wrapping_another_env_raises_type_error(minigrid):
    with pytest.raises(TypeError, match=r"MiniGrid Dict observation with an 'image' Box\(V, V, 3\)"):
        minigrid.MiniGridCells(gym.make("CartPole-v1"))


def test_minigrid_missing_package_gives_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "minigrid", None)
    with pytest.raises(ImportError, match=r'pip install "attention-rl\[minigrid\]".*pip install minigrid'):
        minigrid_adapter.make_minigrid_env()
    with pytest.raises(ImportError, match="pip install minigrid"):
        minigrid_adapter.MiniGridCells(gym.make("CartPole-v1"))
