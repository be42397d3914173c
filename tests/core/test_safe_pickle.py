from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from zarrbridge.core.safe_pickle import restricted_loads
from zarrbridge.errors import CorruptMetadataError, UnsafePickleError


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.mkdir, (self.marker,))


def test_plain_data_and_numpy_arrays_load() -> None:
    value = {
        "a": [1, 2.5, "x"],
        "arr": np.arange(6, dtype="i2").reshape(2, 3),
        "obj": np.array([{"p": 1}], dtype=object),
    }
    out = restricted_loads(pickle.dumps(value))
    assert out["a"] == [1, 2.5, "x"]
    np.testing.assert_array_equal(out["arr"], value["arr"])
    assert out["obj"][0] == {"p": 1}


def test_crafted_pickle_is_refused_and_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(str(marker)))
    with pytest.raises(UnsafePickleError, match=r"posix\.mkdir|os\.mkdir|nt\.mkdir"):
        restricted_loads(payload, what="column 'x'")
    assert not marker.exists()


def test_substitutes_map_foreign_classes() -> None:
    import sys
    import types

    mod = types.ModuleType("hdmf_zarr.utils")
    exec("class ZarrReference(dict):\n    pass\n", mod.__dict__)  # stands for the third-party dict subclass
    mod.ZarrReference.__module__ = "hdmf_zarr.utils"
    parent = types.ModuleType("hdmf_zarr")
    parent.utils = mod  # type: ignore[attr-defined]
    sys.modules.update({"hdmf_zarr": parent, "hdmf_zarr.utils": mod})
    try:
        data = pickle.dumps([mod.ZarrReference(path="/a", source=".")])
    finally:
        del sys.modules["hdmf_zarr.utils"], sys.modules["hdmf_zarr"]
    out = restricted_loads(data, substitutes={("hdmf_zarr.utils", "ZarrReference"): dict})
    assert out == [{"path": "/a", "source": "."}]
    with pytest.raises(UnsafePickleError, match="ZarrReference"):
        restricted_loads(data)


def test_garbage_is_corrupt() -> None:
    with pytest.raises(CorruptMetadataError, match="not a valid pickle"):
        restricted_loads(b"\x80\x04not a pickle")
