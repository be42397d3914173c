"""``zarrbridge validate --data``: read every chunk of a file and report what is missing or corrupt, by path.

For a zarr file, every array is found from its own documents (not only from the consolidated listing) and

- compared with the consolidated listing (an array missing from it, listed but gone, or listed differently is
  a problem: readers that use the listing would read something else or nothing);
- read chunk by chunk (:func:`zarrbridge.core.integrity.scan_array`): a chunk that does not decode is a
  problem; a missing chunk is a problem in a complete array (written by zarrbridge, which stores every chunk)
  and only a note in an array other tools wrote, where it reads as the fill value,
  as the zarr specification allows.

For an HDF5 file every dataset is read block by block; a block h5py cannot read is a problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from ..core.arrays import iter_blocks
from ..core.inline import inline_disagreements
from ..core.integrity import check_document, is_complete, metadata_key, scan_array
from ..core.location import Location, open_store
from ..errors import CorruptMetadataError, ZarrBridgeError
from ..progress import ByteProgress, ProgressOption, check_progress

__all__ = ["DataReport", "check_data"]


@dataclass
class DataReport:
    """What reading every chunk found: problems (damage) and notes (fill values of other tools' files)."""

    arrays: int = 0
    chunks: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path in the file, what is wrong)
    notes: list[tuple[str, str]] = field(default_factory=list)


def check_data(
    path: str,
    *,
    kind: str,
    storage_options: dict[str, Any] | None = None,
    progress: ProgressOption = None,
) -> DataReport:
    """Read every chunk of the file at ``path`` (``kind`` ``"zarr"`` or ``"hdf5"``).

    ``progress``: ``True`` for a tqdm bar, a tqdm-compatible class, or a callable taking the bytes checked
    since its previous call (they add up to the uncompressed bytes of the file's arrays); see
    :mod:`zarrbridge.progress`.
    """
    check_progress(progress, where="check_data(progress=)")
    with ByteProgress(progress, description=f"checking {path.rstrip('/').rsplit('/', 1)[-1]}") as tick:
        if kind == "hdf5":
            return _check_hdf5(path, tick)
        return _check_zarr(path, storage_options or {}, tick)


def _arrays(group: zarr.Group) -> dict[str, zarr.Array[Any]]:
    return {
        "/" + name.strip("/"): node
        for name, node in group.members(max_depth=None)
        if isinstance(node, zarr.Array)
    }


def _check_zarr(path: str, storage_options: dict[str, Any], tick: ByteProgress) -> DataReport:
    report = DataReport()
    location = Location.parse(path, storage_options=storage_options or None)
    store = open_store(location, mode="r")
    try:
        try:
            on_disk = _arrays(zarr.open_group(store, mode="r", use_consolidated=False))
        except (ValueError, TypeError, KeyError) as exc:  # e.g. a legacy hdmf-zarr file zarr cannot open
            report.problems.append(("/", f"the data of this file cannot be checked: {exc}"))
            return report
        listed: dict[str, zarr.Array[Any]] = {}
        root = zarr.open_group(store, mode="r")
        if root.metadata.consolidated_metadata is not None:
            listed = _arrays(root)
            _compare_listing(report, on_disk, listed, location)
            for name, problem in inline_disagreements(root, location=location):  # small chunks' root copies
                report.problems.append((name, str(problem)))
        tick.add_total(sum(math.prod(a.shape) * _itemsize(a) for a in on_disk.values()))
        for name, array in sorted(on_disk.items()):
            _check_array(report, name, array, str(location), tick)
    finally:
        store.close()
    return report


def _compare_listing(
    report: DataReport,
    on_disk: dict[str, zarr.Array[Any]],
    listed: dict[str, zarr.Array[Any]],
    location: Location,
) -> None:
    for name in sorted(set(on_disk) - set(listed)):
        report.problems.append(
            (name, "not in the consolidated metadata: readers that use it do not see this array")
        )
    for name in sorted(set(listed) - set(on_disk)):
        report.problems.append((name, "listed in the consolidated metadata, but its own document is missing"))
    for name in sorted(set(listed) & set(on_disk)):
        array = listed[name]
        raw = sync(array.store_path.store.get(metadata_key(array), default_buffer_prototype()))
        try:
            check_document(array, None if raw is None else raw.to_bytes(), location=str(location))
        except CorruptMetadataError as exc:
            report.problems.append((name, str(exc)))


def _itemsize(array: Any) -> int:
    try:
        dtype = np.dtype(array.dtype)
    except TypeError:
        return 0
    return 0 if dtype.kind in "OT" else int(dtype.itemsize)


def _check_array(
    report: DataReport, name: str, array: zarr.Array[Any], location: str, tick: ByteProgress
) -> None:
    report.arrays += 1
    try:
        found = scan_array(array, location=location, progress=tick)
    except ZarrBridgeError as exc:
        report.problems.append((name, str(exc)))
        return
    except (TimeoutError, ValueError, TypeError, OSError) as exc:
        report.problems.append((name, f"cannot be read: {type(exc).__name__}: {exc}"))
        return
    report.chunks += found.chunks
    for key in found.missing:
        report.problems.append((name, f"chunk {key!r} is missing"))
    for key, reason in found.corrupt:
        report.problems.append((name, f"chunk {key!r} is corrupt ({reason})"))
    if found.filled:
        shown = ", ".join(repr(k) for k in found.filled[:3]) + (
            f" and {len(found.filled) - 3} more" if len(found.filled) > 3 else ""
        )
        marker = "" if is_complete(array) else " (written by another tool)"
        report.notes.append(
            (
                name,
                f"{len(found.filled)} chunk(s) not stored{marker}: they read as the fill value, which the "
                f"zarr specification allows ({shown})",
            )
        )


def _check_hdf5(path: str, tick: ByteProgress) -> DataReport:
    import h5py

    report = DataReport()
    datasets: list[tuple[str, Any]] = []
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: datasets.append((name, obj)) if isinstance(obj, h5py.Dataset) else None
        )
        tick.add_total(sum(_itemsize(d) * math.prod(d.shape) for _, d in datasets if d.shape is not None))
        for name, dset in datasets:
            report.arrays += 1
            if dset.shape is None:  # an empty (null dataspace) dataset
                continue
            blocks = list(iter_blocks(dset.shape, dset.chunks or dset.shape))
            report.chunks += len(blocks)
            itemsize = _itemsize(dset)
            for sel in blocks:
                try:
                    dset[sel]
                    tick(math.prod(s.stop - s.start for s in sel) * itemsize if sel else itemsize)
                except (OSError, ValueError, TypeError) as exc:
                    report.problems.append((f"/{name}", f"block {sel!r} cannot be read: {exc}"))
                    break
    return report
