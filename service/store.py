"""Registered datasets in Redis: canonical msgpack blob + small metadata map, keyed by content hash.

Registration is idempotent: the id is the sha256 of the canonical encoding, and both keys are written with
``SET NX`` in one transaction, so the first registration creates (201) and later ones find it (200). Every
use refreshes the expiry (``datasets.ttl_s``; 0 = never expire).

Metadata of a content-addressed dataset never changes, so the API remembers what it read for
:data:`META_CACHE_S` seconds: a sampler's stream of requests for one dataset then costs no Redis round trip for it
(the expiry refresh rides on the enqueue transaction, see :meth:`DatasetStore.touch`). A dataset deleted by another
API process or expired within that window is still reported 404 ``body.dataset_id``, by the worker.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import msgpack
from redis import Redis
from redis.client import Pipeline

from service.contract import datasets
from service.contract.datasets import DatasetMeta
from service.contract.models import ImagingDataset
from service.contract.names import Names
from service.contract.validation import check_imaging

#: Seconds the API trusts metadata it read from Redis (or wrote) without reading it again.
META_CACHE_S = 2.0
_META_CACHE_SIZE = 256


class DatasetStore:
    """Datasets of one namespace."""

    def __init__(self, redis: Redis, names: Names, ttl_s: int, max_sub_pixels: int | None = None):
        self.redis = redis
        self.names = names
        self.ttl_s = ttl_s or None
        self.max_sub_pixels = max_sub_pixels
        self._recent: dict[str, tuple[float, DatasetMeta]] = {}  # id -> (time.monotonic() read, metadata)
        self._recent_lock = threading.Lock()  # routes run in the thread pool too; eviction iterates the dict

    def _remember(self, meta: DatasetMeta) -> DatasetMeta:
        with self._recent_lock:
            self._recent.pop(meta.dataset_id, None)
            self._recent[meta.dataset_id] = (time.monotonic(), meta)
            while len(self._recent) > _META_CACHE_SIZE:
                self._recent.pop(next(iter(self._recent)), None)
        return meta

    def _forget(self, dataset_id: str) -> None:
        with self._recent_lock:
            self._recent.pop(dataset_id, None)

    def register(self, ds: ImagingDataset) -> tuple[DatasetMeta, bool]:
        """Validate and store ``ds``; return its metadata and whether it was new."""
        check_imaging(ds, self.max_sub_pixels)
        canonical = datasets.canonical_imaging(ds)
        blob = datasets.pack(canonical)
        dataset_id = datasets.content_id(blob)
        meta = datasets.imaging_meta(dataset_id, canonical)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.names.dataset(dataset_id), blob, nx=True, ex=self.ttl_s)
        pipe.set(self.names.dataset_meta(dataset_id), msgpack.packb(meta.to_dict()), nx=True, ex=self.ttl_s)
        created, _ = pipe.execute()
        if not created:
            self.touch(dataset_id, self.redis.pipeline(transaction=False)).execute()
        return self._remember(meta), bool(created)

    def meta(self, dataset_id: str, recent: bool = False) -> DatasetMeta | None:
        """Metadata of a dataset (refreshing its expiry, in the same round trip), or None if unknown.

        ``recent=True``: metadata read less than :data:`META_CACHE_S` ago is returned without asking Redis, and the
        caller refreshes the expiry itself (:meth:`touch`).
        """
        if recent:
            hit = self.recent_meta(dataset_id)
            if hit is not None:
                return hit
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.names.dataset_meta(dataset_id))
        self.touch(dataset_id, pipe)
        raw = pipe.execute()[0]
        if raw is None:
            self._forget(dataset_id)
            return None
        return self._remember(DatasetMeta.from_dict(msgpack.unpackb(raw)))

    def recent_meta(self, dataset_id: str) -> DatasetMeta | None:
        """Metadata read less than :data:`META_CACHE_S` ago, without asking Redis (None: not remembered)."""
        hit = self._recent.get(dataset_id)
        if hit is not None and time.monotonic() - hit[0] < META_CACHE_S:
            return hit[1]
        return None

    def load(self, dataset_id: str) -> dict[str, Any] | None:
        """The full dataset dict (numpy arrays), or None if unknown."""
        blob = self.redis.get(self.names.dataset(dataset_id))
        return None if blob is None else datasets.unpack(blob)

    def delete(self, dataset_id: str) -> bool:
        """Remove a dataset; False if it did not exist."""
        self._forget(dataset_id)
        return bool(self.redis.delete(self.names.dataset(dataset_id), self.names.dataset_meta(dataset_id)))

    def touch(self, dataset_id: str, pipe: Pipeline) -> Pipeline:
        """Queue the expiry refresh of both keys on ``pipe`` (nothing when datasets never expire)."""
        if self.ttl_s:
            pipe.expire(self.names.dataset(dataset_id), self.ttl_s)
            pipe.expire(self.names.dataset_meta(dataset_id), self.ttl_s)
        return pipe
