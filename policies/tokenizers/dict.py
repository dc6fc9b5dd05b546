"""``Dict`` observations: every key tokenized by its own tokenizer, all in one token set."""

from __future__ import annotations

from typing import ClassVar

import torch
from gymnasium import spaces
from torch import nn

from policies.tokenizers.base import Tokenizer, out_of_range, raise_non_finite
from policies.tokenizers.registry import TOKENIZERS, key_tokenizer


class DictTokenizer(Tokenizer):
    """``Dict`` observations: each key becomes one or more parts named after the key.

    Each key gets the first registered tokenizer that allows ``Dict`` keys (``Tokenizer.dict_key``) and reads its
    space (``policies.tokenizers.key_tokenizer``): a vector or discrete key is one token named ``<key>``; an
    entity-set key ``Box(N, F)`` gives ``<key>/entity_i`` tokens; an image key gives ``<key>/patch_r{r}c{c}`` tokens
    (``<key>/cell_r{r}c{c}`` with ``image_tokenizer="conv"``). Every key's tokens also
    get a learned key embedding, so attention knows which input a token came from. All tokens share one
    width and are attended over together.

    Args:
        observation_space: ``Dict`` of Box / Discrete / MultiDiscrete / MultiBinary sub-spaces.
        embed_dim: token width ``D``.
        image_tokenizer: the registered tokenizer of the keys it reads (e.g. ``"conv"``: a conv stem's cells for
            image keys); default: each key's own (``"patch"`` for images).
        **options: passed to each key's tokenizer that takes them (``presence_column`` and ``ego`` to entity-set
            keys, ``patch_size`` and ``patch_embed`` to image keys, ``stem`` to conv keys...): see ``option_names``.
    """

    auto: ClassVar[bool] = True

    def __init__(
        self, observation_space: spaces.Dict, embed_dim: int, image_tokenizer: str | None = None, **options: object
    ) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Dict) or not observation_space.spaces:
            raise TypeError(f"DictTokenizer needs a non-empty Dict observation space, got {observation_space}.")
        if image_tokenizer is not None and image_tokenizer not in TOKENIZERS:
            try:
                TOKENIZERS.get(image_tokenizer)
            except ValueError as exc:  # the registry's suggestion, under the option's name
                raise ValueError(f"image_tokenizer={image_tokenizer!r} is unknown: {exc}") from None
        self.keys = list(observation_space.spaces)
        self.per_key = nn.ModuleDict()
        self.part_names = []
        self._offsets: dict[str, int] = {}
        for key, space in observation_space.spaces.items():
            cls = key_tokenizer(space, image_tokenizer)
            if cls is None:
                raise TypeError(
                    f"Dict key '{key}' has the space {space}, which no tokenizer reads: use a 1-D/2-D/3-D Box, "
                    "Discrete, MultiDiscrete or 1-D MultiBinary."
                )
            accepted = cls.option_names()
            kwargs = {k: v for k, v in options.items() if k in accepted and v is not None}
            named = "name" in accepted  # a one-token tokenizer is named after its key
            tokenizer = cls(space, embed_dim, **kwargs, **({"name": key} if named else {}))
            self.per_key[key] = tokenizer
            self._offsets[key] = len(self.part_names)
            names = tokenizer.part_names
            self.part_names += names if named else [f"{key}/{name}" for name in names]
        used = {option for tokenizer in self.per_key.values() for option in type(tokenizer).option_names()}
        unused = sorted(k for k, v in options.items() if v is not None and k not in used)
        if unused:
            takers = {key: type(t).option_names() for key, t in self.per_key.items()}
            raise ValueError(
                f"{', '.join(unused)} applies to no key of this Dict observation (the options each key's tokenizer "
                f"takes: {takers}): remove it, or set image_tokenizer for the image keys."
            )
        self.key_embedding = nn.Parameter(torch.randn(len(self.keys), embed_dim) * 0.02)  # (K, D)

    @classmethod
    def option_names(cls) -> list[str]:
        """``image_tokenizer`` and every option of the other registered tokenizers (but ``name``, the key's own).

        An option that no key's tokenizer takes is refused when the tokenizer is built.
        """
        others = [c for _, c in TOKENIZERS.items() if c is not cls]
        return list(dict.fromkeys(["image_tokenizer", *(o for c in others for o in c.option_names() if o != "name")]))

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
                name = part if "name" in type(tokenizer).option_names() else f"{key}/{part}"
                raise_non_finite(bad[0], name, bad[1:], observations[key][bad].item())

    def forward(self, observations: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``{key: (B, ...)}`` -> tokens ``(B, N, D)``, mask ``(B, N)`` with the keys' parts in order."""
        tokens, masks = [], []
        for index, key in enumerate(self.keys):
            key_tokens, key_mask = self.per_key[key](observations[key])  # (B, n_key, D), (B, n_key)
            tokens.append(key_tokens + self.key_embedding[index])
            masks.append(key_mask)
        return torch.cat(tokens, dim=1), torch.cat(masks, dim=1)
