from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zarrbridge.core import from_json_value, to_json_value
from zarrbridge.errors import UnsupportedDtypeError


def test_numpy_values() -> None:
    assert to_json_value(np.float32(1.5)) == 1.5
    assert to_json_value(np.arange(4).reshape(2, 2)) == [[0, 1], [2, 3]]
    assert to_json_value(np.array(["a", "b"])) == ["a", "b"]
    assert to_json_value(b"xyz") == "xyz"
    assert math.isnan(to_json_value(np.float64("nan")))
    assert to_json_value({"k": np.int8(3)}) == {"k": 3}


def test_bad_values() -> None:
    with pytest.raises(UnsupportedDtypeError, match="UTF-8"):
        to_json_value(b"\xff\xfe")
    with pytest.raises(UnsupportedDtypeError, match="complex"):
        to_json_value(1 + 2j)
    with pytest.raises(UnsupportedDtypeError, match="object"):
        to_json_value(object())


@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=20))
def test_float_lists_roundtrip(values: list[float]) -> None:
    out = from_json_value(to_json_value(np.array(values)))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.array(values))


def test_from_json_shapes() -> None:
    assert from_json_value([[1, 2], [3, 4]]).shape == (2, 2)
    assert from_json_value(["a", "b"]).dtype == object
    assert from_json_value([True, False]).dtype == bool
    assert from_json_value([1, "a"]) == [1, "a"]
    assert from_json_value([[1], [2, 3]]) == [[1], [2, 3]]
    assert from_json_value("s") == "s"
