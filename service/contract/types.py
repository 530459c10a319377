"""Pydantic field types for arrays and batchable numbers, accepting both wire forms of openapi/openapi.json.

An array field accepts nested lists (JSON), a ``{dtype, shape, data}`` map (msgpack; in JSON ``data`` may be a
list), or a numpy array. Shapes are checked later against the dataset (:mod:`service.contract.validation`),
where the error can name the field and the expected shape.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from . import arrays

_MSGPACK_ARRAY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "MsgpackArray",
    "description": "msgpack array map: raw little-endian C-order bytes of the given dtype and shape.",
    "properties": {
        "dtype": {"type": "string", "enum": list(arrays.ALLOWED_DTYPES)},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "data": {"type": "string", "format": "binary"},
    },
    "required": ["dtype", "shape", "data"],
}
_NESTED_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": 'nested lists of numbers; non-finite values may be written "NaN", "Infinity", "-Infinity"',
    "items": {},
}
ARRAY_SCHEMA: dict[str, Any] = {"anyOf": [_NESTED_SCHEMA, _MSGPACK_ARRAY_SCHEMA]}
BATCH_NUMBER_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "number"}, _NESTED_SCHEMA, _MSGPACK_ARRAY_SCHEMA],
    "description": "a number, or a 1-D array of length B (one value per batch element)",
}


def _fail(reason: str) -> PydanticCustomError:
    return PydanticCustomError("array", "{reason}", {"reason": reason})


def _float(value: int | float) -> float:
    """``float(value)``; an integer beyond the float64 range (JSON has no limit) is a validation error."""
    try:
        return float(value)
    except OverflowError:
        raise _fail("is beyond the range of a float64") from None


def to_array(value: Any) -> np.ndarray:
    """Decode any accepted wire form into a numpy array (raising a pydantic error with a readable reason)."""
    try:
        if isinstance(value, np.ndarray):
            return value
        if isinstance(value, dict):
            return arrays.decode(value)
        if isinstance(value, (list, tuple)):
            return arrays.from_nested(list(value))
        if isinstance(value, str):  # "NaN", "Infinity", "-Infinity"
            return arrays.from_nested(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return np.asarray(_float(value))
    except arrays.ArrayCodecError as exc:
        raise _fail(str(exc)) from None
    raise _fail("expected an array: nested lists of numbers, or a msgpack {dtype, shape, data} map")


def _float_array(value: Any) -> np.ndarray:
    arr = to_array(value)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "iu":
        return arr.astype(np.float64)
    if arr.dtype.kind == "b":
        raise _fail("expected numbers, got booleans")
    raise _fail("complex values are not accepted here")


def _bool_array(value: Any) -> np.ndarray:
    arr = to_array(value)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind in "iuf" and np.isin(arr, (0, 1)).all():
        return arr.astype(bool)
    raise _fail("expected booleans (true = masked)")


def _batch_number(value: Any) -> float | np.ndarray:
    if isinstance(value, bool):
        raise _fail("expected a number")
    if isinstance(value, (int, float)):
        out: float | np.ndarray = _float(value)
    else:
        arr = _float_array(value)
        if arr.ndim > 1:
            raise _fail(f"expected a number or a 1-D array of length B, got shape {list(arr.shape)}")
        out = float(arr) if arr.ndim == 0 else arr
    finite = math.isfinite(out) if isinstance(out, float) else bool(np.isfinite(out).all())
    if not finite:
        raise _fail("must be finite")
    return out


def _serialize(value: Any) -> Any:
    return value  # kept as numpy; the response encoders (JSON or msgpack) convert arrays


FloatArray = Annotated[
    np.ndarray, BeforeValidator(_float_array), PlainSerializer(_serialize), WithJsonSchema(ARRAY_SCHEMA)
]
"""A real-valued array (float32 kept, integers widened to float64)."""

BoolArray = Annotated[
    np.ndarray, BeforeValidator(_bool_array), PlainSerializer(_serialize), WithJsonSchema(ARRAY_SCHEMA)
]
"""A boolean array (0/1 numbers are accepted)."""

BatchNumber = Annotated[
    float | np.ndarray, BeforeValidator(_batch_number), PlainSerializer(_serialize), WithJsonSchema(BATCH_NUMBER_SCHEMA)
]
"""A finite number, or one finite number per batch element (1-D array)."""


def _pair(value: Any) -> tuple[float, float]:
    if isinstance(value, bool):
        raise _fail("expected a number or [y, x]")
    if isinstance(value, (int, float)):
        pair = (_float(value), _float(value))
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        pair = (_float(value[0]), _float(value[1]))
    else:
        raise _fail("expected a number or a pair [y, x]")
    if not all(math.isfinite(v) for v in pair):
        raise _fail("must be finite")
    return pair


ScalePair = Annotated[
    tuple[float, float],
    BeforeValidator(_pair),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                                     "maxItems": 2}]}),
]
"""A pair (y, x); a single number means the same value for both."""
