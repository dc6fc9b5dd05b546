"""``attn/Sensors-v0``: act on the sensors that the cue marks this episode; the others look just the same."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.rendering import check_render_mode
from envs.validation import check_action, check_difficulty, check_int, check_number

#: Key of the cue in the observation; sorts before every ``sensor_*`` key.
CUE = "cue"
#: Largest ``n_sensors`` and ``sensor_dim``.
MAX_SENSORS = 64
#: Largest ``noise``.
MAX_NOISE = 5.0
#: An episode is a success when at least this share of its steps got the correct action.
SUCCESS_ACCURACY = 0.9

#: ``difficulty`` -> noise.
DIFFICULTIES: dict[int, float] = {0: 0.1, 1: 0.3, 2: 0.6}
#: The preset that ``difficulty=None`` uses: the defaults.
DEFAULT_DIFFICULTY = 1


def sensor_keys(n_sensors: int) -> list[str]:
    """``sensor_0`` ... with zero-padded numbers, so that sorting the keys keeps them in numeric order."""
    width = len(str(n_sensors - 1))
    return [f"sensor_{i:0{width}d}" for i in range(n_sensors)]


class SensorsEnv(gym.Env[dict[str, np.ndarray], np.int64]):
    """Each step, name the action that the cued sensors show; the other sensors show decoy actions.

    ## Description
    A ``Dict`` observation holds ``n_sensors`` sensors and a cue. Every step a hidden correct action
    ``a*`` in ``Discrete(n_actions)`` is drawn. Each episode ``n_informative`` sensors, chosen at random,
    are *informative*: they show a noisy one-hot of ``a*``. The other sensors are decoys, in groups as large
    as the informative set, each group showing a noisy one-hot of its own wrong action: without the cue, the
    true signal is only one of several equally strong candidates. The ``cue``
    key is a multi-hot that marks the informative sensors, constant within an episode. A policy must use the
    cue to pick which sensors to read: attention does it with a query built from the cue. Ignoring the cue
    and voting over all sensors is much worse (see Rewards).

    ## Observation space
    ``Dict``, one key per part; gymnasium sorts the keys, so the order (``part_names``, and the order the
    dict tokenizer gives its parts) is ``cue, sensor_0, ..., sensor_{n_sensors - 1}`` (numbers zero-padded
    from 10 sensors on, e.g. ``sensor_00``, so the sorted order is the numeric one):

    | key          | space                                   | meaning                                         |
    |--------------|-----------------------------------------|-------------------------------------------------|
    | ``cue``      | ``Box(0, 1, (n_sensors,), float32)``    | 1 at the informative sensors' numbers, else 0   |
    | ``sensor_i`` | ``Box(-1, 1, (sensor_dim,), float32)``  | ``one_hot(action) + noise * N(0, 1)``, clipped  |

    A sensor's one-hot uses its first ``n_actions`` entries; the others (when ``sensor_dim > n_actions``)
    hold pure noise. The noise is drawn anew for every sensor and step.

    ## Action space
    ``Discrete(n_actions)``: the guess of ``a*`` for the current observation.

    ## Rewards
    ``+1`` when the action equals the ``a*`` shown in the observation it answers, else 0. Measured over 300
    seeded episodes (seeds 0-299) of 20 steps (``gymnasium.make``) at the defaults: a random policy scores
    about 4.9 (25% accuracy, 0% success); voting over all sensors without the cue (the argmax of their sum)
    about 6.7 (33% accuracy, 0% success: the decoy groups are as strong as the signal); reading only the
    cued sensors (the argmax of their sum, as in ``tests/test_envs_sensors.py``) about 20.0 (99.9% accuracy,
    100% success), as does the ground truth ``a*``. At ``difficulty=2`` (noise 0.6) the cued-sensor reader
    scores about 17.5 (87% accuracy, 52% success) and the cue-blind vote about 6.3 (31%, 0%).

    ## Episode end
    Never terminates; truncated after ``max_episode_steps`` (20 when made through ``gymnasium.make``).

    ## Info
    - ``relevant_parts``: ``int64`` array, ascending, of the informative sensors' indices into the part order
      above (sensor ``i`` is part ``i + 1``; the cue, part 0, is not included).
    - ``is_success``: whether at least 90% of the steps so far got ``a*`` (False at reset). Read at the
      episode's last step (as SB3 and ``agents.evaluate`` do) it is the episode's success; it is independent
      of the time limit.
    - ``accuracy``: share of the steps so far that got ``a*`` (0 at reset).

    ## Arguments
    - ``n_sensors`` (int, default 6): sensors; in ``[2, 64]``.
    - ``n_informative`` (int, default 2): informative sensors per episode; in ``[1, n_sensors]``.
    - ``sensor_dim`` (int, default 4): entries per sensor; in ``[2, 64]``.
    - ``n_actions`` (int | None, default None = ``sensor_dim``): actions; in ``[2, sensor_dim]``.
    - ``noise`` (float, default 0.3): standard deviation of the sensors' Gaussian noise; in ``[0, 5]``.
    - ``difficulty`` (0, 1 or 2, default None = 1): a preset of ``noise``: 0 = 0.1; 1 = 0.3 (the default);
      2 = 0.6. An explicit ``noise`` wins over the preset.
    - ``render_mode`` (``"rgb_array"`` | None).

    ``reset(options={"informative": [i, ...]})`` fixes the informative sensors (distinct sensor numbers,
    ``n_informative`` of them) instead of drawing them.

    ## Version history
    - v0: first version.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        n_sensors: int = 6,
        n_informative: int = 2,
        sensor_dim: int = 4,
        n_actions: int | None = None,
        noise: float | None = None,
        difficulty: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        check_int("n_sensors", n_sensors, 2, MAX_SENSORS)
        check_int("sensor_dim", sensor_dim, 2, MAX_SENSORS)
        check_int("n_informative", n_informative, 1, n_sensors, high_name="n_sensors")
        n_actions = sensor_dim if n_actions is None else n_actions
        check_int(
            "n_actions", n_actions, 2, sensor_dim, high_name="sensor_dim",
            why=" (a sensor shows an action as a one-hot over its first n_actions entries)",
        )  # fmt: skip
        check_difficulty(difficulty, DIFFICULTIES)
        noise = DIFFICULTIES[DEFAULT_DIFFICULTY if difficulty is None else difficulty] if noise is None else noise
        check_number("noise", noise, 0, MAX_NOISE)
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.n_sensors = int(n_sensors)
        self.n_informative = int(n_informative)
        self.sensor_dim = int(sensor_dim)
        self.n_actions = int(n_actions)
        self.noise = float(noise)
        self.render_mode = render_mode

        self.sensor_keys = sensor_keys(self.n_sensors)
        sensor_space = spaces.Box(low=-1.0, high=1.0, shape=(self.sensor_dim,), dtype=np.float32)
        self.observation_space = spaces.Dict(
            {CUE: spaces.Box(low=0.0, high=1.0, shape=(self.n_sensors,), dtype=np.float32)}
            | {key: sensor_space for key in self.sensor_keys}
        )
        self.action_space = spaces.Discrete(self.n_actions)
        #: Names of the parts (keys, in the observation space's order) of an observation.
        self.part_names = list(self.observation_space.spaces)
        # Part index of each sensor number.
        self._sensor_part = np.array([self.part_names.index(key) for key in self.sensor_keys], dtype=np.int64)

        self._one_hots = np.eye(self.n_actions, self.sensor_dim, dtype=np.float64)  # (n_actions, sensor_dim)
        self._cue = np.zeros(self.n_sensors, dtype=np.float32)
        self._informative = np.zeros(self.n_informative, dtype=np.int64)  # sensor numbers, ascending
        self._relevant = np.zeros(self.n_informative, dtype=np.int64)
        self._readings = np.zeros((self.n_sensors, self.sensor_dim), dtype=np.float32)
        self._shown = np.zeros(self.n_sensors, dtype=np.int64)  # the action each sensor shows now
        self._correct = 0
        self._steps = 0
        self._hits = 0

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Choose the informative sensors (or take ``options["informative"]``) and show the first reading."""
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"informative"}
        if unknown:
            raise ValueError(f"reset options {sorted(unknown)} are unknown: the only option is 'informative'.")
        if "informative" in options:
            informative = np.asarray(options["informative"])
            if (
                informative.shape != (self.n_informative,)
                or not np.issubdtype(informative.dtype, np.integer)
                or len(np.unique(informative)) != self.n_informative
                or ((informative < 0) | (informative >= self.n_sensors)).any()
            ):
                raise ValueError(
                    f"reset option informative={options['informative']!r} is invalid: it must be "
                    f"n_informative={self.n_informative} distinct sensor numbers in [0, {self.n_sensors - 1}]."
                )
        else:
            informative = self.np_random.choice(self.n_sensors, size=self.n_informative, replace=False)
        self._informative = np.sort(informative).astype(np.int64)
        self._decoys = np.setdiff1d(np.arange(self.n_sensors), self._informative)  # sensor numbers
        self._decoy_groups = np.arange(len(self._decoys)) // self.n_informative  # group of each decoy
        self._relevant = self._sensor_part[self._informative]
        self._cue = np.zeros(self.n_sensors, dtype=np.float32)
        self._cue[self._informative] = 1.0
        self._steps = self._hits = 0
        self._draw()
        return self._observation(), self._info()

    def step(self, action: np.int64) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Reward a correct guess of the current ``a*``, then show the next reading."""
        check_action(action, self.action_space)
        hit = int(action) == self._correct
        self._steps += 1
        self._hits += hit
        self._draw()
        return self._observation(), float(hit), False, False, self._info()

    def render(self) -> np.ndarray | None:
        """Return a heat map of the readings when ``render_mode="rgb_array"``, else None.

        One 16-pixel-high band per sensor (top: sensor 0), one 16-pixel-wide cell per entry: red for
        positive values, blue for negative ones; cued sensors get a green bar on the left, and the column of
        ``a*`` a yellow tick on top. Shape ``(16 * n_sensors + 4, 16 * sensor_dim + 8, 3)``, uint8.
        """
        if self.render_mode != "rgb_array":
            return None
        cell = 16
        values = self._readings.astype(np.float64)  # (n_sensors, sensor_dim)
        heat = np.empty((*values.shape, 3))
        heat[..., 0] = 255 * (1 - np.clip(-values, 0, 1))
        heat[..., 1] = 255 * (1 - np.abs(values))
        heat[..., 2] = 255 * (1 - np.clip(values, 0, 1))
        heat = np.repeat(np.repeat(heat.astype(np.uint8), cell, axis=0), cell, axis=1)
        frame = np.full((cell * self.n_sensors + 4, cell * self.sensor_dim + 8, 3), 255, dtype=np.uint8)
        frame[4:, 8:] = heat
        for sensor in self._informative:
            frame[4 + cell * sensor : 4 + cell * (sensor + 1) - 1, :6] = (30, 170, 70)
        frame[:3, 8 + cell * self._correct : 8 + cell * (self._correct + 1)] = (230, 190, 30)
        return frame

    # ------------------------------------------------------------------ helpers
    @property
    def correct_action(self) -> int:
        """The hidden ``a*`` that the current observation shows (the ground truth)."""
        return self._correct

    @property
    def informative_sensors(self) -> np.ndarray:
        """Sensor numbers (ascending) of this episode's informative sensors."""
        return self._informative.copy()

    def _draw(self) -> None:
        rng = self.np_random
        self._correct = int(rng.integers(self.n_actions))
        # Decoys come in groups as large as the informative set, each group agreeing on one wrong action, so
        # without the cue the true signal is just one of several equally strong candidates.
        wrong = (self._correct + 1 + rng.permutation(self.n_actions - 1)) % self.n_actions  # every action but a*
        self._shown = np.full(self.n_sensors, self._correct, dtype=np.int64)
        self._shown[self._decoys] = wrong[rng.permutation(self._decoy_groups) % len(wrong)]
        readings = self._one_hots[self._shown] + self.noise * rng.standard_normal((self.n_sensors, self.sensor_dim))
        self._readings = np.clip(readings, -1.0, 1.0).astype(np.float32)

    def _observation(self) -> dict[str, np.ndarray]:
        readings = self._readings.copy()
        return {CUE: self._cue.copy()} | dict(zip(self.sensor_keys, readings, strict=True))

    def _info(self) -> dict[str, Any]:
        accuracy = self._hits / self._steps if self._steps else 0.0
        return {
            "relevant_parts": self._relevant.copy(),
            "is_success": bool(self._steps and accuracy >= SUCCESS_ACCURACY),
            "accuracy": accuracy,
        }
