"""A worker-local LRU cache of prepared datasets, bounded by an estimate of their size in bytes.

Prepared datasets hold device arrays and precomputed operators; re-preparing one for every job would waste most of
a small job's time, so each worker keeps the recently used ones, keyed by dataset id (a content hash, so an entry
can never be stale).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def nbytes(obj: Any, _seen: set[int] | None = None, _depth: int = 0) -> int:
    """Estimated bytes held by ``obj``: the sum of ``.nbytes`` over arrays reachable through containers/attributes."""
    seen = _seen if _seen is not None else set()
    if id(obj) in seen or _depth > 12 or obj is None:
        return 0
    seen.add(id(obj))
    size = getattr(obj, "nbytes", None)
    if isinstance(size, int) and not isinstance(obj, type):
        return size
    if isinstance(obj, (bytes, bytearray, str)):
        return len(obj)
    if isinstance(obj, dict):
        return sum(nbytes(v, seen, _depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(nbytes(v, seen, _depth + 1) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(nbytes(getattr(obj, f.name, None), seen, _depth + 1) for f in dataclasses.fields(obj))
    if hasattr(obj, "__dict__"):
        return sum(nbytes(v, seen, _depth + 1) for v in vars(obj).values())
    return 0


class DatasetMissing(LookupError):
    """The dataset is not (or no longer) registered."""


class PreparedCache:
    """``get(dataset_id)`` -> prepared dataset, loading and preparing on a miss, evicting least recently used."""

    def __init__(self, load: Callable[[str], dict | None], prepare: Callable[[dict], Any], max_bytes: int):
        self._load = load
        self._prepare = prepare
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @property
    def used_bytes(self) -> int:
        return sum(size for _, size in self._entries.values())

    def get(self, dataset_id: str) -> Any:
        """The prepared dataset; raises :class:`DatasetMissing` if it is not registered."""
        with self._lock:
            if dataset_id in self._entries:
                self._entries.move_to_end(dataset_id)
                self.hits += 1
                return self._entries[dataset_id][0]
        self.misses += 1
        dataset = self._load(dataset_id)
        if dataset is None:
            raise DatasetMissing(dataset_id)
        prepared = self._prepare(dataset)
        size = nbytes(prepared) or nbytes(dataset)
        with self._lock:
            self._entries[dataset_id] = (prepared, size)
            self._entries.move_to_end(dataset_id)
            while len(self._entries) > 1 and self.used_bytes > self.max_bytes:
                evicted, _ = self._entries.popitem(last=False)
                log.info("evicted prepared dataset %s from the cache", evicted[:12])
        return prepared

    def discard(self, dataset_id: str) -> None:
        """Forget one dataset."""
        with self._lock:
            self._entries.pop(dataset_id, None)
