"""Write the legacy hdmf-zarr fixtures and their manifest (run by ``make_fixtures.sh`` in the legacy venv).

Usage: ``.legacy-venv/bin/python scripts/legacy/write_fixtures.py OUTDIR``

Needs the real ``hdmf-zarr==0.13.0`` (zarr 2, numcodecs < 0.16). Writes to OUTDIR:

- ``ecephys.nwb.zarr``: the broad NWB file (Pickle object codec, the default);
- ``json_codec.nwb.zarr``: the same content written with ``object_codec_class=numcodecs.JSON``;
- ``link_target.nwb.zarr`` and ``external_link.nwb.zarr``: a file and a second file linking into it;
- ``kinds.nwb.zarr``: the ``ndx-legacy-kinds`` extension object holding every data kind;
- ``crafted_pickle.nwb.zarr``: ``link_target`` with one reference chunk replaced by a malicious pickle;
- ``manifest.json``: what hdmf-zarr read back from each file.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
from hdmf_zarr.backend import ZarrIO
from hdmf_zarr.nwb import NWBZarrIO
from pynwb import get_manager

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))

import legacy_extension
import manifest
import nwb_fixtures

MANIFEST_FORMAT_VERSION = 1
MARKER = "/tmp/zarrbridge-legacy-fixture-UNSAFE-PICKLE-RAN"
CRAFTED_DATASET = "general/extracellular_ephys/electrodes/group"


class _RunsCode:
    """Pickles as ``os.mkdir(MARKER)``: proof that an unpickler executed the payload."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (MARKER,))


def _write(path: Path, nwbfile: Any) -> None:
    shutil.rmtree(path, ignore_errors=True)
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(nwbfile)


def write_json_codec(path: Path, nwbfile: Any) -> None:
    """Write with the JSON object codec.

    ``NWBZarrIO`` 0.13.0 accepts ``object_codec_class`` but never passes it on (the file silently gets
    Pickle), so this goes through ``ZarrIO`` with pynwb's BuildManager.
    """
    shutil.rmtree(path, ignore_errors=True)
    with ZarrIO(str(path), mode="w", manager=get_manager(), object_codec_class=numcodecs.JSON) as io:
        io.write(nwbfile)


def write_crafted(source: Path, dest: Path) -> dict[str, Any]:
    """Copy ``source`` and replace the only chunk of its electrode ``group`` reference column.

    The new chunk is encoded exactly like the original (Pickle filter, then the array's compressor), but the
    pickled object array holds an object whose unpickling calls ``os.mkdir(MARKER)``. It is never unpickled
    here.
    """
    import zarr

    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest)
    array = zarr.open_array(str(dest / CRAFTED_DATASET), mode="r")
    if [f.codec_id for f in array.filters or []] != ["pickle"] or array.nchunks != 1:
        raise RuntimeError(f"{CRAFTED_DATASET} is no longer a one-chunk Pickle dataset; update the script")
    payload = np.empty(array.shape, dtype=object)
    payload[:] = [_RunsCode() for _ in range(array.shape[0])]
    encoded = pickle.dumps(payload, protocol=5)
    chunk = array.compressor.encode(encoded) if array.compressor is not None else encoded
    (dest / CRAFTED_DATASET / "0").write_bytes(bytes(chunk))
    return {
        "source_file": source.name,
        "dataset": "/" + CRAFTED_DATASET,
        "chunk_key": "0",
        "marker": MARKER,
        "payload": "pickled numpy object array of objects reducing to os.mkdir(marker) (posix.mkdir)",
    }


def main(outdir: Path) -> None:
    """Write every fixture and the manifest into ``outdir`` (existing fixture directories are replaced)."""
    outdir.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}

    def add(name: str, description: str, **extra: Any) -> None:
        files[name] = {"description": description, **extra}

    # Files without the extension first: pynwb caches every namespace it has loaded in every file it writes.
    _write(outdir / "ecephys.nwb.zarr", nwb_fixtures.build_legacy_ecephys())
    add(
        "ecephys.nwb.zarr",
        "Broad NWB file: subject, devices, electrode groups, electrodes table (reference and text columns), "
        "ElectricalSeries with GZip and Blosc chunked data, explicit timestamps, a timestamps soft link, "
        "AnnotationSeries, ImageSeries with external files, units (ragged spike_times/obs_intervals/"
        "electrodes, waveform_mean), trials and epochs with a TimeSeriesReferenceVectorData column, "
        "behavior processing module with Position and Images/ImageReferences.",
        object_codec="Pickle",
    )
    write_json_codec(outdir / "json_codec.nwb.zarr", nwb_fixtures.build_legacy_ecephys())
    add(
        "json_codec.nwb.zarr",
        "Same content as ecephys.nwb.zarr, written with the JSON object codec.",
        object_codec="JSON",
        same_content_as="ecephys.nwb.zarr",
    )
    _write(outdir / "link_target.nwb.zarr", nwb_fixtures.build_link_target())
    add(
        "link_target.nwb.zarr",
        "Small file with an electrodes table; target of external_link.nwb.zarr.",
        object_codec="Pickle",
    )
    # cached specifications: hdmf-zarr 0.13's default (cache_spec=True)
    nwb_fixtures.write_external_link(
        NWBZarrIO, outdir / "link_target.nwb.zarr", outdir / "external_link.nwb.zarr", legacy=True
    )
    add(
        "external_link.nwb.zarr",
        "External links into link_target.nwb.zarr: to the group /acquisition/target_series and to its data.",
        object_codec="Pickle",
    )

    with nwb_fixtures.extension_classes() as classes:
        _write(outdir / "kinds.nwb.zarr", nwb_fixtures.build_kinds(classes))
    add(
        "kinds.nwb.zarr",
        f"Extension namespace {legacy_extension.NAMESPACE} {legacy_extension.VERSION}: one LegacyKinds "
        "object with numeric, bool, string, scalar, empty, compound (with and without references), reference "
        "datasets, attributes of every kind and a soft link.",
        object_codec="Pickle",
        extension={"namespace": legacy_extension.NAMESPACE, "version": legacy_extension.VERSION},
    )

    for name in list(files):
        files[name].update(manifest.describe(outdir / name))

    crafted = write_crafted(outdir / "link_target.nwb.zarr", outdir / "crafted_pickle.nwb.zarr")
    add(
        "crafted_pickle.nwb.zarr",
        "Copy of link_target.nwb.zarr whose electrodes/group chunk is a malicious pickle. Readers must "
        "refuse it without running it. Not read back by the generator.",
        object_codec="Pickle",
        crafted=crafted,
    )

    document = {
        "manifest_format_version": MANIFEST_FORMAT_VERSION,
        "written_by": nwb_fixtures.versions(),
        "value_encoding": manifest.value_sha256.__doc__,
        "files": files,
    }
    text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False)
    (outdir / "manifest.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    nwb_fixtures.run(main, "write_fixtures.py")
