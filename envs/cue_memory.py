"""``attn/CueMemory-v0``: a cue shown only at the start, the question asked many steps later, over a time window.

``difficulty=4`` (long delays) lets the cue leave the window: only a policy with memory can answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.rendering import BACKGROUND, DISTRACTOR, TARGET, check_render_mode
from envs.validation import check_action, check_difficulty, check_int, check_number

#: ``difficulty`` -> (delay, max_delay, distractor_prob); ``max_delay`` None: a fixed delay.
DIFFICULTIES: dict[int, tuple[int, int | None, float]] = {
    0: (8, None, 0.0),
    1: (8, None, 0.3),
    2: (14, None, 0.3),
    3: (2, 14, 0.3),
    4: (20, 100, 0.0),
}

#: Difficulties whose delays outlast the default window: the cue leaves it (``allow_short_window``).
BEYOND_WINDOW = (4,)

#: Largest ``n_options``, ``cue_steps`` and ``noise_features``.
MAX_OPTIONS, MAX_CUE_STEPS, MAX_NOISE = 16, 16, 16

_QUERY_COLOR = (70, 90, 220)
_PLAIN_COLOR = (60, 60, 60)
_CELL = 8  # pixels per cell of the rendered window


class CueMemoryEnv(gym.Env[np.ndarray, np.int64]):
    """Answer on the query step with the option cued in the first steps, seen through a window of past steps.

    ## Description
    Each step produces one row of features. In the first ``cue_steps`` steps the row shows a *cue*: a one-hot
    over ``n_options`` options. Then ``delay`` steps follow in which nothing relevant happens, except for
    optional *distractor flashes* (probability ``distractor_prob`` per delay step): rows whose cue columns
    hold a random option's one-hot, exactly like a cue, told apart only by their ``distractor`` flag. The last
    step raises the ``query`` flag: the action taken on it must name the cued option. The observation is the
    window of the last ``window`` rows, so at the query the cue is still in view ``cue_steps + delay`` rows
    back: a policy without memory can answer only if it attends back to the cue rows (time tokens with a
    position embedding), while reading the latest row alone gives chance. Random ``noise_features`` in every
    row keep the rows distinct.

    With a fixed delay the cue sits at the same row of the window whenever the query comes, so a flat MLP can
    read it by position as well. ``max_delay`` draws each episode's delay from ``[delay, max_delay]``: the cue's
    row then moves from episode to episode, and with distractor flashes (``difficulty=3``) finding it takes
    what attention does, scoring every row by its content (a cue, not flagged as a distractor).

    ## Observation space
    ``Box(window, n_options + 3 + noise_features)``, float32: row ``i`` is the step ``window - 1 - i`` steps
    before the latest one (oldest first, latest last, as ``FrameStackObservation`` stacks frames); rows from
    before the episode started are all zeros. Columns of a row:

    | col                     | name       | range   | meaning                                                |
    |-------------------------|------------|---------|--------------------------------------------------------|
    | 0 .. n_options-1        | cue_k      | {0, 1}  | one-hot of the cued option (or of a distractor flash)  |
    | n_options               | distractor | {0, 1}  | 1 on a distractor flash: its one-hot is no cue         |
    | n_options+1             | query      | {0, 1}  | 1 on the step whose action is the answer               |
    | n_options+2             | time       | [0, 1]  | step index / (episode length - 1)                      |
    | n_options+3 ..          | noise_j    | [-1, 1] | uniform noise, fresh in every row                      |

    Row ``i`` is part ``t-{window - 1 - i}`` (``part_names``) of the time tokenizer (``tokenizer="time"``).
    Column names are in ``feature_names``.

    ## Action space
    ``Discrete(n_options)``: the answer. Only the action taken on the query step counts; every other action
    is ignored (all of them are neutral).

    ## Rewards
    ``+1`` when the action on the query step equals the cued option, ``0`` otherwise (no penalty for a wrong
    answer); ``0`` on every other step. Measured over 300 seeded episodes (seeds 0-299) through
    ``gymnasium.make``: at the defaults a random policy scores 0.49 (49% success; chance is 1 / ``n_options``)
    and the scripted policy of ``tests/test_envs_cue_memory.py`` (answer the option of the rows named by
    ``relevant_parts``) solves it: 1.0 (100% success). With distractor flashes a policy that answers the
    latest one-hot it sees, ignoring the ``distractor`` flag, drops to chance: 0.53 at ``difficulty=1``,
    0.49 at ``difficulty=2``, where the random policy scores 0.44 and the scripted policy still 1.0. At
    ``difficulty=3`` (a delay of 2-14 steps, 10.7 steps per episode on average): random 0.47, flash-fooled
    0.54, scripted 1.0; with ``n_options=8`` as well: random 0.13, flash-fooled 0.22, scripted 1.0.

    ## Long delays (beyond the window)
    ``difficulty=4`` draws each episode's delay from 20-100 steps (no flashes) and keeps the 16-row window, so the
    cue has left the window long before the query: a policy that sees only the window answers at chance
    whatever it attends to, and answering needs a memory of the episode (``ppo_lstm``, ``ppo_trxl``). Measured
    as above (300 seeds): random 0.51, 66.2 steps per episode on average; answering the cue remembered from the
    first step: 1.0.
    ``relevant_parts`` is then empty once the cue rows are out of view; ``relevant_ages`` still says how many
    steps back the cue was shown (the parts ``t-<age>`` of ``ppo_trxl``'s memory). Any other setting may let
    the cue leave the window too, with ``allow_short_window=True``.

    ## Episode end
    The episode lasts ``cue_steps + delay + 1`` steps (``step`` calls; ``delay`` is this episode's draw when
    ``max_delay`` is set): the reset observation shows the first cue row, step ``k`` adds row ``k``, and the
    row of the query arrives with step ``cue_steps + delay``; the next step is the answer and terminates the
    episode. The terminal observation repeats the query window (no
    row is added), so the cue is still in view (unless the window is shorter than the episode). Never truncated
    by the env itself; ``gymnasium.make`` adds a 128-step limit, which the defaults and every ``difficulty`` fit
    (keep ``cue_steps + max_delay + 1 <= 128``, or pass ``max_episode_steps``).

    ## Info
    - ``relevant_parts``: ``int64`` window indices (0 = oldest row) of the cue rows now in view, ascending:
      ``[window - 1 - k, ..., window - 1 - k + min(cue_steps, k + 1) - 1]`` after ``k`` steps (the terminal
      step repeats the query step's). Never empty while ``window >= cue_steps + max_delay + 1`` (the first cue
      row stays in view until the end); with a shorter window (``allow_short_window``) empty once the cue
      rows have left it.
    - ``relevant_ages``: ``int64`` how many steps before the latest row each cue row was shown (0 = the latest
      row), ascending; never empty. Part ``t-<age>`` of a memory over the episode's steps (``ppo_trxl``).
    - ``is_success``: True on the answer step when the answer is right, else False.

    ## Arguments
    - ``n_options`` (int, default 2): options to choose from; in ``[2, 16]``.
    - ``cue_steps`` (int, default 1): steps that show the cue; in ``[1, 16]``.
    - ``delay`` (int, default 8): steps between the last cue row and the query row; >= 0. With ``max_delay``:
      the shortest delay.
    - ``max_delay`` (int, default None): when given, each episode draws its delay uniformly from
      ``[delay, max_delay]`` (``>= delay``); None: every episode has ``delay``.
    - ``distractor_prob`` (float, default 0): chance of a distractor flash on each delay step; in ``[0, 1]``.
    - ``difficulty`` (0-4, default None): a preset of the three above: 0 = delay 8, no flashes; 1 = delay 8,
      flashes 0.3; 2 = delay 14, flashes 0.3; 3 = delay drawn from 2-14, flashes 0.3; 4 = delay drawn from
      20-100, no flashes, beyond the window (long delays: a task for memory). Explicit arguments win (an
      explicit ``delay`` without ``max_delay`` is a fixed delay).
    - ``window`` (int, default 16): rows in the observation; at least ``cue_steps + max_delay + 1`` (or
      ``cue_steps + delay + 1``), so that the cue is still in view at the query, unless ``allow_short_window``.
    - ``allow_short_window`` (bool, default None: True for ``difficulty=4``, else False): accept a window
      shorter than the episode; the cue then leaves it before the query.
    - ``noise_features`` (int, default 2): noise columns; in ``[0, 16]``.
    - ``render_mode`` (``"rgb_array"`` | None).

    ## Version history
    - v0: first version; ``max_delay`` and ``difficulty=3`` added later, then ``difficulty=4`` (long delays),
      ``allow_short_window``, ``relevant_ages`` and a registered limit of 128 steps instead of 64 (the defaults
      and difficulties 0-3 are unchanged).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        n_options: int = 2,
        cue_steps: int = 1,
        delay: int | None = None,
        max_delay: int | None = None,
        distractor_prob: float | None = None,
        difficulty: int | None = None,
        window: int = 16,
        noise_features: int = 2,
        render_mode: str | None = None,
        allow_short_window: bool | None = None,
    ) -> None:
        check_difficulty(difficulty, DIFFICULTIES)
        preset_delay, preset_max_delay, preset_prob = DIFFICULTIES[difficulty or 0]
        if delay is None and max_delay is None:  # an explicit delay alone is a fixed delay
            max_delay = preset_max_delay
        delay = preset_delay if delay is None else delay
        distractor_prob = preset_prob if distractor_prob is None else distractor_prob
        check_int("n_options", n_options, 2, MAX_OPTIONS)
        check_int("cue_steps", cue_steps, 1, MAX_CUE_STEPS)
        check_int("noise_features", noise_features, 0, MAX_NOISE)
        check_int("delay", delay, 0)
        if max_delay is not None:
            check_int("max_delay", max_delay, int(delay))
        check_number("distractor_prob", distractor_prob, 0, 1)
        longest = "max_delay" if max_delay is not None else "delay"
        length = int(cue_steps) + int(delay if max_delay is None else max_delay) + 1
        if allow_short_window is None:
            allow_short_window = difficulty in BEYOND_WINDOW
        if not isinstance(allow_short_window, (bool, np.bool_)):
            raise ValueError(f"allow_short_window={allow_short_window!r} is invalid: use True, False or None.")
        if not allow_short_window:
            if not isinstance(window, (int, np.integer)) or window < length:
                raise ValueError(
                    f"window={window!r} is invalid: it must be an integer >= cue_steps + {longest} + 1 = {length}, "
                    "or the cue leaves the window before the query (pass allow_short_window=True for a task "
                    "that needs memory)."
                )
        else:
            check_int("window", window, 1)
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.n_options = int(n_options)
        self.cue_steps = int(cue_steps)
        self.delay = int(delay)
        #: Longest delay (``delay`` when the delay is fixed).
        self.max_delay = self.delay if max_delay is None else int(max_delay)
        self.distractor_prob = float(distractor_prob)
        self.window = int(window)
        self.noise_features = int(noise_features)
        self.render_mode = render_mode
        #: Steps (``step`` calls) in this episode (the longest possible one before the first reset).
        self.episode_length = length

        #: Names of the columns of a row, in order.
        self.feature_names = [
            *(f"cue_{k}" for k in range(self.n_options)),
            "distractor",
            "query",
            "time",
            *(f"noise_{j}" for j in range(self.noise_features)),
        ]
        self._distractor, self._query, self._time = self.n_options, self.n_options + 1, self.n_options + 2
        n_features = len(self.feature_names)
        low = np.zeros((self.window, n_features), dtype=np.float32)
        low[:, self._time + 1 :] = -1.0
        high = np.ones((self.window, n_features), dtype=np.float32)
        self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self.action_space = spaces.Discrete(self.n_options)
        #: Names of the parts (rows) of an observation, as the time tokenizer names them.
        self.part_names = [f"t-{self.window - 1 - i}" for i in range(self.window)]

        # All rows of an episode after window - 1 zero rows: the observation after k steps is rows k .. k+T-1.
        self._rows = np.zeros((self.window - 1 + length, n_features), dtype=np.float32)  # (T - 1 + L_max, F)
        self._cue = 0
        self._t = 0  # index of the latest row

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw the cue, the distractor flashes and the noise of the whole episode; show the first cue row."""
        super().reset(seed=seed)
        rng = self.np_random
        self._cue = int(rng.integers(self.n_options))
        delay = self.delay if self.max_delay == self.delay else int(rng.integers(self.delay, self.max_delay + 1))
        self.episode_length = self.cue_steps + delay + 1
        flash = rng.random(delay) < self.distractor_prob  # (delay,)
        flash_option = rng.integers(self.n_options, size=delay)  # (delay,)
        noise = rng.uniform(-1.0, 1.0, size=(self.episode_length, self.noise_features))
        episode = np.zeros((self.episode_length, len(self.feature_names)), dtype=np.float32)  # (L, F)
        episode[: self.cue_steps, self._cue] = 1.0
        flash_rows = self.cue_steps + np.flatnonzero(flash)
        episode[flash_rows, flash_option[flash]] = 1.0
        episode[flash_rows, self._distractor] = 1.0
        episode[-1, self._query] = 1.0
        episode[:, self._time] = np.arange(self.episode_length) / (self.episode_length - 1)
        episode[:, self._time + 1 :] = noise
        self._rows[self.window - 1 :] = 0.0
        self._rows[self.window - 1 : self.window - 1 + self.episode_length] = episode
        self._t = 0
        return self._observation(), self._info(success=False)

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Show the next row; on the query row's step, score the answer and end the episode."""
        check_action(action, self.action_space)
        if self._t < self.episode_length - 1:
            self._t += 1
            return self._observation(), 0.0, False, False, self._info(success=False)
        success = int(action) == self._cue
        return self._observation(), 1.0 if success else 0.0, True, False, self._info(success=success)

    def render(self) -> np.ndarray | None:
        """Return the window as a ``(8 * window, 8 * F, 3)`` uint8 heat map when ``render_mode="rgb_array"``.

        One row per step (oldest at the top), one column per feature; cue columns are green, the distractor
        flag red, the query flag blue, time and noise grey, each shaded by the feature's absolute value.
        """
        if self.render_mode != "rgb_array":
            return None
        colors = np.array(
            [TARGET] * self.n_options + [DISTRACTOR, _QUERY_COLOR] + [_PLAIN_COLOR] * (1 + self.noise_features),
            dtype=np.float32,
        )  # (F, 3)
        background = np.array(BACKGROUND, dtype=np.float32)
        shade = np.abs(self._observation())[:, :, None]  # (T, F, 1)
        cells = (background + shade * (colors - background)).round().astype(np.uint8)  # (T, F, 3)
        return np.repeat(np.repeat(cells, _CELL, axis=0), _CELL, axis=1)

    # ------------------------------------------------------------------ helpers
    @property
    def cued_option(self) -> int:
        """The option cued in this episode (the right answer)."""
        return self._cue

    def _observation(self) -> np.ndarray:
        return self._rows[self._t : self._t + self.window].copy()  # (T, F)

    def _info(self, success: bool) -> dict[str, Any]:
        cue_rows = np.arange(min(self.cue_steps, self._t + 1), dtype=np.int64)  # episode rows that showed the cue
        ages = (self._t - cue_rows)[::-1].copy()  # ascending: steps before the latest row
        parts = self.window - 1 - ages[::-1]  # window indices, ascending (negative: out of view)
        return {"relevant_parts": parts[parts >= 0], "relevant_ages": ages, "is_success": bool(success)}
