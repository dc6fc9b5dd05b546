"""envs/adapters/highway_fast_road.py: the fast road queries answer exactly as highway-env's, and episodes match."""

import copy
import os
import warnings

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("highway_env", reason="the fast road queries accelerate highway-env's (pip install highway-env)")

from highway_env.road.lane import StraightLane
from highway_env.road.road import Road, RoadNetwork

from envs.adapters.highway import HighwayEntities, make_highway_env
from envs.adapters.highway_fast_road import FastLaneLookup, accelerate_road, install_fast_road
from envs.adapters.highway_fast_traffic import _lane_filter, _surely_off
from envs.adapters.registry import make_adapted

#: Seeded intersection episodes compared step by step (raise it for a longer check: the suite keeps it small);
#: roundabout and highway-fast compare a tenth as many (at least one).
EPISODES = int(os.environ.get("HIGHWAY_FAST_ROAD_EPISODES", "2"))


def _make(env_id: str, config: dict | None = None) -> gym.Env:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "intersection-v0 is out of date"
        return gym.make(env_id, config=config or {})


def _probe_points(network: RoadNetwork, rng: np.random.Generator, random: int) -> list[tuple[np.ndarray, object]]:
    """Points on lane ends, starts and middles (on and beside the lane), far off the road, and random ones."""
    lanes = [lane for to_dict in network.graph.values() for lanes in to_dict.values() for lane in lanes]
    points = []
    for lane in lanes:
        for s in (0.0, lane.length, lane.length / 2, -1.0, lane.length + 3.0):
            for r in (0.0, 2.0, -2.0):
                heading = lane.heading_at(s)
                points += [(lane.position(s, r), heading), (lane.position(s, r), heading + np.pi)]
    corners = np.array([p for p, _ in points])
    low, high = corners.min(axis=0) - 50.0, corners.max(axis=0) + 50.0
    points += [(rng.uniform(low, high), rng.uniform(-2 * np.pi, 2 * np.pi)) for _ in range(random)]
    points += [(np.array([1e6, -1e6]), 0.3), (np.array([-5e3, 4e3]), -40.0), (low - 500.0, np.pi)]
    return points


@pytest.mark.parametrize("env_id", ["intersection-v0", "roundabout-v0", "highway-fast-v0", "merge-v0"])
def test_lookup_returns_highway_envs_index(env_id):
    env = _make(env_id)
    env.reset(seed=0)
    network = env.unwrapped.road.network
    lookup = FastLaneLookup(network)
    rng = np.random.default_rng(1)
    points = _probe_points(network, rng, random=200)
    for position, heading in points:
        for h in (heading, None):
            assert lookup(position, h) == RoadNetwork.get_closest_lane_index(network, position, h), (position, h)
    # a position given as a list, a heading as a NumPy scalar: answered like highway-env
    assert lookup([1.0, 2.0], np.float64(0.5)) == RoadNetwork.get_closest_lane_index(network, [1.0, 2.0], 0.5)


@pytest.mark.parametrize("env_id", ["intersection-v0", "roundabout-v0", "merge-v0"])
def test_neighbour_filter_skips_only_vehicles_off_the_lane(env_id):
    env = _make(env_id)
    env.reset(seed=0)
    network = env.unwrapped.road.network
    rng = np.random.default_rng(2)
    skipped = 0
    for lane in (lane for to_dict in network.graph.values() for lanes in to_dict.values() for lane in lanes):
        params = _lane_filter(lane)
        assert params is not None
        reach, low, high = lane.width / 2 + 1, -lane.VEHICLE_LENGTH, lane.length + lane.VEHICLE_LENGTH
        edges = [(s, r) for s in (low, 0.0, lane.length / 2, high) for r in (-reach, 0.0, reach)]  # on_lane's edges
        for s, r in edges + [tuple(rng.uniform(-60, 60 + lane.length, 2)) for _ in range(60)]:
            for ds in (-1e-12, 0.0, 1e-12):
                position = lane.position(s + ds, r)
                off = _surely_off(params, *position.tolist())
                assert not (off and lane.on_lane(position, margin=1)), (lane, s, r)
                skipped += off
    assert skipped > 1000  # and it does skip the vehicles far from the lane


def test_neighbours_are_highway_envs_for_every_vehicle_and_lane():
    env = _make("intersection-v0")
    install_fast_road(env)
    env.reset(seed=3)
    road = env.unwrapped.road
    for _ in range(4):
        env.step(1)
        for vehicle in road.vehicles:
            for lane_index in [None, *road.network.side_lanes(vehicle.lane_index), ("o1", "ir1", 0)]:
                expected = Road.neighbour_vehicles(road, vehicle, lane_index)
                assert road.neighbour_vehicles(vehicle, lane_index) == expected


def test_lookup_ties_keep_the_first_lane_and_new_lanes_are_seen():
    network = RoadNetwork()
    for i in range(10):  # ten identical lanes: every distance ties, np.argmin keeps the first
        network.add_lane("a", f"b{i}", StraightLane([0.0, 0.0], [100.0, 0.0]))
    lookup = FastLaneLookup(network)
    assert lookup(np.array([50.0, 1.0]), 0.0) == ("a", "b0", 0)
    network.add_lane("c", "d", StraightLane([0.0, 5.0], [100.0, 5.0]))  # added after the first query
    assert lookup(np.array([50.0, 5.0]), 0.0) == ("c", "d", 0) == network.get_closest_lane_index([50.0, 5.0], 0.0)
    # inputs it does not bound go to highway-env's own loop
    assert lookup(np.array([np.nan, 0.0]), 0.0) == RoadNetwork.get_closest_lane_index(network, [np.nan, 0.0], 0.0)


def test_binding_is_per_instance_and_survives_deepcopy():
    fast, slow = _make("intersection-v0"), _make("intersection-v0")
    assert install_fast_road(fast)
    fast.reset(seed=0)
    slow.reset(seed=0)
    assert isinstance(vars(fast.unwrapped.road.network)["get_closest_lane_index"], FastLaneLookup)
    assert "get_closest_lane_index" not in vars(slow.unwrapped.road.network)  # no class was patched
    for method in ("enforce_road_rules", "is_conflict_possible", "neighbour_vehicles"):
        assert method in vars(fast.unwrapped.road) and method not in vars(slow.unwrapped.road)
    copied = copy.deepcopy(fast.unwrapped)  # highway-env's planners copy envs
    lookup = vars(copied.road.network)["get_closest_lane_index"]
    assert lookup.network is copied.road.network
    assert accelerate_road(copied.road)  # already fast: nothing more to do
    assert not accelerate_road(object())  # not a highway-env road: left alone


def _episodes(env_id: str, episodes: int, fast: bool, **kwargs: object) -> list[tuple]:
    """Everything an adapter env returns over seeded episodes of random actions (the same actions for every env)."""
    env = HighwayEntities(_make(env_id, kwargs.pop("config", None)), fast_simulation=fast, **kwargs)
    rng = np.random.default_rng(0)
    record = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        record.append(obs)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
            flags = (info["crashed"], info.get("rewards", {}).get("arrived_reward"), info["is_success"])
            record.append((obs.tobytes(), reward, terminated, truncated, flags, info["relevant_parts"].tolist()))
            done = terminated or truncated
    return record


def test_intersection_episodes_are_bit_identical():
    on, off = _episodes("intersection-v0", EPISODES, True), _episodes("intersection-v0", EPISODES, False)
    assert len(on) > 10 * EPISODES
    for step, (a, b) in enumerate(zip(on, off, strict=True)):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, f"step {step}: {a} != {b}"


@pytest.mark.parametrize(("env_id", "duration"), [("roundabout-v0", 6), ("highway-fast-v0", 8), ("merge-v0", 6)])
def test_other_episodes_are_bit_identical(env_id, duration):
    config = {"duration": duration}
    episodes = max(1, EPISODES // 10)
    on = _episodes(env_id, episodes, True, config=config)
    off = _episodes(env_id, episodes, False, config=config)
    assert len(on) > 3 * episodes
    for step, (a, b) in enumerate(zip(on, off, strict=True)):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, f"step {step}: {a} != {b}"


def test_off_switch_reaches_the_env():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "intersection-v0 is out of date"
        env = make_adapted("intersection-v0", fast_simulation=False)
    env.reset(seed=0)
    assert env.get_wrapper_attr("fast_simulation") is False
    assert "get_closest_lane_index" not in vars(env.unwrapped.road.network)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = make_highway_env("intersection-v0")
    env.reset(seed=0)
    assert isinstance(vars(env.unwrapped.road.network)["get_closest_lane_index"], FastLaneLookup)
