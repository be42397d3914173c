"""Result storages on local files and on S3, and ``storage_factory`` that builds one from an options dict."""

from __future__ import annotations

import os
import posixpath
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._optional import import_optional
from ..errors import InvalidOptionError, UnsafeNameError
from .protocols import FILE_PROTOCOL, S3_PROTOCOL, LocalFiles
from .result_storage import ResultStorage

__all__ = ["FileStorage", "FileStorageOptions", "S3Storage", "S3StorageOptions", "storage_factory"]


def _only_keys(data: Any, allowed: set[str], what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidOptionError(f"{what} must be a dict, got {type(data).__name__}")
    unknown = set(data) - allowed
    if unknown:
        raise InvalidOptionError(f"unknown {what} {sorted(unknown)}; expected some of {sorted(allowed)}")
    return data


@dataclass(frozen=True)
class FileStorageOptions:
    """Options of a :class:`FileStorage`: ``path``, the folder that holds the results.

    Parameters
    ----------
    path : str
        The folder that holds the results (created on first save).
    """

    path: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, (str, os.PathLike)) or not os.fspath(self.path):
            raise InvalidOptionError(f"file storage 'path' must be a non-empty path, got {self.path!r}")
        object.__setattr__(self, "path", os.path.abspath(os.fspath(self.path)))

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-compatible data.

        Returns
        -------
        dict
            ``{"path": ...}``.
        """
        return {"path": self.path}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileStorageOptions:
        """Options from a dict such as ``{"path": "/data/results"}``.

        Parameters
        ----------
        data : Mapping[str, Any]
            ``{"path": ...}``.
        """
        data = _only_keys(data, {"path"}, "file storage options")
        if "path" not in data:
            raise InvalidOptionError('file storage options need "path"')
        return cls(path=data["path"])


@dataclass(frozen=True)
class S3StorageOptions:
    """Options of an :class:`S3Storage`.

    Parameters
    ----------
    bucket
        The bucket name.
    prefix
        The key prefix (a folder) under which results live; ``""`` for the bucket root.
    storage_options
        Keyword arguments of :class:`s3fs.S3FileSystem` (``endpoint_url``, ``key``, ``secret``, ``anon``...).
    """

    bucket: str
    prefix: str = ""
    storage_options: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.bucket, str) or not self.bucket or "/" in self.bucket:
            raise InvalidOptionError(f"S3 storage 'bucket' must be a bucket name, got {self.bucket!r}")
        if not isinstance(self.prefix, str):
            raise InvalidOptionError(f"S3 storage 'prefix' must be a string, got {self.prefix!r}")
        if not isinstance(self.storage_options, Mapping):
            raise InvalidOptionError(
                "S3 storage 'storage_options' must be a dict of s3fs.S3FileSystem arguments"
            )
        object.__setattr__(self, "prefix", self.prefix.strip("/"))
        object.__setattr__(self, "storage_options", dict(self.storage_options))

    @property
    def root(self) -> str:
        """``bucket/prefix``."""
        return posixpath.join(self.bucket, self.prefix) if self.prefix else self.bucket

    def to_dict(self) -> dict[str, Any]:
        """The options as data (``storage_options`` may hold credentials: store them with care).

        Returns
        -------
        dict
            The options, as :meth:`from_dict` reads them.
        """
        return {"bucket": self.bucket, "prefix": self.prefix, "storage_options": dict(self.storage_options)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> S3StorageOptions:
        """Options from a dict such as ``{"bucket": "b", "prefix": "runs", "storage_options": {...}}``.

        Parameters
        ----------
        data : Mapping[str, Any]
            ``{"bucket": ..., "prefix": ..., "storage_options": ...}``.
        """
        data = _only_keys(data, {"bucket", "prefix", "storage_options"}, "S3 storage options")
        if "bucket" not in data:
            raise InvalidOptionError('S3 storage options need "bucket"')
        return cls(
            bucket=data["bucket"],
            prefix=data.get("prefix", ""),
            storage_options=data.get("storage_options", {}),
        )


class FileStorage(ResultStorage):
    """Results in a local folder; array files go through the file protocol (HDF5 by default).

    Symbolic links inside the folder are never followed: a result, pickle or array reached through one is
    an :class:`~zarrbridge.errors.UnsafeNameError`.

    Parameters
    ----------
    options : FileStorageOptions
        Where the results live.

    Examples
    --------
    >>> import tempfile, dask.array as da
    >>> from zarrbridge import DaskArraySerializer
    >>> storage = FileStorage(FileStorageOptions(tempfile.mkdtemp()))
    >>> storage.register_persistent_serializers(DaskArraySerializer)
    >>> storage.save("step1", {"x": da.ones(10, chunks=5)})
    >>> float(storage.load("step1")["x"].sum())
    10.0
    """

    def __init__(self, options: FileStorageOptions) -> None:
        super().__init__()
        if not isinstance(options, FileStorageOptions):
            raise InvalidOptionError(f"FileStorage takes FileStorageOptions, got {type(options).__name__}")
        self.options = options
        self._own = LocalFiles(options.path)  # (its own keys, checked like array names)
        self._files = LocalFiles(os.path.join(options.path, "arrays"))

    @property
    def protocols(self) -> Mapping[str, Any]:
        """``{FILE_PROTOCOL: LocalFiles}`` for the storage's ``arrays/`` folder."""
        if os.path.islink(self._files.root):
            raise UnsafeNameError(
                self._files.root, "array folder", "is a symbolic link, which zarrbridge does not follow"
            )
        return {FILE_PROTOCOL: self._files}

    @property
    def location(self) -> str:
        """The storage's folder."""
        return self.options.path

    def _path(self, key: str) -> str:
        return self._own.local_path(key)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def _get(self, key: str) -> bytes:
        with open(self._path(key), "rb") as f:
            return f.read()

    def _delete(self, key: str) -> None:
        path = self._own._path(key, link_ok=True)
        if os.path.lexists(path):
            os.remove(path)

    def _ages(self, prefix: str) -> dict[str, float]:
        top = self._path(prefix)
        if not os.path.isdir(top):
            return {}
        now = time.time()
        out = {}
        for entry in os.listdir(top):
            path = os.path.join(top, entry)
            newest = os.lstat(path).st_mtime
            for folder, _dirs, files in os.walk(path):
                for name in files:
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
            out[f"{prefix}/{entry}"] = now - newest
        return out

    def _remove_entry(self, key: str) -> None:
        self._own.remove(key)  # (a link is removed, never followed)

    def _keys(self, prefix: str) -> list[str]:
        top = self._path(prefix)
        out = []
        for folder, _dirs, files in os.walk(top):
            for name in files:
                if not name.startswith(".tmp-"):
                    rel = os.path.relpath(os.path.join(folder, name), self.options.path)
                    out.append(rel.replace(os.sep, "/"))
        return out


class S3Storage(ResultStorage):
    """Results in an S3 bucket (through s3fs); array files are Zarr arrays by default.

    Needs the ``s3`` extra (``pip install "zarrbridge[s3]"``).

    Parameters
    ----------
    options : S3StorageOptions
        The bucket, prefix and s3fs storage options.
    """

    def __init__(self, options: S3StorageOptions) -> None:
        super().__init__()
        if not isinstance(options, S3StorageOptions):
            raise InvalidOptionError(f"S3Storage takes S3StorageOptions, got {type(options).__name__}")
        s3fs = import_optional("s3fs", extra="s3", feature="the S3 result storage")
        self.options = options
        self.client = s3fs.S3FileSystem(**options.storage_options)

    @property
    def protocols(self) -> Mapping[str, Any]:
        """``{S3_PROTOCOL: {"client": s3fs filesystem, "folder": "bucket/prefix/arrays"}}``."""
        return {S3_PROTOCOL: {"client": self.client, "folder": posixpath.join(self.options.root, "arrays")}}

    @property
    def location(self) -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self.options.root}"

    def _path(self, key: str) -> str:
        return posixpath.join(self.options.root, key)

    def _put(self, key: str, data: bytes) -> None:
        self.client.pipe_file(self._path(key), data)  # one PUT: atomic on S3

    def _get(self, key: str) -> bytes:
        data: bytes = self.client.cat_file(self._path(key))
        return data

    def _delete(self, key: str) -> None:
        try:
            self.client.rm_file(self._path(key))
        except FileNotFoundError:
            pass

    def _ages(self, prefix: str) -> dict[str, float]:
        top = self._path(prefix)
        self.client.invalidate_cache(top)
        now = time.time()
        newest: dict[str, float] = {}
        for path, info in self.client.find(top, detail=True).items():
            entry = path[len(top) + 1 :].split("/")[0]
            stamp = info.get("LastModified")
            seconds = stamp.timestamp() if hasattr(stamp, "timestamp") else now
            newest[f"{prefix}/{entry}"] = max(newest.get(f"{prefix}/{entry}", 0.0), seconds)
        return {key: now - stamp for key, stamp in newest.items()}

    def _remove_entry(self, key: str) -> None:
        path = self._path(key)
        self.client.invalidate_cache(path)
        if self.client.exists(path):
            self.client.rm(path, recursive=True)

    def _keys(self, prefix: str) -> list[str]:
        top = self._path(prefix)
        self.client.invalidate_cache(top)
        root = self.options.root + "/"
        return [p[len(root) :] for p in self.client.find(top)]


def storage_factory(options: Mapping[str, Any]) -> ResultStorage:
    """Create a result storage from ``{"kind": "file" | "s3", "options": {...}}``.

    Parameters
    ----------
    options : Mapping[str, Any]
        ``kind`` (``"file"`` or ``"s3"``) and that kind's ``options``.

    Returns
    -------
    ResultStorage
        A :class:`FileStorage` or an :class:`S3Storage`.

    Examples
    --------
    >>> import tempfile
    >>> storage = storage_factory({"kind": "file", "options": {"path": tempfile.mkdtemp()}})
    >>> type(storage).__name__
    'FileStorage'

    An S3 storage (``storage_options`` are those of :class:`s3fs.S3FileSystem`)::

        storage_factory({"kind": "s3", "options": {"bucket": "results", "prefix": "runs/2024",
                                                   "storage_options": {"anon": False}}})
    """
    spec = _only_keys(options, {"kind", "options"}, "storage options")
    kind = spec.get("kind")
    inner = spec.get("options", {})
    if kind == "file":
        return FileStorage(FileStorageOptions.from_dict(inner))
    if kind == "s3":
        return S3Storage(S3StorageOptions.from_dict(inner))
    raise InvalidOptionError(f'storage "kind" must be "file" or "s3", got {kind!r}')
