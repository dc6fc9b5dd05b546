"""Tokenizers: turn one observation into a set of named parts (tokens) and a padding mask.

``TOKENIZERS`` is the registry (``register_tokenizer`` adds one); ``make_tokenizer`` picks one by name or, with
``"auto"``, from the observation space (2-D Box: entity set; 3-D Box: image patches; 1-D Box: feature tokens; Dict:
per key).
"""

from __future__ import annotations

from gymnasium import spaces

from policies.registry import did_you_mean
from policies.tokenizers.base import Tokenizer
from policies.tokenizers.conv import STEMS, ConvTokenizer
from policies.tokenizers.dict import DictTokenizer
from policies.tokenizers.entity import EntityTokenizer, TimeTokenizer
from policies.tokenizers.features import FeatureTokenizer, VectorTokenizer
from policies.tokenizers.patches import PatchTokenizer
from policies.tokenizers.registry import TOKENIZERS, auto_tokenizer_name, key_tokenizer, register_tokenizer

# ``auto`` tries entity, patch, features, dict in this order; ``time`` is never chosen automatically (a window
# ``Box(T, F)`` looks like an entity set), so ask for it by name; nor is ``conv`` (images get ``patch``).
register_tokenizer("entity", EntityTokenizer)
register_tokenizer("patch", PatchTokenizer)
register_tokenizer("features", FeatureTokenizer)
register_tokenizer("dict", DictTokenizer)
register_tokenizer("time", TimeTokenizer)
register_tokenizer("conv", ConvTokenizer)
register_tokenizer("vector", VectorTokenizer)


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
    accepted = cls.option_names()
    unused = sorted(set(given) - set(accepted))
    if unused:
        hint = did_you_mean(unused[0], accepted) if len(unused) == 1 else ""
        raise ValueError(
            f"{', '.join(f'{k}={given[k]!r}' for k in unused)} does not apply to the '{name}' tokenizer "
            f"({cls.__name__}), which takes {accepted or 'no options'}: remove it.{hint}"
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
    "key_tokenizer",
    "make_tokenizer",
    "register_tokenizer",
]
