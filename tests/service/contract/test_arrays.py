"""The msgpack/JSON array codec: exact round trips, NaN/inf preserved, unsafe or inconsistent input refused."""

import math

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.contract import arrays, serializer

DTYPES = [np.dtype(d) for d in arrays.ALLOWED_DTYPES]
any_array = st.sampled_from(DTYPES).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (so NaN payloads and signed zeros count too)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@given(any_array)
def test_msgpack_round_trip_is_exact(arr):
    wire = msgpack.unpackb(msgpack.packb(arrays.encode(arr), use_bin_type=True), raw=False)
    assert same(arrays.decode(wire), arr)


@given(any_array)
def test_rq_serializer_round_trip_is_exact(arr):
    out = serializer.loads(serializer.dumps({"a": arr, "n": [1, (2, 3)], "s": "x"}))
    assert same(out["a"], arr)
    assert out["n"] == [1, [2, 3]] and out["s"] == "x"


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=4)))
def test_json_round_trip_keeps_non_finite(arr):
    back = arrays.from_nested(arrays.to_json(arr), dtype=np.float64)
    np.testing.assert_array_equal(back.reshape(arr.shape), arr)


def test_json_writes_non_finite_as_strings():
    assert arrays.to_json(np.array([1.0, np.nan, np.inf, -np.inf])) == [1.0, "NaN", "Infinity", "-Infinity"]
    assert arrays.jsonable({"x": float("nan"), "y": np.float32(2)}) == {"x": "NaN", "y": 2.0}


def test_big_endian_and_narrow_inputs_are_sent_little_endian():
    enc = arrays.encode(np.arange(3, dtype=">f8"))
    assert enc["dtype"] == "<f8"
    assert arrays.encode(np.arange(3, dtype=np.int16))["dtype"] == "<i4"


@pytest.mark.parametrize("dtype", [">f8", "|O", "|V8", "<f2", "<U4", "object", 5])
def test_refused_dtypes(dtype):
    with pytest.raises(arrays.ArrayCodecError, match="not accepted"):
        arrays.decode({"dtype": dtype, "shape": [1], "data": b"\0" * 8})


def test_byte_length_must_match_shape():
    with pytest.raises(arrays.ArrayCodecError, match="needs 48"):
        arrays.decode({"dtype": "<f8", "shape": [2, 3], "data": b"\0" * 40})


@pytest.mark.parametrize("shape", [[-1], [1.5], "3", [True]])
def test_bad_shapes(shape):
    with pytest.raises(arrays.ArrayCodecError, match="shape"):
        arrays.decode({"dtype": "<f8", "shape": shape, "data": b""})


def test_extra_or_missing_keys():
    with pytest.raises(arrays.ArrayCodecError, match="exactly the keys"):
        arrays.decode({"dtype": "<f8", "shape": [0]})
    with pytest.raises(arrays.ArrayCodecError, match="unexpected"):
        arrays.decode({"dtype": "<f8", "shape": [0], "data": b"", "pickle": 1})


def test_bool_bytes_are_normalised():
    arr = arrays.decode({"dtype": "|b1", "shape": [3], "data": b"\x00\x02\x01"})
    assert arr.tolist() == [False, True, True]


def test_json_lists_ragged_or_text_refused():
    with pytest.raises(arrays.ArrayCodecError, match="rectangular"):
        arrays.from_nested([[1, 2], [3]])
    with pytest.raises(arrays.ArrayCodecError, match="number was expected"):
        arrays.from_nested([1, "two"])
    assert math.isnan(arrays.from_nested(["NaN", 1.0])[0])


def test_json_array_map_with_list_data():
    arr = arrays.decode({"dtype": "<f4", "shape": [2, 2], "data": [1, 2, 3, 4]})
    assert arr.dtype == np.float32 and arr.shape == (2, 2)
