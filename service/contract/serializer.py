"""The RQ serializer: msgpack with the array codec, never pickle.

:class:`MsgpackSerializer` is what every queue, worker and job fetch is given
(:data:`service.contract.names.SERIALIZER`), so jobs, their arguments and their results are stored in Redis as
msgpack. numpy arrays travel as ``{dtype, shape, data}``
maps (see :mod:`service.contract.arrays`) and come back as numpy arrays; tuples come back as lists.
"""

from __future__ import annotations

from typing import Any

import msgpack

from . import arrays


def _object_hook(obj: dict) -> Any:
    if arrays.is_array_map(obj) and isinstance(obj["data"], bytes):
        return arrays.decode(obj)
    return obj


def dumps(obj: Any) -> bytes:
    """Serialise ``obj`` (dicts, lists, tuples, scalars, str, bytes, numpy arrays and scalars) to msgpack."""
    return msgpack.packb(obj, default=arrays.msgpack_default, use_bin_type=True)


def loads(data: bytes) -> Any:
    """Inverse of :func:`dumps`; array maps become numpy arrays."""
    return msgpack.unpackb(data, raw=False, object_hook=_object_hook, strict_map_key=False)


class MsgpackSerializer:
    """:func:`dumps` and :func:`loads` as RQ's serializer object (given as an object, not a dotted path, so RQ does
    not import it again for every job it reads or writes)."""

    dumps = staticmethod(dumps)
    loads = staticmethod(loads)
