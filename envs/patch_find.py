"""``attn/PatchFind-v0``: walk to the green plus in a small picture full of green look-alikes."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.rendering import AGENT, DISTRACTOR, TARGET, blank_canvas, check_render_mode
from envs.validation import check_action, check_difficulty, check_int, check_number

#: Side of every sprite, in pixels.
SPRITE = 5
#: Sprites are placed one per cell of a grid of cells about this many pixels wide (jittered inside it).
CELL = 12
#: Upscaling factor of ``render()`` over the observation.
RENDER_SCALE = 4

#: The target's shape: a plus.
PLUS = np.array(
    [
        [0, 0, 1, 0, 0],
        [0, 0, 1, 0, 0],
        [1, 1, 1, 1, 1],
        [0, 0, 1, 0, 0],
        [0, 0, 1, 0, 0],
    ],
    dtype=bool,
)
#: The distractors' shape: a diagonal cross with as many pixels as the plus.
CROSS = np.eye(SPRITE, dtype=bool) | np.fliplr(np.eye(SPRITE, dtype=bool))

# Action index -> (d_row, d_col) unit move; "up" is towards row 0.
_MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)
# (row, col) offsets of the target's pixels inside its sprite.
_PLUS_PIXELS = np.argwhere(PLUS)

#: ``difficulty`` -> (n_distractors, similarity).
DIFFICULTIES: dict[int, tuple[int, float]] = {0: (2, 0.0), 1: (4, 1.0), 2: (8, 1.0)}
#: The preset that ``difficulty=None`` uses: the defaults.
DEFAULT_DIFFICULTY = 1


def divisors(n: int) -> list[int]:
    """All divisors of ``n``, ascending."""
    return [d for d in range(1, n + 1) if n % d == 0]


def distractor_color(similarity: float) -> tuple[int, int, int]:
    """The distractors' RGB colour: red at ``similarity=0``, the target's green at ``similarity=1``."""
    red, green = np.array(DISTRACTOR, dtype=np.float64), np.array(TARGET, dtype=np.float64)
    return tuple(int(v) for v in np.rint(red + similarity * (green - red)))


class PatchFindEnv(gym.Env[np.ndarray, np.int64]):
    """Walk the blue square onto the green plus in an RGB picture that also holds look-alike crosses.

    ## Description
    The observation is a ``size x size`` RGB picture on a plain background: the agent (a blue ``5 x 5``
    square), the target (a green ``5 x 5`` plus) and ``n_distractors`` look-alikes (``5 x 5`` diagonal
    crosses, as many pixels as the plus, in a colour between red and the target's very green set by
    ``similarity``). Each sprite sits at a random offset inside its own cell of a grid of ``~12``-pixel cells,
    so sprites never overlap at reset, and a sprite may straddle patch borders. Nothing moves but the
    agent. A policy that cuts the picture into ``patch_size`` patches (the patch tokenizer) has to find the
    one or few patches holding the plus; at ``similarity=1`` only the shape tells the target apart.

    By default (``egocentric=True``) the world is a torus seen from the agent: the picture is the world
    rolled so that the agent's square is always at its centre (top-left pixel ``view_agent = 21`` at
    ``size=48``), every world pixel is in view exactly once, and the way to the target is where its patch
    lies relative to the centre. The one patch that matters is then all a policy needs to look at. With
    ``egocentric=False`` the picture is the fixed world with walls and the agent moves in it: a policy must
    find both the agent and the target and relate their positions, which PPO with one attention readout did
    not learn in 150k steps (return 0.04-0.10 against the random policy's 0.44, seed 0).

    ## Observation space
    ``Box(0, 255, (size, size, 3), uint8)``, channel-last RGB:

    | pixels            | colour (RGB)                                        | meaning                       |
    |-------------------|-----------------------------------------------------|-------------------------------|
    | background        | (245, 245, 240)                                     | empty                         |
    | ``5 x 5`` square  | (40, 90, 220)                                       | the agent (drawn on top)      |
    | ``5 x 5`` plus    | (30, 170, 70)                                       | the target                    |
    | ``5 x 5`` cross   | (210, 60, 50) at ``similarity=0`` ... target green  | a distractor (look-alike)     |

    As parts, the picture is a ``(size // patch_size) x (size // patch_size)`` grid of patches in row-major
    order: patch ``patch_r{r}c{c}`` (``part_names``) is part ``r * (size // patch_size) + c``, as the patch
    tokenizer cuts it.

    ## Action space
    ``Discrete(5)``: 0 stay, 1 up (towards row 0), 2 down, 3 left (towards column 0), 4 right; each move is
    ``move`` pixels. Egocentric: leaving one side of the world enters the other; else the agent is clipped to
    the picture.

    ## Rewards
    ``+1`` when the agent's square overlaps the target's ``5 x 5`` box, plus a shaping term equal to the
    decrease of the distance between the two sprites (the shorter way round on the torus), in picture
    widths, at each step (potential-based: it does not change the optimal policy). Measured over 300 seeded
    episodes (seeds 0-299) through ``gymnasium.make`` (100-step limit) at the defaults: a random policy scores
    about 0.64 (48% success); walking straight to the target (the oracle of ``tests/test_envs_patch_find.py``)
    scores about 1.34 (100% success, 5.3 steps on average); at ``difficulty=2`` random 0.66 (49%). With
    ``egocentric=False``: random 0.44 (33%), oracle 1.46 (100%, 7.0 steps).

    ## Episode end
    Terminated with success when the agent overlaps the target; truncated after ``max_episode_steps`` (100
    when made through ``gymnasium.make``). Overlapping a distractor does nothing.

    ## Info
    - ``relevant_parts``: ``int64`` array, ascending, of the patches of the observation that hold at least
      one pixel of the target's plus (1, 2 or 3 patches; not its bounding box: a plus's empty corners do not
      count; in the egocentric view the plus may wrap across the picture's edge).
    - ``is_success``: True on the step that reaches the target, else False.

    ## Arguments
    - ``size`` (int, default 48): side of the picture in pixels; in ``[24, 256]``.
    - ``patch_size`` (int, default 8): side of the patches that ``relevant_parts`` indexes; a divisor of
      ``size`` (a ``6 x 6`` grid at the defaults). Pass the same ``patch_size`` to the patch tokenizer.
    - ``n_distractors`` (int, default 4): look-alikes; in ``[0, cells - 2]`` where ``cells = (size // 12) ** 2``
      (14 at ``size=48``).
    - ``similarity`` (float, default 1): colour of the distractors, from red (0) to exactly the target's green
      (1, where only the shape differs); in ``[0, 1]``.
    - ``difficulty`` (0, 1 or 2, default None = 1): a preset of the two above: 0 = 2 red crosses; 1 = 4 green
      crosses (the defaults); 2 = 8 green crosses. Explicit arguments win over the preset.
    - ``move`` (int, default 4): pixels per move, so about 12 moves cross a 48-pixel picture; in ``[1, 9]``
      (at most ``2 * 5 - 1``, so the agent can always land on the target).
    - ``egocentric`` (bool, default True): the torus seen from the agent (above); False: the fixed world.
    - ``render_mode`` (``"rgb_array"`` | None).

    ``reset(options=...)`` takes an optional hand-built layout: ``{"agent": (row, col), "target": (row, col),
    "distractors": (n_distractors, 2)}``, top-left pixels of the sprites in ``[0, size - 5]`` (any subset of
    the keys; the rest is drawn at random and may then overlap the given ones).

    ## Version history
    - v0: first version.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        size: int = 48,
        patch_size: int = 8,
        n_distractors: int | None = None,
        similarity: float | None = None,
        difficulty: int | None = None,
        move: int = 4,
        egocentric: bool = True,
        render_mode: str | None = None,
    ) -> None:
        check_int("size", size, 2 * CELL, 256)
        valid_patches = divisors(int(size))
        if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) or size % patch_size:
            raise ValueError(
                f"patch_size={patch_size!r} is invalid: it must be a divisor of size={size}, one of {valid_patches}."
            )
        check_difficulty(difficulty, DIFFICULTIES)
        preset_distractors, preset_similarity = DIFFICULTIES[DEFAULT_DIFFICULTY if difficulty is None else difficulty]
        n_distractors = preset_distractors if n_distractors is None else n_distractors
        similarity = preset_similarity if similarity is None else similarity
        cells_per_side = int(size) // CELL
        max_distractors = cells_per_side**2 - 2
        check_int(
            "n_distractors", n_distractors, 0, max_distractors,
            why=f" (size={size} has {cells_per_side**2} cells, one each for the agent and the target)",
        )  # fmt: skip
        check_number("similarity", similarity, 0, 1)
        check_int("move", move, 1, 2 * SPRITE - 1)
        if not isinstance(egocentric, (bool, np.bool_)):
            raise ValueError(f"egocentric={egocentric!r} is invalid: use True or False.")
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.size = int(size)
        self.patch_size = int(patch_size)
        self.n_distractors = int(n_distractors)
        self.similarity = float(similarity)
        self.move = int(move)
        self.egocentric = bool(egocentric)
        self.render_mode = render_mode
        #: Egocentric views: top-left pixel of the agent's square, at the centre of every view.
        self.view_agent = (self.size - SPRITE) // 2
        #: ``(rows, cols)`` of the patch grid.
        self.grid = (self.size // self.patch_size, self.size // self.patch_size)

        self.observation_space = spaces.Box(low=0, high=255, shape=(self.size, self.size, 3), dtype=np.uint8)
        self.action_space = spaces.Discrete(len(_MOVES))
        #: Names of the parts (patches, row-major) of an observation, as the patch tokenizer names them.
        self.part_names = [f"patch_r{r}c{c}" for r in range(self.grid[0]) for c in range(self.grid[1])]

        # Cell grid: top-left pixel of every cell and the room a sprite has to jitter inside a cell.
        self._cells_per_side = cells_per_side
        cell_width = self.size // cells_per_side
        self._jitter = cell_width - SPRITE + 1  # offsets 0 .. cell_width - SPRITE
        corners = np.arange(cells_per_side) * cell_width
        self._cell_corners = np.stack(np.meshgrid(corners, corners, indexing="ij"), axis=-1).reshape(-1, 2)
        self._distractor_color = np.array(distractor_color(self.similarity), dtype=np.uint8)

        self._agent = np.zeros(2, dtype=np.int64)  # (row, col) top-left pixel
        self._target = np.zeros(2, dtype=np.int64)
        self._distractors = np.zeros((self.n_distractors, 2), dtype=np.int64)
        self._static = blank_canvas(self.size)  # the picture without the agent
        self._relevant = np.zeros(1, dtype=np.int64)
        self._distance = 0.0

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Place the agent, the target and the distractors in distinct random cells, or as ``options`` says."""
        super().reset(seed=seed)
        rng = self.np_random
        n_sprites = self.n_distractors + 2
        cells = rng.choice(len(self._cell_corners), size=n_sprites, replace=False)
        corners = self._cell_corners[cells] + rng.integers(0, self._jitter, size=(n_sprites, 2))
        self._agent, self._target, self._distractors = corners[0], corners[1], corners[2:]
        for key, value in (options or {}).items():
            self._place(key, value)

        self._static = blank_canvas(self.size)
        for row, col in self._distractors:
            self._static[row : row + SPRITE, col : col + SPRITE][CROSS] = self._distractor_color
        row, col = self._target
        self._static[row : row + SPRITE, col : col + SPRITE][PLUS] = TARGET
        self._relevant = self._relevant_patches()
        self._distance = self._target_distance()
        return self._observation(), self._info(success=False)

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the agent; reward progress towards the target and +1 on reaching it."""
        check_action(action, self.action_space)
        if self.egocentric:  # a torus: leaving one side enters the other
            self._agent = (self._agent + self.move * _MOVES[int(action)]) % self.size
            self._relevant = self._relevant_patches()
        else:
            self._agent = np.clip(self._agent + self.move * _MOVES[int(action)], 0, self.size - SPRITE)
        distance = self._target_distance()
        reward = self._distance - distance
        self._distance = distance
        success = self._overlaps()
        if success:
            reward += 1.0
        return self._observation(), float(reward), success, False, self._info(success=success)

    def render(self) -> np.ndarray | None:
        """Return the observation scaled up 4 times, ``(4 * size, 4 * size, 3)`` uint8, in ``"rgb_array"`` mode."""
        if self.render_mode != "rgb_array":
            return None
        return np.repeat(np.repeat(self._observation(), RENDER_SCALE, axis=0), RENDER_SCALE, axis=1)

    # ------------------------------------------------------------------ helpers
    def agent_position(self) -> np.ndarray:
        """``(2,)`` top-left ``(row, col)`` pixel of the agent's square."""
        return self._agent.copy()

    def target_position(self) -> np.ndarray:
        """``(2,)`` top-left ``(row, col)`` pixel of the target's sprite."""
        return self._target.copy()

    def distractor_positions(self) -> np.ndarray:
        """``(n_distractors, 2)`` top-left ``(row, col)`` pixels of the distractors' sprites."""
        return self._distractors.copy()

    def _place(self, key: str, value: Any) -> None:
        shapes = {"agent": (2,), "target": (2,), "distractors": (self.n_distractors, 2)}
        if key not in shapes:
            raise ValueError(f"reset option {key!r} is unknown: use any of {sorted(shapes)}.")
        position = np.asarray(value)
        if (
            position.shape != shapes[key]
            or not np.issubdtype(position.dtype, np.integer)
            or ((position < 0) | (position > self.size - SPRITE)).any()
        ):
            raise ValueError(
                f"reset option {key}={value!r} is invalid: it must be integer top-left pixels of shape "
                f"{shapes[key]}, each in [0, {self.size - SPRITE}]."
            )
        setattr(self, f"_{key}", position.astype(np.int64))

    def target_offset(self) -> np.ndarray:
        """``(2,)`` ``(d_row, d_col)`` from the agent's square to the target's.

        With ``egocentric`` the world is a torus and this is the shorter way round.
        """
        offset = self._target - self._agent
        if self.egocentric:
            offset = (offset + self.size // 2) % self.size - self.size // 2
        return offset

    def _relevant_patches(self) -> np.ndarray:
        """Patches holding a pixel of the target's plus, in the picture the agent sees."""
        pixels = _PLUS_PIXELS + self._target  # (9, 2) target pixels in the world
        if self.egocentric:
            pixels = (pixels + self._view_shift()) % self.size  # in the view
        patches = (pixels[:, 0] // self.patch_size) * self.grid[1] + pixels[:, 1] // self.patch_size
        return np.unique(patches).astype(np.int64)

    def _view_shift(self) -> np.ndarray:
        """``(2,)`` the roll that moves the agent's square to the centre of an egocentric view."""
        return self.view_agent - self._agent

    def _overlaps(self) -> bool:
        return bool((np.abs(self.target_offset()) < SPRITE).all())

    def _target_distance(self) -> float:
        return float(np.hypot(*self.target_offset())) / self.size

    def _observation(self) -> np.ndarray:
        if self.egocentric:
            frame = np.roll(self._static, tuple(self._view_shift()), axis=(0, 1))
            row = col = self.view_agent
        else:
            frame = self._static.copy()
            row, col = self._agent
        frame[row : row + SPRITE, col : col + SPRITE] = AGENT
        return frame

    def _info(self, success: bool) -> dict[str, Any]:
        return {"relevant_parts": self._relevant.copy(), "is_success": bool(success)}
