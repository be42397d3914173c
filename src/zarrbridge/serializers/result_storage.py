"""The result storage: named results pickled with their large arrays written out by persistent serializers.

Layout under a storage root::

    results/<name>.json     manifest: format version, the pickle's key, the persistent ids it holds
    pickles/<token>.pkl     the result pickle (persistent ids in place of the arrays)
    arrays/...              array files, written by the serializers through the storage's protocols
    garbage/<token>.json    what an overwrite or a removal made unreachable, and since when

A save writes the arrays, then the pickle, then the manifest in one atomic write (local: rename; S3: a single
PUT): the result becomes visible only with that last small document. Until the manifest is replaced the
previous result stays readable; a failed save removes what it wrote.

Retention: an overwrite or a removal does not delete the old pickle and arrays. It makes them unreachable for
new readers and lists them in a ``garbage/`` document; arrays already loaded from them (lazy dask arrays
still in use, here or on workers) keep reading their old values. :meth:`ResultStorage.collect_garbage`
deletes what has been unreachable for longer than ``older_than`` seconds, as object stores with snapshots do.
Call it from time to time (``older_than=0`` deletes it all at once, when no reader can still be using it).
"""

from __future__ import annotations

import io
import json
import pickle
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from ..core.bounds import check_max_bytes
from ..core.integrity import check_missing_chunks
from ..core.names import check_relative_path
from ..errors import (
    BrokenLinkError,
    CorruptMetadataError,
    InvalidOptionError,
    ResultNotFoundError,
    StorageFullError,
    UnsafeNameError,
    UnsupportedFormatVersionError,
)
from ..progress import ProgressOption, check_progress, reporting
from .base import PersistentSerializer, ReadLimits, check_blocks, is_disk_full, new_name, reading_with
from .restricted import DEFAULT_ALLOWED, restricted_load, unrestricted_load
from .tasks import WorkflowMethods

__all__ = ["RESULT_FORMAT", "RESULT_FORMAT_VERSION", "ResultStorage", "check_result_name"]

RESULT_FORMAT = "zarrbridge.result"
RESULT_FORMAT_VERSION = 1
GARBAGE_FORMAT = "zarrbridge.garbage"
PICKLE_PROTOCOL = 5
_OURS = re.compile(r"^[0-9a-f]{32}(\.[a-z0-9]+)?(\.partial)?$")  # names new_name() gives array files


def check_result_name(name: object) -> str:
    """Validate a result name: a relative ``/``-separated path (:mod:`zarrbridge.core.names`).

    Components may not start with ``.`` (reserved for the storage's temporary files); at most 512 characters.

    Raises
    ------
    UnsafeNameError
        ``name`` could not be a key inside the storage.
    """
    check_relative_path(name, what="result name")
    assert isinstance(name, str)
    if len(name) > 512 or any(part.startswith(".") for part in name.split("/")):
        raise UnsafeNameError(
            name, "result name", "is longer than 512 characters or has a part starting with '.'"
        )
    return name


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples persistent ids are made of."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _claims(serializer: Any, obj: Any) -> bool:
    """Whether ``serializer`` takes ``obj``: its ``accepts()``, else Function Fuse's rule (the exact type)."""
    accepts = getattr(serializer, "accepts", None)
    return bool(accepts(obj)) if callable(accepts) else type(obj) is serializer.serializer_class


class _ResultPickler(pickle.Pickler):
    def __init__(self, file: Any, storage: ResultStorage, written: list[tuple[str, Any]]) -> None:
        super().__init__(file, protocol=PICKLE_PROTOCOL)
        self._storage = storage
        self._written = written
        self._seen: dict[int, tuple[Any, Any]] = {}  # id -> (obj kept alive, pid)

    def persistent_id(self, obj: Any) -> Any:
        for serializer in self._storage.serializers:
            if _claims(serializer, obj):
                seen = self._seen.get(id(obj))
                if seen is not None:
                    return seen[1]
                pid = serializer.pickle(obj, self._storage.protocols)
                if pid is None:  # (the serializer leaves it in the pickle)
                    return None
                if not (isinstance(pid, tuple) and len(pid) == 2 and pid[0] in self._storage._serializers):
                    raise InvalidOptionError(
                        f"{serializer.__qualname__}.pickle() returned {pid!r}; a persistent id is (name, "
                        "inner id) with the name of a serializer registered on this storage"
                    )
                self._written.append(pid)
                self._seen[id(obj)] = (obj, pid)
                return pid
        return None


class ResultStorage(WorkflowMethods, ABC):
    """Named results, with registered persistent serializers writing their arrays to array files.

    Subclasses provide the key/bytes operations and the ``protocols`` their serializers write through.
    Loading a result unpickles it, which runs code named by the pickle: pass ``restricted=True`` to load
    results you did not write yourself (see :mod:`zarrbridge.serializers.restricted`). The methods Function
    Fuse's workflows call (``new_workflow``, ``save(workflow, task, obj)``, ``read_task``...) are there too
    (:class:`~zarrbridge.serializers.tasks.WorkflowMethods`).
    """

    def __init__(self) -> None:
        self._serializers: dict[str, Any] = {}
        self.always_read = False

    # -- what a concrete storage implements ------------------------------------------------------------------
    @property
    @abstractmethod
    def protocols(self) -> Mapping[str, Any]:
        """The protocols the serializers write through (``{FILE_PROTOCOL: ...}`` or
        ``{S3_PROTOCOL: ...}``)."""

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

    # -- serializers -----------------------------------------------------------------------------------------
    def register_persistent_serializers(self, *serializers: Any) -> None:
        """Let ``serializers`` write objects of their class out of every result saved from now on.

        A serializer is a :class:`PersistentSerializer` subclass or any class with Function Fuse's interface
        (``serializer_class``, ``name``, ``pickle``, ``unpickle``, ``remove``). The first registered one that
        takes an object (its ``accepts()``, else an object of exactly its ``serializer_class``) writes it.
        Registering the same class twice is harmless; two classes with one ``name`` are an error naming both.

        Parameters
        ----------
        *serializers : type
            Serializer classes, tried in the order given.
        """
        for serializer_ in serializers:
            serializer: Any = serializer_
            missing = [
                a for a in ("pickle", "unpickle", "remove") if not callable(getattr(serializer, a, None))
            ]
            if not isinstance(getattr(serializer, "name", None), str):
                missing.append("name (a str)")
            if not isinstance(getattr(serializer, "serializer_class", None), type):
                missing.append("serializer_class (a class)")
            if not isinstance(serializer, type) or missing:
                raise InvalidOptionError(
                    "a persistent serializer is a class with serializer_class, name, pickle, unpickle and "
                    f"remove (such as DaskArraySerializer); {serializer!r} lacks "
                    f"{', '.join(missing) or 'being a class'}"
                )
            tag: str = serializer_.name
            owner = self._serializers.get(tag)
            if owner is not None and owner is not serializer:
                raise InvalidOptionError(
                    f"serializer name {tag!r} is used by both {owner.__qualname__} and "
                    f"{serializer.__qualname__}; register only one of them or give one another name"
                )
            self._serializers[tag] = serializer

    @property
    def serializers(self) -> tuple[Any, ...]:
        """The registered serializers, in registration order."""
        return tuple(self._serializers.values())

    def _serializer(self, tag: Any) -> Any:
        serializer = self._serializers.get(tag) if isinstance(tag, str) else None
        if serializer is None:
            raise InvalidOptionError(
                f"the result holds arrays of serializer {tag!r}, which is not registered on this storage "
                f"(registered: {sorted(self._serializers)}); register it with "
                "register_persistent_serializers()"
            )
        return serializer

    def _persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or len(pid) != 2:
            raise CorruptMetadataError("persistent id", f"expected (serializer name, id), got {pid!r}")
        tag, inner = pid
        value = self._serializer(tag).unpickle(inner, self.protocols)
        check_blocks(value, what=f"array {inner!r} of a result in {self.location}")
        return value

    # -- manifests -------------------------------------------------------------------------------------------
    @staticmethod
    def _manifest_key(name: str) -> str:
        return f"results/{name}.json"

    def _checked_entries(self, document: dict[str, Any], key: str) -> tuple[str, list[tuple[str, Any]]]:
        """The pickle key and the persistent ids a manifest (or garbage document) names, every one checked.

        Raises
        ------
        UnsafeNameError
            An entry could name a file outside the storage (``..``, absolute, NUL...).
        CorruptMetadataError
            An entry is malformed, or the pickle is not in ``pickles/``.
        """
        pickle_key = check_relative_path(document.get("pickle"), what=f"pickle named by {key}")
        if not pickle_key.startswith("pickles/") or pickle_key.count("/") != 1:
            raise CorruptMetadataError(key, f"the pickle {pickle_key!r} is not in pickles/", self.location)
        arrays = document.get("arrays")
        if not isinstance(arrays, list):
            raise CorruptMetadataError(key, "'arrays' is not a list", self.location)
        pids = []
        for entry in arrays:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                raise CorruptMetadataError(
                    key, f"array entry {entry!r} is not [serializer, id]", self.location
                )
            pid = (entry[0], _tuples(entry[1]))
            serializer = self._serializers.get(pid[0])
            if isinstance(serializer, type) and issubclass(serializer, PersistentSerializer):
                serializer.check_id(pid[1])  # (other serializers' ids are theirs to check)
            pids.append(pid)
        return pickle_key, pids

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
        manifest["pickle"], manifest["arrays"] = self._checked_entries(manifest, key)
        return manifest

    # -- results ---------------------------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        """Whether a result called ``name`` is saved.

        Parameters
        ----------
        name : str
            A result name (``workflow/task`` style names are allowed).

        Returns
        -------
        bool
            Whether the result exists.
        """
        try:
            self._get(self._manifest_key(check_result_name(name)))
        except FileNotFoundError:
            return False
        return True

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.exists(name)

    def names(self, *, prefix: str = "") -> list[str]:
        """The names of the saved results (those starting with ``prefix``), sorted.

        Parameters
        ----------
        prefix : str
            Only names starting with it.

        Returns
        -------
        list of str
            The result names.
        """
        out = []
        for key in self._keys("results"):
            if key.startswith("results/") and key.endswith(".json"):
                name = key[len("results/") : -len(".json")]
                if name.startswith(prefix):
                    out.append(name)
        return sorted(out)

    def save(self, name: str, *args: Any, progress: ProgressOption = None) -> None:
        """Save ``obj`` as the result ``name``, replacing any previous one only once the new one is complete.

        Called ``save(name, obj)``, or ``save(workflow, task, obj)`` as Function Fuse's workflows do (the
        result ``workflow/task``). Objects accepted by a registered serializer are written to array files;
        the rest is pickled. If anything fails (an array that cannot be computed, a full disk...), the files
        written so far are removed, the previous result stays as it was, and the error is raised with a note
        saying so (a full disk as :class:`~zarrbridge.errors.StorageFullError`). The previous result's
        files are kept until :meth:`collect_garbage` (see the module docstring).

        Parameters
        ----------
        name : str
            The result's name (or the workflow's, in the three-argument form).
        *args : object
            ``obj``, or ``task, obj`` in Function Fuse's form.
        progress : bool, type or callable, optional
            ``True`` for a tqdm bar, a tqdm-compatible class, or a callable taking the bytes written since its
            previous call, for the arrays the serializers write (on a ``distributed`` cluster, as the cluster
            completes their blocks); see :mod:`zarrbridge.progress`. Off by default.
        """
        if len(args) == 2:
            name, obj = f"{check_result_name(name)}/{check_result_name(args[0])}", args[1]
        elif len(args) == 1:
            obj = args[0]
        else:
            raise TypeError(
                f"save() takes (name, obj) or (workflow, task, obj), got {1 + len(args)} arguments"
            )
        check_result_name(name)
        check_progress(progress, where="save(progress=)")
        try:
            old: dict[str, Any] | None = self._read_manifest(name)
        except (ResultNotFoundError, CorruptMetadataError, UnsupportedFormatVersionError, UnsafeNameError):
            old = None  # nothing readable to replace; an unsafe one names nothing that is ever deleted
        written: list[tuple[str, Any]] = []
        pickle_key = f"pickles/{new_name('.pkl')}"
        buffer = io.BytesIO()
        try:
            with reporting(progress, description=f"saving {name}"):
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
            try:
                document = json.dumps(manifest, indent=1).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidOptionError(
                    f"a serializer returned a persistent id that is not JSON data ({exc})"
                ) from exc
            self._put(self._manifest_key(name), document)
        except BaseException as exc:
            self._discard(pickle_key, written, exc)
            if isinstance(exc, OSError) and not isinstance(exc, StorageFullError) and is_disk_full(exc):
                raise StorageFullError(f"result {name!r}", self.location, str(exc)) from exc
            exc.add_note(f"zarrbridge: result {name!r} was not saved; any previous version is unchanged")
            raise
        if old is not None:
            try:
                self._retire(name, old)
            except BaseException as exc:
                exc.add_note(
                    f"zarrbridge: result {name!r} was saved; the previous version's files are left for "
                    "collect_garbage()"
                )
                raise

    def _discard(self, pickle_key: str, pids: list[Any], error: BaseException | None) -> None:
        """Remove a pickle and its arrays; with ``error`` given, failures are added to it as notes."""
        for tag, inner in pids:
            try:
                self._serializer(tag).remove(inner, self.protocols)
            except Exception as exc:
                if error is None:
                    raise
                error.add_note(f"zarrbridge: could not remove array {(tag, inner)!r}: {exc}")
        self._delete(pickle_key)

    def _retire(self, name: str, manifest: dict[str, Any]) -> None:
        """List an overwritten or removed result's pickle and arrays as garbage
        (deleted by collect_garbage)."""
        document = {
            "format": GARBAGE_FORMAT,
            "format_version": 1,
            "result": name,
            "since": time.time(),
            "pickle": manifest["pickle"],
            "arrays": [[tag, inner] for tag, inner in manifest["arrays"]],
        }
        self._put(f"garbage/{new_name('.json')}", json.dumps(document).encode())

    def load(
        self,
        name: str,
        *,
        restricted: bool = False,
        allowed: frozenset[tuple[str, str]] = frozenset(),
        max_bytes: int | None = None,
        missing_chunks: Literal["error", "fill"] = "error",
        progress: ProgressOption = None,
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
        max_bytes
            The most memory one read may take, in bytes: an array loaded whole (``NumpyArraySerializer``), one
            block of a lazy dask array, or (``restricted``) what the pickle itself builds. Larger ones raise
            :class:`~zarrbridge.errors.ResourceLimitError` before they are read. Default ``None``: the
            machine's memory (and the restricted unpickler's own budget).
        missing_chunks
            ``"error"`` (default): a chunk missing from a zarr array zarrbridge wrote (every chunk is stored)
            is a :class:`~zarrbridge.errors.MissingChunkError` when read; ``"fill"``: it reads as the fill
            value, for results another tool wrote with regions left unwritten. HDF5 arrays have no missing
            chunks.

        progress
            ``True``, a tqdm-compatible class, or a callable taking bytes read, for the arrays read into
            memory during the load (``NumpyArraySerializer``'s); lazy dask arrays read nothing until computed.

        Returns
        -------
        object
            The result, as saved (arrays as their serializers read them).

        Raises
        ------
        ResultNotFoundError
            No result called ``name`` (a ``FileNotFoundError`` and a ``KeyError``).
        UnsafeNameError
            The manifest names a file outside the storage; nothing is read.
        UnsafePickleError
            ``restricted`` and the pickle names a global that is not allowed.
        InvalidOptionError
            ``max_bytes`` or ``missing_chunks`` is not one of the values above.
        """
        limits = ReadLimits(
            check_max_bytes(max_bytes, owner=f"{type(self).__name__}.load"),
            check_missing_chunks(missing_chunks, owner=f"{type(self).__name__}.load"),
        )
        manifest = self._read_manifest(name)
        try:
            data = self._get(manifest["pickle"])
        except FileNotFoundError:
            raise BrokenLinkError(f"result {name!r}", manifest["pickle"], self.location) from None
        what = f"result {name!r} in {self.location}"
        check_progress(progress, where="load(progress=)")
        with reading_with(limits), reporting(progress, description=f"loading {name}"):
            if restricted:
                return restricted_load(
                    data,
                    persistent_load=self._persistent_load,
                    allowed=DEFAULT_ALLOWED | allowed,
                    what=what,
                    max_bytes=max_bytes,
                )
            return unrestricted_load(data, persistent_load=self._persistent_load, what=what)

    def remove(self, name: str) -> None:
        """Remove the result ``name``: new readers no longer find it; its files go at :meth:`collect_garbage`.

        Parameters
        ----------
        name : str
            The result's name.

        Raises
        ------
        ResultNotFoundError
            No result called ``name``.
        UnsafeNameError
            Its manifest names a file outside the storage: nothing is removed (delete the manifest
            ``results/<name>.json`` by hand).
        """
        manifest = self._read_manifest(name)
        self._delete(self._manifest_key(name))
        self._retire(name, manifest)

    # -- garbage ---------------------------------------------------------------------------------------------
    def _array_entries(self, pids: list[tuple[str, Any]]) -> Iterator[str]:
        """The ``arrays/`` entries zarrbridge's ids name (other serializers' ids are opaque)."""
        for _, inner in pids:
            if isinstance(inner, tuple) and len(inner) == 4 and isinstance(inner[3], str):
                yield "arrays/" + inner[3].split("/")[0]

    def collect_garbage(self, *, older_than: float = 3600.0) -> list[str]:
        """Delete what overwrites and removals made unreachable, and what crashed saves left behind.

        Only what has been unreachable (or, for leftovers of crashed saves, unchanged) for at least
        ``older_than`` seconds is deleted, so that arrays loaded before an overwrite keep their values for
        that long and saves still running (here or in another process) keep their files. What a serializer
        that is not registered on this storage wrote is kept until it is. Returns the removed keys
        (``garbage/...`` documents, ``pickles/...``, ``arrays/...``).

        Parameters
        ----------
        older_than : float
            Seconds something must have been unreachable before it is deleted.

        Returns
        -------
        list of str
            The keys removed.
        """
        if not isinstance(older_than, (int, float)) or older_than < 0:
            raise InvalidOptionError(f"older_than must be a number of seconds >= 0, got {older_than!r}")
        used: set[str] = set()
        for name in self.names():
            try:
                manifest = self._read_manifest(name)
            except (
                CorruptMetadataError,
                UnsupportedFormatVersionError,
                UnsafeNameError,
                ResultNotFoundError,
            ):
                continue  # (its files, if any, age like leftovers)
            used.add(manifest["pickle"])
            used.update(self._array_entries(manifest["arrays"]))
        removed: list[str] = []
        now = time.time()
        expired: list[tuple[str, str, list[tuple[str, Any]]]] = []
        for key in sorted(self._keys("garbage")):
            try:
                document = json.loads(self._get(key))
                since = float(document["since"])
                pickle_key, pids = self._checked_entries(document, key)
            except (ValueError, KeyError, TypeError, FileNotFoundError, CorruptMetadataError):
                # (a damaged or hostile document: nothing it names is touched; ours age as leftovers)
                continue
            if now - since < older_than or any(tag not in self._serializers for tag, _ in pids):
                used.add(pickle_key)  # kept: still retained, or its serializer is not registered here (yet)
                used.update(self._array_entries(pids))
            else:
                expired.append((key, pickle_key, pids))
        for key, pickle_key, pids in expired:
            for tag, inner in pids:
                entries = set(self._array_entries([(tag, inner)]))
                if not entries & used:  # (never an array a live or retained result still names)
                    self._serializer(tag).remove(inner, self.protocols)
                    removed += sorted(entries)
            if pickle_key not in used:
                self._delete(pickle_key)
                removed.append(pickle_key)
            self._delete(key)
            removed.append(key)
        for folder in ("pickles", "arrays"):
            for key, age in sorted(self._ages(folder).items()):
                ours = folder == "pickles" or _OURS.match(key.split("/", 1)[1])  # (others' arrays: theirs)
                if key not in used and ours and age >= older_than:
                    self._remove_entry(key)
                    removed.append(key)
        return removed
