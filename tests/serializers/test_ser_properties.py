"""Round-trip properties: any shape, chunking and plain dtype survives every dask-array format."""

from __future__ import annotations

import tempfile
from typing import Any

import dask.array as da
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from zarrbridge.serializers import FILE_PROTOCOL, DaskHDF5Serializer, DaskZarrSerializer, LocalFiles

DTYPES = st.sampled_from(["f4", "f8", "i1", "u2", "i8", "?", "c16", "U3", "S2", "M8[s]"])


@st.composite
def chunked_arrays(draw: Any) -> tuple[np.ndarray[Any, Any], tuple[tuple[int, ...], ...]]:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7))
    dtype = np.dtype(draw(DTYPES))
    elements = None
    if dtype.kind == "M":
        values = draw(hnp.arrays("i8", shape, elements=st.integers(-(2**40), 2**40)))
        return values.astype(dtype), _chunks(draw, shape)
    if dtype.kind == "U":
        elements = st.text(max_size=3).filter(lambda s: "\x00" not in s)
    if dtype.kind == "S":
        elements = st.binary(max_size=2).filter(lambda b: not b.endswith(b"\x00"))
    if dtype.kind in "fc":
        elements = (
            st.floats(-1e6, 1e6, width=32 if dtype == np.dtype("f4") else 64) if dtype.kind == "f" else None
        )
    return draw(hnp.arrays(dtype, shape, elements=elements)), _chunks(draw, shape)


def _chunks(draw: Any, shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    out = []
    for size in shape:
        parts: list[int] = []
        left = size
        while left > 0:
            step = draw(st.integers(1, left))
            parts.append(step)
            left -= step
        out.append(tuple(parts) or (0,))
    return tuple(out)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=chunked_arrays())
def test_every_format_round_trips(case: tuple[np.ndarray[Any, Any], tuple[tuple[int, ...], ...]]) -> None:
    values, chunks = case
    x = da.from_array(values, chunks=chunks) if values.ndim else da.from_array(values)
    with tempfile.TemporaryDirectory() as root:
        protocols = {FILE_PROTOCOL: LocalFiles(root)}
        for serializer in (DaskHDF5Serializer, DaskZarrSerializer):
            got = serializer.unpickle(serializer.pickle(x, protocols), protocols).compute()
            assert got.dtype == values.dtype and got.shape == values.shape
            np.testing.assert_array_equal(got, values)
