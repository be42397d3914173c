"""The result storage: named results pickled with their large arrays written out by persistent serializers.

Layout under a storage root::

    results/<name>.json     manifest: format version, the pickle's key, the persistent ids it holds
    pickles/<token>.pkl     the result pickle (persistent ids in place of the arrays)
    arrays/...              array files, written by the serializers through the storage's protocols

A save writes the arrays, then the pickle, then the manifest in one atomic write (local: rename; S3: a single
PUT). Until the manifest is replaced the previous result stays readable; a failed save removes what it wrote.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import (
    BrokenLinkError,
    CorruptMetadataError,
    InvalidOptionError,
    ResultNotFoundError,
    UnsupportedFormatVersionError,
)
from .base import PersistentSerializer, new_name
from .restricted import DEFAULT_ALLOWED, restricted_load, unrestricted_load

__all__ = ["RESULT_FORMAT", "RESULT_FORMAT_VERSION", "ResultStorage", "check_result_name"]

RESULT_FORMAT = "zarrbridge.result"
RESULT_FORMAT_VERSION = 1
PICKLE_PROTOCOL = 5
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")


def check_result_name(name: object) -> str:
    """Validate a result name: ``/``-separated parts of letters, digits, ``_``, ``.`` and ``-``."""
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 512:
        raise InvalidOptionError(
            f"result name {name!r} must be a string of '/'-separated parts made of letters, digits, "
            "'_', '.' and '-' (not starting with '.' or '-'), at most 512 characters"
        )
    return name


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples persistent ids are made of."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class _ResultPickler(pickle.Pickler):
    def __init__(self, file: Any, storage: ResultStorage, written: list[tuple[str, Any]]) -> None:
        super().__init__(file, protocol=PICKLE_PROTOCOL)
        self._storage = storage
        self._written = written
        self._seen: dict[int, tuple[Any, tuple[str, Any]]] = {}  # id -> (obj kept alive, pid)

    def persistent_id(self, obj: Any) -> Any:
        for serializer in self._storage.serializers:
            if serializer.accepts(obj):
                seen = self._seen.get(id(obj))
                if seen is not None:
                    return seen[1]
                pid = (serializer.key, serializer.pickle(obj, self._storage.protocols))
                self._written.append(pid)
                self._seen[id(obj)] = (obj, pid)
                return pid
        return None


class ResultStorage(ABC):
    """Named results, with registered persistent serializers writing their arrays to array files.

    Subclasses provide the key/bytes operations and the ``protocols`` their serializers write through.
    Loading a result unpickles it, which runs code named by the pickle: pass ``restricted=True`` to load
    results you did not write yourself (see :mod:`zarrbridge.serializers.restricted`).
    """

    def __init__(self) -> None:
        self._serializers: dict[str, type[PersistentSerializer]] = {}

    # -- what a concrete storage implements -------------------------------------------------------------------
    @property
    @abstractmethod
    def protocols(self) -> Mapping[str, Any]:
        """The protocols the serializers write through (``{FILE_PROTOCOL: ...}`` or ``{S3_PROTOCOL: ...}``)."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the storage lives (a path or URL), for messages."""

    @abstractmethod
    def _put(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` atomically: readers see the old bytes or the new ones."""

    @abstractmethod
    def _get(self, key: str) -> bytes:
        """The bytes at ``key``; :class:`FileNotFoundError` when there are none."""

    @abstractmethod
    def _delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    @abstractmethod
    def _keys(self, prefix: str) -> list[str]:
        """Every key under the folder ``prefix``."""

    @abstractmethod
    def _ages(self, prefix: str) -> dict[str, float]:
        """Age in seconds of each entry directly under the folder ``prefix`` (newest file inside a folder)."""

    @abstractmethod
    def _remove_entry(self, key: str) -> None:
        """Remove the file or folder ``key``."""

    # -- serializers --------------------------------------------------------------------------------------------
    def register_persistent_serializers(self, *serializers: type[PersistentSerializer]) -> None:
        """Let ``serializers`` write objects of their class out of every result saved from now on.

        The first registered serializer that accepts an object takes it. Registering the same class twice
        is harmless; two classes with the same ``key`` are an error that names both.
        """
        for serializer in serializers:
            if not isinstance(serializer, type) or not issubclass(serializer, PersistentSerializer):
                raise InvalidOptionError(
                    f"persistent serializers are PersistentSerializer subclasses (the class itself, such as "
                    f"DaskArraySerializer), got {serializer!r}"
                )
            owner = self._serializers.get(serializer.key)
            if owner is not None and owner is not serializer:
                raise InvalidOptionError(
                    f"serializer key {serializer.key!r} is used by both {owner.__qualname__} and "
                    f"{serializer.__qualname__}; register only one of them or give one another key"
                )
            self._serializers[serializer.key] = serializer

    @property
    def serializers(self) -> tuple[type[PersistentSerializer], ...]:
        """The registered serializers, in registration order."""
        return tuple(self._serializers.values())

    def _serializer(self, key: Any) -> type[PersistentSerializer]:
        serializer = self._serializers.get(key) if isinstance(key, str) else None
        if serializer is None:
            raise InvalidOptionError(
                f"the result holds arrays of serializer {key!r}, which is not registered on this storage "
                f"(registered: {sorted(self._serializers)}); register it with register_persistent_serializers()"
            )
        return serializer

    def _persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or len(pid) != 2:
            raise CorruptMetadataError("persistent id", f"expected (serializer key, id), got {pid!r}")
        return self._serializer(pid[0]).unpickle(pid[1], self.protocols)

    # -- results ------------------------------------------------------------------------------------------------
    @staticmethod
    def _manifest_key(name: str) -> str:
        return f"results/{name}.json"

    def _read_manifest(self, name: str) -> dict[str, Any]:
        key = self._manifest_key(check_result_name(name))
        try:
            raw = self._get(key)
        except FileNotFoundError:
            raise ResultNotFoundError(name, self.location) from None
        try:
            manifest = json.loads(raw)
        except ValueError as exc:
            raise CorruptMetadataError(key, f"not JSON ({exc})", self.location) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != RESULT_FORMAT:
            raise CorruptMetadataError(key, f"not a {RESULT_FORMAT} manifest", self.location)
        if manifest.get("format_version") != RESULT_FORMAT_VERSION:
            raise UnsupportedFormatVersionError(
                f"result {name!r}", manifest.get("format_version"), (RESULT_FORMAT_VERSION,)
            )
        if not isinstance(manifest.get("pickle"), str) or not isinstance(manifest.get("arrays"), list):
            raise CorruptMetadataError(key, "missing 'pickle' or 'arrays'", self.location)
        return manifest

    def exists(self, name: str) -> bool:
        """Whether a result called ``name`` is saved."""
        try:
            self._get(self._manifest_key(check_result_name(name)))
        except FileNotFoundError:
            return False
        return True

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.exists(name)

    def names(self, *, prefix: str = "") -> list[str]:
        """The names of the saved results (those starting with ``prefix``), sorted."""
        out = []
        for key in self._keys("results"):
            if key.startswith("results/") and key.endswith(".json"):
                name = key[len("results/") : -len(".json")]
                if name.startswith(prefix):
                    out.append(name)
        return sorted(out)

    def save(self, name: str, obj: Any) -> None:
        """Save ``obj`` as the result ``name``, replacing any previous one only once the new one is complete.

        Objects accepted by a registered serializer are written to array files; the rest is pickled.
        If anything fails (an array that cannot be computed, a full disk...), the files written so far are
        removed, the previous result stays as it was, and the error is raised with a note saying so.
        """
        check_result_name(name)
        try:
            old: dict[str, Any] | None = self._read_manifest(name)
        except (ResultNotFoundError, CorruptMetadataError, UnsupportedFormatVersionError):
            old = None  # nothing readable to replace; files of a damaged one are left to collect_garbage()
        written: list[tuple[str, Any]] = []
        pickle_key = f"pickles/{new_name('.pkl')}"
        buffer = io.BytesIO()
        try:
            _ResultPickler(buffer, self, written).dump(obj)
            self._put(pickle_key, buffer.getvalue())
            manifest = {
                "format": RESULT_FORMAT,
                "format_version": RESULT_FORMAT_VERSION,
                "name": name,
                "pickle": pickle_key,
                "arrays": [list(pid) for pid in written],
                "saved": datetime.now(UTC).isoformat(),
            }
            self._put(self._manifest_key(name), json.dumps(manifest, indent=1).encode())
        except BaseException as exc:
            self._discard(pickle_key, written, exc)
            exc.add_note(f"zarrbridge: result {name!r} was not saved; any previous version is unchanged")
            raise
        if old is not None:
            self._discard(old["pickle"], [_tuples(pid) for pid in old["arrays"]], None)

    def _discard(self, pickle_key: str, pids: list[Any], error: BaseException | None) -> None:
        """Remove a pickle and its arrays; with ``error`` given, failures are added to it as notes."""
        for pid in pids:
            try:
                self._serializer(pid[0]).remove(pid[1], self.protocols)
            except Exception as exc:
                if error is None:
                    raise
                error.add_note(f"zarrbridge: could not remove array {pid!r}: {exc}")
        self._delete(pickle_key)

    def load(
        self, name: str, *, restricted: bool = False, allowed: frozenset[tuple[str, str]] = frozenset()
    ) -> Any:
        """Load the result ``name``; its arrays come back as the serializers read them (lazy dask arrays...).

        Parameters
        ----------
        name
            The result's name.
        restricted
            Build only plain data, numpy arrays and registered serializers' objects, plus the ``(module,
            name)`` globals in ``allowed``. Without it, loading runs whatever code the pickle names.
        allowed
            Extra globals a restricted load may build.

        Raises
        ------
        ResultNotFoundError
            No result called ``name``.
        UnsafePickleError
            ``restricted`` and the pickle names a global that is not allowed.
        """
        manifest = self._read_manifest(name)
        try:
            data = self._get(manifest["pickle"])
        except FileNotFoundError:
            raise BrokenLinkError(f"result {name!r}", manifest["pickle"], self.location) from None
        what = f"result {name!r} in {self.location}"
        if restricted:
            return restricted_load(
                data, persistent_load=self._persistent_load, allowed=DEFAULT_ALLOWED | allowed, what=what
            )
        return unrestricted_load(data, persistent_load=self._persistent_load, what=what)

    def collect_garbage(self, *, older_than: float = 3600.0) -> list[str]:
        """Remove pickles and array files no saved result refers to, left by saves that crashed.

        Only entries older than ``older_than`` seconds are removed, so saves still running (here or in
        another process) keep their files. Returns the removed keys.
        """
        if not isinstance(older_than, (int, float)) or older_than < 0:
            raise InvalidOptionError(f"older_than must be a number of seconds >= 0, got {older_than!r}")
        used: set[str] = set()
        for name in self.names():
            manifest = self._read_manifest(name)
            used.add(manifest["pickle"])
            for pid in manifest["arrays"]:
                inner = pid[1] if isinstance(pid, list) and len(pid) == 2 else None
                if isinstance(inner, list) and len(inner) == 4 and isinstance(inner[3], str):
                    used.add("arrays/" + inner[3].split("/")[0])
        removed = []
        for folder in ("pickles", "arrays"):
            for key, age in sorted(self._ages(folder).items()):
                stem = key[: -len(".partial")] if key.endswith(".partial") else key
                if key not in used and stem not in used and age >= older_than:
                    self._remove_entry(key)
                    removed.append(key)
        return removed

    def remove(self, name: str) -> None:
        """Remove the result ``name`` and its array files."""
        manifest = self._read_manifest(name)
        self._delete(self._manifest_key(name))
        self._discard(manifest["pickle"], [_tuples(pid) for pid in manifest["arrays"]], None)
