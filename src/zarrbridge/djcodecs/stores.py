"""DataJoint stores (``dj.config['stores']``) opened as zarr stores.

Decision: the store *configuration* is resolved by DataJoint itself (``config.get_store_spec`` and its
``StorageBackend``), so the location, bucket, endpoint, credentials and ``secure`` flag mean exactly what
DataJoint documents, and every path resolves to the same object its garbage collector lists. The *bytes* are
written by zarr through zarrbridge's core: a :class:`zarr.storage.LocalStore` for ``file`` stores (via
:func:`zarrbridge.core.open_store`) and :func:`zarrbridge.core.filesystem_store` around the backend's own
fsspec filesystem for ``s3`` and the other protocols.

Decision: a ``file`` store never follows a symbolic link out of its location: every folder and object path
is checked with :meth:`zarrbridge.core.location.ConfinedLocalStore.confine` (rooted at the store's location)
before it is read, written or removed, and arrays are opened as a
:class:`~zarrbridge.core.location.ConfinedLocalStore` (no link out of the array's own folder). Links that stay
inside are followed. A link leading out raises :class:`~zarrbridge.errors.UnsafeNameError` naming it.

Decision: an unreachable S3 endpoint is reported by the S3 client itself (so proxies, ``HTTPS_PROXY`` and
the rest of botocore's configuration apply), quickly: zarrbridge's reads and writes use a copy of DataJoint's
filesystem with a connect timeout of :data:`CONNECT_TIMEOUT_S` and at most :data:`MAX_ATTEMPTS` attempts
(botocore's default retries a refused connection for about 6 s), and the client's connection errors become
:class:`~zarrbridge.errors.StoreUnreachableError` naming the store and its endpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from zarr.abc.store import Store

from ..core.cache import BoundedCache
from ..core.localfiles import read_file, write_file
from ..core.location import ConfinedLocalStore, filesystem_store, open_store
from ..core.remotestore import CONNECT_TIMEOUT_S, MAX_ATTEMPTS, is_connection_error
from ..errors import LocationError, StoreExistsError, StoreUnreachableError

__all__ = ["CONNECT_TIMEOUT_S", "MAX_ATTEMPTS", "StoreTarget", "is_connection_error", "resolve_store"]

# DataJoint builds (and validates) a new StorageBackend per call, once a row; a store whose resolved
# specification is unchanged reuses its target. Any change to the store's settings gives a new key.
_targets: BoundedCache[tuple[str | None, str], StoreTarget] = BoundedCache(64)


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
        """Where the store lives, for messages: the endpoint URL (as DataJoint builds it) or the location."""
        endpoint = str(self.spec.get("endpoint") or "")
        if endpoint and "://" not in endpoint and self.protocol == "s3":
            endpoint = ("https://" if self.spec.get("secure", False) else "http://") + endpoint
        return endpoint or str(self.spec.get("location") or "")

    @cached_property
    def fs(self) -> Any:
        """The fsspec filesystem zarrbridge reads and writes with: DataJoint's, with short S3 timeouts.

        For ``s3`` a new instance is made from the storage options DataJoint created its own with, plus a
        connect timeout and a bound on attempts; DataJoint's instance (used by its garbage collector) is left
        as it is.
        """
        fs = self.backend.fs
        if self.protocol != "s3":
            return fs
        options = dict(getattr(fs, "storage_options", {}) or {})
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        config.setdefault("retries", {"max_attempts": MAX_ATTEMPTS, "mode": "standard"})
        options["config_kwargs"] = config
        return type(fs)(**options)

    def confined(self, path: str, key: str = "") -> str:
        """The local path of ``key`` in the folder ``path`` (the folder itself without ``key``) of a ``file``
        store; :class:`~zarrbridge.errors.UnsafeNameError` if a symbolic link leads it out of the store."""
        root = self.full_path("").rstrip("/") or "/"
        full = self.full_path(path).rstrip("/")
        if key:
            full = os.path.join(full, *key.split("/"))
        ConfinedLocalStore(root, read_only=True).confine(os.path.relpath(full, root))
        return full

    def unreachable(self, exc: BaseException) -> StoreUnreachableError:
        """The error for a connection failure ``exc`` of the S3 client."""
        return StoreUnreachableError(self.label, self.endpoint(), f"{type(exc).__name__}: {exc}")

    def zarr_store(self, path: str, *, read_only: bool) -> Store:
        """A zarr store rooted at ``path``; created (must not exist) when ``read_only`` is false."""
        full = self.full_path(path)
        if self.protocol == "file":  # a ConfinedLocalStore: no link out of the array's folder is followed
            return open_store(self.confined(path), mode="r" if read_only else "w-", require_zarr=False)
        return filesystem_store(self.fs, full, read_only=read_only)

    def put_objects(self, path: str, objects: dict[str, bytes]) -> None:
        """Write a small array's objects (``zarr.json``, chunk keys) under the new folder
        ``path`` in one step.

        A ``file`` store refuses an existing folder (:class:`StoreExistsError`) and writes the chunks before
        ``zarr.json``; other stores get one concurrent upload (``fs.pipe``). Either way no row references the
        folder before the insert that follows succeeds, and a failure removes it.
        """
        full = self.full_path(path).rstrip("/")
        order = sorted(objects, key=lambda key: key == "zarr.json")
        if self.protocol == "file":
            self.confined(path)  # (the folders made below are new: nothing in them can be a link)
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
                if "/" in key:
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                write_file(dest, objects[key], exclusive=True)
            return
        self.fs.pipe({f"{full}/{key}": objects[key] for key in order})

    def read_object(self, path: str, key: str) -> bytes:
        """The bytes of ``key`` inside the folder ``path`` (one plain read);
        ``FileNotFoundError`` if missing."""
        full = self.full_path(path).rstrip("/")
        if self.protocol == "file":
            return read_file(self.confined(path, key))
        try:
            return bytes(self.fs.cat_file(f"{full}/{key}"))
        except FileNotFoundError:
            raise
        except Exception as exc:
            if is_connection_error(exc):
                raise self.unreachable(exc) from exc
            raise

    def remove(self, path: str) -> None:
        """Remove the object (an array's folder) at ``path`` and prune empty parent folders (``file``)."""
        full = self.confined(path) if self.protocol == "file" else self.full_path(path)
        fs = self.fs
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
        return bool(self.fs.exists(self.full_path(path)))


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
