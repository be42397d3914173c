"""Reading a store key in the calling thread when the store can, through zarr's event loop when not.

zarr >= 3.1.6 lets a store read synchronously (``get_sync``, the ``SupportsGetSync`` protocol). A
:class:`zarr.storage.WrapperStore` always has the method, but from zarr 3.4 it raises ``TypeError`` when the
store it wraps (an ``FsspecStore``, say) has none, so whether a store reads synchronously is a property of the
whole chain of wrappers, not of the outer class.
"""

from __future__ import annotations

from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.core.sync import sync
from zarr.storage import WrapperStore


def supports_get_sync(store: Store) -> bool:
    """Whether ``store.get_sync`` reads in this thread all the way down the chain of wrappers.

    zarrbridge's own wrappers (``InlineStore``, ``FetchedStore``) fall back to the event loop one key at a
    time when their inner store cannot read synchronously; callers with many keys should then gather
    ``get`` calls on the loop instead, so this walks through them too.
    """
    while True:
        kind = type(store)
        if not callable(getattr(kind, "get_sync", None)):
            return False
        if not isinstance(store, WrapperStore):
            return True
        inner = getattr(store, "_store", None)
        if not isinstance(inner, Store):
            return True
        store = inner


def get_now(
    store: Store, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
) -> Buffer | None:
    """``store``'s value for ``key`` (``None`` if absent), read in this thread where the store allows it."""
    if supports_get_sync(store):
        found: Buffer | None = store.get_sync(key, prototype=prototype, byte_range=byte_range)  # type: ignore[attr-defined]
        return found
    return sync(store.get(key, prototype, byte_range))
