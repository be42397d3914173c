"""``NWBZarrIO`` and ``read_nwb``: NWB files on Zarr with the habits of :class:`pynwb.NWBHDF5IO`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from hdmf.backends.io import HDMFIO
from hdmf.build import BuildManager, TypeMap
from hdmf.container import Container

from .._optional import import_optional
from ..core.location import AccessMode
from ..errors import (
    InvalidOptionError,
    NotAnNWBFileError,
    UnsupportedFormatVersionError,
    UnsupportedValueTypeError,
)
from ..progress import ProgressOption
from .io import ZarrIO

import_optional("pynwb", extra="nwb", feature="zarrbridge.NWBZarrIO")

import pynwb  # noqa: E402

if TYPE_CHECKING:
    from .copying import CopySettings

__all__ = ["NWBZarrIO", "read_nwb", "parse_nwb_version"]

NWB_VERSION_ATTR = "nwb_version"
SUPPORTED_NWB_MAJOR = (2,)
_MODES = ("r", "r-", "r+", "a", "w", "w-", "x")
_CREATING = ("w", "w-", "x")

Extension: TypeAlias = "str | os.PathLike[str] | TypeMap"


def parse_nwb_version(value: Any, where: str) -> tuple[str, tuple[int | str, ...]]:
    """Split an ``nwb_version`` attribute (``"2.9.0"``, ``"NWB-2.0.1_beta"``) into its parts,
    as pynwb does.

    Parameters
    ----------
    value : object
        The attribute's value.
    where : str
        The file, named in errors.

    Returns
    -------
    tuple of (str, tuple)
        The version string and its parts (numbers as ``int``).
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str) or not value.strip():
        raise NotAnNWBFileError(
            where, f"its {NWB_VERSION_ATTR!r} attribute is {value!r}, not a version string"
        )
    parts = value.replace("NWB-", "").replace("-", ".").replace("_", ".").split(".")
    parsed = tuple(int(p) if p.isnumeric() else p for p in parts)
    if not isinstance(parsed[0], int):
        raise NotAnNWBFileError(
            where, f"its {NWB_VERSION_ATTR!r} attribute {value!r} does not start with a number"
        )
    return value, parsed


def _type_map(extensions: Extension | Sequence[Extension] | None) -> TypeMap:
    """A fresh copy of pynwb's type map with ``extensions`` (namespace yaml paths or TypeMaps) added."""
    type_map = pynwb.get_type_map()
    if extensions is None:
        return type_map
    items = [extensions] if isinstance(extensions, (str, os.PathLike, TypeMap)) else list(extensions)
    for ext in items:
        if isinstance(ext, TypeMap):  # its namespaces that are new here, then its classes and mappers
            catalog = ext.namespace_catalog
            for name in catalog.namespaces:
                if name not in type_map.namespace_catalog.namespaces:
                    type_map.namespace_catalog.add_namespace(name=name, namespace=catalog.get_namespace(name))
            type_map.merge(ext)
        elif isinstance(ext, (str, os.PathLike)):
            path = os.fspath(ext)
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"extension namespace file {path!r} does not exist; pass the path of the "
                    "extension's *.namespace.yaml"
                )
            type_map.load_namespaces(path)
        else:
            raise UnsupportedValueTypeError(
                "NWBZarrIO(extensions=...)",
                type(ext).__name__,
                "namespace yaml paths (str, pathlib.Path) and hdmf TypeMaps",
            )
    return type_map


def read_nwb(
    path: Any,
    *,
    storage_options: dict[str, Any] | None = None,
    allow_external_links: bool = False,
    max_bytes: int | None = None,
    missing_chunks: Literal["error", "fill"] = "error",
) -> pynwb.NWBFile:
    """Read an NWB Zarr file and return its :class:`pynwb.NWBFile`, like :func:`pynwb.read_nwb`.

    The file stays open while the NWBFile is in use (``nwbfile.read_io`` is its :class:`NWBZarrIO`; call
    ``nwbfile.read_io.close()`` when done). Cached namespaces are loaded. ``storage_options``,
    ``allow_external_links``, ``max_bytes`` (the most one read of a dataset may allocate) and
    ``missing_chunks`` (``"error"``, or ``"fill"`` for files with unwritten regions) are
    :class:`~zarrbridge.zarrio.io.ZarrIO`'s.

    Parameters
    ----------
    path : str, os.PathLike or zarr store
        A directory, ``.zip``, store or fsspec URL.
    storage_options : dict, optional
        fsspec options for URLs (e.g. ``{"anon": True}``).
    allow_external_links : bool
        Follow links into other files (off: a link out of the file is an error).
    max_bytes : int or None
        The most memory one read of a dataset may take; see :class:`~zarrbridge.zarrio.ZarrIO`.
    missing_chunks : {"error", "fill"}
        What a chunk missing from a complete array reads as; see :class:`~zarrbridge.zarrio.ZarrIO`.

    Returns
    -------
    pynwb.NWBFile
        The file's NWBFile (lazy; the file stays open).

    Examples
    --------
    >>> nwbfile = read_nwb("session.nwb.zarr")  # doctest: +SKIP
    >>> nwbfile = read_nwb("s3://bucket/session.nwb.zarr", storage_options={"anon": True})  # doctest: +SKIP
    """
    if storage_options is None and str(path).startswith("s3://"):
        storage_options = {"anon": True}  # as hdmf-zarr's read_nwb: public buckets (DANDI) need no keys
    io = NWBZarrIO(
        path,
        mode="r",
        storage_options=storage_options,
        allow_external_links=allow_external_links,
        max_bytes=max_bytes,
        missing_chunks=missing_chunks,
    )
    try:
        return io.read()
    except BaseException:
        io.close()
        raise


class NWBZarrIO(ZarrIO):
    """Read and write NWB files stored as zarr hierarchies (the counterpart of :class:`pynwb.NWBHDF5IO`).

    Parameters
    ----------
    path
        A directory, ``.zip`` file, fsspec URL (``s3://bucket/file.nwb.zarr``),
        :class:`pathlib.Path` or zarr store.
    mode
        ``r`` (default), ``r+``, ``a``, ``w``, ``w-`` or ``x``, as for :class:`~zarrbridge.ZarrIO`.
    manager
        The :class:`hdmf.build.BuildManager` to use; by default a fresh one for pynwb's type map.
    load_namespaces
        On read, load the namespaces cached in the file (extensions included) into a fresh copy of pynwb's
        type map. Ignored when creating a file or when ``manager`` is given.
    extensions
        Extension namespaces to load: paths of ``*.namespace.yaml`` files and/or :class:`hdmf.build.TypeMap`
        objects (one or a list). Cannot be combined with ``manager``.
    synchronizer, object_codec_class, storage_options, force_overwrite, zarr_format, allow_external_links
        As for :class:`~zarrbridge.ZarrIO` (the first four are hdmf-zarr's, in its positional order: see
        ``docs/hdmf-zarr-api.md``).
    max_bytes, missing_chunks
        As for :class:`~zarrbridge.ZarrIO`: the most one read of a dataset may allocate, and whether a
        missing chunk is an error (``"error"``, the default) or reads as the fill value (``"fill"``).

    Examples
    --------
    >>> from pynwb.testing.mock.file import mock_NWBFile
    >>> with NWBZarrIO("session.nwb.zarr", mode="w") as io:  # doctest: +SKIP
    ...     io.write(mock_NWBFile())
    >>> with NWBZarrIO("session.nwb.zarr") as io:  # doctest: +SKIP
    ...     nwbfile = io.read()
    """

    def __init__(
        self,
        path: Any,
        mode: AccessMode | Literal["r-"] = "r",
        manager: BuildManager | None = None,
        synchronizer: Any = None,
        object_codec_class: Any = None,
        storage_options: dict[str, Any] | None = None,
        force_overwrite: bool = False,
        load_namespaces: bool = True,
        *,
        extensions: Extension | Sequence[Extension] | None = None,
        zarr_format: Literal[2, 3] = 3,
        allow_external_links: bool = False,
        max_bytes: int | None = None,
        missing_chunks: Literal["error", "fill"] = "error",
    ) -> None:
        if not isinstance(mode, str) or mode not in _MODES:
            raise InvalidOptionError(f"NWBZarrIO: mode must be one of {_MODES}, not {mode!r}")
        if not isinstance(load_namespaces, bool):
            raise InvalidOptionError(
                f"NWBZarrIO: load_namespaces must be True or False, not {load_namespaces!r}"
            )
        if manager is not None and not isinstance(manager, BuildManager):
            raise UnsupportedValueTypeError(
                "NWBZarrIO(manager=...)",
                type(manager).__name__,
                "an hdmf.build.BuildManager (e.g. pynwb.get_manager())",
            )
        if manager is not None and extensions is not None:
            raise InvalidOptionError(
                "NWBZarrIO: give either manager or extensions, not both (load the extensions "
                "into the manager's type map instead)"
            )
        type_map = None
        if manager is None:
            type_map = _type_map(extensions)
            manager = BuildManager(type_map)
        super().__init__(
            path,
            mode,
            manager,
            synchronizer,
            object_codec_class,
            storage_options,
            force_overwrite,
            zarr_format=zarr_format,
            allow_external_links=allow_external_links,
            max_bytes=max_bytes,
            missing_chunks=missing_chunks,
        )
        # mode 'a' creates a missing file: there is nothing to load then. The namespaces are read from the
        # root this IO opened (the type map is the manager's own, so the manager sees them)
        if type_map is not None and load_namespaces and mode not in _CREATING and self._has_root():
            try:
                self.load_namespaces_io(type_map)
            except BaseException:
                self.close()
                raise

    @property
    def nwb_version(self) -> tuple[str | None, tuple[int | str, ...] | None]:
        """The file's ``nwb_version`` as ``(string, parsed parts)``; ``(None, None)`` when it has none."""
        value = self.file.attrs.get(NWB_VERSION_ATTR)
        if value is None:
            return None, None
        return parse_nwb_version(value, str(self.location))

    def check_nwb_version(self) -> None:
        """Raise unless the file is an NWB file of a major version this pynwb reads (2.x)."""
        where = str(self.location)
        text, parsed = self.nwb_version
        if parsed is None:
            raise NotAnNWBFileError(where, f"it has no {NWB_VERSION_ATTR!r} attribute at its root")
        if parsed[0] not in SUPPORTED_NWB_MAJOR:
            raise UnsupportedFormatVersionError(f"{where} (NWB schema)", text, "2.x")

    def read(self, *, skip_version_check: bool = False, **kwargs: Any) -> pynwb.NWBFile:
        """Read the NWB file; the version of the file is checked first unless ``skip_version_check``.

        Parameters
        ----------
        skip_version_check : bool
            Read even when ``nwb_version`` is missing or not 2.x.
        **kwargs
            Passed to :meth:`ZarrIO.read`.

        Returns
        -------
        pynwb.NWBFile
            The file's NWBFile (lazy).
        """
        if self.mode not in _CREATING and not skip_version_check:
            self.check_nwb_version()
        return super().read(**kwargs)

    def export(
        self,
        src_io: HDMFIO,
        container: Container | None = None,
        write_args: dict[str, Any] | None = None,
        cache_spec: bool = True,
        clear_cache: bool = False,
        *,
        nwbfile: Container | None = None,
        number_of_jobs: int = 1,
        client: Any = None,
        copy_settings: CopySettings | None = None,
        max_threads_per_process: int | None = None,
        multiprocessing_context: str | None = None,
        consolidate_metadata: bool = True,
        progress: ProgressOption = None,
    ) -> None:
        """Export what ``src_io`` reads (NWBHDF5IO, NWBZarrIO) into this file, opened with mode ``'w'``.

        ``nwbfile`` is pynwb's name for ``container``: the (possibly modified) file read through ``src_io``.
        Pass ``write_args=dict(link_data=False)`` when ``src_io`` is not a Zarr IO. ``number_of_jobs``,
        ``client``, ``copy_settings`` and ``progress`` (``True`` for a tqdm bar, a tqdm-compatible class, or a
        callable taking bytes copied) are those of :meth:`ZarrIO.export`.

        Parameters
        ----------
        src_io : HDMFIO
            The open reader of the source (NWBHDF5IO, NWBZarrIO...).
        container : Container, optional
            What to export; by default what ``src_io`` reads.
        write_args : dict, optional
            Arguments of :meth:`ZarrIO.write` (``link_data=False`` across backends).
        cache_spec : bool
            Cache the namespaces in the file.
        clear_cache : bool
            Accepted for HDMF compatibility (HDF5IO's argument); no effect on Zarr.
        nwbfile : NWBFile, optional
            pynwb's name for ``container``.
        number_of_jobs : int
            Datasets and chunks copied in parallel.
        client : distributed.Client, optional
            Copy the chunks on this cluster's workers.
        copy_settings : CopySettings, optional
            Recompression, chunking and sharding of the copy.
        max_threads_per_process : int, optional
            Accepted for hdmf-zarr compatibility; no effect.
        multiprocessing_context : str, optional
            Accepted for hdmf-zarr compatibility; no effect.
        consolidate_metadata : bool
            Write consolidated metadata at the end.
        progress : bool, type or callable, optional
            ``True`` for a tqdm bar, a tqdm-compatible class, or a callable taking the bytes copied since its
            last call.
        """
        if nwbfile is not None and container is not None:
            raise InvalidOptionError("NWBZarrIO.export: give either nwbfile or container, not both")
        parallel: dict[str, Any] = {}  # only what was asked for, so that the defaults stay ZarrIO's
        if number_of_jobs != 1:
            parallel["number_of_jobs"] = number_of_jobs
        if client is not None:
            parallel["client"] = client
        if copy_settings is not None:
            parallel["copy_settings"] = copy_settings
        if progress is not None:
            parallel["progress"] = progress
        super().export(
            src_io,
            container=nwbfile if nwbfile is not None else container,
            write_args=write_args,
            cache_spec=cache_spec,
            clear_cache=clear_cache,
            max_threads_per_process=max_threads_per_process,
            multiprocessing_context=multiprocessing_context,
            consolidate_metadata=consolidate_metadata,
            **parallel,
        )

    read_nwb = staticmethod(read_nwb)  # hdmf-zarr's NWBZarrIO.read_nwb: the same function
