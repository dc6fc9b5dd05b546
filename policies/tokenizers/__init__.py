"""Tokenizers: turn one observation into a set of named parts (tokens) and a padding mask.

``TOKENIZERS`` is the registry; ``make_tokenizer`` picks one by name or, with ``"auto"``, from the
observation space (2-D Box: entity set; 3-D Box: image patches; 1-D Box: feature tokens; Dict: per key).
"""

from __future__ import annotations

from gymnasium import spaces

from policies.registry import Registry
from policies.tokenizers.base import Tokenizer
from policies.tokenizers.conv import STEMS, ConvTokenizer
from policies.tokenizers.dict import DictTokenizer
from policies.tokenizers.entity import EntityTokenizer, TimeTokenizer
from policies.tokenizers.features import FeatureTokenizer, VectorTokenizer
from policies.tokenizers.patches import PatchTokenizer

#: Tokenizers by name. ``"auto"`` tries them in this order; ``time`` is never chosen automatically (a
#: window ``Box(T, F)`` looks like an entity set), so ask for it by name; nor is ``conv`` (images get ``patch``).
TOKENIZERS: Registry[type[Tokenizer]] = Registry("tokenizer")
TOKENIZERS.register("entity", EntityTokenizer)
TOKENIZERS.register("patch", PatchTokenizer)
TOKENIZERS.register("features", FeatureTokenizer)
TOKENIZERS.register("dict", DictTokenizer)
TOKENIZERS.register("time", TimeTokenizer)
TOKENIZERS.register("conv", ConvTokenizer)

_AUTO = ("entity", "patch", "features", "dict")


def auto_tokenizer_name(observation_space: spaces.Space) -> str:
    """The tokenizer ``"auto"`` picks for ``observation_space``; ``TypeError`` when none reads it."""
    for name in _AUTO:
        if TOKENIZERS.get(name).supports(observation_space):
            return name
    supported = "entity sets Box(N, F), images Box(H, W, C) or Box(C, H, W), flat Box(F,), Dict of those"
    raise TypeError(
        f"No tokenizer supports the observation space {observation_space}. Supported: {supported}; time windows "
        "Box(T, F) with tokenizer='time'. Flatten or wrap other spaces first (e.g. gymnasium.wrappers)."
    )


def make_tokenizer(name: str, observation_space: spaces.Space, embed_dim: int, **options: object) -> Tokenizer:
    """Build the tokenizer ``name`` (``"auto"``: from the space) with the options it takes.

    Options left at None are dropped; an option set to a value that the chosen tokenizer does not take
    raises ``ValueError`` (e.g. ``patch_size`` for an entity set).
    """
    if name == "auto":
        name = auto_tokenizer_name(observation_space)
    cls = TOKENIZERS.get(name)
    if not cls.supports(observation_space):
        raise TypeError(
            f"tokenizer='{name}' cannot read the observation space {observation_space}; "
            f"tokenizer='auto' would pick '{auto_tokenizer_name(observation_space)}'."
        )
    given = {k: v for k, v in options.items() if v is not None and v is not False}
    unused = sorted(set(given) - set(cls.options))
    if unused:
        raise ValueError(
            f"{', '.join(f'{k}={given[k]!r}' for k in unused)} does not apply to the '{name}' tokenizer "
            f"({cls.__name__}), which takes {list(cls.options) or 'no options'}: remove it."
        )
    return cls(observation_space, embed_dim, **given)


__all__ = [
    "STEMS",
    "TOKENIZERS",
    "ConvTokenizer",
    "DictTokenizer",
    "EntityTokenizer",
    "FeatureTokenizer",
    "PatchTokenizer",
    "TimeTokenizer",
    "Tokenizer",
    "VectorTokenizer",
    "auto_tokenizer_name",
    "make_tokenizer",
]
