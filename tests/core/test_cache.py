"""BoundedCache: the one cache helper (least recently used entries go first, thread-safe)."""

from __future__ import annotations

import threading

import pytest

from zarrbridge.core.cache import BoundedCache


def test_least_recently_used_entry_is_evicted() -> None:
    cache: BoundedCache[str, int] = BoundedCache(size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_get_or_create_computes_once_and_stores_nothing_on_error() -> None:
    cache: BoundedCache[str, object] = BoundedCache(size=4)
    calls: list[str] = []

    def make() -> object:
        calls.append("x")
        return None  # None is a value like any other here

    assert cache.get_or_create("k", make) is None
    assert cache.get_or_create("k", make) is None
    assert calls == ["x"]

    def fail() -> object:
        raise OSError("no")

    with pytest.raises(OSError):
        cache.get_or_create("bad", fail)
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BoundedCache(size=0)


def test_threads_never_exceed_the_size() -> None:
    cache: BoundedCache[int, int] = BoundedCache(size=8)

    def work(offset: int) -> None:
        for i in range(500):
            cache.get_or_create(offset + i % 20, lambda i=i: i)

    threads = [threading.Thread(target=work, args=(n * 100,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 8
