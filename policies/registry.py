"""A name -> object registry whose failed lookups name the closest valid name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest of ``choices`` (case-insensitive), or ``""``."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    return f" Did you mean '{lowered[close[0]]}'?" if close else ""


class Registry(Generic[T]):
    """Named entries of one kind (extractors, tokenizers, algorithms...).

    Lookups are case-insensitive; an unknown name raises ``ValueError`` that suggests the closest name and
    lists the valid ones.

    Args:
        kind: what the entries are, for error messages (e.g. ``"extractor"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, entry: T, aliases: Iterable[str] = ()) -> T:
        """Add ``entry`` under ``name`` (lower-cased), also found by ``aliases``; a name can be registered once."""
        key = name.lower()
        for taken in (key, *(a.lower() for a in aliases)):
            if taken in self._entries or taken in self._aliases:
                raise ValueError(f"{self.kind} '{taken}' is already registered.")
        self._entries[key] = entry
        self._aliases.update({a.lower(): key for a in aliases})
        return entry

    def unregister(self, name: str) -> T:
        """Remove ``name`` (or the entry one of its aliases names) and its aliases; returns the entry removed."""
        key = self.canonical(name)  # unknown names raise with a suggestion
        self._aliases = {alias: target for alias, target in self._aliases.items() if target != key}
        return self._entries.pop(key)

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases (``"RecurrentPPO"`` -> ``"ppo_lstm"``)."""
        self.get(name)
        return self._aliases.get(name.lower(), name.lower())

    def get(self, name: str) -> T:
        """Return the entry for ``name`` or raise ``ValueError`` with a suggestion."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__} {name!r}.")
        key = self._aliases.get(name.lower(), name.lower())
        try:
            return self._entries[key]
        except KeyError:
            raise ValueError(
                f"Unknown {self.kind} '{name}'.{did_you_mean(name, [*self._entries, *self._aliases])} "
                f"Valid {self.kind}s: {', '.join(self._entries)}."
            ) from None

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs, in registration order."""
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name.lower() in self._entries or name.lower() in self._aliases)

    def __iter__(self):  # noqa: ANN204
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
