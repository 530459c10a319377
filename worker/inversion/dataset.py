"""Imaging dataset preparation, once per dataset, outside the per-evaluation path (spec §1.3, §9).

``prepare_imaging`` validates the raw arrays and returns a :class:`PreparedImaging`: a hashable description of
every shape (part of the static signature of compiled pipelines) and a dict of device arrays (traced inputs, so
two datasets of the same shapes share one compiled pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from . import grids
from .convolution import make_canvas
from .errors import InputError
from .sparse_operator import convolution_matrix


@dataclass(frozen=True)
class ImagingShape:
    """Everything about a prepared dataset that fixes array shapes (hashable)."""

    shape_native: tuple[int, int]
    pixels: int
    sub_size_pixelization: int
    sub_size_lp: int
    blurring_pixels: int
    border_pixels: int
    mm_canvas: tuple[int, int]
    lp_canvas: tuple[int, int]
    conv_nnz: int


@dataclass(frozen=True)
class PreparedImaging:
    shape: ImagingShape
    arrays: dict = field(compare=False, hash=False)
    host: dict = field(compare=False, hash=False)  # host copies for callers (grids for ?include=grids, etc.)

    @property
    def nbytes(self) -> int:
        return int(sum(np.asarray(v).nbytes for v in self.arrays.values()))


def _scales(value, name) -> tuple[float, float]:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.shape != (2,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError((name,), "must be a positive number or a pair [sy, sx] of positive numbers")
    return float(arr[0]), float(arr[1])


def _finite(arr, name):
    if not np.all(np.isfinite(arr)):
        raise InputError((name,), f"has {int(np.sum(~np.isfinite(arr)))} non-finite values")


def prepare_imaging(data, noise_map, psf, mask, pixel_scales, origin=(0.0, 0.0),
                    over_sample_size_pixelization: int = 4, over_sample_size_lp: int = 4,
                    normalize_psf: bool = True) -> PreparedImaging:
    """Validate an imaging dataset and precompute grids, PSF spectra and noise terms."""
    data = np.asarray(data, dtype=np.float64)
    noise = np.asarray(noise_map, dtype=np.float64)
    kernel = np.array(psf, dtype=np.float64)  # a copy: the caller's PSF is never normalised in place
    mask = np.asarray(mask, dtype=bool)
    if data.ndim != 2:
        raise InputError(("data",), f"must be a 2D image, got shape {list(data.shape)}")
    for name, arr in (("noise_map", noise), ("mask", mask)):
        if arr.shape != data.shape:
            raise InputError((name,), f"has shape {list(arr.shape)} but data has shape {list(data.shape)}")
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise InputError(("psf",), f"must be a 2D kernel with odd sides, got shape {list(kernel.shape)}")
    _finite(kernel, "psf")
    sy, sx = _scales(pixel_scales, "pixel_scales")
    origin = tuple(float(o) for o in np.asarray(origin, dtype=np.float64).reshape(2))
    if mask.all():
        raise InputError(("mask",), "masks every pixel; at least one pixel must be unmasked (False)")
    inside = ~mask
    _finite(data[inside], "data")
    bad = ~(np.isfinite(noise[inside]) & (noise[inside] > 0))
    if bad.any():
        raise InputError(("noise_map",), f"has {int(bad.sum())} non-positive or non-finite values inside the mask")
    for name, s in (("over_sample_size_pixelization", over_sample_size_pixelization),
                    ("over_sample_size_lp", over_sample_size_lp)):
        if int(s) != s or s < 1:
            raise InputError((name,), "must be an integer >= 1")
    if normalize_psf:
        total = kernel.sum()
        if total == 0:
            raise InputError(("psf",), "sums to zero and cannot be normalised")
        kernel = kernel / total

    rc = grids.slim_indices(mask)
    centres = grids.pixel_centres(mask, (sy, sx), origin)
    sub_pix = grids.over_sampled_grid(centres, (sy, sx), over_sample_size_pixelization)
    sub_lp = grids.over_sampled_grid(centres, (sy, sx), over_sample_size_lp)
    # the blurring region may reach past the array edge: autoarray pads the mask with masked pixels first, so
    # light profiles are evaluated there too (and their flux blurred into the mask)
    hy, hx = kernel.shape[0] // 2, kernel.shape[1] // 2
    blur_mask = grids.blurring_mask(np.pad(mask, ((hy, hy), (hx, hx)), constant_values=True), kernel.shape)
    blur_rc = grids.slim_indices(~blur_mask) - np.array([hy, hx])
    blur_grid = grids.pixel_centres(~blur_mask, (sy, sx), origin)
    border = grids.border_slim_indices(mask)
    mm_canvas, mm_in = make_canvas(rc, rc, kernel)
    lp_canvas, lp_in = make_canvas(np.concatenate([rc, blur_rc]), rc, kernel)
    conv = convolution_matrix(mask, kernel)
    d, n = data[inside], noise[inside]
    shape = ImagingShape(
        shape_native=tuple(mask.shape), pixels=len(rc),
        sub_size_pixelization=int(over_sample_size_pixelization), sub_size_lp=int(over_sample_size_lp),
        blurring_pixels=len(blur_rc), border_pixels=len(border),
        mm_canvas=mm_canvas.shape, lp_canvas=lp_canvas.shape, conv_nnz=int(conv.nnz),
    )
    arrays = {
        "data": d, "noise": n, "centres": centres, "sub_pix": sub_pix, "sub_lp": sub_lp, "blurring": blur_grid,
        "border": border.astype(np.int32), "mm_flat": mm_in.astype(np.int32), "mm_kfft": mm_canvas.kernel_fft,
        "lp_flat_in": lp_in.astype(np.int32), "lp_flat_out": lp_canvas.flat_index.astype(np.int32),
        "lp_kfft": lp_canvas.kernel_fft, "noise_normalization": np.sum(np.log(2.0 * np.pi * n**2)),
        "conv_indptr": conv.indptr.astype(np.int32), "conv_indices": conv.indices.astype(np.int32),
        "conv_data": conv.data,
    }
    host = {"centres": centres, "sub_pix": sub_pix, "kernel": kernel, "mask": mask,
            "pixel_scales": (sy, sx), "origin": origin}
    return PreparedImaging(shape, {k: jnp.asarray(v) for k, v in arrays.items()}, host)
