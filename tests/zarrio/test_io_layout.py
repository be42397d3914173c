"""ZarrIO's methods live in io.py, writing.py and opening.py; what users reach stays where it was.

The reference-resolving datasets get their inverse from one helper (``pair_resolvers``): each pair inverts
to the other, and a dataset inverted twice resolves the same paths to the same kind again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hdmf.query import BuilderResolver, ContainerResolver

import zarrbridge
from zarrbridge.zarrio import ZarrIO
from zarrbridge.zarrio.io import ZarrIO as ZarrIOFromModule
from zarrbridge.zarrio.legacy.views import (
    LegacyBuilderReferenceDataset,
    LegacyBuilderTableDataset,
    LegacyContainerReferenceDataset,
    LegacyContainerTableDataset,
)
from zarrbridge.zarrio.nwb import NWBZarrIO, read_nwb
from zarrbridge.zarrio.references import (
    BuilderZarrReferenceDataset,
    BuilderZarrTableDataset,
    ContainerZarrReferenceDataset,
    ContainerZarrTableDataset,
)

PAIRS = [
    (BuilderZarrReferenceDataset, ContainerZarrReferenceDataset),
    (BuilderZarrTableDataset, ContainerZarrTableDataset),
    (LegacyBuilderReferenceDataset, LegacyContainerReferenceDataset),
    (LegacyBuilderTableDataset, LegacyContainerTableDataset),
]


def test_zarrio_import_paths_name_one_class() -> None:
    assert zarrbridge.ZarrIO is ZarrIO is ZarrIOFromModule
    for name in ("write", "write_builder", "export", "open", "close", "read_builder", "load_namespaces"):
        assert callable(getattr(ZarrIO, name)), name
    assert not getattr(ZarrIO, "__abstractmethods__", frozenset())


def test_nwbzarrio_read_nwb_is_the_module_function() -> None:
    assert NWBZarrIO.read_nwb is read_nwb


@pytest.mark.parametrize(("builder_class", "container_class"), PAIRS, ids=lambda c: c.__name__)
def test_resolver_pairs_invert_to_each_other(builder_class: Any, container_class: Any) -> None:
    assert builder_class.get_inverse_class() is container_class
    assert container_class.get_inverse_class() is builder_class
    assert issubclass(builder_class, BuilderResolver) and not builder_class.as_container
    assert issubclass(container_class, ContainerResolver) and container_class.as_container


def test_inverted_reference_dataset_resolves_to_containers(tmp_path: Path) -> None:
    array = zarr.create_array(tmp_path / "refs.zarr", shape=(2,), dtype=str, fill_value="")
    array[:] = np.array(["/a", "/b"])
    seen: list[str] = []

    def resolve(path: str) -> str:
        seen.append(path)
        return f"builder {path}"

    dataset = BuilderZarrReferenceDataset(array, resolve, lambda builder: f"container of {builder}")
    assert dataset[0] == "builder /a"
    inverted = dataset.invert()
    assert type(inverted) is ContainerZarrReferenceDataset
    assert inverted[1] == "container of builder /b"
    again = inverted.invert()
    assert type(again) is BuilderZarrReferenceDataset
    assert list(again) == ["builder /a", "builder /b"]
    assert seen == ["/a", "/b", "/a", "/b"]
