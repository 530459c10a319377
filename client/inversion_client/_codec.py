"""The array codec of the wire contract (README, "Use it"; openapi/openapi.json), for msgpack bodies, numpy only.

An array travels as ``{"dtype": "<f8", "shape": [...], "data": <raw little-endian C-order bytes>}``. Only the
dtypes of :data:`ALLOWED_DTYPES` are sent or accepted; nothing is ever unpickled. NaN and infinities travel as
they are. This is the client's own copy of the codec, so the client needs neither the service nor JAX.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

ALLOWED_DTYPES: tuple[str, ...] = ("<f8", "<f4", "<c16", "<c8", "<i8", "<i4", "|b1")
_ARRAY_KEYS = frozenset({"dtype", "shape", "data"})


def wire_dtype(dtype: np.dtype) -> np.dtype:
    """The allowed dtype an array of ``dtype`` is sent as (little-endian; narrow ints widened, f2 -> f4)."""
    if dtype.kind == "b":
        return np.dtype("|b1")
    if dtype.kind == "f":
        return np.dtype("<f4") if dtype.itemsize <= 4 else np.dtype("<f8")
    if dtype.kind == "c":
        return np.dtype("<c8") if dtype.itemsize == 8 else np.dtype("<c16")
    if dtype.kind in "iu":
        return np.dtype("<i4") if dtype.kind == "i" and dtype.itemsize <= 4 else np.dtype("<i8")
    raise TypeError(f"arrays of dtype {dtype} cannot be sent; use one of {', '.join(ALLOWED_DTYPES)}")


def encode_array(array: Any) -> dict[str, Any]:
    """``{dtype, shape, data}`` of an array-like (C order, little-endian, an allowed dtype)."""
    arr = np.asarray(array)
    wire = wire_dtype(arr.dtype)
    arr = np.ascontiguousarray(arr, dtype=wire)
    return {"dtype": wire.str, "shape": list(arr.shape), "data": arr.tobytes()}


def decode_array(obj: dict[str, Any]) -> np.ndarray:
    """A writable numpy array from an array map, refusing dtypes outside the allow-list and size mismatches."""
    dtype_str = obj["dtype"]
    if dtype_str not in ALLOWED_DTYPES:
        raise ValueError(f"the service sent an array of dtype {dtype_str!r}, which this client does not accept")
    dtype = np.dtype(dtype_str)
    shape = tuple(int(n) for n in obj["shape"])
    data = obj["data"]
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise ValueError(f"array of shape {list(shape)} and dtype {dtype_str} arrived with {len(data)} bytes")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape)
    if dtype.kind == "b":
        return arr.view(np.uint8) != 0
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return encode_array(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.complexfloating):
        return encode_array(np.asarray(obj))
    raise TypeError(f"cannot send an object of type {type(obj).__name__}")


def _object_hook(obj: dict) -> Any:
    if obj.keys() == _ARRAY_KEYS and isinstance(obj["data"], bytes):
        return decode_array(obj)
    return obj


def packb(obj: Any) -> bytes:
    """msgpack bytes of a structure of dicts, lists, tuples, scalars, strings and numpy arrays."""
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def unpackb(data: bytes) -> Any:
    """Inverse of :func:`packb`; array maps become numpy arrays."""
    return msgpack.unpackb(data, raw=False, object_hook=_object_hook, strict_map_key=False)


def from_json(obj: Any) -> Any:
    """A JSON-decoded value with the non-finite spellings ("NaN", "Infinity", "-Infinity") turned into floats."""
    if isinstance(obj, dict):
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    if obj == "NaN":
        return math.nan
    if obj == "Infinity":
        return math.inf
    if obj == "-Infinity":
        return -math.inf
    return obj
