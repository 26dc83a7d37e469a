"""A small name -> factory registry, one per component family (models, quantizers, noises...)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from robustmq.exceptions import DuplicateNameError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to entries; unknown names raise ``error_type`` listing what exists."""

    def __init__(self, kind: str, error_type: type[UnknownNameError] = UnknownNameError) -> None:
        self.kind = kind
        self._error_type = error_type
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``entry`` under ``name``; a duplicate name is an error."""

        def decorator(entry: T) -> T:
            if name in self._entries:
                raise DuplicateNameError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = entry
            return entry

        return decorator

    def unregister(self, name: str) -> None:
        """Forget ``name`` (nothing happens when it is not registered)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry registered under ``name``."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise self._error_type(self.kind, name, self._entries) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching the shell-style ``pattern``."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
