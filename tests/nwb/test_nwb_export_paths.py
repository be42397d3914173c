"""Export's two routes write the same file: builders copied as read, or containers built again.

``ZarrIO.export`` copies the source's builders as read when nothing needs rebuilding (cached namespaces
equal to the ones this file caches, no container passed, none changed since it was read); otherwise it
takes hdmf's container route. Both must give the same file for every file of the round-trip corpus (every
pynwb mock and the rich file), and the choice must fall back to containers where copying would be wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nwb_compare import compare_builders, compare_nwbfiles
from nwb_content import files_from_mocks, forget_source, rich_file
from pynwb import NWBHDF5IO, TimeSeries

from zarrbridge import NWBZarrIO


def _constructions(read_io: Any, run: Callable[[], None]) -> int:
    """How many containers ``run()`` constructs through ``read_io``'s build manager (a spy, not a stub)."""
    calls = []
    construct = read_io.manager.construct

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return construct(*args, **kwargs)

    read_io.manager.construct = spy
    try:
        run()
    finally:
        del read_io.manager.construct
    return len(calls)


def _documents(root: Path) -> dict[str, Any]:
    """Every node's ``zarr.json`` (the root's without its consolidated listing, whose order may differ)."""
    out: dict[str, Any] = {}
    for path in sorted(root.rglob("zarr.json")):
        doc = json.loads(path.read_text())
        if path.parent == root:
            doc.pop("consolidated_metadata", None)
        out[str(path.parent.relative_to(root))] = doc
    return out


def _chunk_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != "zarr.json"
    }


def _corpus(base: Path) -> list[Path]:
    files, _ = files_from_mocks()
    (base / "movie.avi").write_bytes(b"\0" * 16)
    files.append(rich_file(str(base / "movie.avi")))
    paths = []
    for i, nwbfile in enumerate(files):
        path = base / f"corpus{i}.nwb"
        with NWBHDF5IO(path, mode="w") as io:
            io.write(nwbfile)
        forget_source(nwbfile)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _corpus(tmp_path_factory.mktemp("corpus"))


def _export_both(src: Path, out: Path, reader: Callable[[Path], Any]) -> tuple[Path, Path]:
    """Export ``src`` by copying its builders and by building its containers; the two destinations."""
    fast, rebuilt = out / f"{src.name}.fast.zarr", out / f"{src.name}.rebuilt.zarr"
    with reader(src) as read_io, NWBZarrIO(fast, mode="w") as export_io:
        run = lambda: export_io.export(src_io=read_io, write_args=dict(link_data=False))  # noqa: E731
        assert _constructions(read_io, run) == 0, f"{src.name}: the builders were not copied as read"
    with reader(src) as read_io, NWBZarrIO(rebuilt, mode="w") as export_io:
        export_io.export(src_io=read_io, nwbfile=read_io.read(), write_args=dict(link_data=False))
    return fast, rebuilt


def _assert_same_file(fast: Path, rebuilt: Path) -> None:
    assert _documents(fast) == _documents(rebuilt)  # the same tree, attributes, shapes, dtypes, codecs
    assert _chunk_files(fast) == _chunk_files(rebuilt)  # the same stored values, byte for byte
    with NWBZarrIO(fast, "r") as a, NWBZarrIO(rebuilt, "r") as b:
        builders = compare_builders(a.read_builder(), b.read_builder())
        assert builders.objects > 20 and builders.differences == []
        assert compare_nwbfiles(a.read(), b.read()).differences == []


def test_hdf5_corpus_both_routes_write_the_same_file(corpus: list[Path], tmp_path: Path) -> None:
    assert len(corpus) >= 6  # the pynwb mocks (grouped into files) and the rich file
    for src in corpus:
        fast, rebuilt = _export_both(src, tmp_path, lambda p: NWBHDF5IO(p, "r"))
        _assert_same_file(fast, rebuilt)


def test_zarr_corpus_both_routes_write_the_same_file(corpus: list[Path], tmp_path: Path) -> None:
    for src in corpus:
        as_zarr = tmp_path / f"{src.stem}.nwb.zarr"
        with NWBHDF5IO(src, "r") as read_io, NWBZarrIO(as_zarr, mode="w") as export_io:
            export_io.export(src_io=read_io, write_args=dict(link_data=False))
        fast, rebuilt = _export_both(as_zarr, tmp_path, lambda p: NWBZarrIO(p, "r"))
        _assert_same_file(fast, rebuilt)


def _exported_acquisition(dst: Path) -> dict[str, Any]:
    with NWBZarrIO(dst, "r") as io:
        return {name: np.asarray(ts.data[:]) for name, ts in io.read().acquisition.items()}


def test_a_container_changed_after_reading_is_exported_with_its_change(
    corpus: list[Path], tmp_path: Path
) -> None:
    src, dst = corpus[-1], tmp_path / "changed.nwb.zarr"
    with NWBHDF5IO(src, "r") as read_io, NWBZarrIO(dst, mode="w") as export_io:
        nwbfile = read_io.read()
        nwbfile.add_acquisition(TimeSeries(name="added", data=[1.0, 2.0], rate=1.0, unit="m"))
        # no container passed: hdmf's export exports what read() returns, the changed container
        run = lambda: export_io.export(src_io=read_io, write_args=dict(link_data=False))  # noqa: E731
        assert _constructions(read_io, run) > 0
    assert _exported_acquisition(dst)["added"].tolist() == [1.0, 2.0]


def test_a_file_read_but_unchanged_still_copies_its_builders(corpus: list[Path], tmp_path: Path) -> None:
    src, dst = corpus[-1], tmp_path / "read.nwb.zarr"
    with NWBHDF5IO(src, "r") as read_io, NWBZarrIO(dst, mode="w") as export_io:
        before = sorted(read_io.read().acquisition)
        run = lambda: export_io.export(src_io=read_io, write_args=dict(link_data=False))  # noqa: E731
        assert _constructions(read_io, run) == 0
    assert sorted(_exported_acquisition(dst)) == before


def test_a_container_passed_takes_the_container_route(corpus: list[Path], tmp_path: Path) -> None:
    src, dst = corpus[-1], tmp_path / "passed.nwb.zarr"
    with NWBHDF5IO(src, "r") as read_io, NWBZarrIO(dst, mode="w") as export_io:
        nwbfile = read_io.read()
        nwbfile.add_acquisition(TimeSeries(name="passed", data=[3.0], rate=1.0, unit="m"))
        export_io.export(src_io=read_io, nwbfile=nwbfile, write_args=dict(link_data=False))
    assert _exported_acquisition(dst)["passed"].tolist() == [3.0]


def test_a_file_without_cached_specs_takes_the_container_route(tmp_path: Path) -> None:
    src = tmp_path / "nospec.nwb"
    files, _ = files_from_mocks()
    with NWBHDF5IO(src, mode="w") as io:
        io.write(files[0], cache_spec=False)
    dst, reference = tmp_path / "nospec.nwb.zarr", tmp_path / "reference.nwb.zarr"
    with NWBHDF5IO(src, "r") as read_io, NWBZarrIO(dst, mode="w") as export_io:
        run = lambda: export_io.export(src_io=read_io, write_args=dict(link_data=False))  # noqa: E731
        assert _constructions(read_io, run) > 0
    with NWBHDF5IO(src, "r") as read_io, NWBZarrIO(reference, mode="w") as export_io:
        export_io.export(src_io=read_io, nwbfile=read_io.read(), write_args=dict(link_data=False))
    _assert_same_file(dst, reference)
