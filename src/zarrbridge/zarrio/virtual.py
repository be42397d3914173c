"""Virtual Zarr views of HDF5 NWB/HDMF files: the current convention, without copying array data.

:func:`write_virtual` exports the HDF5 file as :meth:`ZarrIO.export <zarrbridge.ZarrIO.export>` does (same
groups, attributes, cached specifications, links, references, consolidated metadata: the view looks like the
export to every reader), into memory, except that each large numeric dataset's chunks are not copied but
recorded as byte ranges of the HDF5 file (:mod:`zarrbridge.zarrio.h5refs`). The result is one fsspec reference
file (kerchunk format version 1, see ``docs/format.md``): every metadata document and small array inline,
every large chunk ``[url, offset, size]``. ``NWBZarrIO(view, "r")`` / ``read_nwb(view)`` open it like any file
(:mod:`zarrbridge.core.refview`); fsspec's ``ReferenceFileSystem`` with zarr's ``FsspecStore`` reads it too.

Datasets the view cannot reference are copied into it (inline) and reported: filters without a zarr codec
(lzf, szip, scaleoffset, ...) with a :class:`~zarrbridge.errors.CodecNotMappedWarning` and in
:attr:`VirtualReport.unmapped`; other layouts (compact, compound, text...) in :attr:`VirtualReport.copied`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fsspec
from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import BuildManager, TypeMap
from zarr.storage import MemoryStore

from ..core.location import Location, check_reachable
from ..core.refview import REFERENCE_VERSION, VIEW_KEY, VIEW_VERSION
from ..errors import InvalidOptionError, NotAnNWBFileError, PathNotFoundError, StoreExistsError
from .copying import CopySettings
from .h5refs import INLINE_BYTES, ReferenceRecorder
from .io import ZarrIO

__all__ = ["VirtualReport", "write_virtual"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class VirtualReport:
    """What :func:`write_virtual` wrote.

    Attributes
    ----------
    source, target
        The HDF5 file as the view names it, and where the view was written.
    referenced
        HDF5 paths of the datasets whose chunks the view references.
    chunks, referenced_bytes
        Number of byte-range references, and the uncompressed bytes they cover.
    copied
        ``(path, reason)`` of large datasets copied into the view instead (their layout or type has no
        byte-compatible zarr form).
    unmapped
        ``(path, filter)`` of datasets whose HDF5 filter has no zarr codec (copied, recompressed).
    view_bytes, seconds
        Size of the reference file, and the time taken.
    """

    source: str
    target: str
    referenced: tuple[str, ...]
    chunks: int
    referenced_bytes: int
    copied: tuple[tuple[str, str], ...]
    unmapped: tuple[tuple[str, str], ...]
    view_bytes: int
    seconds: float


def write_virtual(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    storage_options: dict[str, Any] | None = None,
    target_storage_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    inline_bytes: int = INLINE_BYTES,
) -> VirtualReport:
    """Write a virtual Zarr view of the HDF5 file ``source`` to ``target`` (one JSON reference file).

    Parameters
    ----------
    source
        The HDF5 NWB/HDMF file: a local path or a URL (``s3://bucket/session.nwb``, ``https://...``); the
        view references it by its absolute path or by this URL.
    target
        Where to write the view: a local path (any name, e.g. ``session.nwb.zarr``) or a URL. Name a view on
        object storage ``*.json`` so that opening it costs one request.
    storage_options
        fsspec options for a URL ``source`` (and for a URL ``target`` unless ``target_storage_options``).
    target_storage_options
        fsspec options for a URL ``target``.
    overwrite
        Replace an existing ``target``.
    inline_bytes
        Numeric datasets up to this many bytes are stored inline, larger ones referenced (``0``: every
        dataset that can be referenced is).

    Returns
    -------
    VirtualReport

    Examples
    --------
    >>> report = write_virtual("session.nwb", "session.nwb.zarr")  # doctest: +SKIP
    >>> nwbfile = read_nwb("session.nwb.zarr")  # doctest: +SKIP
    """
    started = time.perf_counter()
    if isinstance(inline_bytes, bool) or not isinstance(inline_bytes, int) or inline_bytes < 0:
        raise InvalidOptionError(f"inline_bytes must be a non-negative integer, got {inline_bytes!r}")
    src = Location.parse(os.fspath(source), storage_options=storage_options)
    dst_options = target_storage_options if target_storage_options is not None else storage_options
    dst = Location.parse(
        os.fspath(target), storage_options=dst_options if "://" in os.fspath(target) else None
    )
    if src.kind not in ("local", "fsspec") or dst.kind not in ("local", "fsspec"):
        raise InvalidOptionError("write_virtual reads an HDF5 file and writes a view at a path or URL")
    if src == dst:
        raise InvalidOptionError(f"the view cannot replace its own source {src.path!r}")
    if dst.exists() and not overwrite:
        raise StoreExistsError(str(dst))
    url = src.path
    memory: dict[str, Any] = {}
    with _open_hdf5(src) as h5file:
        size = _file_size(src, h5file)
        recorder = ReferenceRecorder(url, size, inline_bytes=inline_bytes)
        type_map = _type_map(h5file, src)
        with (
            HDF5IO(file=h5file, mode="r", manager=BuildManager(type_map)) as src_io,
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3")
            with ZarrIO(MemoryStore(memory), mode="w", manager=BuildManager(type_map)) as dst_io:
                dst_io.export(
                    src_io=src_io,
                    write_args={"link_data": False},
                    copy_settings=CopySettings(references=recorder),
                )
                unmapped = tuple(dst_io.unmapped_codecs)
            copied = _copied(h5file, recorder, {path for path, _ in unmapped})  # (HDF5IO closes the file)
    document = _document(memory, recorder, url, size)
    data = json.dumps(document, separators=(",", ":")).encode()
    _put(dst, data)
    return VirtualReport(
        source=url,
        target=str(dst),
        referenced=tuple(recorder.referenced),
        chunks=len(recorder.refs),
        referenced_bytes=recorder.referenced_bytes,
        copied=tuple(copied),
        unmapped=unmapped,
        view_bytes=len(data),
        seconds=time.perf_counter() - started,
    )


def _copied(h5file: Any, recorder: ReferenceRecorder, unmapped: set[str]) -> list[tuple[str, str]]:
    """The datasets above the inline size that the view holds copies of, with the reason."""
    import h5py

    reasons = dict(recorder.not_referenced)
    referenced = set(recorder.referenced)
    found: list[tuple[str, str]] = []

    def visit(name: str, obj: Any) -> None:
        path = "/" + name
        if not isinstance(obj, h5py.Dataset) or path in referenced or path in unmapped:
            return
        itemsize = 16 if obj.dtype.kind == "O" else max(1, obj.dtype.itemsize)  # vlen: as HDF5 stores them
        if obj.size * itemsize <= recorder.inline_bytes:
            return
        kind = "text" if obj.dtype.kind in "OSU" else "compound" if obj.dtype.names else None
        found.append((path, reasons.get(path, f"{kind or obj.dtype} data is stored as the convention says")))

    h5file.visititems(visit)
    return found


def _document(memory: dict[str, Any], recorder: ReferenceRecorder, url: str, size: int) -> dict[str, Any]:
    refs: dict[str, Any] = {}
    for key, buffer in memory.items():
        raw = buffer.to_bytes()
        if key.endswith("zarr.json"):
            refs[key] = raw.decode("utf-8")
        else:
            refs[key] = "base64:" + base64.b64encode(raw).decode("ascii")
    for key, (offset, nbytes) in recorder.refs.items():
        refs[key] = ["{{u}}", offset, nbytes]
    own: dict[str, Any] = {"version": VIEW_VERSION, "sources": {url: {"size": size}}}
    return {"version": REFERENCE_VERSION, "templates": {"u": url}, "refs": refs, VIEW_KEY: own}


@contextlib.contextmanager
def _open_hdf5(src: Location) -> Iterator[Any]:
    import h5py

    with contextlib.suppress(ImportError):  # registers blosc/zstd/lz4... HDF5 filters when installed
        import hdf5plugin  # noqa: F401
    if src.kind == "local":
        if not os.path.isfile(src.path):
            raise PathNotFoundError(src.path, "HDF5 file")
        with open(src.path, "rb") as fh:
            if fh.read(8) != _HDF5_MAGIC:
                raise NotAnNWBFileError(src.path, "it is not an HDF5 file")
        with h5py.File(src.path, "r") as f:
            yield f
        return
    check_reachable(src)
    fs, path = fsspec.core.url_to_fs(src.path, **src.storage_options)
    try:
        handle = fs.open(path, "rb", block_size=4 << 20, cache_type="blockcache")
    except FileNotFoundError:
        raise PathNotFoundError(src.path, "HDF5 file") from None
    with handle, h5py.File(handle, "r") as f:
        yield f


def _file_size(src: Location, h5file: Any) -> int:
    if src.kind == "local":
        return os.path.getsize(src.path)
    fs, path = fsspec.core.url_to_fs(src.path, **src.storage_options)
    return int(fs.size(path))


def _type_map(h5file: Any, src: Location) -> TypeMap:
    """pynwb's type map for NWB files (``nwb_version`` at the root), hdmf-common's otherwise, with the
    namespaces the file caches loaded."""
    from hdmf.common import get_type_map

    type_map: TypeMap
    if "nwb_version" in h5file.attrs:
        import pynwb

        type_map = pynwb.get_type_map()
    else:
        type_map = get_type_map()
    if "specifications" in h5file:
        HDF5IO.load_namespaces(type_map, file=h5file)
    return type_map


def _put(dst: Location, data: bytes) -> None:
    if dst.kind == "local":
        os.makedirs(os.path.dirname(dst.path) or ".", exist_ok=True)
        if os.path.isdir(dst.path):
            import shutil

            shutil.rmtree(dst.path)
        partial = dst.path + ".partial"
        with open(partial, "wb") as fh:
            fh.write(data)
        os.replace(partial, dst.path)  # a view is there whole or not at all
        return
    check_reachable(dst)
    fs, path = fsspec.core.url_to_fs(dst.path, **dst.storage_options)
    fs.pipe_file(path, data)
