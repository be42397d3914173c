"""Moving many small zarr objects (metadata documents, chunks) into a store in one pass.

Writers that create many small nodes encode them in memory first (creating a node there costs no I/O) and
then hand all documents and chunks to the real store at once: a local directory gets plain file writes
(no event-loop round trip per file), any other store gets concurrent requests, so the per-object latency
of an object store is paid concurrently instead of once per node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from pathlib import Path

from zarr.abc.store import Store
from zarr.core.buffer import Buffer, default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

from .localfiles import write_file

__all__ = ["copy_store", "put_many"]

CONCURRENCY = 32  # keys in flight at once


def put_many(dest: Store, items: Mapping[str, Buffer], *, concurrency: int = CONCURRENCY) -> int:
    """Write every ``key -> value`` of ``items`` into ``dest`` (overwriting); return how many were written."""
    if not items:
        return 0
    if type(dest) is LocalStore and not dest.read_only:  # (a subclass may count or redirect its writes)
        root = Path(dest.root)
        made: set[Path] = set()
        for key, value in items.items():
            path = root / key
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            write_file(path, value.to_bytes())
        return len(items)
    return sync(_put_many(dest, items, concurrency))


async def _put_many(dest: Store, items: Mapping[str, Buffer], concurrency: int) -> int:
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(key: str, value: Buffer) -> None:
        async with gate:
            await dest.set(key, value)

    await asyncio.gather(*(one(key, value) for key, value in items.items()))
    return len(items)


def copy_store(
    source: Store, dest: Store, *, exclude: Collection[str] = (), concurrency: int = CONCURRENCY
) -> int:
    """Copy all keys of ``source`` except ``exclude`` into ``dest`` (overwriting);
    return how many were copied."""
    return put_many(dest, sync(_read_all(source, frozenset(exclude), concurrency)), concurrency=concurrency)


async def _read_all(source: Store, exclude: frozenset[str], concurrency: int) -> dict[str, Buffer]:
    prototype = default_buffer_prototype()
    gate = asyncio.Semaphore(max(1, concurrency))
    keys = [key async for key in source.list() if key not in exclude]

    async def one(key: str) -> Buffer | None:
        async with gate:
            return await source.get(key, prototype)

    values = await asyncio.gather(*(one(key) for key in keys))
    return {key: value for key, value in zip(keys, values) if value is not None}
