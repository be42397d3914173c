"""``ZarrIO``: an HDMF backend that stores HDMF/NWB files as zarr hierarchies in any store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import zarr
from hdmf.backends.io import HDMFIO
from hdmf.backends.utils import WriteStatusTracker
from hdmf.build import BuildManager, GroupBuilder, TypeMap
from hdmf.container import Container
from hdmf.spec import NamespaceCatalog
from zarr.abc.store import Store

from ..core.bounds import check_max_bytes
from ..core.inline import with_inline_chunks
from ..core.integrity import check_missing_chunks
from ..core.location import AccessMode, Location, check_external_location, open_store
from ..errors import (
    InvalidOptionError,
    UnsupportedValueTypeError,
    ZarrBridgeError,
)
from ..progress import ByteProgress, ProgressOption, check_progress
from .builderpaths import check_builder_names
from .compat import check_parallel_args, constructor_options, remove_for_overwrite
from .convention import MARKER_VERSION
from .copying import CopySettings
from .destination import Destination
from .dims import dimension_names
from .errors import UnsupportedZarrOperation, as_hdmf_errors
from .exporting import (
    count_array_bytes,
    export_copy_settings,
    export_write_args,
    merge_namespaces,
    modified_since_read,
    reporting_to,
)
from .legacy import Convention, LegacyGroup, LegacyTreeReader, open_any_root
from .legacy.detect import LEGACY
from .legacy.export import load_legacy_text
from .reader import TreeReader
from .rootfile import (
    ZarrReadOnlyError,
    check_marker,
    open_root,
    write_tree,
)
from .specs import (
    cached_namespace_versions,
    load_cached_namespaces,
    restore_integer_attributes,
    same_cached_namespaces,
    spec_group_path,
)
from .writer import TreeWriter, WriteOptions

__all__ = ["ZarrIO"]


class ZarrIO(HDMFIO):  # type: ignore[misc]
    """Read and write HDMF containers as zarr hierarchies.

    Parameters
    ----------
    path
        A directory, ``.zip`` file, fsspec URL (``s3://bucket/file.nwb.zarr``), :class:`pathlib.Path`, or a
        zarr store object.
    mode
        ``r`` read, ``r+`` read/write existing, ``a`` read/write (created if missing), ``w`` create (replace),
        ``w-``/``x`` create, fail if it exists.
    manager
        The :class:`hdmf.build.BuildManager` (e.g. ``hdmf.common.get_manager()``).
    storage_options
        fsspec options for URLs (``{"endpoint_url": ..., "key": ..., "secret": ...}``).
    zarr_format
        3 (default, the current convention) or 2.
    allow_external_links
        Follow external links (and references) from a remote file to local paths, or from a local file to
        URLs. Off by default: a file must not choose which local files a reader opens
        (:func:`~zarrbridge.core.location.check_external_location`).
    synchronizer : None or bool
        hdmf-zarr 0.13's argument, accepted without effect (zarr 3 has no synchronizers;
        zarrbridge writes each metadata document once); anything else is refused.
    object_codec_class : None or numcodecs.JSON
        hdmf-zarr 0.13's argument, accepted without effect (references are
        stored as path strings); ``numcodecs.Pickle`` and others are refused.
    force_overwrite : bool
        In mode ``'w'``, remove whatever is at a local path first (an HDF5 file too).
    max_bytes : int or None
        The most memory one read of a dataset may take, in bytes: a selection, or a chunk to decode, larger
        than this raises :class:`~zarrbridge.errors.ResourceLimitError` before it is read. Default ``None``:
        the machine's memory for selections, 512 MiB for one chunk.
    missing_chunks : {"error", "fill"}
        ``"error"`` (default): a chunk missing from an array that says every chunk is stored (zarrbridge's
        arrays, legacy hdmf-zarr files) is a :class:`~zarrbridge.errors.MissingChunkError`. ``"fill"``: it
        reads as the fill value, as hdmf-zarr reads it (the same as
        :func:`~zarrbridge.zarrio.legacy.missing_chunks_as_fill`), for files another tool wrote with regions
        left unwritten; a chunk lost from a copy then reads as the fill value too. Arrays that do not say so
        (written by other tools on zarr 3) follow zarr's rule either way: missing means the fill value.

    Examples
    --------
    >>> from hdmf.common import get_manager
    >>> with ZarrIO("table.zarr", mode="w", manager=get_manager()) as io:  # doctest: +SKIP
    ...     io.write(table)
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
        *,
        zarr_format: Literal[2, 3] = 3,
        allow_external_links: bool = False,
        max_bytes: int | None = None,
        missing_chunks: Literal["error", "fill"] = "error",
    ) -> None:
        owner = type(self).__name__
        self._max_bytes = check_max_bytes(max_bytes, owner=owner)
        self._missing_chunks = check_missing_chunks(missing_chunks, owner=owner)
        if zarr_format not in (2, 3) or isinstance(zarr_format, bool):
            raise InvalidOptionError(
                f"{type(self).__name__}: zarr_format must be 2 or 3 (3 is the current convention), "
                f"not {zarr_format!r}"
            )
        self.hdmf_zarr_options = constructor_options(
            synchronizer, object_codec_class, storage_options, force_overwrite
        )
        storage_options = self.hdmf_zarr_options.storage_options
        self._location = Location.parse(path, storage_options=storage_options)
        self._path = path
        self._allow_external_links = bool(allow_external_links)
        # hdmf-zarr's 'r-' (read without consolidated metadata): zarrbridge reads either way
        self._mode: AccessMode = "r" if mode == "r-" else mode
        self._zarr_format = zarr_format
        self._store: Store | None = None
        self._root: zarr.Group | None = None
        self._root_written = False  # a write finished and the root is opened again only when needed
        self._builder: GroupBuilder | None = None
        self._reader: TreeReader | None = None
        self._external: dict[str, ZarrIO] = {}
        self._written = WriteStatusTracker()
        self._destination: Destination | None = None  # the lock and staging of an open file
        self.unmapped_codecs: tuple[tuple[str, str], ...] = ()
        source = None if self._location.kind == "store" else str(self._location)
        if manager is None:
            from hdmf.common import get_manager

            manager = get_manager()
        super().__init__(manager=manager, source=source)

    # ------------------------------------------------------------------------------ lifecycle
    @property
    def mode(self) -> str:
        """The mode the file was opened with (``'r-'`` reads as ``'r'``)."""
        return self._mode

    @property
    def path(self) -> Any:
        """The path, URL or store given to the constructor (hdmf-zarr's ``path``)."""
        return str(self._path) if isinstance(self._path, Path) else self._path

    @property
    def abspath(self) -> str:
        """The absolute path of a local file, else the URL (hdmf-zarr's ``abspath``)."""
        return os.path.abspath(self._location.path) if self._location.kind in ("local", "zip") else str(self)

    @property
    def synchronizer(self) -> Any:
        """As given; without effect (zarr-python 3 has no synchronizers, see docs/hdmf-zarr-api.md)."""
        return self.hdmf_zarr_options.synchronizer

    @property
    def object_codec_class(self) -> Any:
        """As given; without effect (references are path strings, nothing is pickled)."""
        return self.hdmf_zarr_options.object_codec_class

    def is_remote(self) -> bool:
        """Whether the file is reached through an fsspec URL (hdmf-zarr's ``is_remote``).

        Returns
        -------
        bool
            Whether the file is remote.
        """
        return self._location.kind == "fsspec"

    @property
    def location(self) -> Location:
        """Where the file is, as a :class:`~zarrbridge.core.Location`."""
        return self._location

    _convention: Convention | None = None  # set when an existing file is opened
    _legacy_root: LegacyGroup | None = None  # the root of a legacy hdmf-zarr file opened for reading

    @property
    def convention(self) -> Convention:
        """The file's on-disk convention: ``zarrbridge``, ``hdmf-zarr`` (v3) or ``hdmf-zarr-legacy`` (v2).

        Files this ZarrIO creates follow the ``zarrbridge`` convention in its ``zarr_format``.

        Examples
        --------
        >>> ZarrIO("old.nwb.zarr", mode="r").convention.name  # doctest: +SKIP
        'hdmf-zarr-legacy'
        """
        if self._convention is not None:
            return self._convention
        return Convention("zarrbridge", self._zarr_format, str(MARKER_VERSION))

    @property
    def store(self) -> Store:
        """The open zarr store of the file; an error once the IO is closed."""
        if self._store is None:
            raise UnsupportedZarrOperation(f"{self._location} is closed")
        return self._store

    @property
    def file(self) -> zarr.Group | LegacyGroup:
        """The root group (after a write or for existing files): a zarr group, or the read-only
        :class:`~zarrbridge.zarrio.legacy.LegacyGroup` of a legacy hdmf-zarr (Zarr v2) file."""
        if self._legacy_root is not None and self._store is not None:
            return self._legacy_root
        return self._zarr_root()

    def _zarr_root(self) -> zarr.Group:
        """The root zarr group of a file of the current convention, opened once."""
        if self._root is None:
            self._root = open_root(self.store, str(self._location))
            self._root_written = False
        return self._root

    def _is_zip(self) -> bool:
        return self._location.kind == "zip"

    def open(self) -> None:
        """Open the file's store (taking the write lock for writing modes); reading opens the root.

        HDMF's constructor calls it, so a new IO is open; calling it again does nothing.
        """
        if self._store is not None:
            return
        if self._mode == "w" and self.hdmf_zarr_options.force_overwrite:
            remove_for_overwrite(self._location)
        destination = Destination(self._location, self._mode, allow_external_links=self._allow_external_links)
        with as_hdmf_errors():
            store, direct = destination.open()
        self._store = store
        try:
            if direct:
                with as_hdmf_errors():
                    self._open_existing()
        except BaseException:  # an unreadable file: release the store and the lock before reporting it
            store.close()
            self._store = None
            destination.release()
            raise
        self._destination = destination

    def _open_existing(self) -> None:
        assert self._store is not None
        if self._mode in ("r", "r+") or (self._mode == "a" and self._location.holds_zarr()):
            self._convention, root = open_any_root(self._store, str(self._location))
            if isinstance(root, LegacyGroup):
                root.v2.missing_chunks, root.v2.max_bytes = self._missing_chunks, self._max_bytes
                if self._mode != "r":
                    raise ZarrReadOnlyError(
                        f"{self._location} (a legacy hdmf-zarr Zarr v2 file)",
                        hint=(
                            "zarrbridge reads legacy files but never modifies them; open it with mode 'r' "
                            "and convert it to the current convention with "
                            "ZarrIO(dst, 'w').export(src_io=...) or `zarrbridge convert SRC DST`, then "
                            "modify the copy"
                        ),
                    )
                self._legacy_root = root
            else:
                check_marker(root, str(self._location))
                # small chunks the root carries are served from it (reads only: an append drops them)
                self._root = with_inline_chunks(root, location=self._location) if self._mode == "r" else root

    def close(self) -> None:
        """Close the store and the external files opened through links.

        A hierarchy written in a staging directory (mode ``'w'`` over an existing file, a ``.zip``) replaces
        the destination here, once its root was written.
        """
        for ext in self._external.values():
            ext.close()
        self._external.clear()
        if self._store is not None:
            self._store.close()
        self._store = None
        self._root, self._root_written = None, False
        destination, self._destination = self._destination, None
        if destination is not None:
            destination.finish()  # a staged or replacing hierarchy becomes the file once complete

    def is_open(self) -> bool:
        """Whether the file's store is open.

        Returns
        -------
        bool
            Whether the store is open.
        """
        return self._store is not None

    @staticmethod
    def can_read(path: Any) -> bool:
        """Whether ``path`` holds a zarr hierarchy ZarrIO can open (current or legacy convention).

        Parameters
        ----------
        path : str, os.PathLike or zarr store
            The location to test.

        Returns
        -------
        bool
            Whether ZarrIO can open it.
        """
        try:
            return Location.parse(path).holds_zarr()
        except (ZarrBridgeError, OSError, ValueError, TypeError):  # an unusable location cannot be read
            return False

    # ------------------------------------------------------------------------------ namespaces
    @classmethod
    def load_namespaces(
        cls,
        namespace_catalog: NamespaceCatalog | TypeMap,
        path: Any = None,
        namespaces: list[str] | None = None,
        io: ZarrIO | None = None,
        storage_options: dict[str, Any] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """Load the newest cached version of each namespace in the file into ``namespace_catalog``.

        Parameters
        ----------
        namespace_catalog : NamespaceCatalog or TypeMap
            Where the namespaces go.
        path : str, os.PathLike or zarr store, optional
            The file (when ``io`` is not given).
        namespaces : list of str, optional
            Load only these namespaces.
        io : ZarrIO, optional
            An open IO to read them from instead of ``path``.
        storage_options : dict, optional
            fsspec options for URLs.
        **_
            Other hdmf-zarr arguments, ignored.
        """
        if io is not None:
            return io.load_namespaces_io(namespace_catalog, namespaces)
        if path is None:
            raise ValueError("load_namespaces needs path or io")
        store = open_store(path, mode="r", storage_options=storage_options)
        try:
            _convention, root = open_any_root(store, str(path))
            return load_cached_namespaces(root, namespace_catalog, namespaces, str(path))
        finally:
            store.close()

    def cached_namespace_versions(self) -> dict[str, str]:
        """Each namespace the file caches with its newest version; empty for a legacy file
        (never copied as read).

        Returns
        -------
        dict of str to str
            Namespace name to version.
        """
        if self.convention.name == LEGACY:
            return {}
        return cached_namespace_versions(self.file)

    def _has_root(self) -> bool:
        """Whether an existing file was opened (not a new one being written)."""
        return self._root is not None or self._legacy_root is not None

    def load_namespaces_io(
        self, namespace_catalog: NamespaceCatalog | TypeMap, namespaces: list[str] | None = None
    ) -> dict[str, Any]:
        """Load the newest cached version of each namespace of this open file into ``namespace_catalog``.

        Parameters
        ----------
        namespace_catalog : NamespaceCatalog or TypeMap
            Where the namespaces go.
        namespaces : list of str, optional
            Load only these namespaces.

        Returns
        -------
        dict
            What HDMF's ``load_namespaces`` returns: the loaded namespaces and their
            dependencies.
        """
        return load_cached_namespaces(self._read_root(), namespace_catalog, namespaces, str(self._location))

    # ------------------------------------------------------------------------------ reading
    def read_builder(self) -> GroupBuilder:
        """The file's builder tree (read once), integer attributes given back the width their spec
        declares.

        Returns
        -------
        GroupBuilder
            The root builder.
        """
        if self._builder is None:
            builder = self._tree_reader().read_root()
            restore_integer_attributes(builder, self.manager.namespace_catalog)
            self._builder = builder
        return self._builder

    def _read_root(self) -> zarr.Group | LegacyGroup:
        """The root to read from: the legacy root of a legacy file, else the zarr group."""
        return self.file

    def _tree_reader(self) -> TreeReader:
        if self._reader is None:
            root = self._read_root()
            specloc = spec_group_path(root)
            ignore = {specloc} if specloc else set()
            reader_class = LegacyTreeReader if isinstance(root, LegacyGroup) else TreeReader
            self._reader = reader_class(
                root,
                location=self._location,
                source=self.source,
                written=self._written,
                open_external=self._open_external,
                to_container=self.manager.construct,
                ignore=ignore,
            )
            self._reader.missing_chunks, self._reader.max_bytes = self._missing_chunks, self._max_bytes
        return self._reader

    def _open_external(self, relative: str) -> TreeReader:
        target = check_external_location(
            self._location, self._location.resolve(relative), allow=self._allow_external_links
        )
        key = str(target)
        if key not in self._external:
            self._external[key] = ZarrIO(
                target,
                mode="r",
                manager=self.manager,
                storage_options=target.storage_options or None,
                allow_external_links=self._allow_external_links,
                max_bytes=self._max_bytes,
                missing_chunks=self._missing_chunks,
            )
        return self._external[key]._tree_reader()

    def read(self, **kwargs: Any) -> Container:
        """Read the file's root container (lazily: array data stays on disk until sliced).

        Parameters
        ----------
        **kwargs
            HDMF's ``read`` arguments (e.g. ``skip_version_check`` for NWB).

        Returns
        -------
        Container
            The root container.
        """
        if self._mode in ("w", "w-", "x"):
            raise UnsupportedZarrOperation(
                f"cannot read {self._location} opened with mode {self._mode!r}; use mode 'r', 'r+' or 'a'"
            )
        return super().read(**kwargs)

    def get_builder(self, path: str) -> Any:
        """The builder of the object at absolute ``path`` in this file.

        Parameters
        ----------
        path : str
            An absolute path in the file (``/acquisition/ts/data``).

        Returns
        -------
        Builder
            The group or dataset builder.
        """
        return self._tree_reader().read_path(path)

    # ------------------------------------------------------------------------------ writing
    def write(
        self,
        container: Container | None = None,
        cache_spec: bool = True,
        link_data: bool = True,
        exhaust_dci: bool = True,
        number_of_jobs: int = 1,
        max_threads_per_process: int | None = None,
        multiprocessing_context: str | None = None,
        consolidate_metadata: bool = True,
    ) -> None:
        """Write ``container``, with hdmf-zarr's ``write`` arguments in its order (see docs/hdmf-zarr-api.md).

        ``number_of_jobs`` threads write the chunks of DataChunkIterators (and copy on-disk arrays);
        ``max_threads_per_process`` and ``multiprocessing_context`` are accepted without effect (no worker
        processes); ``consolidate_metadata=False`` writes the root without consolidated metadata.

        Parameters
        ----------
        container : Container
            The root container (an NWBFile, an hdmf DynamicTable...).
        cache_spec : bool
            Cache the namespaces in the file.
        link_data : bool
            Link zarr arrays of other files instead of copying them.
        exhaust_dci : bool
            Write each DataChunkIterator completely before the next one.
        number_of_jobs : int
            Threads writing the chunks of iterators (and copying on-disk arrays).
        max_threads_per_process : int, optional
            hdmf-zarr's argument, validated, without effect.
        multiprocessing_context : str, optional
            hdmf-zarr's argument (``'fork'``, ``'spawn'``), validated, without effect.
        consolidate_metadata : bool
            Write consolidated metadata in the root ``zarr.json``.
        """
        if not isinstance(container, Container):
            raise UnsupportedValueTypeError(
                f"{type(self).__name__}.write({self._location})",
                type(container).__name__,
                "an HDMF container (e.g. a pynwb.NWBFile or an hdmf DynamicTable)",
            )
        for name, value in (
            ("cache_spec", cache_spec),
            ("link_data", link_data),
            ("exhaust_dci", exhaust_dci),
            ("consolidate_metadata", consolidate_metadata),
        ):
            if not isinstance(value, bool):
                raise InvalidOptionError(
                    f"{type(self).__name__}.write: {name} must be True or False, not {value!r}"
                )
        if self._mode == "r":
            raise ZarrReadOnlyError(f"{self._location} (opened with mode 'r')")
        check_parallel_args(
            number_of_jobs=number_of_jobs,
            max_threads_per_process=max_threads_per_process,
            multiprocessing_context=multiprocessing_context,
        )
        HDMFIO.write(
            self,
            container=container,
            cache_spec=cache_spec,
            link_data=link_data,
            exhaust_dci=exhaust_dci,
            number_of_jobs=number_of_jobs,
            consolidate_metadata=consolidate_metadata,
        )

    def write_builder(
        self,
        builder: GroupBuilder,
        cache_spec: bool = False,
        link_data: bool = True,
        exhaust_dci: bool = True,
        export_source: str | None = None,
        copy_settings: CopySettings | None = None,
        export_store: Store | None = None,
        number_of_jobs: int = 1,
        consolidate_metadata: bool = True,
        **_: Any,
    ) -> None:
        """Write a builder tree (HDMF calls this from :meth:`write` and :meth:`export`).

        Each metadata document is written once; the root is written last.

        Parameters
        ----------
        builder : GroupBuilder
            The root builder.
        cache_spec : bool
            Cache the namespaces in the file.
        link_data : bool
            Link zarr arrays of other files instead of copying them.
        exhaust_dci : bool
            Write each DataChunkIterator completely before the next one.
        export_source : str, optional
            The source file of an export.
        copy_settings : CopySettings, optional
            Recompression, chunking and sharding of an export's copies.
        export_store : zarr store, optional
            The source's store of a Zarr-to-Zarr export.
        number_of_jobs : int
            Threads writing chunks.
        consolidate_metadata : bool
            Write consolidated metadata in the root ``zarr.json``.
        **_
            Other HDMF arguments, ignored.
        """
        if self._mode == "r":
            raise ZarrReadOnlyError(f"{self._location} (opened with mode 'r')")
        check_builder_names(builder)  # before anything is written
        existing = self._zarr_root() if self._root_written else self._root
        fresh = existing is None
        writer = TreeWriter(
            store=self.store,
            location=self._location,
            written=self._written,
            options=WriteOptions(
                link_data=link_data,
                exhaust_dci=exhaust_dci,
                export_source=export_source,
                export_store=export_store,
                number_of_jobs=number_of_jobs,
                zarr_format=self._zarr_format,
                copy=copy_settings or CopySettings(number_of_jobs=number_of_jobs),
            ),
            existing=existing,
        )
        writer.container_path = self.manager.get_builder
        writer.dims = dimension_names(builder, self.manager.namespace_catalog)
        root = write_tree(
            self.store,
            writer,
            builder,
            existing=existing,
            catalog=self.manager.namespace_catalog if cache_spec else None,
            placeholder=not self._is_zip(),
            zarr_format=self._zarr_format,
            where=str(self._location),
            consolidate=consolidate_metadata,
        )
        if fresh:  # parsing the consolidated metadata is not free: reopened on first use only
            self._root, self._root_written = None, True
        else:
            self._root = root
        self.unmapped_codecs = tuple(writer.unmapped)
        self._builder = builder if fresh else self._builder
        self._reader = None

    # ------------------------------------------------------------------------------ export
    def export(
        self,
        src_io: HDMFIO,
        container: Container | None = None,
        write_args: dict[str, Any] | None = None,
        cache_spec: bool = True,
        clear_cache: bool = False,
        *,
        number_of_jobs: int = 1,
        client: Any = None,
        copy_settings: CopySettings | None = None,
        max_threads_per_process: int | None = None,
        multiprocessing_context: str | None = None,
        consolidate_metadata: bool = True,
        progress: ProgressOption = None,
    ) -> None:
        """Export everything ``src_io`` reads (HDF5 or Zarr) into this file (opened with mode ``'w'``).

        Parameters
        ----------
        src_io
            The open source IO (``HDF5IO``/``NWBHDF5IO``, ``ZarrIO``/``NWBZarrIO``).
        container
            The container to export (e.g. one modified after reading); by default ``src_io.read()``.
        write_args
            Arguments for the write. Every dataset of the source is copied, as ``HDF5IO.export`` does. With
            ``link_data=True`` (hdmf's default for a Zarr source) a dataset the source itself links from
            another file stays an external link, and one the source holds at another path becomes a soft
            link; ``link_data=False`` copies those too. From HDF5 ``link_data=True`` is refused
            (``UnsupportedOperation``: links cannot cross backends); by default everything is copied. To link
            a dataset on purpose, wrap its array in ``ZarrDataIO(array, link_data=True)``.
        number_of_jobs
            Threads copying the chunks of large datasets in parallel.
        client
            A ``dask.distributed.Client`` whose workers copy the chunks (of HDF5 files on local disk and of
            zarr arrays).
        max_threads_per_process, multiprocessing_context, consolidate_metadata
            hdmf-zarr's arguments: the first two are accepted without effect (threads, no worker processes),
            ``consolidate_metadata=False`` leaves the root without consolidated metadata.
        copy_settings
            Compression, chunking and sharding of the copied arrays (by default the source's chunking is
            kept and its compression mapped to zarr codecs; filters that do not map are reported with a
            :class:`~zarrbridge.errors.CodecNotMappedWarning` and listed in :attr:`unmapped_codecs`).
        cache_spec : bool
            Cache the namespaces in the file.
        clear_cache : bool
            HDMF's argument, accepted for compatibility (no cache to clear in Zarr).
        progress
            ``True`` for a tqdm bar on stderr, a tqdm-compatible class, or a callable taking the bytes copied
            since its previous call (they add up to the source's array bytes; on a ``distributed`` cluster,
            chunk copies are reported as the cluster completes them); see :mod:`zarrbridge.progress`. Off by
            default.
        """
        check_progress(progress, where="export(progress=)")
        if self._mode != "w":
            raise UnsupportedZarrOperation(
                f"cannot export to {self._location} in mode {self._mode!r}; use mode 'w'"
            )
        check_parallel_args(
            number_of_jobs=number_of_jobs,
            max_threads_per_process=max_threads_per_process,
            multiprocessing_context=multiprocessing_context,
        )
        zarr_source = src_io if isinstance(src_io, ZarrIO) else None
        if zarr_source is not None and zarr_source.convention.name == LEGACY:
            container = container if container is not None else zarr_source.read()
            load_legacy_text(container)
        args = export_write_args(
            src_io,
            write_args,
            zarr_store=zarr_source.store if zarr_source is not None and zarr_source.is_open() else None,
            from_zarr=zarr_source is not None,
            cache_spec=cache_spec,
            consolidate_metadata=consolidate_metadata,
            settings=export_copy_settings(copy_settings, number_of_jobs=number_of_jobs, client=client),
        )
        merge_namespaces(src_io.manager, self.manager)
        with ByteProgress(progress, description=self._location.name) as reporter:
            if reporter.enabled:
                reporter.add_total(count_array_bytes(src_io.read_builder())[1])
                args["copy_settings"] = reporting_to(args["copy_settings"], reporter)
            if (
                container is None
                and same_cached_namespaces(src_io, self.manager)
                and not modified_since_read(src_io)
            ):
                # the file as it is on disk, written with the specs this file will cache and not changed
                # since it was read: its builders are copied as read, without constructing every container
                # and building it again
                self.write_builder(src_io.read_builder(), **args)
            else:
                HDMFIO.export(
                    self,
                    src_io=src_io,
                    container=container,
                    write_args=args,
                    clear_cache=clear_cache or not args.get("link_data", True),
                )
            if reporter.enabled and reporter.total is not None and reporter.done < reporter.total:
                reporter(reporter.total - reporter.done)  # scalars and text are written whole, unreported
