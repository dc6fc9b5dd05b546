"""Keyword introspection: which arguments a class takes, and a clear error for one it does not."""

from __future__ import annotations

import inspect
from typing import Any

from policies.registry import did_you_mean


def accepted_kwargs(cls: type) -> list[str]:
    """Keyword arguments of ``cls.__init__``, following ``**kwargs`` up the class hierarchy.

    A class whose ``**kwargs`` take named options of their own lists them in a classmethod ``extra_kwargs()``
    (``AttentionExtractor``: the tokenizers' options).
    """
    accepted: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        accepted += [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    accepted += cls.extra_kwargs() if callable(getattr(cls, "extra_kwargs", None)) else []
    return [a for a in dict.fromkeys(accepted) if a not in ("self", "observation_space")]


def check_kwargs(what: str, given: dict[str, Any], accepted: list[str]) -> None:
    """Raise ``ValueError`` for a key of ``given`` that is not in ``accepted``, with a suggestion."""
    for key in given:
        if key not in accepted:
            raise ValueError(
                f"{what} has no argument '{key}'.{did_you_mean(key, accepted)} Valid ones: {', '.join(accepted)}."
            )
