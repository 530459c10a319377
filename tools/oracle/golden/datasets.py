"""The imaging datasets of the golden cases (A, A_lensed, B): the masked aa.Imaging and its POST /datasets body."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import autoarray as aa
import numpy as np
from scipy.signal import convolve

from .lens import LENS_CENTRE, LENS_THETA_E, sis_trace

SUB_SIZE_PIXELIZATION = 2
SUB_SIZE_LP = 2


@dataclass
class Dataset:
    """One dataset, both as autoarray sees it and as the service receives it."""

    key: str
    imaging: Any  # masked aa.Imaging
    api: dict  # the POST /datasets body
    adapt_slim: np.ndarray  # a positive, noise-free model image (slim), used as adapt_image
    mask_radius: float
    mask_centre: tuple[float, float]
    notes: list[str] = field(default_factory=list)


def pixel_centres(shape, pixel_scales, origin) -> list[np.ndarray]:
    """(y, x) of every pixel centre of a (ny, nx) array, as two (ny, nx) arrays; y decreases down the rows."""
    ny, nx = shape
    sy, sx = pixel_scales
    y = ((ny - 1) / 2.0 - np.arange(ny)) * sy + origin[0]
    x = (np.arange(nx) - (nx - 1) / 2.0) * sx + origin[1]
    return np.meshgrid(y, x, indexing="ij")


def masked_imaging(data, noise, kernel, mask, pixel_scales, origin) -> tuple[Any, bool]:
    """Masked aa.Imaging, and whether its blurring region reaches outside the supplied array (autoarray then pads)."""
    imaging = aa.Imaging(
        data=aa.Array2D.no_mask(values=data, pixel_scales=pixel_scales, origin=origin),
        noise_map=aa.Array2D.no_mask(values=noise, pixel_scales=pixel_scales, origin=origin),
        psf=aa.Convolver(kernel=aa.Array2D.no_mask(values=kernel.copy(), pixel_scales=pixel_scales)),
        over_sample_size_pixelization=SUB_SIZE_PIXELIZATION,
        over_sample_size_lp=SUB_SIZE_LP,
    ).apply_mask(mask=mask)
    blurring = np.asarray(imaging.grids.blurring.array)
    yy, xx = pixel_centres(np.shape(data), pixel_scales, origin)
    eps = 1e-9
    outside = (
        (blurring[:, 0] > yy.max() + eps)
        | (blurring[:, 0] < yy.min() - eps)
        | (blurring[:, 1] > xx.max() + eps)
        | (blurring[:, 1] < xx.min() - eps)
    )
    return imaging, bool(np.any(outside))


def api_dataset(data, noise, kernel, mask, pixel_scales, origin) -> dict:
    """The POST /datasets body (openapi/openapi.json) of an imaging dataset."""
    return {
        "kind": "imaging",
        "data": np.asarray(data, dtype=np.float64).tolist(),
        "noise_map": np.asarray(noise, dtype=np.float64).tolist(),
        "psf": np.asarray(kernel, dtype=np.float64).tolist(),
        "mask": np.asarray(mask, dtype=bool).tolist(),
        "pixel_scales": [float(pixel_scales[0]), float(pixel_scales[1])],
        "origin": [float(origin[0]), float(origin[1])],
        "over_sample_size_pixelization": int(SUB_SIZE_PIXELIZATION),
        "over_sample_size_lp": int(SUB_SIZE_LP),
        "normalize_psf": True,
    }


def _observe(truth, kernel, noise, rng) -> tuple[np.ndarray, np.ndarray]:
    """The noise-free model (truth convolved with the normalised PSF) and the data (model plus Gaussian noise)."""
    model = convolve(truth, kernel / kernel.sum(), mode="same")
    data = model + noise * rng.standard_normal(np.shape(truth))
    return model, data


def build_dataset_a(lensed: bool) -> Dataset:
    """15x15 at 0.2", circular mask r=1.25" (N=121), asymmetric 5x5 PSF, sub sizes 2/2.

    lensed=False: the dataset of the oracle example (tests/golden/oracle_example.json: same seed and construction),
    so the rectangular_uniform 7x7 + constant(1.5) cases reproduce that example's numbers.
    lensed=True: a Gaussian source seen through the SIS lens used by the traced cases (same mask and PSF)."""
    shape, ps, origin = (15, 15), (0.2, 0.2), (0.0, 0.0)
    rng = np.random.default_rng(20261027 if lensed else 1)
    noise = 0.05 + 0.02 * rng.random(shape)
    k1d = np.arange(-2, 3) ** 2
    kernel = np.exp(-0.5 * np.add.outer(k1d, k1d) / 0.9**2)
    kernel[1, 3] *= 1.3  # asymmetric: pins the convolution orientation
    mask = aa.Mask2D.circular(shape_native=shape, pixel_scales=ps, radius=1.25)
    if not lensed:
        yy, xx = pixel_centres(shape, ps, origin)
        truth = 2.0 * np.exp(-0.5 * ((yy - 0.1) ** 2 + (xx + 0.2) ** 2 / 0.5) / 0.3**2)
    else:
        # Source light evaluated on a fine (4x4) grid of the whole array, ray-traced, binned.
        fine = aa.Grid2D.uniform(shape_native=shape, pixel_scales=ps, over_sample_size=4).over_sampled.array
        beta = sis_trace(fine, LENS_CENTRE, LENS_THETA_E)
        src = 1.5 * np.exp(-0.5 * ((beta[:, 0] - 0.05) ** 2 + (beta[:, 1] - 0.1) ** 2 / 0.7) / 0.15**2)
        truth = src.reshape(-1, 16).mean(axis=1).reshape(shape)
    model, data = _observe(truth, kernel, noise, rng)
    imaging, padded = masked_imaging(data, noise, kernel, mask, ps, origin)
    ds = Dataset(
        key="A_lensed" if lensed else "A",
        imaging=imaging,
        api=api_dataset(data, noise, kernel, mask, ps, origin),
        adapt_slim=model[~np.asarray(mask)] + 0.02 * model.max(),
        mask_radius=1.25,
        mask_centre=(0.0, 0.0),
    )
    if padded:
        ds.notes.append("padded")
    return ds


def build_dataset_b() -> Dataset:
    """14x18, pixel scales (0.2, 0.25), origin (0.1, -0.15), annular mask (0.35"-1.1") centred at (0.25, -0.2)
    (N=69), asymmetric 3x5 PSF; unmasked pixels stay clear of the array edge (no padding)."""
    shape, ps, origin = (14, 18), (0.2, 0.25), (0.1, -0.15)
    rng = np.random.default_rng(20261028)
    noise = 0.04 + 0.03 * rng.random(shape)
    dy2 = (np.arange(3) - 1.0) ** 2
    dx2 = (np.arange(5) - 2.0) ** 2
    kernel = np.exp(-0.5 * (dy2[:, None] / 0.7**2 + dx2[None, :] / 1.1**2))
    kernel[0, 3] *= 1.4
    kernel[2, 0] *= 0.6
    centre = (0.15, -0.05)  # Mask2D.circular* take the centre RELATIVE to the origin: annulus at (0.25, -0.2)
    mask = aa.Mask2D.circular_annular(
        shape_native=shape, pixel_scales=ps, origin=origin, centre=centre, inner_radius=0.35, outer_radius=1.1
    )
    yy, xx = pixel_centres(shape, ps, origin)
    truth = 1.2 * np.exp(-0.5 * ((yy - 0.45) ** 2 + (xx + 0.3) ** 2 / 0.6) / 0.25**2)
    truth += 0.8 * np.exp(-0.5 * ((yy + 0.3) ** 2 + (xx - 0.5) ** 2) / 0.3**2)
    model, data = _observe(truth, kernel, noise, rng)
    imaging, padded = masked_imaging(data, noise, kernel, mask, ps, origin)
    if padded:
        raise RuntimeError("dataset B is meant to stay clear of the array edge")
    return Dataset(
        key="B",
        imaging=imaging,
        api=api_dataset(data, noise, kernel, mask, ps, origin),
        adapt_slim=model[~np.asarray(mask)] + 0.02 * model.max(),
        mask_radius=1.1,
        mask_centre=(origin[0] + centre[0], origin[1] + centre[1]),
    )


def build_datasets() -> dict[str, Dataset]:
    """Every dataset, by the key a case names it with."""
    datasets = {"A": build_dataset_a(lensed=False), "A_lensed": build_dataset_a(lensed=True), "B": build_dataset_b()}
    assert "padded" in datasets["A"].notes  # deviations.PADDED_BLURRING relies on it
    return datasets
