"""Copying every key of one zarr store into another, concurrently, in one pass.

Writers that create many small nodes build them in a :class:`zarr.storage.MemoryStore` first (creating a
node there costs no I/O) and then move all documents and chunks to the real store at once, so the per-object
latency of a directory or object store is paid concurrently instead of once per node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

__all__ = ["copy_store"]

CONCURRENCY = 32  # keys in flight at once


def copy_store(source: Store, dest: Store, *, exclude: Collection[str] = (), concurrency: int = CONCURRENCY) -> int:
    """Copy all keys of ``source`` except ``exclude`` into ``dest`` (overwriting); return how many were copied."""
    return sync(_copy_store(source, dest, frozenset(exclude), concurrency))


async def _copy_store(source: Store, dest: Store, exclude: frozenset[str], concurrency: int) -> int:
    prototype = default_buffer_prototype()
    gate = asyncio.Semaphore(max(1, concurrency))
    keys = [key async for key in source.list() if key not in exclude]

    async def one(key: str) -> None:
        async with gate:
            value = await source.get(key, prototype)
            if value is not None:
                await dest.set(key, value)

    await asyncio.gather(*(one(key) for key in keys))
    return len(keys)
