"""The array codec of the wire contract (README, "Use it"; the ``MsgpackArray`` schema of openapi/openapi.json).

msgpack form: a map ``{"dtype": "<f8", "shape": [...], "data": <bin>}`` holding the raw little-endian, C-order
bytes. Only the dtypes in :data:`ALLOWED_DTYPES` are accepted; object, void and big-endian arrays are refused,
so decoding never unpickles anything. NaN and infinities travel as they are.

JSON form: nested lists. On the way in, the strings "NaN", "Infinity" and "-Infinity" are accepted as numbers;
on the way out every non-finite float is written as one of those strings (JSON has no literal for them).

This module imports numpy only, so the API, the worker and any client can share it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: dtype strings a client may send, as numpy writes them (``np.dtype(...).str``).
ALLOWED_DTYPES: tuple[str, ...] = ("<f8", "<f4", "<c16", "<c8", "<i8", "<i4", "|b1")
ARRAY_KEYS = frozenset({"dtype", "shape", "data"})
MAX_NDIM = 8
_NONFINITE_IN = {"NaN": math.nan, "nan": math.nan, "Infinity": math.inf, "inf": math.inf,
                 "-Infinity": -math.inf, "-inf": -math.inf}


class ArrayCodecError(ValueError):
    """An array that cannot be decoded; the message says why in a sentence."""


def is_array_map(obj: Any) -> bool:
    """True when ``obj`` looks like an encoded array map (its keys are exactly dtype, shape, data)."""
    return isinstance(obj, dict) and obj.keys() == ARRAY_KEYS


def array_bytes(value: Any) -> int:
    """Bytes held by the numpy arrays inside ``value`` (nested dicts, lists, tuples): a lower bound of its encoded
    size, known without encoding it."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        return sum(array_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(array_bytes(v) for v in value)
    return 0


def _wire_dtype(dtype: np.dtype) -> np.dtype:
    """The allowed dtype an array of ``dtype`` is sent as (little-endian; narrow ints and floats widened)."""
    if dtype.kind == "b":
        return np.dtype("|b1")
    if dtype.kind == "f":
        return np.dtype("<f4") if dtype.itemsize == 4 else np.dtype("<f8")
    if dtype.kind == "c":
        return np.dtype("<c8") if dtype.itemsize == 8 else np.dtype("<c16")
    if dtype.kind in "iu":
        return np.dtype("<i4") if dtype.kind == "i" and dtype.itemsize <= 4 else np.dtype("<i8")
    raise ArrayCodecError(f"arrays of dtype {dtype} cannot be sent; use one of {', '.join(ALLOWED_DTYPES)}")


def encode(array: Any) -> dict[str, Any]:
    """Encode an array-like as the msgpack map ``{dtype, shape, data}`` (little-endian, C order)."""
    arr = np.asarray(array)
    wire = _wire_dtype(arr.dtype)
    arr = np.asarray(arr, dtype=wire, order="C")
    return {"dtype": wire.str, "shape": list(arr.shape), "data": arr.tobytes()}


def decode(obj: Any) -> np.ndarray:
    """Decode a ``{dtype, shape, data}`` map into a read-only numpy array, refusing anything unsafe or inconsistent.

    ``data`` may be bytes (msgpack) or, as a convenience for JSON clients, a flat or nested list of numbers.
    """
    if not isinstance(obj, dict):
        raise ArrayCodecError("expected an array map {dtype, shape, data}")
    missing = ARRAY_KEYS - obj.keys()
    extra = obj.keys() - ARRAY_KEYS
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(sorted(missing))}")
        if extra:
            parts.append(f"unexpected {', '.join(sorted(map(str, extra)))}")
        raise ArrayCodecError(f"an array map has exactly the keys dtype, shape, data ({'; '.join(parts)})")
    dtype_str = obj["dtype"]
    if not isinstance(dtype_str, str) or dtype_str not in ALLOWED_DTYPES:
        raise ArrayCodecError(
            f"dtype {dtype_str!r} is not accepted (object, void and big-endian dtypes never are); "
            f"use one of {', '.join(ALLOWED_DTYPES)}"
        )
    dtype = np.dtype(dtype_str)
    shape = _shape(obj["shape"])
    count = math.prod(shape)
    data = obj["data"]
    if isinstance(data, (bytes, bytearray, memoryview)):
        expected = count * dtype.itemsize
        if len(data) != expected:
            raise ArrayCodecError(
                f"data has {len(data)} bytes but shape {list(shape)} of dtype {dtype_str} needs {expected}"
            )
        arr = np.frombuffer(data, dtype=dtype).reshape(shape)
        if dtype.kind == "b":  # any non-zero byte is True; never expose bytes other than 0/1 as bool
            arr = arr.view(np.uint8) != 0
        return arr
    if isinstance(data, list):
        arr = from_nested(data, dtype=dtype)
        if arr.size != count:
            raise ArrayCodecError(f"data has {arr.size} values but shape {list(shape)} needs {count}")
        return arr.reshape(shape)
    raise ArrayCodecError("data must be binary (msgpack bin) or a list of numbers")


def _shape(shape: Any) -> tuple[int, ...]:
    """Validate a wire shape: a list of at most MAX_NDIM non-negative ints."""
    if not isinstance(shape, (list, tuple)) or len(shape) > MAX_NDIM:
        raise ArrayCodecError(f"shape must be a list of at most {MAX_NDIM} non-negative integers")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ArrayCodecError("shape must be a list of non-negative integers")
    return tuple(shape)


def _replace_nonfinite_strings(value: Any) -> Any:
    """Nested lists with the non-finite spellings replaced by floats; any other string is an error."""
    if isinstance(value, list):
        return [_replace_nonfinite_strings(v) for v in value]
    if isinstance(value, str):
        try:
            return _NONFINITE_IN[value]
        except KeyError:
            raise ArrayCodecError(f"found the string {value[:20]!r} where a number was expected") from None
    return value


def _has_str(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_str(v) for v in value)
    return isinstance(value, str)


def from_nested(value: Any, dtype: np.dtype | None = None) -> np.ndarray:
    """Build an array from JSON nested lists of numbers (or booleans), refusing ragged or non-numeric input."""
    if _has_str(value):
        value = _replace_nonfinite_strings(value)
    try:
        arr = np.array(value, dtype=dtype)
    except (ValueError, TypeError, OverflowError):
        raise ArrayCodecError("nested lists must be rectangular and contain only numbers") from None
    if arr.dtype.kind not in "biufc":
        raise ArrayCodecError("nested lists must be rectangular and contain only numbers")
    if arr.ndim > MAX_NDIM:
        raise ArrayCodecError(f"arrays have at most {MAX_NDIM} dimensions")
    return arr


def _json_float(x: float) -> float | str:
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def to_json(array: np.ndarray) -> Any:
    """Nested lists for JSON; non-finite floats become "NaN" / "Infinity" / "-Infinity"; complex -> [re, im]."""
    arr = np.asarray(array)
    if arr.dtype.kind == "c":
        arr = np.stack([arr.real, arr.imag], axis=-1)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        obj = arr.astype(np.float64).astype(object)
        obj[np.isnan(arr)] = "NaN"
        obj[np.isposinf(arr)] = "Infinity"
        obj[np.isneginf(arr)] = "-Infinity"
        return obj.tolist()
    return arr.tolist()


def jsonable(obj: Any) -> Any:
    """A structure of dicts/lists/numpy values made JSON-safe (arrays -> lists, non-finite -> strings)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json(obj)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _json_float(float(obj))
    return obj


def msgpack_default(obj: Any) -> Any:
    """``default=`` hook for ``msgpack.packb``: numpy arrays -> array maps, numpy scalars -> Python scalars."""
    if isinstance(obj, np.ndarray):
        return encode(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.complexfloating):
        return encode(np.asarray(obj))
    raise TypeError(f"cannot encode an object of type {type(obj).__name__}")
