"""Golden-case generator: runs the real autoarray / autogalaxy and writes the JSON cases the tests compare against.

Run it in the oracle environment (Python 3.12, see tools/oracle/README.md and requirements-oracle.txt):

    python tools/oracle/generate_golden.py                      # all cases + MANIFEST.json
    python tools/oracle/generate_golden.py --only NAME          # one case (MANIFEST.json left as it is)
    python tools/oracle/generate_golden.py --out DIR --list     # list the case names

Every input is built from fixed NumPy seeds; the output is byte-for-byte reproducible. The format of one case is
described in docs/internals.md ("Golden cases"); `dataset` and `linear_objects` are the request bodies of
/work/shared/API.md (POST /datasets, POST /inversions).

Only autoarray's / autogalaxy's public API is called (aa.Imaging, aa.Mask2D, aa.mesh, aa.reg, aa.Mapper,
aa.Inversion, aa.m.MockFitImaging, aa.AbstractLinearObjFuncList, ag.lp_linear.Gaussian, ag.lp_basis.Basis,
ag.Galaxy, ag.Pixelization, ag.FitImaging). Nothing of their code is reproduced here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --- process set-up: before autoarray / jaxnnls are imported ------------------------------------------------------
# The NumPy fnnls solver can warm-start from the previous solve of the same size (a process-wide memo). The optimum
# is unique, but the last bits of the answer would depend on which case ran before; switch the memo off so that
# `--only NAME` and a full run write the same bytes.
os.environ["AUTOARRAY_NNLS_WARM_START"] = "0"
for _var in ("PYAUTO_SMALL_DATASETS", "PYAUTO_DISABLE_JAX"):
    os.environ.pop(_var, None)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # autoarray's JAX path (and jaxnnls' tolerance) assume float64

import autoarray as aa  # noqa: E402
import autogalaxy as ag  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.signal import convolve  # noqa: E402

GENERATOR = "tools/oracle/generate_golden.py"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "tests" / "golden" / "imaging"

# ------------------------------------------------------------------------------------------------------------------
# Notes attached to cases ("deviations": autoarray behaviour a re-implementation must decide on, spec Appendix B)
# ------------------------------------------------------------------------------------------------------------------
DEV_BILINEAR = (
    "Appendix B.1 (still present in 2026.10.26.1): RectangularBilinearAdaptDensity flattens mesh index (iy, ix) as "
    "(n - iy)*n + ix with iy, ix in [1, n-1], so only rows 2..n-1 and columns 1..n-2 receive non-zero weight (row "
    "n-1, the bottom edge row, is populated; rows 0-1 and columns 0, n-1 are empty); only shape[0] is used. The "
    "y-weights are the corrected bilinear ones (t on the upper index)."
)
DEV_ADAPT4 = (
    "Appendix B.6: Adapt-family regularization squares the per-pixel weight twice: effective coefficient "
    "(inner*p + outer*(1-p))**4."
)
DEV_EDGE = (
    "Appendix B.7: edge zeroing (positive-only solver only) assumes mappers are the last linear objects; zeroed "
    "pixels are exact zeros in the reconstruction but stay in F, H and C for the log-determinants."
)
DEV_MIXED_DET = (
    "Appendix B.8: with function lists + a mapper, regularization_term and both log-determinants use only the "
    "mapper block (reduced matrices); chi_squared uses the full model."
)
DEV_MIXED_PRECISION = (
    "Appendix B.9 / A (installed 2026.10.26.1, JAX path): mapper mapping matrix stored as float32, its PSF "
    "convolution rFFT'd in complex64 and multiplied/inverted in complex128 (fp64 out); the light-profile (gaussians) "
    "convolution runs fully in float32; F and D both use fp64 1/sigma (the snapshot's D/F inconsistency is fixed); "
    "solve, NNLS, log-dets fp64. The expected values are the JAX mixed-precision ones; compare with a loose tolerance "
    "(expected_fp64_figure_of_merit is the fp64 NumPy value of the same case)."
)
DEV_PADDED_BLURRING = (
    "Dataset A: unmasked pixels lie within half a PSF of the array edge, so autoarray pads the mask (15x15 -> 17x17) "
    "and the blurring region of the gaussians includes pixels OUTSIDE the supplied array (evaluated on the padded "
    "grid, sub size 1)."
)
DEV_TRACED_SLIM = (
    "Traced grid: autoarray also uses the traced slim grid (one point per image pixel): the border relocator fits its "
    "ellipse to the slim border pixels and the adaptive rectangular mesh builds its CDF from it. Here it is the traced "
    "pixel centres (as PyAutoLens traces dataset.grids.pixelization), sent as source_grid_slim (N, 2); it is NOT the "
    "mean of the traced sub-pixels."
)
DEV_SPLIT_JITTER = (
    "Split schemes: H is nearly singular (log det H may be negative); NumPy vs JAX log_det_regularization_matrix_term "
    "agree only to ~1e-8 absolute."
)


# ------------------------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------------------------
def f64(x: Any) -> np.ndarray:
    """Raw float64 ndarray from an autoarray structure, a jax array or a numpy array."""
    if hasattr(x, "array") and not isinstance(x, np.ndarray):
        x = x.array
    return np.asarray(x, dtype=np.float64)


def flist(x: Any) -> list:
    a = f64(x)
    if not np.all(np.isfinite(a)):
        raise FloatingPointError("non-finite value in a golden array")
    return a.tolist()


def fscalar(x: Any) -> float:
    v = float(np.asarray(x, dtype=np.float64))
    if not np.isfinite(v):
        raise FloatingPointError("non-finite golden scalar")
    return v


def sis_trace(points: np.ndarray, centre: tuple[float, float], einstein_radius: float) -> np.ndarray:
    """beta = theta - theta_E (theta - c)/|theta - c| (singular isothermal sphere)."""
    d = np.asarray(points, dtype=np.float64) - np.asarray(centre)
    r = np.sqrt(np.sum(d**2, axis=1))
    if np.any(r == 0.0):
        raise ValueError("a traced point sits exactly on the lens centre")
    return points - einstein_radius * d / r[:, None]


# ------------------------------------------------------------------------------------------------------------------
# Datasets
# ------------------------------------------------------------------------------------------------------------------
LENS_CENTRE = (0.013, -0.021)
LENS_THETA_E = 0.8


@dataclass
class Dataset:
    key: str
    imaging: Any  # masked aa.Imaging
    api: dict  # the POST /datasets body
    adapt_slim: np.ndarray  # a positive, noise-free model image (slim), used as adapt_image
    mask_radius: float
    mask_centre: tuple[float, float]
    notes: list[str] = field(default_factory=list)


def _imaging(data, noise, kernel, mask, pixel_scales, origin, sub_pix, sub_lp) -> tuple[Any, bool]:
    """Masked aa.Imaging, and whether its blurring region reaches outside the supplied array (autoarray then pads)."""
    imaging = aa.Imaging(
        data=aa.Array2D.no_mask(values=data, pixel_scales=pixel_scales, origin=origin),
        noise_map=aa.Array2D.no_mask(values=noise, pixel_scales=pixel_scales, origin=origin),
        psf=aa.Convolver(kernel=aa.Array2D.no_mask(values=kernel.copy(), pixel_scales=pixel_scales)),
        over_sample_size_pixelization=sub_pix,
        over_sample_size_lp=sub_lp,
    ).apply_mask(mask=mask)
    blurring = np.asarray(imaging.grids.blurring.array)
    yy, xx = _pixel_centres(np.shape(data), pixel_scales, origin)
    eps = 1e-9
    outside = (
        (blurring[:, 0] > yy.max() + eps)
        | (blurring[:, 0] < yy.min() - eps)
        | (blurring[:, 1] > xx.max() + eps)
        | (blurring[:, 1] < xx.min() - eps)
    )
    return imaging, bool(np.any(outside))


def _api_dataset(data, noise, kernel, mask, pixel_scales, origin, sub_pix, sub_lp) -> dict:
    return {
        "kind": "imaging",
        "data": np.asarray(data, dtype=np.float64).tolist(),
        "noise_map": np.asarray(noise, dtype=np.float64).tolist(),
        "psf": np.asarray(kernel, dtype=np.float64).tolist(),
        "mask": np.asarray(mask, dtype=bool).tolist(),
        "pixel_scales": [float(pixel_scales[0]), float(pixel_scales[1])],
        "origin": [float(origin[0]), float(origin[1])],
        "over_sample_size_pixelization": int(sub_pix),
        "over_sample_size_lp": int(sub_lp),
        "normalize_psf": True,
    }


def _pixel_centres(shape, pixel_scales, origin):
    ny, nx = shape
    sy, sx = pixel_scales
    y = ((ny - 1) / 2.0 - np.arange(ny)) * sy + origin[0]
    x = (np.arange(nx) - (nx - 1) / 2.0) * sx + origin[1]
    return np.meshgrid(y, x, indexing="ij")


def build_dataset_a(lensed: bool) -> Dataset:
    """15x15 at 0.2", circular mask r=1.25" (N=121), asymmetric 5x5 PSF, sub sizes 2/2.

    lensed=False: exactly the dataset of /work/shared/oracle/oracle_example.py (same seed and construction), so the
    rectangular_uniform 7x7 + constant(1.5) cases reproduce the numbers quoted in the spec (section 11.3).
    lensed=True: a Gaussian source seen through the SIS lens used by the traced cases (same mask and PSF)."""
    shape, ps, origin = (15, 15), (0.2, 0.2), (0.0, 0.0)
    rng = np.random.default_rng(20261027 if lensed else 1)
    noise = 0.05 + 0.02 * rng.random(shape)
    k1d = np.arange(-2, 3) ** 2
    kernel = np.exp(-0.5 * np.add.outer(k1d, k1d) / 0.9**2)
    kernel[1, 3] *= 1.3  # asymmetric: pins the convolution orientation
    mask = aa.Mask2D.circular(shape_native=shape, pixel_scales=ps, radius=1.25)
    if not lensed:
        yy, xx = _pixel_centres(shape, ps, origin)
        truth = 2.0 * np.exp(-0.5 * ((yy - 0.1) ** 2 + (xx + 0.2) ** 2 / 0.5) / 0.3**2)
    else:
        # Source light evaluated on a fine (4x4) grid of the whole array, ray-traced, binned.
        fine = aa.Grid2D.uniform(shape_native=shape, pixel_scales=ps, over_sample_size=4).over_sampled.array
        beta = sis_trace(fine, LENS_CENTRE, LENS_THETA_E)
        src = 1.5 * np.exp(-0.5 * ((beta[:, 0] - 0.05) ** 2 + (beta[:, 1] - 0.1) ** 2 / 0.7) / 0.15**2)
        truth = src.reshape(-1, 16).mean(axis=1).reshape(shape)
    model = convolve(truth, kernel / kernel.sum(), mode="same")
    data = model + noise * rng.standard_normal(shape)
    imaging, padded = _imaging(data, noise, kernel, mask, ps, origin, 2, 2)
    adapt = model[~np.asarray(mask)] + 0.02 * model.max()
    ds = Dataset(
        key="A_lensed" if lensed else "A",
        imaging=imaging,
        api=_api_dataset(data, noise, kernel, mask, ps, origin, 2, 2),
        adapt_slim=adapt,
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
    yy, xx = _pixel_centres(shape, ps, origin)
    truth = 1.2 * np.exp(-0.5 * ((yy - 0.45) ** 2 + (xx + 0.3) ** 2 / 0.6) / 0.25**2)
    truth += 0.8 * np.exp(-0.5 * ((yy + 0.3) ** 2 + (xx - 0.5) ** 2) / 0.3**2)
    model = convolve(truth, kernel / kernel.sum(), mode="same")
    data = model + noise * rng.standard_normal(shape)
    imaging, padded = _imaging(data, noise, kernel, mask, ps, origin, 2, 2)
    if padded:
        raise RuntimeError("dataset B is meant to stay clear of the array edge")
    adapt = model[~np.asarray(mask)] + 0.02 * model.max()
    return Dataset(
        key="B",
        imaging=imaging,
        api=_api_dataset(data, noise, kernel, mask, ps, origin, 2, 2),
        adapt_slim=adapt,
        mask_radius=1.1,
        mask_centre=(origin[0] + centre[0], origin[1] + centre[1]),
    )


# ------------------------------------------------------------------------------------------------------------------
# Linear-object specifications -> API dicts and autoarray objects
# ------------------------------------------------------------------------------------------------------------------
REG = {
    "constant": {"type": "constant", "coefficient": 1.5},
    "zeroth": {"type": "zeroth", "coefficient": 0.3},
    "adapt": {"type": "adapt", "inner_coefficient": 0.5, "outer_coefficient": 2.0, "signal_scale": 1.2},
    "constant_split": {"type": "constant_split", "coefficient": 1.2},
    "adapt_split": {"type": "adapt_split", "inner_coefficient": 0.5, "outer_coefficient": 2.0, "signal_scale": 1.2},
    "brightness_zeroth": {"type": "brightness_zeroth", "coefficient": 0.7, "signal_scale": 0.8},
    "gaussian_kernel": {"type": "gaussian_kernel", "coefficient": 0.8, "scale": 0.4},
    "exponential_kernel": {"type": "exponential_kernel", "coefficient": 0.8, "scale": 0.5},
    "null": None,
}
NEEDS_ADAPT = {"adapt", "adapt_split", "brightness_zeroth"}
REFUSAL_NOTES = {
    "brightness_zeroth": "BrightnessZeroth on its own gives H = diag((coefficient*(1-p_i))**2) with pixel signals "
    "p_i normalised to max 1, so H_ii = 0 exactly at the brightest pixel: H is singular and the Cholesky in "
    "log_det_regularization_matrix_term raises (F, H, C and the reconstruction are computed fine). autoarray only "
    "uses it inside AdaptSplitZeroth. The service should refuse it alone (or document a non-finite evidence).",
}
SPLIT = {"constant_split", "adapt_split"}
REG_ORDER = list(REG)


def aa_regularization(reg: dict | None, lib=aa):
    if reg is None:
        return None
    kwargs = {k: v for k, v in reg.items() if k != "type"}
    cls = {
        "constant": lib.reg.Constant,
        "zeroth": lib.reg.Zeroth,
        "adapt": lib.reg.Adapt,
        "constant_split": lib.reg.ConstantSplit,
        "adapt_split": lib.reg.AdaptSplit,
        "brightness_zeroth": lib.reg.BrightnessZeroth,
        "gaussian_kernel": lib.reg.GaussianKernel,
        "exponential_kernel": lib.reg.ExponentialKernel,
    }[reg["type"]]
    return cls(**kwargs)


def delaunay_vertices(ds: Dataset, overlay_shape, jitter_seed: int, ring_points: int = 10) -> tuple[np.ndarray, int]:
    """Image-plane vertices: a jittered Overlay of the mask plus a ring of circle edge points appended last."""
    overlay = aa.image_mesh.Overlay(shape=overlay_shape).image_plane_mesh_grid_from(mask=ds.imaging.mask)
    rng = np.random.default_rng(jitter_seed)
    interior = np.asarray(overlay.array) + rng.normal(scale=0.03, size=np.asarray(overlay.array).shape)
    ps = ds.imaging.mask.pixel_scales[0]
    vertices = aa.image_mesh.append_with_circle_edge_points(
        aa.Grid2DIrregular(interior), centre=ds.mask_centre, radius=ds.mask_radius + ps / 2.0, n_points=ring_points
    )
    return np.asarray(vertices.array if hasattr(vertices, "array") else vertices, dtype=np.float64), ring_points


@dataclass
class MapperSpec:
    mesh: str  # "rectangular_uniform" | "delaunay" | "rectangular_bilinear_adapt_density"
    shape: tuple[int, int] | None = None
    reg: str = "constant"
    traced: bool = False
    overlay_shape: tuple[int, int] = (5, 5)

    kind = "mapper"


@dataclass
class GaussiansSpec:
    centre: tuple[float, float] = (0.05, -0.1)
    ell_comps: tuple[float, float] = (0.1, -0.05)
    n: int = 10

    kind = "gaussians"

    @property
    def sigmas(self) -> np.ndarray:
        return 10 ** np.linspace(-1.5, np.log10(1.5), self.n)


@dataclass
class BasisSpec:
    reg: str = "null"

    kind = "basis"


class ImageBasis(aa.AbstractLinearObjFuncList):
    """A linear-function list whose columns are fixed images (no operated override: autoarray blurs them itself,
    inside the mask only)."""

    def __init__(self, grid, images: np.ndarray, regularization=None, settings=None, xp=np):
        super().__init__(grid=grid, regularization=regularization, settings=settings or aa.Settings(), xp=xp)
        self._mapping = np.ascontiguousarray(np.asarray(images, dtype=np.float64).T)

    @property
    def params(self) -> int:
        return self._mapping.shape[1]

    @property
    def mapping_matrix(self):
        return self._xp.asarray(self._mapping)


def basis_images(ds: Dataset) -> np.ndarray:
    """(4, N): a constant, two circular Gaussians and a tilted plane on the slim pixel centres."""
    g = np.asarray(ds.imaging.grids.lp.array)
    y, x = g[:, 0], g[:, 1]
    return np.stack(
        [
            np.ones_like(y),
            np.exp(-0.5 * ((y - 0.1) ** 2 + (x + 0.2) ** 2) / 0.3**2),
            np.exp(-0.5 * ((y + 0.4) ** 2 + (x - 0.3) ** 2) / 0.25**2),
            0.5 + 0.3 * y - 0.2 * x,
        ]
    )


@dataclass
class Built:
    api: dict
    make: Any  # callable(settings, xp) -> linear object (aa route); None for autogalaxy-built objects
    verify: Any = None  # callable(obj, xp) -> None, run after the inversion


def traced_grid_for(ds: Dataset):
    """The dataset's pixelization grid ray-traced through the SIS: a Grid2D whose over_sampled sub-grid IS the traced
    one (a Grid2D built from coordinates alone would silently rebuild an untraced sub-grid)."""
    grid = ds.imaging.grids.pixelization
    sub = np.asarray(grid.over_sampled.array)
    sub_traced = sis_trace(sub, LENS_CENTRE, LENS_THETA_E)
    # The slim grid: the traced pixel centres (as PyAutoLens traces grids.pixelization), sent as source_grid_slim.
    slim_traced = sis_trace(np.asarray(grid.array), LENS_CENTRE, LENS_THETA_E)
    traced = aa.Grid2D(
        values=slim_traced,
        mask=grid.mask,
        over_sample_size=grid.over_sample_size,
        over_sampled=aa.Grid2DIrregular(sub_traced),
        over_sampler=grid.over_sampler,
    )
    assert np.array_equal(np.asarray(traced.over_sampled.array), sub_traced)
    assert np.array_equal(np.asarray(traced.array), slim_traced)
    return traced, sub_traced, slim_traced


def build_mapper(ds: Dataset, spec: MapperSpec, settings_dict: dict) -> Built:
    reg = REG[spec.reg]
    api: dict = {"type": "mapper"}
    if spec.mesh in ("rectangular_uniform", "rectangular_bilinear_adapt_density"):
        api["mesh"] = {"type": spec.mesh, "shape": [int(spec.shape[0]), int(spec.shape[1])]}
    elif spec.mesh == "delaunay":
        vertices, zeroed = delaunay_vertices(ds, spec.overlay_shape, jitter_seed=7)
        if spec.traced:
            vertices = sis_trace(vertices, LENS_CENTRE, LENS_THETA_E)
        api["mesh"] = {"type": "delaunay", "vertices": vertices.tolist(), "zeroed_pixels": zeroed}
    else:
        raise ValueError(spec.mesh)

    grid = ds.imaging.grids.pixelization
    sub_traced = None
    if spec.traced:
        grid, sub_traced, slim_traced = traced_grid_for(ds)
        api["source_grid"] = sub_traced.tolist()
        api["source_grid_slim"] = slim_traced.tolist()
    api["regularization"] = None if reg is None else dict(reg)
    adapt = None
    if spec.reg in NEEDS_ADAPT:
        api["adapt_image"] = ds.adapt_slim.tolist()
        adapt = aa.Array2D(values=ds.adapt_slim, mask=ds.imaging.mask)

    use_border = bool(settings_dict["use_border_relocator"])

    def make(settings, xp):
        if spec.mesh == "rectangular_uniform":
            mesh = aa.mesh.RectangularUniform(shape=tuple(spec.shape))
            mesh_grid = None
        elif spec.mesh == "rectangular_bilinear_adapt_density":
            mesh = aa.mesh.RectangularBilinearAdaptDensity(shape=tuple(spec.shape))
            mesh_grid = None
        else:
            verts = np.asarray(api["mesh"]["vertices"])
            mesh = aa.mesh.Delaunay(
                pixels=len(verts) - api["mesh"]["zeroed_pixels"], zeroed_pixels=api["mesh"]["zeroed_pixels"]
            )
            mesh_grid = aa.Grid2DIrregular(verts)
        regularization = aa_regularization(reg)
        aa.Pixelization(mesh=mesh, regularization=regularization)  # autoarray's own compatibility check
        interpolator = mesh.interpolator_from(
            source_plane_data_grid=grid,
            source_plane_mesh_grid=mesh_grid,
            border_relocator=ds.imaging.grids.border_relocator if use_border else None,
            adapt_data=adapt,
            xp=xp,
        )
        # Check that the grid autoarray interpolates is the traced (and, if asked, relocated) one.
        used = np.asarray(interpolator.data_grid.over_sampled.array)
        used_slim = np.asarray(interpolator.data_grid.array)
        if use_border:
            relocated = ds.imaging.grids.border_relocator.relocated_grid_from(grid=grid)
            want, want_slim = np.asarray(relocated.over_sampled.array), np.asarray(relocated.array)
        else:
            want, want_slim = np.asarray(grid.over_sampled.array), np.asarray(grid.array)
        np.testing.assert_allclose(used, want, rtol=0, atol=1e-13)
        np.testing.assert_allclose(used_slim, want_slim, rtol=0, atol=1e-13)
        if sub_traced is not None:
            if use_border:
                assert not np.allclose(used, sub_traced), "border relocation changed nothing"
            else:
                np.testing.assert_array_equal(used, sub_traced)
        if mesh_grid is not None:  # Delaunay: the vertices used are the supplied (traced) ones, relocated if asked
            verts_used = np.asarray(interpolator.mesh_grid.array)
            verts_in = np.asarray(mesh_grid.array)
            if use_border:
                relocated = ds.imaging.grids.border_relocator.relocated_mesh_grid_from(grid=grid, mesh_grid=mesh_grid)
                np.testing.assert_allclose(verts_used, np.asarray(relocated.array), rtol=0, atol=1e-13)
            else:
                np.testing.assert_allclose(verts_used, verts_in, rtol=0, atol=1e-13)
        return aa.Mapper(interpolator=interpolator, regularization=regularization, settings=settings, xp=xp)

    return Built(api=api, make=make)


def build_basis(ds: Dataset, spec: BasisSpec) -> Built:
    images = basis_images(ds)
    reg = REG[spec.reg]
    api = {"type": "basis", "images": images.tolist(), "regularization": None if reg is None else dict(reg)}

    def make(settings, xp):
        return ImageBasis(ds.imaging.grids.lp, images, regularization=aa_regularization(reg), settings=settings, xp=xp)

    return Built(api=api, make=make)


def build_gaussians(spec: GaussiansSpec) -> Built:
    api = {
        "type": "gaussians",
        "centre": [float(spec.centre[0]), float(spec.centre[1])],
        "ell_comps": [float(spec.ell_comps[0]), float(spec.ell_comps[1])],
        "sigmas": spec.sigmas.tolist(),
        "regularization": None,
    }
    return Built(api=api, make=None)


def unit_gaussian_image(grid, spec: GaussiansSpec, sigma: float) -> np.ndarray:
    """Our reading of autogalaxy's unit-intensity elliptical Gaussian (exp(-(q^2 x'^2 + y'^2)/(2 sigma^2)), no
    normalisation prefactor), averaged over the lp sub-grid; used only to check what autogalaxy returned."""
    e1, e2 = spec.ell_comps
    f = min(np.hypot(e1, e2), 0.999)
    q = (1 - f) / (1 + f)
    phi = 0.5 * np.degrees(np.arctan2(e1, e2))
    if phi < -45:
        phi += 180
    sub = np.asarray(grid.over_sampled.array)
    dy, dx = sub[:, 0] - spec.centre[0], sub[:, 1] - spec.centre[1]
    c, s = np.cos(np.radians(phi)), np.sin(np.radians(phi))
    xr, yr = dx * c + dy * s, -dx * s + dy * c
    img = np.exp(-(q**2 * xr**2 + yr**2) / (2 * sigma**2))
    n = np.asarray(grid.over_sample_size.array).astype(int)
    return img.reshape(len(n), n[0] ** 2).mean(axis=1)


# ------------------------------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------------------------------
def settings_dict(positive_only=False, edge=True, border=False, diag=1e-3, mixed=False) -> dict:
    return {
        "use_mixed_precision": bool(mixed),
        "use_positive_only_solver": bool(positive_only),
        "use_edge_zeroed_pixels": bool(edge),
        "use_border_relocator": bool(border),
        "no_regularization_add_to_curvature_diag_value": float(diag),
    }


@dataclass
class Case:
    name: str
    dataset: str
    objects: list
    settings: dict
    description: str
    path: str = "numpy"
    deviations: list = field(default_factory=list)


MESH_SHORT = {
    "rectangular_uniform": "rect_uniform",
    "delaunay": "delaunay",
    "rectangular_bilinear_adapt_density": "bilinear_density",
}
# 6x6 keeps the files small; rectangular_uniform + constant uses 7x7 (the oracle_example.py / spec 11.3 problem).
MESH_DEFAULT_SHAPE = {"rectangular_uniform": (6, 6), "delaunay": None, "rectangular_bilinear_adapt_density": (6, 6)}


def mesh_shape(mesh: str, reg: str):
    if mesh == "rectangular_uniform" and reg == "constant":
        return (7, 7)
    return MESH_DEFAULT_SHAPE[mesh]


def shape_text(shape) -> str:
    return "" if shape is None else f" {shape[0]}x{shape[1]}"


def supported(mesh: str, reg: str) -> bool:
    return reg not in SPLIT or mesh == "delaunay"


def reg_deviations(mesh: str, reg: str) -> list:
    out = []
    if mesh == "rectangular_bilinear_adapt_density":
        out.append(DEV_BILINEAR)
    if reg in ("adapt", "adapt_split"):
        out.append(DEV_ADAPT4)
    if reg in SPLIT:
        out.append(DEV_SPLIT_JITTER)
    return out


def all_cases() -> list[Case]:
    cases: list[Case] = []
    meshes = ["rectangular_uniform", "delaunay", "rectangular_bilinear_adapt_density"]

    # 1) every supported mesh x regularization, image-plane grid, positive/negative solver (dataset A)
    for mesh in meshes:
        for reg in REG_ORDER:
            if not supported(mesh, reg):
                continue
            shape = mesh_shape(mesh, reg)
            mesh_txt = f"{mesh}{shape_text(shape)}"
            cases.append(
                Case(
                    name=f"{MESH_SHORT[mesh]}__{reg}__posneg",
                    dataset="A",
                    objects=[MapperSpec(mesh=mesh, shape=shape, reg=reg)],
                    settings=settings_dict(),
                    description=f"{mesh_txt} mapper on the image-plane grid, regularization {reg}, "
                    "positive/negative solver (np.linalg.solve).",
                    deviations=reg_deviations(mesh, reg),
                )
            )

    # 2) positive-only solver with / without edge zeroing, constant regularization. The adaptive rectangular mesh is
    #    run on the traced grid (what it is designed for; on the unlensed grid its 16 populated nodes fit so poorly
    #    that the NNLS zeroes the edge ring by itself and edge zeroing changes nothing).
    traced_txt = (
        f"source_grid = the over-sampled pixelization grid ray-traced through a singular isothermal sphere "
        f"(theta_E={LENS_THETA_E}, centre={list(LENS_CENTRE)}: beta = theta - theta_E (theta-c)/|theta-c|), "
        "source_grid_slim = the traced pixel centres"
    )
    for mesh in meshes:
        shape = mesh_shape(mesh, "constant")
        traced = mesh == "rectangular_bilinear_adapt_density"
        shape_txt = "" if shape is None else f" {shape[0]}x{shape[1]}"
        for edge in (True, False):
            cases.append(
                Case(
                    name=f"{MESH_SHORT[mesh]}__constant__pos_{'edge' if edge else 'noedge'}"
                    + ("__traced" if traced else ""),
                    dataset="A_lensed" if traced else "A",
                    objects=[MapperSpec(mesh=mesh, shape=shape, reg="constant", traced=traced)],
                    settings=settings_dict(positive_only=True, edge=edge),
                    description=f"{mesh}{shape_txt} mapper, constant regularization, positive-only solver (NumPy "
                    f"fnnls), edge zeroing {'on' if edge else 'off'}"
                    + (f"; {traced_txt}, no border relocation" if traced else "")
                    + ". jax_figure_of_merit: the same case on the JAX path (jaxnnls PDIP).",
                    deviations=reg_deviations(mesh, "constant")
                    + ([DEV_EDGE] if edge else [])
                    + ([DEV_TRACED_SLIM] if traced else []),
                )
            )

    # 3) traced (SIS) source grid, border relocation on / off
    for mesh, reg in (("rectangular_uniform", "constant"), ("delaunay", "constant")):
        for border in (True, False):
            extra = " Delaunay vertices are traced through the same lens." if mesh == "delaunay" else ""
            cases.append(
                Case(
                    name=f"{MESH_SHORT[mesh]}__{reg}__posneg__traced_{'border' if border else 'noborder'}",
                    dataset="A_lensed",
                    objects=[MapperSpec(mesh=mesh, shape=MESH_DEFAULT_SHAPE[mesh], reg=reg, traced=True)],
                    settings=settings_dict(border=border),
                    description=f"{mesh}{'' if mesh == 'delaunay' else ' 6x6'} + {reg}, {traced_txt}; border relocator "
                    f"{'ON (dataset.grids.border_relocator passed to interpolator_from)' if border else 'off'}."
                    + extra,
                    deviations=[DEV_TRACED_SLIM],
                )
            )
    cases.append(
        Case(
            name="delaunay__adapt_split__posneg__traced_border",
            dataset="A_lensed",
            objects=[MapperSpec(mesh="delaunay", reg="adapt_split", traced=True)],
            settings=settings_dict(border=True),
            description=f"delaunay + adapt_split (the PyAutoLens default source), {traced_txt}; border relocator ON; "
            "traced vertices (also relocated).",
            deviations=[DEV_TRACED_SLIM, DEV_ADAPT4, DEV_SPLIT_JITTER],
        )
    )
    cases.append(
        Case(
            name="bilinear_density__constant__posneg__traced_noborder",
            dataset="A_lensed",
            objects=[MapperSpec(mesh="rectangular_bilinear_adapt_density", shape=(6, 6), reg="constant", traced=True)],
            settings=settings_dict(border=False),
            description=f"rectangular_bilinear_adapt_density 6x6 + constant, {traced_txt}; no border relocation.",
            deviations=[DEV_TRACED_SLIM, DEV_BILINEAR],
        )
    )

    # 4) non-square dataset B (pixel scales (0.2, 0.25), origin (0.1, -0.15), annular mask, 3x5 PSF)
    btxt = (
        "Dataset B: 14x18, pixel_scales (0.2, 0.25), origin (0.1, -0.15), annular mask (radii 0.35-1.1 around "
        "(0.25, -0.2), N=69), asymmetric 3x5 PSF. "
    )
    for mesh, shape, reg in (
        ("rectangular_uniform", (6, 8), "constant"),
        ("rectangular_uniform", (6, 8), "adapt"),
        ("delaunay", None, "constant"),
        ("rectangular_bilinear_adapt_density", (6, 6), "constant"),
    ):
        shape_txt = "" if shape is None else f"_{shape[0]}x{shape[1]}"
        cases.append(
            Case(
                name=f"{MESH_SHORT[mesh]}{shape_txt}__{reg}__posneg__datasetB",
                dataset="B",
                objects=[MapperSpec(mesh=mesh, shape=shape, reg=reg, overlay_shape=(5, 6))],
                settings=settings_dict(),
                description=btxt + f"{mesh}{shape_text(shape)} + {reg}, positive/negative.",
                deviations=reg_deviations(mesh, reg),
            )
        )

    # 5) unregularized-diagonal value: non-default and zero
    cases.append(
        Case(
            name="rect_uniform__null__posneg__diag1e-5",
            dataset="A",
            objects=[MapperSpec(mesh="rectangular_uniform", shape=(6, 6), reg="null")],
            settings=settings_dict(diag=1e-5),
            description="rectangular_uniform 6x6 mapper without regularization; "
            "no_regularization_add_to_curvature_diag_value = 1e-5 added to every diagonal entry of F.",
        )
    )

    # 6) gaussians (autogalaxy linear Gaussians in a Basis, fitted with ag.FitImaging)
    gtxt = (
        "gaussians: autogalaxy ag.lp_linear.Gaussian x{n} in an ag.lp_basis.Basis (one galaxy), fitted with "
        "ag.FitImaging; expected values read off fit.inversion and the fit. Unit-intensity image of each Gaussian "
        "(no normalisation prefactor): exp(-(q^2 x'^2 + y'^2) / (2 sigma^2)) with f = min(|ell_comps|, 0.999), "
        "q = (1-f)/(1+f), phi = 0.5 atan2(e1, e2) (deg, +180 if < -45), (y', x') = (y, x) - centre rotated by -phi; "
        "averaged over the lp sub-grid (sub size 2). blurred_mapping_matrix = autogalaxy's operated mapping matrix "
        "(PSF convolution including the flux of the blurring-region pixels, sub size 1)."
    )
    g = GaussiansSpec()
    cases.append(
        Case(
            name="gaussians__posneg",
            dataset="A",
            objects=[g],
            settings=settings_dict(),
            description=gtxt.format(n=g.n) + " Positive/negative solver.",
            deviations=[DEV_PADDED_BLURRING],
        )
    )
    cases.append(
        Case(
            name="gaussians__pos",
            dataset="A",
            objects=[g],
            settings=settings_dict(positive_only=True),
            description=gtxt.format(n=g.n) + " Positive-only solver (NumPy fnnls); jax_figure_of_merit from the JAX "
            "path (jaxnnls; no mapper, so autoarray's 'raw' no-mapper preconditioning mode).",
            deviations=[DEV_PADDED_BLURRING],
        )
    )
    gb = GaussiansSpec(centre=(0.2, -0.1), ell_comps=(-0.08, 0.12), n=8)
    cases.append(
        Case(
            name="gaussians__posneg__diag0__datasetB",
            dataset="B",
            objects=[gb],
            settings=settings_dict(diag=0.0),
            description=btxt + gtxt.format(n=gb.n) + " Positive/negative solver; "
            "no_regularization_add_to_curvature_diag_value = 0 (nothing added to F).",
        )
    )
    for pos in (False, True):
        cases.append(
            Case(
                name=f"gaussians_rect_uniform__constant__{'pos_edge' if pos else 'posneg'}",
                dataset="A",
                objects=[g, MapperSpec(mesh="rectangular_uniform", shape=(6, 6), reg="constant")],
                settings=settings_dict(positive_only=pos),
                description=gtxt.format(n=g.n) + " Plus a rectangular_uniform 6x6 + constant pixelization in a second "
                "galaxy (ag.Pixelization); autogalaxy orders function lists first, mappers last. "
                + ("Positive-only solver with edge zeroing." if pos else "Positive/negative solver."),
                deviations=[DEV_PADDED_BLURRING, DEV_MIXED_DET] + ([DEV_EDGE] if pos else []),
            )
        )

    # 7) basis (arbitrary images, autoarray blurs inside the mask only)
    btxt2 = (
        "basis: an aa.AbstractLinearObjFuncList subclass whose mapping matrix is the supplied images (a constant, two "
        "Gaussians, a tilted plane; slim); no operated override, so autoarray convolves them inside the mask only. "
    )
    cases.append(
        Case(
            name="basis__posneg",
            dataset="A",
            objects=[BasisSpec(reg="null")],
            settings=settings_dict(),
            description=btxt2 + "No regularization (diag 1e-3 added); positive/negative solver.",
        )
    )
    cases.append(
        Case(
            name="basis_constant__posneg",
            dataset="A",
            objects=[BasisSpec(reg="constant")],
            settings=settings_dict(),
            description=btxt2 + "Constant regularization on the chain of neighbours i <-> i+1 (every object "
            "regularized, so the reduced matrices are the full ones); positive/negative solver.",
        )
    )
    cases.append(
        Case(
            name="basis_rect_uniform__constant__posneg",
            dataset="A",
            objects=[BasisSpec(reg="null"), MapperSpec(mesh="rectangular_uniform", shape=(6, 6), reg="constant")],
            settings=settings_dict(),
            description=btxt2 + "Unregularized basis first, then a rectangular_uniform 6x6 + constant mapper; "
            "positive/negative solver.",
            deviations=[DEV_MIXED_DET],
        )
    )

    # 8) mixed precision on the JAX path
    for pos in (False, True):
        cases.append(
            Case(
                name=f"rect_uniform__constant__{'pos_edge' if pos else 'posneg'}__mixed_jax",
                dataset="A",
                objects=[MapperSpec(mesh="rectangular_uniform", shape=(7, 7), reg="constant")],
                settings=settings_dict(positive_only=pos, mixed=True),
                path="jax",
                description="rectangular_uniform 7x7 + constant, use_mixed_precision=True on autoarray's JAX path "
                "(xp=jax.numpy, x64 enabled); "
                + ("positive-only (jaxnnls) with edge zeroing." if pos else "positive/negative solver."),
                deviations=[DEV_MIXED_PRECISION] + ([DEV_EDGE] if pos else []),
            )
        )
    cases.append(
        Case(
            name="gaussians_rect_uniform__constant__posneg__mixed_jax",
            dataset="A",
            objects=[g, MapperSpec(mesh="rectangular_uniform", shape=(6, 6), reg="constant")],
            settings=settings_dict(mixed=True),
            path="jax",
            description=gtxt.format(n=g.n) + " Plus rectangular_uniform 6x6 + constant; use_mixed_precision=True on "
            "the JAX path (ag.FitImaging(xp=jax.numpy)); positive/negative solver.",
            deviations=[DEV_MIXED_PRECISION, DEV_PADDED_BLURRING, DEV_MIXED_DET],
        )
    )
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases


# ------------------------------------------------------------------------------------------------------------------
# Running one case
# ------------------------------------------------------------------------------------------------------------------
def aa_settings(s: dict) -> Any:
    return aa.Settings(
        use_mixed_precision=s["use_mixed_precision"],
        use_positive_only_solver=s["use_positive_only_solver"],
        use_edge_zeroed_pixels=s["use_edge_zeroed_pixels"],
        use_border_relocator=s["use_border_relocator"],
        no_regularization_add_to_curvature_diag_value=s["no_regularization_add_to_curvature_diag_value"],
    )


def expected_from(
    inversion, chi_squared, noise_normalization, log_evidence, log_likelihood, figure_of_merit, model_image
) -> dict:
    try:
        rnm = flist(inversion.reconstruction_noise_map)
    except Exception:  # not every inversion exposes it
        rnm = None
    P = f64(inversion.reconstruction).shape[0]
    H = inversion.regularization_matrix
    H = np.zeros((P, P)) if H is None else f64(H)
    return {
        "mapping_matrix": flist(inversion.mapping_matrix),
        "blurred_mapping_matrix": flist(inversion.operated_mapping_matrix),
        "data_vector": flist(inversion.data_vector),
        "curvature_matrix": flist(inversion.curvature_matrix),
        "regularization_matrix": flist(H),
        "curvature_reg_matrix": flist(inversion.curvature_reg_matrix),
        "reconstruction": flist(inversion.reconstruction),
        "reconstruction_noise_map": rnm,
        "model_image": flist(model_image),
        "mapped_reconstructed_image": flist(inversion.mapped_reconstructed_data),
        "chi_squared": fscalar(chi_squared),
        "regularization_term": fscalar(inversion.regularization_term),
        "log_det_curvature_reg_matrix_term": fscalar(inversion.log_det_curvature_reg_matrix_term),
        "log_det_regularization_matrix_term": fscalar(inversion.log_det_regularization_matrix_term),
        "noise_normalization": fscalar(noise_normalization),
        "log_evidence": fscalar(log_evidence),
        "log_likelihood": fscalar(log_likelihood),
        "figure_of_merit": fscalar(figure_of_merit),
    }


def run_aa(ds: Dataset, built: list[Built], settings: dict, xp) -> dict:
    """Pure autoarray: aa.Inversion over the linear objects, scalars via aa.m.MockFitImaging."""
    s = aa_settings(settings)
    objs = [b.make(s, xp) for b in built]
    inversion = aa.Inversion(dataset=ds.imaging, linear_obj_list=objs, settings=s, xp=xp)
    fit = aa.m.MockFitImaging(
        dataset=ds.imaging, model_data=inversion.mapped_reconstructed_operated_data, inversion=inversion
    )
    return expected_from(
        inversion,
        chi_squared=fit.chi_squared,
        noise_normalization=fit.noise_normalization,
        log_evidence=fit.log_evidence,
        log_likelihood=fit.log_likelihood,
        figure_of_merit=fit.figure_of_merit,
        model_image=inversion.mapped_reconstructed_operated_data,
    )


def run_ag(ds: Dataset, case: Case, settings: dict, xp) -> dict:
    """autogalaxy: one galaxy with a Basis of linear Gaussians (+ one galaxy with a Pixelization), ag.FitImaging."""
    s = aa_settings(settings)
    galaxies = []
    gspec = None
    for spec in case.objects:
        if spec.kind == "gaussians":
            gspec = spec
            profiles = [
                ag.lp_linear.Gaussian(centre=spec.centre, ell_comps=spec.ell_comps, sigma=float(sig))
                for sig in spec.sigmas
            ]
            galaxies.append(ag.Galaxy(redshift=0.5, bulge=ag.lp_basis.Basis(profile_list=profiles)))
        elif spec.kind == "mapper":
            if spec.mesh != "rectangular_uniform" or spec.traced:
                raise NotImplementedError("gaussians cases combine only with an image-plane rectangular mapper")
            pix = ag.Pixelization(
                mesh=ag.mesh.RectangularUniform(shape=tuple(spec.shape)),
                regularization=aa_regularization(REG[spec.reg], lib=ag),
            )
            galaxies.append(ag.Galaxy(redshift=0.5, pixelization=pix))
        else:
            raise NotImplementedError(spec.kind)
    fit = ag.FitImaging(dataset=ds.imaging, galaxies=galaxies, settings=s, xp=xp)
    inversion = fit.inversion
    kinds = [type(o).__name__ for o in inversion.linear_obj_list]
    want = ["LightProfileLinearObjFuncList"] + (["Mapper"] if len(case.objects) > 1 else [])
    assert kinds == want, kinds
    # The unit-intensity Gaussian images are what we think they are (no normalisation prefactor).
    M = f64(inversion.mapping_matrix)
    for j, sig in enumerate(gspec.sigmas):
        mine = unit_gaussian_image(ds.imaging.grids.lp, gspec, float(sig))
        np.testing.assert_allclose(M[:, j], mine, rtol=1e-6 if settings["use_mixed_precision"] else 1e-11, atol=1e-300)
    # The blurred Gaussians include flux from outside the mask (differ from convolving M inside the mask).
    return expected_from(
        inversion,
        chi_squared=fit.chi_squared,
        noise_normalization=fit.noise_normalization,
        log_evidence=fit.log_evidence,
        log_likelihood=fit.log_likelihood,
        figure_of_merit=fit.figure_of_merit,
        model_image=fit.model_data,
    )


def run_case(case: Case, datasets: dict[str, Dataset]) -> dict:
    ds = datasets[case.dataset]
    built = []
    for spec in case.objects:
        if spec.kind == "mapper":
            built.append(build_mapper(ds, spec, case.settings))
        elif spec.kind == "basis":
            built.append(build_basis(ds, spec))
        else:
            built.append(build_gaussians(spec))
    uses_ag = any(spec.kind == "gaussians" for spec in case.objects)

    def run(settings, xp):
        return run_ag(ds, case, settings, xp) if uses_ag else run_aa(ds, built, settings, xp)

    xp = jnp if case.path == "jax" else np
    expected = run(case.settings, xp)
    out = {
        "name": case.name,
        "description": case.description,
        "autoarray_version": aa.__version__,
        "path": case.path,
        "dataset": ds.api,
        "linear_objects": [b.api for b in built],
        "settings": dict(case.settings),
        "nnls": nnls_config(),
        "expected": expected,
        "deviations": list(case.deviations),
    }
    if uses_ag:
        out["autogalaxy_version"] = ag.__version__
        # Consistency: the mapper autogalaxy built equals the one built directly from the API dict.
        for i, spec in enumerate(case.objects):
            if spec.kind == "mapper":
                direct = built[i].make(aa_settings(case.settings), np)
                P_before = sum(len(s.sigmas) for s in case.objects[:i] if s.kind == "gaussians")
                M_ag = np.asarray(expected["mapping_matrix"])[:, P_before : P_before + direct.params]
                np.testing.assert_allclose(
                    M_ag,
                    f64(direct.mapping_matrix),
                    rtol=0,
                    atol=1e-6 if case.settings["use_mixed_precision"] else 1e-14,
                )
    if case.settings["use_positive_only_solver"] and case.path == "numpy":
        jax_expected = run(case.settings, jnp)
        out["jax_figure_of_merit"] = jax_expected["figure_of_merit"]
        out["_jax_diag"] = {
            "max_abs_reconstruction_diff": float(
                np.max(np.abs(np.asarray(jax_expected["reconstruction"]) - np.asarray(expected["reconstruction"])))
            ),
        }
    if case.settings["use_mixed_precision"]:
        fp64 = dict(case.settings, use_mixed_precision=False)
        out["expected_fp64_figure_of_merit"] = run(fp64, np)["figure_of_merit"]
    return out


def nnls_config() -> dict:
    inv = aa.conf.instance["general"]["inversion"]
    return {
        "jacobi_preconditioning": bool(inv["nnls_jacobi_preconditioning"]),
        "target_kappa": float(inv["nnls_target_kappa"]),
    }


# ------------------------------------------------------------------------------------------------------------------
# Combinations autoarray refuses (listed in MANIFEST.json under "unsupported")
# ------------------------------------------------------------------------------------------------------------------
def probe_unsupported(datasets: dict[str, Dataset]) -> list[dict]:
    out = []
    ds = datasets["A"]
    s = settings_dict()
    for mesh in ("rectangular_uniform", "rectangular_bilinear_adapt_density"):
        for reg in sorted(SPLIT):
            spec = MapperSpec(mesh=mesh, shape=MESH_DEFAULT_SHAPE[mesh], reg=reg)
            try:
                run_aa(ds, [build_mapper(ds, spec, s)], s, np)
                err = None
            except Exception as e:  # we record whatever autoarray raises
                err = f"{type(e).__name__}: {' '.join(str(e).split())}"
            if err is None:
                raise RuntimeError(f"{mesh} + {reg} unexpectedly worked; add it as a case")
            out.append({"meshes": [mesh], "regularizations": [reg], "error": err})
    # A non-square RectangularBilinearAdaptDensity: autoarray does not raise, it silently uses shape[0] only.
    spec = MapperSpec(mesh="rectangular_bilinear_adapt_density", shape=(6, 8), reg="constant")
    mapper = build_mapper(ds, spec, s).make(aa_settings(s), np)
    col = f64(mapper.mapping_matrix).sum(axis=0).reshape(6, 8)
    out.append(
        {
            "meshes": ["rectangular_bilinear_adapt_density"],
            "regularizations": ["constant"],
            "shape": [6, 8],
            "error": "not raised: RectangularBilinearAdaptDensity(shape=(6, 8)) indexes the mesh with n = shape[0] = 6 "
            "for both axes, so the 48 columns receive a scrambled pattern (column sums per mesh row: "
            + ", ".join(f"{v:.2f}" for v in col.sum(axis=1))
            + "). Only square shapes are meaningful; the API should refuse non-square shapes for this mesh.",
        }
    )
    return out


# ------------------------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------------------------
def manifest_entry(case: Case, file_name: str) -> dict:
    meshes, regs = [], []
    for spec in case.objects:
        if spec.kind == "mapper":
            meshes.append(spec.mesh)
            regs.append(spec.reg)
        else:
            meshes.append(spec.kind)
            regs.append(spec.reg if spec.kind == "basis" else "null")
    return {
        "name": case.name,
        "file": file_name,
        "description": case.description,
        "dataset": case.dataset,
        "path": case.path,
        "meshes": meshes,
        "regularizations": regs,
        "settings": dict(case.settings),
    }


def write_json(path: Path, obj: dict) -> int:
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n"
    path.write_text(text)
    return len(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default tests/golden/imaging)")
    parser.add_argument("--only", action="append", default=None, help="generate only this case (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the case names and exit")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore", message=".*padded.*")
    cases = all_cases()
    if args.list:
        for c in cases:
            print(c.name)
        return 0
    if args.only:
        unknown = set(args.only) - {c.name for c in cases}
        if unknown:
            parser.error(f"unknown case(s): {sorted(unknown)}")
        cases = [c for c in cases if c.name in set(args.only)]

    datasets = {"A": build_dataset_a(lensed=False), "A_lensed": build_dataset_a(lensed=True), "B": build_dataset_b()}
    assert "padded" in datasets["A"].notes  # DEV_PADDED_BLURRING relies on it
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    done, refused, conditions = [], [], {}
    for case in cases:
        try:
            result = run_case(case, datasets)
        except Exception as e:  # autoarray refused this combination: record it, write no file
            err = f"{type(e).__name__}: {' '.join(str(e).split())}"
            entry = manifest_entry(case, None)
            entry.pop("file")
            entry["error"] = err
            entry["raised_in"] = " > ".join(
                f.name
                for f in traceback.extract_tb(e.__traceback__)
                if "/autoarray/" in f.filename or "/autogalaxy/" in f.filename
            )
            for reg in entry["regularizations"]:
                if reg in REFUSAL_NOTES:
                    entry["note"] = REFUSAL_NOTES[reg]
            refused.append(entry)
            stale = args.out / f"{case.name}.json"
            if stale.exists():
                stale.unlink()
            print(f"{case.name:58s} REFUSED by autoarray: {err[:150]}", flush=True)
            continue
        done.append(case)
        conditions[case.name] = float(np.linalg.cond(np.asarray(result["expected"]["curvature_reg_matrix"])))
        diag = result.pop("_jax_diag", None)
        size = write_json(args.out / f"{case.name}.json", result)
        total += size
        e = result["expected"]
        msg = f"{case.name:58s} P={len(e['reconstruction']):3d} FoM={e['figure_of_merit']:.12f} {size / 1024:6.0f} KiB"
        if "jax_figure_of_merit" in result:
            msg += f"  dFoM(jax)={result['jax_figure_of_merit'] - e['figure_of_merit']:.1e}"
            msg += f" max|ds|={diag['max_abs_reconstruction_diff']:.1e}"
        if "expected_fp64_figure_of_merit" in result:
            msg += f"  FoM(mixed)-FoM(fp64)={e['figure_of_merit'] - result['expected_fp64_figure_of_merit']:.2e}"
        print(msg, flush=True)

    if not args.only:
        manifest = {
            "generator": GENERATOR,
            "autoarray_version": aa.__version__,
            "autogalaxy_version": ag.__version__,
            "jax_version": jax.__version__,
            "numpy_version": np.__version__,
            "python": ".".join(map(str, sys.version_info[:3])),
            "config_note": "effective config values with autogalaxy imported; autogalaxy's packaged general.yaml "
            "sets use_border_relocator: true (autoarray's own: false). Every case passes all five Settings "
            "fields explicitly, so only the nnls_* keys (not Settings fields) reach the results.",
            "config": {
                k: aa.conf.instance["general"]["inversion"][k]
                for k in (
                    "use_positive_only_solver",
                    "use_edge_zeroed_pixels",
                    "use_border_relocator",
                    "no_regularization_add_to_curvature_diag_value",
                    "nnls_jacobi_preconditioning",
                    "nnls_target_kappa",
                    "nnls_preconditioning_no_mapper",
                    "positive_only_solver",
                    "log_det_method",
                    "regularization_term_method",
                )
            },
            "environment": {"AUTOARRAY_NNLS_WARM_START": "0"},
            "cases": [
                dict(manifest_entry(c, f"{c.name}.json"), cond_curvature_reg_matrix=float(f"{conditions[c.name]:.2e}"))
                for c in done
            ],
            "unsupported": refused + probe_unsupported(datasets),
        }
        total += write_json(args.out / "MANIFEST.json", manifest)
        print(f"{len(done)} cases ({len(refused)} refused), {total / 1024 / 1024:.2f} MiB written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
