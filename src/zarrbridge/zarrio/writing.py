"""The writing half of :class:`~zarrbridge.zarrio.ZarrIO`: ``write``, ``write_builder`` and ``export``.

:class:`ZarrIOWriting` holds the methods that turn containers and builder trees into a zarr hierarchy;
:class:`~zarrbridge.zarrio.ZarrIO` adds the opening, closing and reading of a file to it. It is not used on
its own: the attributes it reads (the location, the open store, the mode...) are ZarrIO's, set by ZarrIO's
constructor. The API reference shows these methods on ZarrIO's page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from hdmf.backends.io import HDMFIO
from hdmf.build import GroupBuilder
from hdmf.container import Container
from zarr.abc.store import Store

from ..errors import InvalidOptionError, UnsupportedValueTypeError
from ..progress import ByteProgress, ProgressOption, check_progress
from .builderpaths import check_builder_names
from .compat import check_parallel_args
from .copying import CopySettings
from .dims import dimension_names
from .errors import UnsupportedZarrOperation
from .exporting import (
    count_array_bytes,
    export_copy_settings,
    export_write_args,
    merge_namespaces,
    modified_since_read,
    reporting_to,
)
from .legacy.detect import LEGACY
from .legacy.export import load_legacy_text
from .rootfile import ZarrReadOnlyError, write_tree
from .specs import same_cached_namespaces
from .writer import TreeWriter, WriteOptions

if TYPE_CHECKING:
    import zarr
    from hdmf.backends.utils import WriteStatusTracker

    from ..core.location import AccessMode, Location
    from .legacy import Convention

__all__ = ["ZarrIOWriting"]


class ZarrIOWriting(HDMFIO):  # type: ignore[misc]
    """The write, write_builder and export methods of :class:`~zarrbridge.zarrio.ZarrIO` (its base class)."""

    if TYPE_CHECKING:  # set by ZarrIO's constructor and methods
        _mode: AccessMode
        _location: Location
        _zarr_format: Literal[2, 3]
        _root: zarr.Group | None
        _root_written: bool
        _builder: GroupBuilder | None
        _reader: Any
        _written: WriteStatusTracker
        unmapped_codecs: tuple[tuple[str, str], ...]

        @property
        def store(self) -> Store: ...

        @property
        def convention(self) -> Convention: ...

        def is_open(self) -> bool: ...

        def _zarr_root(self) -> zarr.Group: ...

        def _is_zip(self) -> bool: ...

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
        cache_spec, link_data, exhaust_dci : bool
            As for :meth:`write`: cache the namespaces, link zarr arrays of other files, write each
            DataChunkIterator completely before the next one.
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
        # every ZarrIO (NWBZarrIO too) is a ZarrIOWriting; no other IO is
        zarr_source = src_io if isinstance(src_io, ZarrIOWriting) else None
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
