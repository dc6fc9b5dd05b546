"""MiniGrid's egocentric 7x7 view as a set of cell tokens, with the mission's object as relevant parts.

MiniGrid is an optional dependency: ``pip install "attention-rl[minigrid]"`` (or ``pip install minigrid``).
It is imported only when a wrapper or an env is built, so importing this module never needs it.
"""

from __future__ import annotations

import re
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

# MiniGrid's encodings (``minigrid.core.constants``), repeated here so this module imports without MiniGrid.
#: Object types in MiniGrid's index order; index 0 ("unseen") gets no column: unseen cells are padding.
OBJECTS: tuple[str, ...] = ("unseen", "empty", "wall", "floor", "door", "key", "ball", "box", "goal", "lava", "agent")
#: Colours in MiniGrid's index order.
COLORS: tuple[str, ...] = ("red", "green", "blue", "purple", "yellow", "grey")
#: Door states in MiniGrid's index order (other objects have state 0).
STATES: tuple[str, ...] = ("open", "closed", "locked")

#: Names of the cell-token columns, in order.
FEATURES: tuple[str, ...] = (
    "presence",
    *(f"is_{name}" for name in OBJECTS[1:]),
    *(f"color_{name}" for name in COLORS),
    "state",
    "right",
    "forward",
    "mission_object",
)
#: Column of the presence flag in every cell token.
PRESENCE_COLUMN = 0
_OBJECT0, _COLOR0 = 1, 1 + len(OBJECTS) - 1
_STATE = _COLOR0 + len(COLORS)
_RIGHT, _FORWARD, _MISSION = _STATE + 1, _STATE + 2, _STATE + 3
_EMPTY, _UNSEEN = OBJECTS.index("empty"), OBJECTS.index("unseen")

# "the / a / an [colour] <object>": the object a mission names.
_MISSION_OBJECT = re.compile(
    r"\b(?:the|a|an)\s+(?:(" + "|".join(COLORS) + r")\s+)?(goal|key|ball|box|door)\b", flags=re.IGNORECASE
)
_INSTALL_HINT = 'pip install "attention-rl[minigrid]" (or: pip install minigrid)'


def _import_minigrid() -> Any:
    try:
        import minigrid
    except ImportError as error:
        raise ImportError(
            f"MiniGrid is needed for the MiniGrid adapter but is not installed: {_INSTALL_HINT}"
        ) from error
    return minigrid


def parse_mission(mission: str) -> tuple[int, int | None] | None:
    """The object a MiniGrid mission asks for, as ``(object index, colour index or None)``, or None.

    A mission mentioning the ``goal`` (Empty, FourRooms, DoorKey, MultiRoom, Crossing, LavaGap, DistShift,
    LockedRoom, DynamicObstacles) asks for the goal square. Otherwise the first phrase "the / a / an
    [<colour>] <key|ball|box|door>" names it: "go to the red ball", "get a green key", "pick up the blue box",
    "open the door" (any colour), "open the red door then the blue door" (the red door), "put the red ball
    near the blue key" (the red ball: the one to move). Missions naming no object ("go to the matching
    object at the end of the hallway", Memory) give None.

    Args:
        mission: the mission string.

    Returns:
        ``(object index, colour index)`` with MiniGrid's indices (colour None: any colour), or None.
    """
    if re.search(r"\bgoal\b", mission, flags=re.IGNORECASE):
        return OBJECTS.index("goal"), None
    match = _MISSION_OBJECT.search(mission)
    if match is None:
        return None
    color, obj = match.group(1), match.group(2).lower()
    return OBJECTS.index(obj), None if color is None else COLORS.index(color.lower())


class MiniGridCells(gym.Wrapper[np.ndarray, Any, dict[str, Any], Any], gym.utils.RecordConstructorArgs):
    """MiniGrid's egocentric ``image`` view as a set of cell tokens ``Box(V*V, 21)``, unseen cells as padding.

    ## Description
    MiniGrid shows the agent a ``V x V`` (default 7 x 7) view in front of it, each cell encoded as
    (object index, colour index, state). This wrapper turns the view into one token per cell: one-hot object
    type, one-hot colour, door state, the cell's position relative to the agent, and whether the cell holds
    the object the mission asks for (the text mission cannot go into a ``Box``, so it is encoded per cell).
    Cells the agent cannot see (behind walls, MiniGrid's "unseen") are all-zero padding rows with presence
    0. The agent's direction (a compass) and the mission text are dropped: the view is egocentric.

    ## Observation space
    ``Box(V*V, 21)``, float32. Cell ``(r, c)`` of the view (``r`` = row, 0 farthest ahead, ``V - 1`` the
    agent's row; ``c`` = column, 0 leftmost) is token ``r * V + c`` (row-major, like image patches), named
    ``cell_r{r}c{c}``; the agent stands at row ``V - 1``, column ``V // 2``. Columns:

    | col   | name           | range   | meaning                                                          |
    |-------|----------------|---------|------------------------------------------------------------------|
    | 0     | presence       | {0, 1}  | 1 for a seen cell, 0 for an unseen one (all-zero row)            |
    | 1-10  | is_<object>    | {0, 1}  | one-hot type: empty, wall, floor, door, key, ball, box, goal,    |
    |       |                |         | lava, agent                                                      |
    | 11-16 | color_<colour> | {0, 1}  | one-hot colour: red, green, blue, purple, yellow, grey (all 0    |
    |       |                |         | for empty cells)                                                 |
    | 17    | state          | [0, 1]  | door state / 2: 0 open (or not a door), 0.5 closed, 1 locked     |
    | 18    | right          | [-1, 1] | cells to the agent's right, / (V // 2)                           |
    | 19    | forward        | [0, 1]  | cells ahead of the agent, / (V - 1)                              |
    | 20    | mission_object | {0, 1}  | 1 if the cell holds the object the mission asks for              |

    ## Action space
    The wrapped env's (``Discrete(7)``: 0 left, 1 right, 2 forward, 3 pick up, 4 drop, 5 toggle, 6 done).

    ## Rewards
    The wrapped env's, unchanged: ``1 - 0.9 * steps / max_steps`` on success, else 0. Measured with
    ``make_minigrid_env()`` (MiniGrid-Empty-8x8-v0, 256 steps) over 300 seeded episodes: a random policy
    returns about 0.09 (23% success); walking to the ``relevant_parts`` cell (forward until level with it,
    then turn; when it is not in view, forward and turn right at walls) returns about 0.96 (100%).

    ## Episode end
    The wrapped env's: terminated on success (or on lava), truncated after its ``max_steps``.

    ## Info
    The wrapped env's info, plus:

    - ``relevant_parts``: ``int64`` tokens of the cells holding the mission's object (see
      :func:`parse_mission`: the goal square, or the "<colour> <object>" named first); empty when it is not
      in view or the mission names no object.
    - ``is_success``: True on a terminating step with a positive reward, else False.

    ## Arguments
    - ``env``: a MiniGrid env with the default ``Dict`` observation holding an ``image`` key.

    ## Version history
    - v0: first version.

    Raises:
        ImportError: MiniGrid is not installed (the message has the pip command).
        TypeError: ``env``'s observation space has no ``image`` key of shape ``(V, V, 3)``.
    """

    #: How pictures mark a part: ``"cell"`` (tint the cell's square in the rendered grid).
    part_marker = "cell"

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        _import_minigrid()
        space = env.observation_space
        image = space.spaces.get("image") if isinstance(space, spaces.Dict) else None
        if not (
            isinstance(image, spaces.Box)
            and len(image.shape) == 3
            and image.shape[0] == image.shape[1] >= 3
            and image.shape[2] == 3
        ):
            raise TypeError(
                f"MiniGridCells needs a MiniGrid Dict observation with an 'image' Box(V, V, 3), got {space}; do not "
                "apply MiniGrid's own observation wrappers (ImgObsWrapper, FlatObsWrapper...) before it."
            )
        self.view_size = int(image.shape[0])
        n_cells = self.view_size**2
        half = self.view_size // 2

        low = np.zeros((n_cells, len(FEATURES)), dtype=np.float32)
        low[:, _RIGHT] = -1.0
        self.observation_space = spaces.Box(low=low, high=np.ones_like(low), dtype=np.float32)
        #: Names of the parts (cells), row-major over the view.
        self.part_names = [f"cell_r{r}c{c}" for r in range(self.view_size) for c in range(self.view_size)]

        # Lookup tables: raw index -> feature columns, so a step is a few vectorised gathers.
        self._object_table = np.zeros((len(OBJECTS), len(OBJECTS) - 1), dtype=np.float32)
        self._object_table[1:] = np.eye(len(OBJECTS) - 1, dtype=np.float32)
        self._color_table = np.eye(len(COLORS), dtype=np.float32)
        rows, cols = np.divmod(np.arange(n_cells), self.view_size)
        self._position = np.stack([(cols - half) / half, (self.view_size - 1 - rows) / (self.view_size - 1)], axis=1)
        self._position = self._position.astype(np.float32)  # (V*V, 2): right, forward
        self._target: tuple[int, int | None] | None = None

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the wrapped env, parse its mission and tokenize the view."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._target = parse_mission(str(obs.get("mission", "")))
        tokens, relevant = self._tokens(obs["image"])
        return tokens, {**info, "relevant_parts": relevant, "is_success": False}

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the wrapped env and tokenize the view."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        tokens, relevant = self._tokens(obs["image"])
        success = bool(terminated and float(reward) > 0)
        return tokens, reward, terminated, truncated, {**info, "relevant_parts": relevant, "is_success": success}

    # ------------------------------------------------------------------ helpers
    @property
    def mission_target(self) -> tuple[int, int | None] | None:
        """The parsed mission object ``(object index, colour index or None)`` of this episode, or None."""
        return self._target

    def part_boxes(self) -> np.ndarray:
        """``(V*V, 4)`` pixel boxes ``(x0, y0, x1, y1)`` of the view's cells in ``render()``'s full-grid frame.

        NaN rows for cells of the view that fall outside the grid. Cell ``(r, c)`` of the view lies at world
        ``agent + (c - V // 2) * right + (V - 1 - r) * forward`` (MiniGrid's ``get_view_coords``, inverted).
        """
        base = self.env.unwrapped
        tile = int(getattr(base, "tile_size", 32))
        rows, cols = np.divmod(np.arange(self.view_size**2), self.view_size)  # (V*V,)
        right, forward = np.asarray(base.right_vec), np.asarray(base.dir_vec)
        world = (
            np.asarray(base.agent_pos)[None]
            + (cols - self.view_size // 2)[:, None] * right[None]
            + (self.view_size - 1 - rows)[:, None] * forward[None]
        )  # (V*V, 2): x, y in cells
        inside = (world[:, 0] >= 0) & (world[:, 0] < base.width) & (world[:, 1] >= 0) & (world[:, 1] < base.height)
        boxes = np.concatenate([world, world + 1], axis=1).astype(np.float64) * tile  # (V*V, 4)
        boxes[~inside] = np.nan
        return boxes

    def cells(self, image: np.ndarray) -> np.ndarray:
        """``(V*V, 3)`` raw (object, colour, state) codes of a ``(V, V, 3)`` image, in token order.

        MiniGrid's image is indexed ``[x, y]`` (column, row), hence the transpose.
        """
        return np.asarray(image).transpose(1, 0, 2).reshape(-1, 3)

    def _tokens(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cells = self.cells(image).astype(np.int64)  # (V*V, 3)
        obj, color, state = cells[:, 0], cells[:, 1], cells[:, 2]
        seen = obj != _UNSEEN  # (V*V,)
        tokens = np.zeros(self.observation_space.shape, dtype=np.float32)
        tokens[:, PRESENCE_COLUMN] = seen
        tokens[:, _OBJECT0:_COLOR0] = self._object_table[obj]
        tokens[:, _COLOR0:_STATE] = self._color_table[color] * (seen & (obj != _EMPTY))[:, None]
        tokens[:, _STATE] = state / 2.0
        tokens[:, _RIGHT : _FORWARD + 1] = self._position * seen[:, None]
        match = mission_match(cells, self._target)
        tokens[:, _MISSION] = match
        return tokens, np.flatnonzero(match).astype(np.int64)


def mission_match(cells: np.ndarray, target: tuple[int, int | None] | None) -> np.ndarray:
    """``(V*V,)`` bool: the cells (raw ``(object, colour, state)`` codes, token order) holding the mission's object."""
    if target is None:
        return np.zeros(len(cells), dtype=bool)
    target_obj, target_color = target
    match = cells[:, 0] == target_obj
    if target_color is not None:
        match &= cells[:, 1] == target_color
    return match


def make_minigrid_env(env_id: str = "MiniGrid-Empty-8x8-v0", render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """Make a MiniGrid env whose observation is a set of cell tokens with relevant parts (a :class:`MiniGridCells`).

    Also the entry point of ``attn/MiniGridCells-v0``: ``gymnasium.make("attn/MiniGridCells-v0",
    env_id="MiniGrid-FourRooms-v0")`` passes its keyword arguments here.

    Args:
        env_id: a MiniGrid id (``MiniGrid-Empty-8x8-v0``, ``MiniGrid-FourRooms-v0``, ``MiniGrid-GoToObject-6x6-N2-v0``,
            ``MiniGrid-DoorKey-8x8-v0``, ...).
        render_mode: ``"rgb_array"``, ``"human"`` or None.
        **kwargs: passed to the MiniGrid env (e.g. ``agent_view_size=5``, ``max_steps=100``).

    Returns:
        The wrapped env.

    Raises:
        ImportError: MiniGrid is not installed (the message has the pip command).
    """
    _import_minigrid()
    return MiniGridCells(gym.make(env_id, render_mode=render_mode, **kwargs))
