"""``Dict`` observations: every key tokenized by its own tokenizer, all in one token set."""

from __future__ import annotations

from typing import ClassVar

import torch
from gymnasium import spaces
from torch import nn

from policies.tokenizers.base import Tokenizer, out_of_range, raise_non_finite
from policies.tokenizers.conv import ConvTokenizer
from policies.tokenizers.entity import EntityTokenizer
from policies.tokenizers.features import VectorTokenizer
from policies.tokenizers.patches import PatchTokenizer

#: Sub-tokenizers a key can get, tried in order (image keys: the first, or ``IMAGE_TOKENIZERS[image_tokenizer]``).
_KEY_TOKENIZERS: tuple[type[Tokenizer], ...] = (PatchTokenizer, EntityTokenizer, VectorTokenizer)
#: Tokenizers an image key can get (the ``image_tokenizer`` option).
IMAGE_TOKENIZERS: dict[str, type[Tokenizer]] = {"patch": PatchTokenizer, "conv": ConvTokenizer}


class DictTokenizer(Tokenizer):
    """``Dict`` observations: each key becomes one or more parts named after the key.

    A vector or discrete key is one token named ``<key>``; an entity-set key ``Box(N, F)`` gives
    ``<key>/entity_i`` tokens; an image key gives ``<key>/patch_r{r}c{c}`` tokens (``<key>/cell_r{r}c{c}`` with
    ``image_tokenizer="conv"``). Every key's tokens also
    get a learned key embedding, so attention knows which input a token came from. All tokens share one
    width and are attended over together.

    Args:
        observation_space: ``Dict`` of Box / Discrete / MultiDiscrete / MultiBinary sub-spaces.
        embed_dim: token width ``D``.
        presence_column, ego: passed to entity-set keys.
        patch_size: passed to image keys.
        patch_embed: passed to image keys.
        image_tokenizer: how image keys are tokenized: ``"patch"`` (default) or ``"conv"`` (a conv stem's cells).
        stem: passed to image keys with ``image_tokenizer="conv"``.
    """

    options: ClassVar[tuple[str, ...]] = (
        "presence_column", "ego", "patch_size", "patch_embed", "image_tokenizer", "stem",
    )  # fmt: skip

    def __init__(self, observation_space: spaces.Dict, embed_dim: int, **options: object) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Dict) or not observation_space.spaces:
            raise TypeError(f"DictTokenizer needs a non-empty Dict observation space, got {observation_space}.")
        image_tokenizer = options.pop("image_tokenizer", None) or "patch"
        if image_tokenizer not in IMAGE_TOKENIZERS:
            raise ValueError(f"image_tokenizer={image_tokenizer!r} is unknown: use one of {sorted(IMAGE_TOKENIZERS)}.")
        key_tokenizers = (IMAGE_TOKENIZERS[image_tokenizer], *_KEY_TOKENIZERS[1:])
        self.keys = list(observation_space.spaces)
        self.per_key = nn.ModuleDict()
        self.part_names = []
        self._offsets: dict[str, int] = {}
        for key, space in observation_space.spaces.items():
            cls = next((c for c in key_tokenizers if c.supports(space)), None)
            if cls is None:
                raise TypeError(
                    f"Dict key '{key}' has the space {space}, which no tokenizer reads: use a 1-D/2-D/3-D Box, "
                    "Discrete, MultiDiscrete or 1-D MultiBinary."
                )
            kwargs = {k: v for k, v in options.items() if k in cls.options and v is not None}
            if cls is VectorTokenizer:
                kwargs["name"] = key
            tokenizer = cls(space, embed_dim, **kwargs)
            self.per_key[key] = tokenizer
            self._offsets[key] = len(self.part_names)
            names = tokenizer.part_names
            self.part_names += names if cls is VectorTokenizer else [f"{key}/{name}" for name in names]
        self.key_embedding = nn.Parameter(torch.randn(len(self.keys), embed_dim) * 0.02)  # (K, D)

    @classmethod
    def supports(cls, space: spaces.Space) -> bool:
        """A ``Dict`` space."""
        return isinstance(space, spaces.Dict)

    def check_finite(self, observations: dict[str, torch.Tensor]) -> None:
        """Raise ``ValueError`` naming the key's part when any key holds NaN, inf or a value beyond ``MAX_ABS``."""
        for key in self.keys:
            bad_values = out_of_range(observations[key])
            if bool(bad_values.any()):
                bad = tuple(bad_values.nonzero()[0].tolist())
                tokenizer = self.per_key[key]
                part = tokenizer.part_of(bad[1:])
                name = part if isinstance(tokenizer, VectorTokenizer) else f"{key}/{part}"
                raise_non_finite(bad[0], name, bad[1:], observations[key][bad].item())

    def forward(self, observations: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``{key: (B, ...)}`` -> tokens ``(B, N, D)``, mask ``(B, N)`` with the keys' parts in order."""
        tokens, masks = [], []
        for index, key in enumerate(self.keys):
            key_tokens, key_mask = self.per_key[key](observations[key])  # (B, n_key, D), (B, n_key)
            tokens.append(key_tokens + self.key_embedding[index])
            masks.append(key_mask)
        return torch.cat(tokens, dim=1), torch.cat(masks, dim=1)
