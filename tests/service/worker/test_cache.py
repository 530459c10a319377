"""The worker's prepared-dataset LRU cache."""

import numpy as np
import pytest

from worker.cache import DatasetMissing, PreparedCache, nbytes


def test_nbytes_walks_containers_and_objects():
    class Prepared:
        def __init__(self):
            self.a = np.zeros(100)
            self.parts = {"b": np.zeros(10, dtype=np.float32), "c": [np.zeros(5, dtype=np.int8)]}

    assert nbytes(Prepared()) == 800 + 40 + 5


def test_lru_eviction_by_bytes():
    loads = []

    def load(dataset_id):
        loads.append(dataset_id)
        return None if dataset_id == "missing" else {"x": np.zeros(100)}

    cache = PreparedCache(load, lambda ds: ds, max_bytes=2000)
    for key in ["a", "b", "a", "c", "a", "b"]:
        cache.get(key)
    assert loads == ["a", "b", "c", "b"]  # "b" was evicted when "c" arrived; "a" stayed hot
    assert cache.used_bytes <= 2000
    with pytest.raises(DatasetMissing):
        cache.get("missing")
