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


# -------------------------------------------------------------------------------------- genuine numpy data
def _genuine_values() -> list[object]:
    import collections
    import datetime

    structured_with_objects = np.array([(1, "x"), (2, None)], dtype=[("a", "i4"), ("b", "O")])
    return [
        np.arange(6, dtype=">i4").reshape(2, 3),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.array(["ab", "c"], dtype="U3"),
        np.array([b"x", b"yz"], dtype="S2"),
        np.array(["2020-01-01T00:00:00.000000001"], dtype="M8[ns]"),
        np.array([5], dtype="m8[10s]"),
        np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,))]),
        np.zeros(2, dtype=np.dtype([("a", "i1"), ("b", "f8")], align=True)),
        np.zeros(2, dtype=[(("title", "a"), "i4")]),
        np.zeros((2, 2), dtype=("f4", (3,))),
        np.zeros(4, "V3"),
        np.array([1, "x", None, {"k": [1]}], dtype=object),
        structured_with_objects,
        structured_with_objects[0],
        np.zeros((0, 3)),
        np.array(3.5),
        np.float32(2),
        np.str_("hé"),
        np.zeros(2, dtype=[("a", "i4"), ("b", "f8")])[0],
        np.dtype(">f8"),
        np.dtype([("a", "<i4"), ("b", "O")]),
        np.complex128(1 + 2j),
        np.datetime64("2020-01-01"),
        b"",
        b"abc",
        bytearray(b"xy"),
        {1, 2},
        frozenset({3}),
        collections.OrderedDict(a=1),
        datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        datetime.timedelta(3),
        complex(1, 2),
        range(5),
        [1, (2, "x"), {"a": None}],
    ]


def _same(got: object, want: object) -> bool:
    if type(got) is not type(want):
        return False
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray)
        same_layout = (
            got.dtype == want.dtype
            and got.dtype.flags == want.dtype.flags
            and got.shape == want.shape
            and got.flags.f_contiguous == want.flags.f_contiguous
        )
        if want.dtype.hasobject:
            return same_layout and got.tolist() == want.tolist()
        return same_layout and got.tobytes() == want.tobytes()
    if isinstance(want, np.dtype):
        assert isinstance(got, np.dtype)
        return got == want and got.flags == want.flags and got.isalignedstruct == want.isalignedstruct
    if isinstance(want, np.void):
        assert isinstance(got, np.void)
        return got.dtype == want.dtype and got.tolist() == want.tolist()
    return got == want


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_genuine_numpy_and_plain_data_load_as_pickle_loads_them(protocol: int) -> None:
    for value in _genuine_values():
        data = pickle.dumps(value, protocol=protocol)
        assert _same(restricted_loads(data), pickle.loads(data)), (protocol, value)


def test_the_budget_scales_with_the_pickle_and_can_be_raised() -> None:
    from zarrbridge.core.safe_pickle import MIN_BUDGET, default_budget
    from zarrbridge.errors import ResourceLimitError

    data = pickle.dumps(np.zeros(2**20, dtype="u1"), protocol=5)
    assert restricted_loads(data).size == 2**20  # genuine data of any size fits its default budget
    assert default_budget(len(data)) > MIN_BUDGET + len(data)
    with pytest.raises(ResourceLimitError, match="numpy array of shape") as info:
        restricted_loads(pickle.dumps(np.zeros(2**20, dtype="u1"), protocol=4), max_bytes=1000)
    assert info.value.requested == 2**20 and isinstance(info.value, MemoryError)
    zeros = pickle.dumps(bytearray(10**6), protocol=4)
    assert len(restricted_loads(zeros, max_bytes=2 * 10**6)) == 10**6
