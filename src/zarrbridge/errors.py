"""The one error hierarchy of zarrbridge.

Every class derives from :class:`ZarrBridgeError` and from the built-in exception it resembles, so callers can
catch either. Each carries the data that caused it and a message that says what to do next.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

__all__ = [
    "BrokenLinkError",
    "CodecNameClashError",
    "CodecReplacedWarning",
    "CodecNotMappedWarning",
    "CorruptChunkError",
    "CorruptMetadataError",
    "ForeignRowError",
    "InvalidOptionError",
    "LocationError",
    "MissingChunkError",
    "MissingDependencyError",
    "NodeNotFoundError",
    "NotAZarrStoreError",
    "NotAnNWBFileError",
    "PathNotFoundError",
    "ReadOnlyError",
    "ResourceLimitError",
    "ResultNotFoundError",
    "ShapeMismatchError",
    "StorageFullError",
    "StoreExistsError",
    "StoreInUseError",
    "StoreUnreachableError",
    "UnknownCodecError",
    "UnsafeNameError",
    "UnsafePickleError",
    "UnsupportedDtypeError",
    "UnsupportedFormatVersionError",
    "UnsupportedValueTypeError",
    "WriteInterruptedError",
    "ZarrBridgeError",
    "ZarrBridgeWarning",
    "recast",
    "translated",
]


class ZarrBridgeError(Exception):
    """Base class of every error raised by zarrbridge."""


def _detail(reason: str) -> str:
    """How messages add a detail: `` (reason)``, or nothing."""
    return f" ({reason})" if reason else ""


def _first_arg(error: BaseException) -> str:
    """The message alone, for classes whose built-in base would decorate it (``KeyError`` quotes it)."""
    return str(error.args[0])


class _LocatedError(ZarrBridgeError):
    """An error about something inside a file or store; ``location`` is None when it is not known."""

    location: object

    def _where(self, location: object) -> str:
        """Keep ``location`` and return its part of the message: `` in 'location'``, or nothing."""
        self.location = location
        return f" in {location!r}" if location is not None else ""


class _ChunkError(_LocatedError):
    """A chunk ``key`` of the array ``what`` that cannot be read; subclasses say how and what to do."""

    state = ""
    advice = ""

    def __init__(self, key: str, what: str, location: object = None, reason: str = "") -> None:
        self.key, self.what = key, what
        where = self._where(location)
        super().__init__(f"chunk {key!r} of {what}{where} is {self.state}{_detail(reason)}. {self.advice}")


class MissingDependencyError(ZarrBridgeError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it.

    Parameters
    ----------
    package : str
        The import name of the missing package.
    extra : str
        The zarrbridge extra that installs it (``pip install "zarrbridge[extra]"``).
    feature : str
        What needed it, named in the message.
    """

    def __init__(self, package: str, extra: str, feature: str) -> None:
        self.package, self.extra, self.feature = package, extra, feature
        super().__init__(
            f"{feature} needs the package {package!r}, which is not installed. "
            f'Install it with: pip install "zarrbridge[{extra}]"'
        )


class InvalidOptionError(ZarrBridgeError, ValueError):
    """An argument has a value zarrbridge cannot use."""


class LocationError(ZarrBridgeError, ValueError):
    """A location (path, URL, store) cannot be understood or opened.

    Parameters
    ----------
    location : object
        The path, URL or store that was given.
    reason : str
        Why it cannot be used.
    """

    def __init__(self, location: object, reason: str) -> None:
        self.location = location
        super().__init__(f"cannot use location {location!r}: {reason}")


class NotAZarrStoreError(ZarrBridgeError, FileNotFoundError):
    """The location exists (or not) but holds no zarr hierarchy.

    Parameters
    ----------
    location : object
        The location that was opened.
    reason : str, optional
        More detail, added to the message in parentheses.
    """

    def __init__(self, location: object, reason: str = "") -> None:
        self.location = location
        super().__init__(
            f"{location!r} is not a zarr store{_detail(reason)}: it has no zarr.json (format 3) or .zgroup "
            "(format 2) at its root. Check the path, or open it with mode='w' to create a new file."
        )


class StoreExistsError(ZarrBridgeError, FileExistsError):
    """Mode ``w-``/``x`` was asked for, but the location already holds data.

    Parameters
    ----------
    location : object
        The location that already holds data.
    """

    def __init__(self, location: object) -> None:
        self.location = location
        super().__init__(
            f"{location!r} already exists; mode 'w-'/'x' never overwrites. "
            "Use mode 'w' to replace it or 'a' to add to it."
        )


class ReadOnlyError(ZarrBridgeError, PermissionError):
    """A write was attempted through a read-only handle.

    Parameters
    ----------
    what : object
        The handle or object that was written to.
    hint : str, optional
        What to do instead; by default, to open it with mode ``'r+'`` or ``'a'``.
    """

    def __init__(self, what: object, hint: str = "open it with mode 'r+' or 'a' to modify it") -> None:
        self.what = what
        super().__init__(f"{what} is read-only; {hint}.")


class NodeNotFoundError(_LocatedError, KeyError):
    """A group or array that should exist is missing.

    Parameters
    ----------
    path : str
        The path of the missing group or array inside the file.
    location : object, optional
        The file or store it was looked up in.
    hint : str, optional
        What to do next, appended to the message.
    """

    def __init__(self, path: str, location: object = None, hint: str = "") -> None:
        self.path = path
        where = self._where(location)
        super().__init__(f"no group or array at {path!r}{where}. {hint}".rstrip())

    __str__ = _first_arg  # (KeyError would quote the message)


class BrokenLinkError(_LocatedError, LookupError):
    """A link or object reference points at something that does not exist.

    Parameters
    ----------
    source : str
        The path of the link or reference.
    target : str
        The path it points to, which does not exist.
    location : object, optional
        The file or store holding the link.
    hint : str, optional
        What to do next; by default, to restore the target or remove the link.
    """

    def __init__(self, source: str, target: str, location: object = None, hint: str = "") -> None:
        self.source, self.target = source, target
        where = self._where(location)
        default = "The file is incomplete or the target was removed; restore the target or remove the link."
        super().__init__(f"{source!r} points to {target!r}{where}, which does not exist. {hint or default}")


class CorruptMetadataError(_LocatedError, ValueError):
    """A metadata document cannot be parsed or does not have the expected shape.

    Parameters
    ----------
    key : str
        The store key of the metadata document (e.g. ``'group/zarr.json'``).
    reason : str
        What is wrong with it.
    location : object, optional
        The file or store holding it.
    """

    def __init__(self, key: str, reason: str, location: object = None) -> None:
        self.key = key
        where = self._where(location)
        super().__init__(
            f"metadata {key!r}{where} is corrupt: {reason}. The file may have been damaged or only partly "
            "written; restore it from a copy or rewrite it."
        )


class UnsupportedFormatVersionError(ZarrBridgeError, ValueError):
    """A stored artefact carries a format version this release does not know.

    Parameters
    ----------
    what : str
        The artefact whose version was checked.
    found : object
        The version it carries.
    supported : object
        The version(s) this release reads.
    """

    def __init__(self, what: str, found: object, supported: object) -> None:
        self.what, self.found, self.supported = what, found, supported
        super().__init__(
            f"{what} has format version {found!r}, but this zarrbridge reads only {supported!r}. "
            "Upgrade zarrbridge (pip install -U zarrbridge) to read it."
        )


class UnsupportedDtypeError(ZarrBridgeError, TypeError):
    """Data of a dtype that cannot be stored.

    Parameters
    ----------
    what : str
        The data that could not be stored.
    dtype : object
        Its dtype.
    hint : str, optional
        What to do instead; by default, to convert to a numeric, bool or string array.
    """

    def __init__(self, what: str, dtype: object, hint: str = "") -> None:
        self.what, self.dtype = what, dtype
        super().__init__(
            f"cannot store {what}: dtype {dtype!r} is not supported. "
            f"{hint or 'Convert it to a numeric, bool or string array first.'}"
        )


class ShapeMismatchError(ZarrBridgeError, ValueError):
    """Data does not have the shape that was declared or expected.

    Parameters
    ----------
    what : str
        The data whose shape was checked.
    expected : object
        The declared or expected shape.
    found : object
        The shape it has.
    """

    def __init__(self, what: str, expected: object, found: object) -> None:
        self.what, self.expected, self.found = what, expected, found
        super().__init__(f"{what}: expected shape {expected!r}, got {found!r}")


class UnsafePickleError(ZarrBridgeError, ValueError):
    """A pickle payload asked for something the restricted unpickler does not allow.

    Parameters
    ----------
    what : str
        The payload being unpickled.
    global_name : str
        The ``module.name`` it asked for, which is not on the allow-list.
    """

    def __init__(self, what: str, global_name: str) -> None:
        self.what, self.global_name = what, global_name
        super().__init__(
            f"refused to unpickle {what}: it asks for {global_name!r}, which is not on the allow-list. "
            "Unpickling runs code; only load this data if you trust its author, through the explicit "
            "unsafe option."
        )


class WriteInterruptedError(ZarrBridgeError, RuntimeError):
    """A write did not complete; the destination was left unmarked as complete.

    Parameters
    ----------
    location : object
        The destination that was being written.
    reason : str
        What stopped the write.
    """

    def __init__(self, location: object, reason: str) -> None:
        self.location = location
        super().__init__(
            f"writing {location!r} did not complete ({reason}); the destination is not a valid file. "
            "Fix the cause and write again with mode 'w'."
        )


class CodecNameClashError(ZarrBridgeError, RuntimeError):
    """Two installed packages register a plug-in (e.g. a DataJoint codec) under the same name.

    Parameters
    ----------
    name : str
        The codec name registered twice.
    ours : str
        The zarrbridge class that registers it.
    theirs : str
        The other package's class that registers it.
    """

    def __init__(self, name: str, ours: str, theirs: str) -> None:
        self.name, self.ours, self.theirs = name, ours, theirs
        super().__init__(
            f"the codec name {name!r} is registered twice: by {theirs} and by {ours}. Table definitions "
            f"such as <{name}@store> would silently depend on import order; uninstall one of the two "
            "packages (pip uninstall <package>) so that exactly one owns the name."
        )


class UnsupportedValueTypeError(ZarrBridgeError, TypeError):
    """A value of a Python type that cannot be stored where it was given.

    Parameters
    ----------
    what : str
        Where the value was given (a codec, a column, an attribute).
    value_type : str
        The name of the value's type.
    accepted : str
        What is accepted there, in words.
    """

    def __init__(self, what: str, value_type: str, accepted: str) -> None:
        self.what, self.value_type, self.accepted = what, value_type, accepted
        super().__init__(f"{what} cannot store a value of type {value_type}; it accepts {accepted}.")


class StoreUnreachableError(ZarrBridgeError, ConnectionError):
    """An object store (S3 endpoint, network share) could not be reached.

    Parameters
    ----------
    store : str
        The name of the store (e.g. a DataJoint store name).
    endpoint : str
        The endpoint that did not answer.
    reason : str
        The underlying failure, in words.
    """

    def __init__(self, store: str, endpoint: str, reason: str) -> None:
        self.store, self.endpoint = store, endpoint
        super().__init__(
            f"store {store!r} at {endpoint!r} cannot be reached ({reason}). Check that the endpoint is up "
            "and that host, port, 'secure' and the credentials in its configuration are right; nothing was "
            "left half-written."
        )


class ResultNotFoundError(ZarrBridgeError, KeyError, FileNotFoundError):
    """A result storage holds no result of that name (a ``FileNotFoundError`` too, as workflows expect).

    Parameters
    ----------
    name : str
        The result name that was asked for.
    location : object
        The storage it was looked up in.
    """

    def __init__(self, name: str, location: object) -> None:
        self.name, self.location = name, location
        super().__init__(
            f"no result {name!r} in {location!r}. Check the name (storage.names() lists them) or save it "
            "first."
        )

    __str__ = _first_arg  # (KeyError would quote the message)


class NotAnNWBFileError(ZarrBridgeError, TypeError):
    """A file opened as NWB has no (or an unreadable) ``nwb_version`` attribute at its root.

    Parameters
    ----------
    location : object
        The file that was opened as NWB.
    reason : str
        What is wrong with its ``nwb_version`` attribute.
    """

    def __init__(self, location: object, reason: str) -> None:
        self.location = location
        super().__init__(
            f"{location!r} is not an NWB file: {reason}. Open it with zarrbridge.ZarrIO for plain HDMF "
            "files, or pass skip_version_check=True to read() if you know it holds NWB data."
        )


class UnknownCodecError(_LocatedError, ValueError):
    """An array names a compressor or filter that no installed codec provides (or that is refused).

    Parameters
    ----------
    codec_id : str
        The codec id the array names.
    what : str
        The array (or dataset) encoded with it.
    location : object, optional
        The file or store holding it.
    hint : str, optional
        What to do next; by default, to install the numcodecs plug-in for the id.
    """

    def __init__(self, codec_id: str, what: str, location: object = None, hint: str = "") -> None:
        self.codec_id, self.what = codec_id, what
        where = self._where(location)
        super().__init__(
            f"{what}{where} is encoded with codec {codec_id!r}, which cannot be decoded here. "
            f"{hint or 'Install the numcodecs plug-in that registers this codec id, then read it again.'}"
        )


class MissingChunkError(_ChunkError, FileNotFoundError):
    """A chunk of an array is missing and the array has no fill value that could stand in for it.

    Parameters
    ----------
    key : str
        The store key of the missing chunk.
    what : str
        The array it belongs to.
    location : object, optional
        The file or store holding the array.
    reason : str, optional
        More detail, added to the message in parentheses.
    """

    state = "missing"
    advice = "The file is incomplete or damaged; restore the chunk from a copy of the file."


class ZarrBridgeWarning(UserWarning):
    """Base class of the warnings zarrbridge emits."""


class CodecNotMappedWarning(ZarrBridgeWarning):
    """A source dataset's filter (e.g. HDF5 ``lzf`` or ``szip``) has no zarr counterpart during export.

    The data is decoded and stored with the default zarr compressor instead; nothing is lost.

    Parameters
    ----------
    dataset : str
        The path of the source dataset.
    filter_name : str
        The name of the filter that has no counterpart (``'lzf'``, ``'szip'``...).
    target : str, optional
        The destination format, ``'zarr'`` by default.
    instead : str, optional
        What the data is stored with instead.
    """

    def __init__(
        self,
        dataset: str,
        filter_name: str,
        target: str = "zarr",
        instead: str = "the default zarr compressor",
    ) -> None:
        self.dataset, self.filter_name = dataset, filter_name
        super().__init__(
            f"dataset {dataset!r}: source codec {filter_name!r} has no {target} counterpart; its data is "
            f"stored with {instead} instead (choose a compressor explicitly to silence this)"
        )


class PathNotFoundError(ZarrBridgeError, FileNotFoundError):
    """A file or directory given as input does not exist.

    Parameters
    ----------
    path : object
        The path that does not exist.
    what : str, optional
        What the path was given as (``'input'`` by default).
    """

    def __init__(self, path: object, what: str = "input") -> None:
        self.path = path
        super().__init__(
            f"{what} {str(path)!r} does not exist; check the path (and storage options for URLs)"
        )


class UnsafeNameError(LocationError):
    """A name that would become part of a path could leave its store (``..``, absolute, NUL, separators).

    Parameters
    ----------
    name : object
        The offending name.
    what : str
        What the name is (a group name, a result name, a key...).
    reason : str
        Why it is unsafe (``'contains ..'``, ``'is absolute'``...).
    """

    def __init__(self, name: object, what: str, reason: str) -> None:
        self.name, self.what = name, what
        LocationError.__init__(
            self,
            name,
            f"{what} {name!r} {reason}; names that become paths must stay inside the store. "
            "Rename the object (or the key) and try again.",
        )


class CorruptChunkError(_ChunkError, ValueError):
    """A stored chunk cannot be decoded (garbled, truncated, or of the wrong size for its array).

    Parameters
    ----------
    key : str
        The store key of the chunk that does not decode.
    what : str
        The array it belongs to.
    location : object, optional
        The file or store holding the array.
    reason : str, optional
        The decoder's complaint, added in parentheses.
    """

    state = "corrupt"
    advice = (
        "The file is damaged; restore the chunk from a copy of the file (`zarrbridge validate --data` lists "
        "every bad chunk)."
    )


class StoreInUseError(ZarrBridgeError, BlockingIOError):
    """Another writer holds the destination's lock.

    Parameters
    ----------
    location : object
        The destination being written.
    lock : str
        The lock file held by the other writer.
    """

    def __init__(self, location: object, lock: str) -> None:
        self.location, self.lock = location, lock
        super().__init__(
            f"{location!r} is being written by another process (lock {lock!r}). Wait for it to finish; if no "
            "writer is running (it was killed), remove the lock file and write again."
        )


class ResourceLimitError(ZarrBridgeError, MemoryError):
    """Untrusted bytes ask for more memory (or objects) than zarrbridge allows for them.

    Parameters
    ----------
    what : str
        What asked for the memory (a chunk, a pickle, a metadata document).
    requested : int
        The number of bytes (or objects) it asked for.
    limit : int
        The number allowed.
    hint : str, optional
        What to do next; by default, to read genuine data with a larger limit.
    """

    def __init__(self, what: str, requested: int, limit: int, hint: str = "") -> None:
        self.what, self.requested, self.limit = what, requested, limit
        super().__init__(
            f"{what} asks for {requested:,} bytes, more than the {limit:,} allowed. "
            f"{hint or 'The data is damaged or hostile; if it is genuine, read it with a larger limit.'}"
        )


class StorageFullError(ZarrBridgeError, OSError):
    """The disk (or quota) filled up while something was being written; nothing of it was kept.

    Parameters
    ----------
    what : str
        What was being written.
    location : object
        Where it was being written.
    reason : str, optional
        The operating system's message, added in parentheses.
    """

    def __init__(self, what: str, location: object, reason: str = "") -> None:
        import errno

        self.what, self.location = what, location
        super().__init__(
            errno.ENOSPC,
            f"no space left for {what} in {location!r}{_detail(reason)}: nothing of it was "
            "kept and what was there before is unchanged. Free some space (or raise the quota) and write "
            "again.",
        )

    def __str__(self) -> str:  # OSError would prefix "[Errno 28]"
        return str(self.args[1])


class ForeignRowError(ZarrBridgeError, ValueError):
    """A DataJoint row in a zarrbridge codec's column was written by a codec zarrbridge cannot read.

    Parameters
    ----------
    column : str
        The table column (``Table.attribute``) holding the row.
    reason : str
        Why zarrbridge cannot read it.
    row : object, optional
        The stored value of the row.
    """

    def __init__(self, column: str, reason: str, row: object = None) -> None:
        self.column, self.row = column, row
        super().__init__(
            f"{column} holds a row zarrbridge did not write and cannot read: {reason}. It was written by "
            "another package registered under the same codec name; fetch it with that package installed "
            "(and zarrbridge uninstalled), or re-insert the value with zarrbridge."
        )


class CodecReplacedWarning(ZarrBridgeWarning):
    """zarrbridge took a DataJoint codec name that another installed package also provides."""


def recast(exc: ZarrBridgeError, cls: type[ZarrBridgeError]) -> ZarrBridgeError:
    """``exc`` as an instance of ``cls`` (a subclass of its class that a host adds, e.g. one that is also a
    DataJoint or HDMF error): the same message, attributes, notes, cause and traceback.

    For the host subpackages, which re-raise the errors of the shared code in their hosts' hierarchies.

    Parameters
    ----------
    exc : ZarrBridgeError
        The error raised by the shared code.
    cls : type
        A subclass of ``type(exc)``.

    Returns
    -------
    ZarrBridgeError
        The same error as an instance of ``cls``.
    """
    new: ZarrBridgeError = cls.__new__(cls, *exc.args)
    new.__dict__.update(exc.__dict__)  # the data it carries (path, key...) and any notes
    new.args = exc.args
    new.__cause__ = exc.__cause__
    new.__suppress_context__ = True  # (the recast error is the same failure, not a second one)
    new.__traceback__ = exc.__traceback__
    return new


@contextlib.contextmanager
def translated(translate: Callable[[ZarrBridgeError], BaseException]) -> Iterator[None]:
    """Re-raise each zarrbridge error of the block as ``translate(error)``, with the same cause.

    For the host subpackages, whose entry points raise the errors of the shared code in their hosts'
    hierarchies too (``translate`` usually :func:`recast` s them); an error ``translate`` returns unchanged is
    re-raised as it is.

    Parameters
    ----------
    translate : callable
        Takes the zarrbridge error and returns the exception to raise instead (or the error itself).

    Yields
    ------
    None
        The block runs inside.
    """
    try:
        yield
    except ZarrBridgeError as exc:
        replacement = translate(exc)
        if replacement is exc:
            raise
        raise replacement from exc.__cause__
