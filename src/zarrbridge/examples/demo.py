"""The built-in example: write a small NWB recording to Zarr with ZarrIO, read it back,
print the tree on disk.

Run ``python -m zarrbridge.examples.demo OUTDIR`` (``bash scripts/demo.sh`` uses ``_demo``);
needs the ``nwb`` extra.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from .._optional import import_optional

__all__ = ["FILE_NAME", "IDENTIFIER", "build_recording", "main", "tree_lines", "write_and_read"]

FILE_NAME = "example.nwb.zarr"
IDENTIFIER = "zarrbridge-demo-recording"
N_CHANNELS = 8
N_SAMPLES = 30_000  # one second at 30 kHz
FEATURE = "the zarrbridge NWB demo"


def build_recording(*, wrap: Callable[[np.ndarray[Any, Any], tuple[int, int]], Any] | None = None) -> Any:
    """Build an in-memory :class:`pynwb.NWBFile` with a device, an electrodes table, an ElectricalSeries,
    units with spike times, trials and a processing module holding a TimeSeries.

    ``wrap(voltage, chunks)`` wraps the ElectricalSeries data in a backend's DataIO (default: ``ZarrDataIO``;
    ``zarrbridge example`` passes an ``H5DataIO`` to write HDF5)."""
    import_optional("pynwb", extra="nwb", feature=FEATURE)
    from pynwb.testing.mock.base import mock_TimeSeries
    from pynwb.testing.mock.device import mock_Device
    from pynwb.testing.mock.ecephys import mock_ElectricalSeries as mock_Series
    from pynwb.testing.mock.ecephys import mock_ElectrodeGroup, mock_ElectrodesTable, mock_Units
    from pynwb.testing.mock.file import mock_NWBFile

    from ..zarrio import ZarrDataIO

    rng = np.random.default_rng(seed=42)
    nwbfile = mock_NWBFile(
        identifier=IDENTIFIER,
        session_description="zarrbridge demo: one shank, one second",
        session_start_time=dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC),
    )
    probe = mock_Device(name="probe", nwbfile=nwbfile)
    shank = mock_ElectrodeGroup(name="shank0", device=probe, nwbfile=nwbfile)
    mock_ElectrodesTable(n_rows=N_CHANNELS, group=shank, nwbfile=nwbfile)
    electrodes = nwbfile.create_electrode_table_region(list(range(N_CHANNELS)), "all electrodes of shank0")
    voltage = (rng.standard_normal((N_SAMPLES, N_CHANNELS)) * 50).astype(np.int16)
    chunks = (10_000, N_CHANNELS)
    data = wrap(voltage, chunks) if wrap is not None else ZarrDataIO(voltage, chunks=chunks)
    mock_Series(
        name="ElectricalSeries",
        data=data,
        rate=30_000.0,
        electrodes=electrodes,
        conversion=1e-6,
        nwbfile=nwbfile,
    )
    mock_Units(num_units=6, max_spikes_per_unit=20, nwbfile=nwbfile)
    for start in range(4):
        nwbfile.add_trial(start_time=start * 0.25, stop_time=start * 0.25 + 0.2)
    behavior = nwbfile.create_processing_module(name="behavior", description="running speed")
    behavior.add(mock_TimeSeries(name="speed", data=rng.random(500), rate=500.0, unit="m/s"))
    return nwbfile


def write_and_read(nwbfile: Any, path: Path) -> tuple[str, int]:
    """Write ``nwbfile`` to ``path`` (replacing it),
    read it back and return its identifier and object count."""
    pynwb = import_optional("pynwb", extra="nwb", feature=FEATURE)
    from ..zarrio import ZarrIO

    with ZarrIO(path, mode="w", manager=pynwb.get_manager()) as io:
        io.write(nwbfile)
    with ZarrIO(path, mode="r", manager=pynwb.get_manager()) as io:
        read = io.read()
        return str(read.identifier), len(read.objects)


def _dtype_name(array: zarr.Array[Any]) -> str:
    name = array.metadata.data_type.to_json(zarr_format=array.metadata.zarr_format)  # type: ignore[union-attr]
    text = name if isinstance(name, str) else str(array.dtype)
    return f"{text} (object references)" if array.attrs.get("_DTYPE") == "object_reference" else text


def _walk(group: zarr.Group) -> Iterator[zarr.Group | zarr.Array[Any]]:
    for _name, node in sorted(group.members(), key=lambda item: item[0]):
        yield node
        if isinstance(node, zarr.Group):
            yield from _walk(node)


def tree_lines(path: Path) -> list[str]:
    """One line per group or array in the zarr hierarchy at ``path``: path, neurodata_type, shape, dtype,
    chunks.

    The cached specifications are summarised in one line per namespace version instead of listed document by
    document.
    """
    root = zarr.open_group(path, mode="r")
    specloc = root.attrs.get(".specloc")
    rows = [("/", str(root.attrs.get("neurodata_type", "")), "", "", "")]
    for node in _walk(root):
        node_path = node.path
        if isinstance(specloc, str) and node_path.startswith(f"{specloc}/"):
            if node_path.count("/") == 2 and isinstance(node, zarr.Group):
                docs = len(list(node.array_keys()))
                rows.append((f"/{node_path}/", "(cached spec)", f"{docs} documents", "", ""))
            continue
        kind = str(node.attrs.get("neurodata_type", ""))
        if isinstance(node, zarr.Group):
            rows.append((f"/{node_path}/", kind, "", "", ""))
        else:
            chunks = "x".join(map(str, node.chunks)) if node.chunks else "-"
            rows.append((f"/{node_path}", kind, str(node.shape), _dtype_name(node), f"chunks {chunks}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, [*widths, 0], strict=True)).rstrip()
        for row in rows
    ]


def main(argv: Sequence[str | os.PathLike[str]] | None = None) -> int:
    """Run the demo: build, write to ``<outdir>/example.nwb.zarr``, read back and print the tree.

    Parameters
    ----------
    argv
        Command line arguments (``[outdir]``); ``None`` reads ``sys.argv``.

    Returns
    -------
    int
        The exit status, 0 on success.

    Examples
    --------
    >>> main(["_demo"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(prog="python -m zarrbridge.examples.demo", description=__doc__)
    parser.add_argument("outdir", type=Path, help=f"directory to write {FILE_NAME} into (created if missing)")
    args = parser.parse_args([os.fspath(a) for a in argv] if argv is not None else sys.argv[1:])
    outdir: Path = args.outdir
    if outdir.exists() and not outdir.is_dir():
        sys.stderr.write(f"error: {outdir} is a file; give a directory to write {FILE_NAME} into\n")
        return 2
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / FILE_NAME
    nwbfile = build_recording()
    identifier, n_objects = write_and_read(nwbfile, target)
    out = sys.stdout  # (this is the example's command line: its report goes to stdout)
    out.write(f"wrote {target}\n")
    for line in tree_lines(target):
        out.write(f"{line}\n")
    out.write(f"read back NWBFile {identifier!r} with {n_objects} objects from {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
