"""External links: ``source`` relative to the linking store itself (the convention, hdmf-zarr 0.14).

The stores are made by hand with zarr, as a reader of the convention sees them; zarrbridge 1 files
(marker version 1, sources relative to the store's parent directory) still resolve.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hdmf.build import DatasetBuilder, GroupBuilder, LinkBuilder

from zarrbridge import ZarrIO
from zarrbridge.errors import BrokenLinkError
from zarrbridge.zarrio.convention import parent_relative, store_relative


def _target(path: Path) -> None:
    """A convention file holding ``/data`` = 0..4 (int64)."""
    root = zarr.create_group(path, zarr_format=3)
    arr = root.create_array("data", shape=(5,), dtype="int64")
    arr[:] = np.arange(5)
    zarr.consolidate_metadata(path)


def _linking(path: Path, source: str, *, marker: dict[str, Any] | None = None) -> None:
    """A convention file whose group ``g`` links ``/data`` of ``source`` and references it in an attribute."""
    attrs: dict[str, Any] = {} if marker is None else {"_ZARRBRIDGE": marker}
    root = zarr.create_group(path, zarr_format=3, attributes=attrs)
    root.create_group(
        "g",
        attributes={
            "_LINKS": [{"name": "ext", "source": source, "path": "/data"}],
            "ref": {"_REFERENCE": {"source": source, "path": "/data"}},
        },
    )
    zarr.consolidate_metadata(path)


def _read_link(path: Path) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    with ZarrIO(path, mode="r") as io:
        g = io.read_builder()["g"]
        return np.asarray(g.links["ext"].builder.data[:]), np.asarray(g.attributes["ref"].data[:])


@pytest.mark.parametrize(
    ("target", "source"),
    [
        ("b.nwb.zarr", "../b.nwb.zarr"),
        ("sub/b.nwb.zarr", "../sub/b.nwb.zarr"),
        ("a.nwb.zarr/b.zarr", "b.zarr"),
    ],
)
def test_convention_sources_resolve_against_the_store(tmp_path: Path, target: str, source: str) -> None:
    a = tmp_path / "a.nwb.zarr"
    _linking(a, source)  # an hdmf-zarr 0.14 file: no zarrbridge marker
    _target(tmp_path / target)
    assert (a / source).resolve() == (tmp_path / target).resolve()  # the convention's reading
    link, ref = _read_link(a)
    np.testing.assert_array_equal(link, np.arange(5))
    np.testing.assert_array_equal(ref, np.arange(5))


def test_a_parent_relative_source_is_not_guessed_in_convention_files(tmp_path: Path) -> None:
    a = tmp_path / "a.nwb.zarr"
    _linking(a, "b.nwb.zarr")  # relative to the store: a/b.nwb.zarr, which does not exist
    _target(tmp_path / "b.nwb.zarr")
    with pytest.raises(BrokenLinkError, match="b.nwb.zarr"):
        _read_link(a)


def test_files_of_zarrbridge_1_keep_their_parent_relative_sources(tmp_path: Path) -> None:
    a = tmp_path / "a.nwb.zarr"
    _linking(a, "sub/b.nwb.zarr", marker={"version": 1})
    _target(tmp_path / "sub" / "b.nwb.zarr")
    link, ref = _read_link(a)
    np.testing.assert_array_equal(link, np.arange(5))
    np.testing.assert_array_equal(ref, np.arange(5))


def test_zarrbridge_writes_the_convention_form(tmp_path: Path) -> None:
    other = tmp_path / "sub" / "b.nwb.zarr"
    with ZarrIO(other, mode="w") as io:
        io.write_builder(GroupBuilder("root", datasets={"data": DatasetBuilder("data", np.arange(5))}))
    with ZarrIO(other, mode="r") as io:
        target = io.read_builder()["data"]
        main = tmp_path / "a.nwb.zarr"
        with ZarrIO(main, mode="w") as out:
            out.write_builder(
                GroupBuilder(
                    "root", groups={"g": GroupBuilder("g", links={"ext": LinkBuilder(target, "ext")})}
                )
            )
    root = json.loads((main / "zarr.json").read_text())
    assert root["attributes"]["_ZARRBRIDGE"]["version"] == 2
    (entry,) = root["consolidated_metadata"]["metadata"]["g"]["attributes"]["_LINKS"]
    assert entry == {"name": "ext", "source": "../sub/b.nwb.zarr", "path": "/data"}
    # what a plain reader of the convention does with it: join it to the store's own path
    assert os.path.normpath(main / entry["source"]) == str(other)
    with ZarrIO(main, mode="r") as io:
        np.testing.assert_array_equal(io.read_builder()["g"].links["ext"].builder.data[:], np.arange(5))


def test_source_forms_convert_both_ways() -> None:
    for parent, store in [("b.zarr", "../b.zarr"), ("x/b.zarr", "../x/b.zarr"), ("a.zarr/c.zarr", "c.zarr")]:
        assert store_relative(parent, "a.zarr") == store
        assert parent_relative(store, "a.zarr") == parent
    for absolute in ("/data/b.zarr", "s3://bucket/b.zarr"):
        assert store_relative(absolute, "a.zarr") == absolute == parent_relative(absolute, "a.zarr")
