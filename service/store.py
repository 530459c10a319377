"""Registered datasets in Redis: canonical msgpack blob + small metadata map, keyed by content hash.

Registration is idempotent: the id is the sha256 of the canonical encoding, and both keys are written with
``SET NX`` in one transaction, so the first registration creates (201) and later ones find it (200). Every
use refreshes the expiry (``datasets.ttl_s``; 0 = never expire).
"""

from __future__ import annotations

from typing import Any

import msgpack
from redis import Redis

from service.contract import datasets
from service.contract.datasets import DatasetMeta
from service.contract.models import ImagingDataset
from service.contract.names import Names
from service.contract.validation import check_imaging


class DatasetStore:
    """Datasets of one namespace."""

    def __init__(self, redis: Redis, names: Names, ttl_s: int, max_sub_pixels: int | None = None):
        self.redis = redis
        self.names = names
        self.ttl_s = ttl_s or None
        self.max_sub_pixels = max_sub_pixels

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
            self._touch(dataset_id)
        return meta, bool(created)

    def meta(self, dataset_id: str) -> DatasetMeta | None:
        """Metadata of a dataset (refreshing its expiry), or None if unknown."""
        raw = self.redis.get(self.names.dataset_meta(dataset_id))
        if raw is None:
            return None
        self._touch(dataset_id)
        return DatasetMeta.from_dict(msgpack.unpackb(raw))

    def load(self, dataset_id: str) -> dict[str, Any] | None:
        """The full dataset dict (numpy arrays), or None if unknown."""
        blob = self.redis.get(self.names.dataset(dataset_id))
        return None if blob is None else datasets.unpack(blob)

    def delete(self, dataset_id: str) -> bool:
        """Remove a dataset; False if it did not exist."""
        return bool(self.redis.delete(self.names.dataset(dataset_id), self.names.dataset_meta(dataset_id)))

    def _touch(self, dataset_id: str) -> None:
        if self.ttl_s:
            pipe = self.redis.pipeline(transaction=False)
            pipe.expire(self.names.dataset(dataset_id), self.ttl_s)
            pipe.expire(self.names.dataset_meta(dataset_id), self.ttl_s)
            pipe.execute()
