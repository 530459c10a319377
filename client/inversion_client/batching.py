"""Stack the linear objects of several evaluations into one batched request (docs/maths.md#batching).

Given one list of linear objects per evaluation, identical in structure, :func:`stack_objects` returns one list
in which every per-evaluation numeric field that differs between the evaluations carries a leading axis B, and
every field that is the same in all of them is sent once (shared). Fields that fix shapes or branches (types,
mesh shapes, ``zeroed_pixels``) must be equal in all evaluations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: The per-evaluation fields of the request (openapi/openapi.json): they may carry a leading batch axis.
BATCHABLE_FIELDS = frozenset({
    "source_grid", "source_grid_slim", "vertices", "adapt_image", "coefficient", "inner_coefficient",
    "outer_coefficient", "signal_scale", "scale", "centre", "ell_comps", "sigmas", "images",
})


def _same(values: Sequence[Any]) -> bool:
    first = values[0]
    if all(v is first for v in values[1:]):
        return True
    a = np.asarray(first)
    return all(np.shape(v) == a.shape and np.array_equal(np.asarray(v), a) for v in values[1:])


def _where(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "linear_objects"


def _stack(values: Sequence[Any], path: tuple) -> tuple[Any, bool]:
    """(stacked node, whether anything below carries the batch axis)."""
    first = values[0]
    key = path[-1] if path else None
    if isinstance(first, Mapping):
        keys = set(first)
        for v in values[1:]:
            if not isinstance(v, Mapping) or set(v) != keys:
                raise ValueError(f"{_where(path)}: every evaluation must give the same fields "
                                 f"({sorted(map(str, keys))})")
        out, batched = {}, False
        for k in first:
            out[k], b = _stack([v[k] for v in values], (*path, k))
            batched |= b
        return out, batched
    if key in BATCHABLE_FIELDS and first is not None:
        if _same(values):
            return first, False
        arrays = [np.asarray(v, dtype=np.float64 if np.asarray(v).dtype.kind in "biu" else None) for v in values]
        if any(a.shape != arrays[0].shape for a in arrays[1:]):
            raise ValueError(f"{_where(path)}: shapes differ between evaluations "
                             f"({sorted({a.shape for a in arrays})}); a batch needs equal shapes")
        return np.stack(arrays), True
    if isinstance(first, (list, tuple)) and any(isinstance(x, Mapping) for x in first):
        if any(not isinstance(v, (list, tuple)) or len(v) != len(first) for v in values[1:]):
            raise ValueError(f"{_where(path)}: every evaluation must give the same number of items")
        items = [_stack([v[i] for v in values], (*path, i)) for i in range(len(first))]
        return [node for node, _ in items], any(b for _, b in items)
    if not _same(values):
        raise ValueError(f"{_where(path)} differs between evaluations but is not a per-evaluation field "
                         f"(batchable: {', '.join(sorted(BATCHABLE_FIELDS))})")
    return first, False


def stack_objects(per_evaluation: Sequence[Sequence[Mapping[str, Any]]]) -> tuple[list[dict[str, Any]], bool]:
    """One batched list of linear objects from B lists, and whether it carries a batch axis at all.

    ``False`` means every evaluation asked for exactly the same thing (a request without a batch axis answers
    for all of them).
    """
    if not per_evaluation:
        raise ValueError("no evaluations to stack")
    lists = [[obj] if isinstance(obj, Mapping) else list(obj) for obj in per_evaluation]
    stacked, batched = _stack(lists, ())
    return stacked, batched
