"""DataJoint stores (``dj.config['stores']``) opened as zarr stores.

Decision: the store *configuration* is resolved by DataJoint itself (``config.get_store_spec`` and its
``StorageBackend``), so the location, bucket, endpoint, credentials and ``secure`` flag mean exactly what DataJoint
documents, and every path resolves to the same object its garbage collector lists. The *bytes* are written by
zarr through zarrbridge's core: a :class:`zarr.storage.LocalStore` for ``file`` stores (via
:func:`zarrbridge.core.open_store`) and :func:`zarrbridge.core.filesystem_store` around the backend's own fsspec
filesystem for ``s3`` and the other protocols.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from zarr.abc.store import Store

from ..core.cache import BoundedCache
from ..core.localfiles import read_file, write_file
from ..core.location import filesystem_store, open_store
from ..errors import LocationError, StoreExistsError, StoreUnreachableError
from .sharedmeta import write_document

__all__ = ["StoreTarget", "is_connection_error", "resolve_store"]

_PROBE_TTL_S = 30.0
_PROBE_TIMEOUT_S = 3.0
_probed: dict[tuple[str, int], float] = {}
# DataJoint builds (and validates) a new StorageBackend per call, 0.2 ms a row; a store whose resolved
# specification is unchanged reuses its target. Any change to the store's settings gives a new key.
_targets: BoundedCache[tuple[str | None, str], StoreTarget] = BoundedCache(64)
_probe_lock = threading.Lock()


@dataclass(frozen=True)
class StoreTarget:
    """One configured DataJoint store, ready to hold zarr arrays.

    Parameters
    ----------
    name
        The store name as written in the attribute type (``None`` or ``""`` for the default store).
    spec
        The store's configuration with DataJoint's defaults applied.
    backend
        DataJoint's ``StorageBackend`` for the store.
    """

    name: str | None
    spec: dict[str, Any]
    backend: Any

    @property
    def protocol(self) -> str:
        """``file``, ``s3``, ``gcs``, ``azure`` or a plug-in protocol."""
        return str(self.spec.get("protocol", "file")).lower()

    @property
    def label(self) -> str:
        """The store's name for messages."""
        return self.name or "default"

    def full_path(self, path: str) -> str:
        """The backend's own absolute path (bucket/location/path or location/path) of ``path``."""
        return str(self.backend._full_path(path))

    def endpoint(self) -> str:
        """Where the store lives, for messages: the endpoint URL or the local location."""
        return str(self.spec.get("endpoint") or self.spec.get("location") or "")

    def zarr_store(self, path: str, *, read_only: bool) -> Store:
        """A zarr store rooted at ``path``; created (must not exist) when ``read_only`` is false."""
        full = self.full_path(path)
        if self.protocol == "file":
            return open_store(full, mode="r" if read_only else "w-", require_zarr=False)
        if not read_only:
            self.probe()
        return filesystem_store(self.backend.fs, full, read_only=read_only)

    def put_objects(self, path: str, objects: dict[str, bytes]) -> None:
        """Write a small array's objects (``zarr.json``, chunk keys) under the new folder ``path`` in one step.

        A ``file`` store refuses an existing folder (:class:`StoreExistsError`) and writes the chunks before
        ``zarr.json``; other stores get one concurrent upload (``fs.pipe``). Either way no row references the
        folder before the insert that follows succeeds, and a failure removes it.
        """
        full = self.full_path(path).rstrip("/")
        order = sorted(objects, key=lambda key: key == "zarr.json")
        if self.protocol == "file":
            parent = os.path.dirname(full)
            try:  # the primary key's folder: usually new (one per row), so try it before looking further up
                os.mkdir(parent)
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(parent, exist_ok=True)
            try:
                os.mkdir(full)
            except FileExistsError:
                raise StoreExistsError(full) from None
            for key in order:
                dest = os.path.join(full, *key.split("/"))
                if key == "zarr.json":  # identical documents of one table's rows: one file, hard-linked
                    write_document(dest, objects[key], group=os.path.dirname(parent))
                    continue
                if "/" in key:
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                write_file(dest, objects[key], exclusive=True)
            return
        self.probe()
        self.backend.fs.pipe({f"{full}/{key}": objects[key] for key in order})

    def read_object(self, path: str, key: str) -> bytes:
        """The bytes of ``key`` inside the folder ``path`` (one plain read); ``FileNotFoundError`` if missing."""
        full = self.full_path(path).rstrip("/")
        if self.protocol == "file":
            return read_file(os.path.join(full, *key.split("/")))
        return bytes(self.backend.fs.cat_file(f"{full}/{key}"))

    def remove(self, path: str) -> None:
        """Remove the object (an array's folder) at ``path`` and prune empty parent folders (``file``)."""
        full = self.full_path(path)
        fs = self.backend.fs
        try:
            fs.rm(full, recursive=True)
        except FileNotFoundError:
            pass
        if self.protocol == "file":
            root = self.full_path("").rstrip("/")
            parent = os.path.dirname(full.rstrip("/"))
            while parent.startswith(root + "/") and os.path.isdir(parent) and not os.listdir(parent):
                os.rmdir(parent)
                parent = os.path.dirname(parent)

    def exists(self, path: str) -> bool:
        """Whether anything is stored at ``path``."""
        return bool(self.backend.fs.exists(self.full_path(path)))

    def probe(self) -> None:
        """Fail fast with :class:`StoreUnreachableError` when a network store's endpoint refuses connections.

        botocore retries a refused connection for several seconds before failing; a TCP connect with a short
        timeout (cached for 30 s per endpoint) gives the same answer at once.
        """
        endpoint = str(self.spec.get("endpoint") or "")
        if not endpoint:
            return
        if "://" not in endpoint:
            endpoint = ("https://" if self.spec.get("secure", True) else "http://") + endpoint
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        now = time.monotonic()
        with _probe_lock:
            if now - _probed.get((host, port), -_PROBE_TTL_S) < _PROBE_TTL_S:
                return
        try:
            with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
                pass
        except OSError as exc:
            raise StoreUnreachableError(self.label, endpoint, f"{type(exc).__name__}: {exc}") from exc
        with _probe_lock:
            _probed[(host, port)] = now


def resolve_store(store_name: str | None, config: Any) -> StoreTarget:
    """Resolve a store name through DataJoint's configuration.

    Parameters
    ----------
    store_name
        The name after ``@`` in the attribute type; ``None`` or ``""`` selects ``stores.default``.
    config
        The calling connection's DataJoint config (``None``: the global ``dj.config``).

    Raises
    ------
    LocationError
        The store is not configured, or its configuration is invalid; the message lists the stores that are.
    """
    from datajoint.errors import DataJointError
    from datajoint.hash_registry import get_store_backend

    if config is None:
        from datajoint.settings import config as global_config

        config = global_config
    name = store_name or None
    try:
        spec = config.get_store_spec(name)
        key = (name, json.dumps(spec, sort_keys=True, default=repr))
        cached = _targets.get(key)
        if cached is not None:
            return cached
        backend = get_store_backend(name, config=config)
    except (DataJointError, FileNotFoundError) as exc:
        configured = sorted(k for k, v in dict(config.stores).items() if isinstance(v, dict))
        raise LocationError(
            f"<...@{store_name or ''}>",
            f"{exc}. Configured stores: {configured or 'none'}. Add the store to dj.config['stores'] "
            "(protocol, location, and for s3: endpoint, bucket, access_key, secret_key) or use one of these",
        ) from exc
    target = StoreTarget(name=name, spec=spec, backend=backend)
    _targets.put(key, target)
    return target


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` says a network store could not be reached (refused, DNS, timeout)."""
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError  # type: ignore[import-untyped]
    except ImportError:  # botocore comes with s3fs; without it no s3 store can exist either
        return False
    return isinstance(exc, BotoConnectionError)
