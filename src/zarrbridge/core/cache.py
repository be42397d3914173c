"""A small thread-safe cache that keeps the most recently used entries
(the one cache helper of the package)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["BoundedCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """At most ``size`` entries; a new entry beyond that evicts the least recently used one.

    Safe to share between threads. Values are computed outside the lock (two threads may compute the same
    entry once each; the later one is kept), so a slow computation never blocks other lookups.

    Parameters
    ----------
    size
        The number of entries kept (at least 1).

    Examples
    --------
    >>> cache: BoundedCache[str, int] = BoundedCache(size=2)
    >>> cache.get_or_create("a", lambda: 1)
    1
    >>> cache.get("a"), cache.get("b")
    (1, None)
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a BoundedCache holds at least 1 entry, not {size}")
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value stored for ``key``, or ``None``."""
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key]

    def put(self, key: K, value: V) -> None:
        """Store ``value`` for ``key``, evicting the least recently used entry when full."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        """The value for ``key``; made by ``create()`` and stored when missing
        (an exception stores nothing)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = create()
        self.put(key, value)
        return value

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
