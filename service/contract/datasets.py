"""The stored form of a dataset: a canonical msgpack encoding, its content-hash id, and its metadata.

The API writes it to Redis at registration; workers read it back and hand the decoded dict to the engine.
Canonical means: fixed key order, float64 data/noise/psf, bool mask, C order, little-endian, pixel_scales and
origin as float pairs, and masked pixels normalised (data 0, noise 1) because masked pixels never enter any
quantity. Two bodies that describe the same dataset therefore get the same id.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import msgpack
import numpy as np

from . import arrays, serializer
from .models import ImagingDataset

FORMAT_VERSION = 1


@dataclass(frozen=True)
class DatasetMeta:
    """What the API needs to validate requests against a dataset, without loading its arrays."""

    dataset_id: str
    kind: str
    shape_native: tuple[int, int]
    pixels: int
    sub_pixels_pixelization: int
    sub_pixels_lp: int
    pixel_scales: tuple[float, float]
    origin: tuple[float, float]
    over_sample_size_pixelization: int
    over_sample_size_lp: int
    psf_shape: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists instead of tuples), as returned by ``GET /datasets/{id}``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetMeta:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        for key in ("shape_native", "pixel_scales", "origin", "psf_shape"):
            d[key] = tuple(d[key])
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def canonical_imaging(ds: ImagingDataset) -> dict[str, Any]:
    """The canonical dict of an (already validated) imaging dataset, numpy arrays in canonical dtypes."""
    mask = np.ascontiguousarray(ds.mask, dtype=bool)
    data = np.array(ds.data, dtype=np.float64, order="C")
    noise = np.array(ds.noise_map, dtype=np.float64, order="C")
    data[mask] = 0.0
    noise[mask] = 1.0
    return {
        "format": FORMAT_VERSION,
        "kind": "imaging",
        "data": data,
        "noise_map": noise,
        "psf": np.ascontiguousarray(ds.psf, dtype=np.float64),
        "mask": mask,
        "pixel_scales": [float(ds.pixel_scales[0]), float(ds.pixel_scales[1])],
        "origin": [float(ds.origin[0]), float(ds.origin[1])],
        "over_sample_size_pixelization": int(ds.over_sample_size_pixelization),
        "over_sample_size_lp": int(ds.over_sample_size_lp),
        "normalize_psf": bool(ds.normalize_psf),
    }


def pack(canonical: dict[str, Any]) -> bytes:
    """The canonical msgpack bytes of a canonical dict (deterministic: fixed key order, raw array bytes)."""
    return msgpack.packb(canonical, default=arrays.msgpack_default, use_bin_type=True)


def content_id(blob: bytes) -> str:
    """Dataset id: sha256 (hex) of the canonical encoding."""
    return hashlib.sha256(blob).hexdigest()


def unpack(blob: bytes) -> dict[str, Any]:
    """The dataset dict the engine receives: numpy arrays, ``pixel_scales``/``origin`` as tuples."""
    d = serializer.loads(blob)
    d["pixel_scales"] = tuple(d["pixel_scales"])
    d["origin"] = tuple(d["origin"])
    return d


def imaging_meta(dataset_id: str, canonical: dict[str, Any]) -> DatasetMeta:
    """Metadata of a canonical imaging dict."""
    mask = canonical["mask"]
    n = int((~mask).sum())
    s_pix = canonical["over_sample_size_pixelization"]
    s_lp = canonical["over_sample_size_lp"]
    return DatasetMeta(
        dataset_id=dataset_id,
        kind="imaging",
        shape_native=(int(mask.shape[0]), int(mask.shape[1])),
        pixels=n,
        sub_pixels_pixelization=n * s_pix * s_pix,
        sub_pixels_lp=n * s_lp * s_lp,
        pixel_scales=tuple(canonical["pixel_scales"]),
        origin=tuple(canonical["origin"]),
        over_sample_size_pixelization=s_pix,
        over_sample_size_lp=s_lp,
        psf_shape=(int(canonical["psf"].shape[0]), int(canonical["psf"].shape[1])),
    )
