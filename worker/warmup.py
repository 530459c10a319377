"""Synthetic datasets and requests that make a worker compile its pipelines before it reports ready.

A :class:`service.config.WarmSpec` gives a geometry (image shape, mask radius, PSF shape, over-sampling) and
linear objects in API form with their required arrays optional: missing ones are synthesised here (Delaunay
vertices scattered over the image (``mesh.pixels`` of them), ``count`` Gaussian widths spread in log, ``count``
random basis images, an adapt image). ``source_grid: traced`` asks for a traced grid (the image-plane grid
shrunk); omitted, the image-plane grid is used, as in a request without one. With a batch size B > 1 the
regularization numbers (and a traced grid) carry the batch axis. Everything goes through the same contract
validation as real requests, so a wrong warm spec fails loudly at start.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from service.config import InversionDefaults, WarmSpec
from service.contract import datasets, grids, vocabulary
from service.contract.jobs import JobRequest
from service.contract.models import ImagingDataset, InversionRequest, ResolvedSettings
from service.contract.validation import check_imaging, check_inversion

_REG_NUMBERS = sorted({p for scheme in vocabulary.REGULARIZATIONS.values() for p in scheme.parameters})


def synth_dataset(spec: WarmSpec) -> tuple[dict[str, Any], datasets.DatasetMeta]:
    """The engine-form dataset (as a worker loads it from Redis) and its metadata."""
    ny, nx = spec.shape_native
    rng = np.random.default_rng(0)
    mask = np.zeros((ny, nx), dtype=bool)
    if spec.mask_radius is not None:
        yy = ((ny - 1) / 2 - np.arange(ny))[:, None] * spec.pixel_scales
        xx = (np.arange(nx) - (nx - 1) / 2)[None, :] * spec.pixel_scales
        mask = yy**2 + xx**2 >= spec.mask_radius**2
    ky, kx = spec.psf_shape
    ky_, kx_ = np.mgrid[:ky, :kx]
    psf = np.exp(-0.5 * (((ky_ - ky // 2) ** 2 + (kx_ - kx // 2) ** 2) / max(ky, kx)))
    body = ImagingDataset(
        kind="imaging",
        data=rng.normal(1.0, 0.1, (ny, nx)),
        noise_map=np.full((ny, nx), 0.1),
        psf=psf,
        mask=mask,
        pixel_scales=spec.pixel_scales,
        over_sample_size_pixelization=spec.over_sample_size_pixelization,
        over_sample_size_lp=spec.over_sample_size_lp,
    )
    check_imaging(body)
    canonical = datasets.canonical_imaging(body)
    blob = datasets.pack(canonical)
    meta = datasets.imaging_meta(datasets.content_id(blob), canonical)
    return datasets.unpack(blob), meta


def _batched(arr: np.ndarray, batch: int | None, rng: np.random.Generator, jitter: float) -> np.ndarray:
    if batch is None:
        return arr
    return np.stack([arr + jitter * rng.standard_normal(arr.shape) * (i > 0) for i in range(batch)])


def _fill_object(obj: dict[str, Any], ds: dict[str, Any], meta: datasets.DatasetMeta, batch: int | None,
                 rng: np.random.Generator, relocate: bool) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    kind = obj.get("type")
    if kind == "mapper":
        needs_slim = relocate or obj.get("mesh", {}).get("type") == "rectangular_bilinear_adapt_density"
        if obj.get("source_grid") == "traced":
            grid = grids.over_sampled_grid(ds["mask"], ds["pixel_scales"], ds["origin"],
                                           ds["over_sample_size_pixelization"])
            centres = grids.pixel_centres(ds["mask"], ds["pixel_scales"], ds["origin"])
            obj["source_grid"] = _batched(0.5 * grid, batch, rng, 1e-3)
            if needs_slim and ds["over_sample_size_pixelization"] > 1:
                obj["source_grid_slim"] = _batched(0.5 * centres, batch, rng, 1e-3)
        mesh = obj.get("mesh", {})
        if mesh.get("type") == "delaunay" and mesh.get("vertices") is None:
            count = int(mesh.pop("pixels", 50)) + int(mesh.get("zeroed_pixels", 0))
            src = grids.pixel_centres(ds["mask"], ds["pixel_scales"], ds["origin"])
            lo, hi = src.min(axis=0), src.max(axis=0)
            mesh["vertices"] = lo + (hi - lo) * rng.random((count, 2))
        reg = obj.get("regularization") or {}
        if reg.get("type") in vocabulary.ADAPTIVE_REGULARIZATIONS and obj.get("adapt_image") is None:
            obj["adapt_image"] = np.abs(ds["data"][~ds["mask"]]) + 1e-3
    elif kind == "gaussians":
        obj.setdefault("centre", [0.0, 0.0])
        obj.setdefault("ell_comps", [0.0, 0.0])
        if obj.get("sigmas") is None:
            n = int(obj.pop("count", 10))
            obj["sigmas"] = np.logspace(-2, np.log10(max(meta.shape_native) * meta.pixel_scales[0] / 2), n)
        obj["sigmas"] = _batched(np.asarray(obj["sigmas"], dtype=float), batch, rng, 0.0)
    elif kind == "basis" and obj.get("images") is None:
        obj["images"] = rng.random((int(obj.pop("count", 5)), meta.pixels))
    return obj


def _batch_regularizations(objects: list[dict[str, Any]], batch: int | None) -> list[dict[str, Any]]:
    """Give every regularization number (defaults included) the batch axis."""
    if batch:
        for obj in objects:
            reg = obj.get("regularization") or {}
            for key in _REG_NUMBERS:
                if key in reg and np.ndim(reg[key]) == 0:
                    reg[key] = np.full(batch, float(reg[key]))
    return objects


def synth_requests(spec: WarmSpec, defaults: InversionDefaults) -> Iterator[tuple[str, dict, JobRequest]]:
    """``(label, dataset, request)`` for every precision and batch size of ``spec``."""
    ds, meta = synth_dataset(spec)
    for precision in spec.precisions:
        for b in spec.batch_sizes:
            rng = np.random.default_rng(1)
            batch = None if b <= 1 else b
            settings = {**defaults.model_dump(), "use_mixed_precision": precision == "mixed"}
            relocate = bool(settings["use_border_relocator"])
            objects = [_fill_object(o, ds, meta, batch, rng, relocate) for o in spec.linear_objects]
            body = {"dataset_id": meta.dataset_id, "linear_objects": objects, "settings": settings,
                    "outputs": spec.outputs}
            filled = InversionRequest.model_validate(body).model_dump()  # regularization defaults filled in
            body["linear_objects"] = _batch_regularizations(filled["linear_objects"], batch)
            model = InversionRequest.model_validate(body)
            resolved = ResolvedSettings(**settings)
            check_inversion(model, meta, max(b, 1), resolved)
            yield (f"{spec.name} {precision} B={b}", ds,
                   JobRequest(linear_objects=model.linear_objects, settings=resolved, outputs=model.outputs))
