"""``TOKENIZERS``: every tokenizer by name, and ``register_tokenizer`` to add one from any file."""

from __future__ import annotations

from gymnasium import spaces

from policies.registry import Registry
from policies.tokenizers.base import Tokenizer

#: Tokenizers by name. ``"auto"`` and ``Dict`` keys try those that allow it (``Tokenizer.auto``, ``dict_key``) in
#: registration order.
TOKENIZERS: Registry[type[Tokenizer]] = Registry("tokenizer")


def register_tokenizer(name: str, cls: type[Tokenizer]) -> type[Tokenizer]:
    """Register the ``Tokenizer`` subclass ``cls`` under ``name``; its options come from its ``__init__``.

    Returns ``cls``. Set the class attributes ``auto`` (``tokenizer="auto"`` may pick it) and ``dict_key`` (``Dict``
    keys may get it) to have it chosen by observation space.
    """
    if not (isinstance(cls, type) and issubclass(cls, Tokenizer)):
        raise TypeError(f"{cls!r} is not a Tokenizer subclass: subclass policies.Tokenizer to register a tokenizer.")
    return TOKENIZERS.register(name, cls)


def auto_tokenizer_name(observation_space: spaces.Space) -> str:
    """The tokenizer ``"auto"`` picks for ``observation_space``; ``TypeError`` when none reads it."""
    for name, cls in TOKENIZERS.items():
        if cls.auto and cls.supports(observation_space):
            return name
    supported = "entity sets Box(N, F), images Box(H, W, C) or Box(C, H, W), flat Box(F,), Dict of those"
    raise TypeError(
        f"No tokenizer supports the observation space {observation_space}. Supported: {supported}; time windows "
        "Box(T, F) with tokenizer='time'. Flatten or wrap other spaces first (e.g. gymnasium.wrappers)."
    )


def key_tokenizer(space: spaces.Space, image_tokenizer: str | None = None) -> type[Tokenizer] | None:
    """The tokenizer a ``Dict`` key of ``space`` gets, None when none reads it.

    ``image_tokenizer`` (a registered name) where it reads the space, else the first registered tokenizer with
    ``dict_key`` that does.
    """
    if image_tokenizer is not None and TOKENIZERS.get(image_tokenizer).supports(space):
        return TOKENIZERS.get(image_tokenizer)
    return next((cls for _, cls in TOKENIZERS.items() if cls.dict_key and cls.supports(space)), None)
