"""Converting whole HDMF/NWB files between HDF5 and Zarr (the library side of ``zarrbridge convert``).

:func:`convert` opens the source with the right IO (pynwb's for NWB files, hdmf's otherwise, with the
namespaces cached in the file), exports it, and reports what it copied. A conversion that fails leaves no
destination that opens as a complete file: a zarr destination is marked incomplete until its root is
written last (and removed on error), an HDF5 destination is written under a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from hdmf.backends.hdf5 import HDF5IO
from hdmf.backends.io import HDMFIO
from hdmf.build import BuildManager, TypeMap

from ..core.location import Location
from ..core.replace import WriteLock
from ..errors import (
    CodecNotMappedWarning,
    InvalidOptionError,
    NotAZarrStoreError,
    PathNotFoundError,
    StorageFullError,
    StoreExistsError,
    WriteInterruptedError,
)
from ..hdf5files import GuardedFile, is_disk_full
from ..progress import ByteProgress, ProgressOption, check_progress
from .copying import CompressorChoice, CopySettings
from .exporting import count_array_bytes
from .h5export import prepare_for_hdf5
from .io import ZarrIO

__all__ = ["ConvertOptions", "ConvertReport", "convert", "file_format"]

_log = logging.getLogger(__name__)

FileFormat = Literal["hdf5", "zarr"]
HDF5_SUFFIXES = (".nwb", ".h5", ".hdf5", ".hdf")


@dataclass(frozen=True)
class ConvertOptions:
    """How :func:`convert` writes the destination (see :class:`~zarrbridge.zarrio.copying.CopySettings`).

    Parameters
    ----------
    zarr_format : {2, 3}
        The zarr format of a Zarr destination.
    compressor : str
        ``"keep"`` maps the source's codecs; a codec name (``"zstd"``, ``"gzip"``, ``"blosc"``)
        recompresses, ``"none"`` stores uncompressed.
    level : int, optional
        The compression level of ``compressor``.
    chunks : {"keep", "auto"}
        Keep the source's chunk shapes, or pick them automatically.
    shard_bytes : int, optional
        Shard the arrays, about this many bytes per shard (zarr format 3).
    number_of_jobs : int
        Datasets and chunks copied in parallel.
    overwrite : bool
        Replace an existing destination.
    """

    zarr_format: Literal[2, 3] = 3
    compressor: CompressorChoice = "keep"
    level: int | None = None
    chunks: Literal["keep", "auto"] = "keep"
    shard_bytes: int | None = None
    number_of_jobs: int = 1
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.zarr_format not in (2, 3):
            raise InvalidOptionError(f"zarr_format must be 2 or 3, got {self.zarr_format!r}")
        if self.shard_bytes is not None and self.zarr_format != 3:
            raise InvalidOptionError("sharding needs zarr format 3; drop shard_bytes or use zarr_format=3")
        self.copy_settings()  # validates compressor, level, chunks, shard_bytes, number_of_jobs

    def copy_settings(self, progress: Callable[[int], None] | None = None) -> CopySettings:
        """The :class:`~zarrbridge.zarrio.copying.CopySettings` these options stand for.

        Parameters
        ----------
        progress : callable, optional
            Called with the bytes of each block copied.

        Returns
        -------
        CopySettings
            The settings of the copies.
        """
        return CopySettings(
            compressor=self.compressor,
            level=self.level,
            chunks=self.chunks,
            shard_bytes=self.shard_bytes,
            number_of_jobs=self.number_of_jobs,
            progress=progress,
        )


@dataclass(frozen=True)
class ConvertReport:
    """What :func:`convert` did.

    Parameters
    ----------
    source_format : str
        ``"hdf5"`` or ``"zarr"``.
    dest_format : str
        ``"hdf5"`` or ``"zarr"``.
    datasets : int
        The number of datasets written.
    bytes_copied : int
        The bytes of array data copied.
    seconds : float
        Wall-clock time of the conversion.
    unmapped : tuple of (str, str)
        ``(dataset, filter)`` pairs whose filter had no counterpart.
    """

    source_format: str
    dest_format: str
    datasets: int
    bytes_copied: int
    seconds: float
    unmapped: tuple[tuple[str, str], ...]


def file_format(path: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None) -> FileFormat:
    """Whether an existing ``path`` is an HDF5 file or a zarr hierarchy.

    Parameters
    ----------
    path : str or os.PathLike
        A local path or an fsspec URL.
    storage_options : dict, optional
        fsspec options for URLs.

    Returns
    -------
    {"hdf5", "zarr"}
        The format found.
    """
    text = os.fspath(path)
    if "://" not in text and os.path.isfile(text):
        with open(text, "rb") as fh:
            if fh.read(8) == b"\x89HDF\r\n\x1a\n":
                return "hdf5"
    location = Location.parse(text, storage_options=storage_options)
    if location.holds_zarr():
        return "zarr"
    if not location.exists():
        raise PathNotFoundError(text, "source")
    raise NotAZarrStoreError(text)


def dest_format(path: str | os.PathLike[str]) -> FileFormat:
    """The format a destination gets from its name: HDF5 for ``.nwb``/``.h5``/``.hdf5``, zarr otherwise."""
    name = os.fspath(path).rstrip("/").lower()
    return "hdf5" if name.endswith(HDF5_SUFFIXES) else "zarr"


def convert(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    options: ConvertOptions = ConvertOptions(),
    storage_options: dict[str, Any] | None = None,
    progress: ProgressOption = None,
) -> ConvertReport:
    """Convert the HDMF/NWB file ``source`` into ``dest`` (HDF5 -> Zarr, Zarr -> HDF5, Zarr -> Zarr).

    Parameters
    ----------
    source, dest
        Paths or URLs; the destination format follows its name (``.nwb``/``.h5``/``.hdf5`` is HDF5).
    options
        Zarr format, compression, chunking, sharding, parallel jobs, overwrite.
    storage_options
        fsspec options for ``s3://`` URLs (both sides).
    progress
        ``True`` for a tqdm bar on stderr, a tqdm-compatible class, or a callable taking the bytes copied
        since its previous call (the calls add up to the file's array bytes,
        :attr:`ConvertReport.bytes_copied`); see :mod:`zarrbridge.progress`. Off by default.

    Returns
    -------
    ConvertReport
        What was converted, with the time it took.

    Examples
    --------
    >>> report = convert("session.nwb", "session.nwb.zarr",  # doctest: +SKIP
    ...                  options=ConvertOptions(number_of_jobs=4))
    """
    if not isinstance(options, ConvertOptions):
        raise InvalidOptionError(f"options must be a ConvertOptions, got {type(options).__name__}")
    check_progress(progress, where="convert(progress=)")
    started = time.perf_counter()
    src_options, dst_options = _url_options(source, storage_options), _url_options(dest, storage_options)
    src_fmt = file_format(source, storage_options=src_options)
    dst_fmt = dest_format(dest)
    if src_fmt == "hdf5" and dst_fmt == "hdf5":
        raise InvalidOptionError(
            f"{os.fspath(source)!r} and {os.fspath(dest)!r} are both HDF5; convert writes "
            "Zarr from HDF5 or Zarr (give the destination a .zarr name)"
        )
    if Location.parse(os.fspath(source), storage_options=src_options) == Location.parse(
        os.fspath(dest), storage_options=dst_options
    ):
        raise InvalidOptionError(
            f"source and destination are the same file ({os.fspath(dest)!r}); convert into a new path"
        )
    _check_dest(dest, options.overwrite, dst_options)
    label = os.path.basename(os.fspath(dest).rstrip("/"))
    with (
        _open_source(source, src_fmt, src_options) as src_io,
        ByteProgress(progress, description=label) as tick,
    ):
        builder = src_io.read_builder()
        datasets, total = count_array_bytes(builder)
        tick.add_total(total)
        container = src_io.read()
        if dst_fmt == "zarr":
            unmapped = _to_zarr(src_io, container, dest, options, tick, dst_options)
        else:
            unmapped = _to_hdf5(src_io, container, os.fspath(dest), options.overwrite, progress=tick)
        if tick.done < total:  # scalars and text are copied whole, without per-chunk ticks
            tick(total - tick.done)
    _log.info(
        "converted %s (%s) -> %s (%s): %d datasets, %d bytes",
        os.fspath(source),
        src_fmt,
        os.fspath(dest),
        dst_fmt,
        datasets,
        tick.done,
    )
    return ConvertReport(src_fmt, dst_fmt, datasets, tick.done, time.perf_counter() - started, unmapped)


def _url_options(
    path: str | os.PathLike[str], storage_options: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``storage_options`` apply to the URL side(s) of a conversion only."""
    return storage_options if "://" in os.fspath(path) else None


def _check_dest(
    dest: str | os.PathLike[str], overwrite: bool, storage_options: dict[str, Any] | None
) -> None:
    location = Location.parse(os.fspath(dest), storage_options=storage_options)
    if location.exists() and not overwrite:
        raise StoreExistsError(os.fspath(dest))


@contextlib.contextmanager
def _open_source(
    source: str | os.PathLike[str], fmt: FileFormat, storage_options: dict[str, Any] | None
) -> Iterator[HDMFIO]:
    path = os.fspath(source)
    type_map = _type_map_for(path, fmt, storage_options)
    manager = BuildManager(type_map)
    io: HDMFIO
    if fmt == "hdf5":
        with contextlib.suppress(ImportError):  # registers blosc/zstd/lz4... HDF5 filters when installed
            import hdf5plugin  # noqa: F401
        io = HDF5IO(path, mode="r", manager=manager)
    else:
        io = ZarrIO(path, mode="r", manager=manager, storage_options=storage_options)
    with io:
        yield io


def _type_map_for(path: str, fmt: FileFormat, storage_options: dict[str, Any] | None) -> TypeMap:
    """The type map for the file: pynwb's for NWB files (namespace ``core`` cached),
    hdmf-common's otherwise."""
    from hdmf.common import get_type_map

    def load(type_map: TypeMap) -> dict[str, Any]:
        if fmt == "hdf5":
            return dict(HDF5IO.load_namespaces(type_map, path=path))
        return dict(ZarrIO.load_namespaces(type_map, path, storage_options=storage_options))

    if _is_nwb(path, fmt, storage_options):  # NWB specs only parse with pynwb's spec classes (neurodata_type)
        try:
            import pynwb
        except ImportError:
            pass  # the NWB types are then read as generic hdmf containers
        else:
            nwb_map: TypeMap = pynwb.get_type_map()
            load(nwb_map)
            return nwb_map
    type_map: TypeMap = get_type_map()
    load(type_map)
    return type_map


def _is_nwb(path: str, fmt: FileFormat, storage_options: dict[str, Any] | None) -> bool:
    """Whether the file's root carries ``nwb_version`` (every NWB 2.x file does)."""
    if fmt == "hdf5":
        import h5py

        with h5py.File(path, "r") as f:
            return "nwb_version" in f.attrs
    with ZarrIO(path, mode="r", storage_options=storage_options) as io:
        return "nwb_version" in io.file.attrs


def _to_zarr(
    src_io: HDMFIO,
    container: Any,
    dest: str | os.PathLike[str],
    options: ConvertOptions,
    tick: Callable[[int], None],
    storage_options: dict[str, Any] | None,
) -> tuple[tuple[str, str], ...]:
    with ZarrIO(
        os.fspath(dest),
        mode="w",
        manager=BuildManager(src_io.manager.type_map),
        storage_options=storage_options,
        zarr_format=options.zarr_format,
    ) as dst:
        dst.export(
            src_io=src_io,
            container=container,
            write_args={"link_data": False},
            copy_settings=options.copy_settings(progress=tick),
        )
        unmapped: tuple[tuple[str, str], ...] = tuple(dst.unmapped_codecs)
        return unmapped


def _warn_unmapped(unmapped: tuple[tuple[str, str], ...]) -> None:
    """One :class:`CodecNotMappedWarning` per codec stored as gzip in HDF5, naming its datasets."""
    for codec in sorted({c for _, c in unmapped}):
        paths = [p for p, c in unmapped if c == codec]
        where = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        warnings.warn(CodecNotMappedWarning(where, codec, "HDF5", "gzip"), stacklevel=4)


def _to_hdf5(
    src_io: HDMFIO,
    container: Any,
    dest: str,
    overwrite: bool,
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[tuple[str, str], ...]:
    """Write ``dest.partial`` through a :class:`~zarrbridge.hdf5files.GuardedFile` and rename it to ``dest``.

    HDF5 never sees a failed write, so a full disk cannot leave a file open inside HDF5 (which crashes the
    process later): the first failed write stops the export at the next block, and is reported once h5py has
    closed the file. The partial file is removed; an existing ``dest`` is replaced only by a complete file.
    Returns the ``(dataset, codec)`` pairs stored as gzip (see :func:`.h5export.prepare_for_hdf5`).
    """
    import h5py

    partial = dest + ".partial"
    with WriteLock(dest):  # one writer per destination (and per partial file)
        if os.path.exists(partial):
            os.remove(partial)
        guarded: GuardedFile | None = None
        try:
            with open(partial, "w+b") as raw:
                guarded = GuardedFile(raw, name=partial)
                unmapped = tuple(prepare_for_hdf5(container, stop=guarded.raise_failure, progress=progress))
                _warn_unmapped(unmapped)
                with h5py.File(guarded, "w") as h5:
                    manager = BuildManager(src_io.manager.type_map)
                    with HDF5IO(partial, mode="w", manager=manager, file=h5) as dst:
                        dst.export(src_io=src_io, container=container, write_args={"link_data": False})
                guarded.raise_failure()
            if overwrite and os.path.isdir(dest):
                shutil.rmtree(dest)
            os.replace(partial, dest)
            return unmapped
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.remove(partial)
            failure = guarded.failure if guarded is not None else None
            if failure is not None or (isinstance(exc, OSError) and is_disk_full(exc)):
                cause = failure if failure is not None else exc
                if is_disk_full(cause):
                    raise StorageFullError(f"the HDF5 file {dest!r}", os.path.dirname(dest) or ".") from cause
                raise WriteInterruptedError(dest, f"writing the HDF5 file failed: {cause}") from cause
            raise
