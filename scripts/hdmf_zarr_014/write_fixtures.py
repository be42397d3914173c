"""Write the hdmf-zarr 0.14 fixtures, their HDF5 twins and a manifest (run by ``make_fixtures.sh``).

Usage: ``.hdmf-zarr-014-venv/bin/python scripts/hdmf_zarr_014/write_fixtures.py OUTDIR``

Needs the real ``hdmf-zarr==0.14.0`` (zarr >= 3.4). Each NWB file is built twice from the same
deterministic builder (object ids included): once written by hdmf-zarr's ``NWBZarrIO`` to
``OUTDIR/<name>.nwb.zarr``, once by pynwb's ``NWBHDF5IO`` to ``OUTDIR/hdf5/<name>.nwb``. The HDF5 twin is
the expected content: a reader of the Zarr file must return what ``NWBHDF5IO`` returns for the twin.
``manifest.json`` records the versions and, per array, the raw zarr v3 metadata hdmf-zarr wrote (data
type, shape, chunks, shards, codecs, fill value) and per group its ``_LINKS``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from hdmf_zarr.nwb import NWBZarrIO
from pynwb import NWBHDF5IO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))

import legacy_extension
import nwb_fixtures

MANIFEST_FORMAT_VERSION = 1


def _write_pair(outdir: Path, name: str, build: Any, *, cache_spec: bool = False) -> None:
    """``build(zarr_io)`` written by NWBZarrIO to ``name.nwb.zarr`` and by NWBHDF5IO to ``hdf5/name.nwb``.

    Cached specifications are ~300 kB per file: only the files that need them (or test them) have them.
    """
    zarr_path, h5_path = outdir / f"{name}.nwb.zarr", outdir / "hdf5" / f"{name}.nwb"
    shutil.rmtree(zarr_path, ignore_errors=True)
    h5_path.unlink(missing_ok=True)
    with nwb_fixtures.fixed_object_ids(name):
        nwbfile = build(True)
    with NWBZarrIO(str(zarr_path), mode="w") as io:
        io.write(nwbfile, cache_spec=cache_spec)
    with nwb_fixtures.fixed_object_ids(name):
        twin = build(False)
    with NWBHDF5IO(str(h5_path), mode="w") as io:
        io.write(twin, cache_spec=cache_spec)


def _write_external(outdir: Path) -> None:
    """``external_link`` (both forms) links into ``link_target`` of the same form."""
    for path, target, io_class in (
        (outdir / "external_link.nwb.zarr", outdir / "link_target.nwb.zarr", NWBZarrIO),
        (outdir / "hdf5" / "external_link.nwb", outdir / "hdf5" / "link_target.nwb", NWBHDF5IO),
    ):
        nwb_fixtures.write_external_link(io_class, target, path, legacy=False, cache_spec=False)


def _raw(directory: Path) -> dict[str, Any]:
    """Per array its raw metadata, per group with links its ``_LINKS``; from the ``zarr.json`` documents."""
    arrays: dict[str, Any] = {}
    links: dict[str, Any] = {}
    for doc_path in sorted(directory.rglob("zarr.json")):
        key = "/" + str(doc_path.parent.relative_to(directory)).replace("\\", "/").strip(".")
        key = "/" + key.strip("/")
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
        if doc.get("node_type") == "group":
            if "_LINKS" in doc.get("attributes", {}):
                links[key] = doc["attributes"]["_LINKS"]
            continue
        if key.startswith("/specifications/"):
            continue
        arrays[key] = {
            "data_type": doc["data_type"],
            "shape": doc["shape"],
            "chunk_shape": doc["chunk_grid"]["configuration"]["chunk_shape"],
            "codecs": doc["codecs"],
            "fill_value": doc["fill_value"],
            "dimension_names": doc.get("dimension_names"),
            "_DTYPE": doc.get("attributes", {}).get("_DTYPE"),
        }
    return {"arrays": arrays, "links": links}


def _anchor_read(path: Path) -> dict[str, Any]:
    """Whether hdmf-zarr 0.14 reads its own file back (every container built), and how many containers."""
    try:
        with NWBZarrIO(str(path), mode="r") as io:
            return {"ok": True, "containers": len(list(io.read().objects))}
    except Exception as exc:  # recorded, not raised: the manifest says what the anchor cannot read
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[-300:]}"}


def main(outdir: Path) -> None:
    """Write every fixture, its HDF5 twin and the manifest into ``outdir``."""
    (outdir / "hdf5").mkdir(parents=True, exist_ok=True)
    descriptions: dict[str, str] = {}
    # files without the extension first: pynwb caches every namespace it has loaded in every file it writes
    _write_pair(
        outdir, "ecephys", lambda zarr_io: nwb_fixtures.build_ecephys(zarr_io=zarr_io), cache_spec=True
    )
    descriptions["ecephys"] = (
        "electrodes table (reference column), ElectricalSeries with GzipCodec and with sharding, Blosc and "
        "uncompressed TimeSeries, a timestamps soft link, AnnotationSeries, units, trials and epochs "
        "(TimeSeriesReferenceVectorData: compound with a reference field), Images + ImageReferences"
    )
    _write_pair(outdir, "icephys", lambda _zarr_io: nwb_fixtures.build_icephys())
    descriptions["icephys"] = (
        "intracellular recordings and every icephys table (compound stimulus/response columns with "
        "references), NaN resolution attributes"
    )
    _write_pair(outdir, "link_target", lambda _zarr_io: nwb_fixtures.build_link_target())
    descriptions["link_target"] = "small file; target of external_link"
    _write_external(outdir)
    descriptions["external_link"] = "external links into link_target: to a group and to a dataset"
    with nwb_fixtures.extension_classes() as classes:
        _write_pair(outdir, "kinds", lambda _zarr_io: nwb_fixtures.build_kinds_014(classes), cache_spec=True)
    descriptions["kinds"] = (
        f"extension {legacy_extension.NAMESPACE} {legacy_extension.VERSION}: every data kind (numeric, bool, "
        "text/ascii/isodatetime, 0-d scalars, empty, compound with and without references, references), "
        "attributes of every kind incl. NaN/Infinity/-Infinity, a soft link"
    )
    files = {
        f"{name}.nwb.zarr": {
            "description": text,
            "hdf5_twin": f"hdf5/{name}.nwb",
            "anchor_read": _anchor_read(outdir / f"{name}.nwb.zarr"),
            **_raw(outdir / f"{name}.nwb.zarr"),
        }
        for name, text in descriptions.items()
    }
    document = {
        "manifest_format_version": MANIFEST_FORMAT_VERSION,
        "written_by": nwb_fixtures.versions(),
        "files": files,
    }
    text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=True)
    (outdir / "manifest.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    nwb_fixtures.run(main, "write_fixtures.py")
