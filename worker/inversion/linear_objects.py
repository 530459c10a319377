"""Linear objects -> (unblurred mapping matrix M, operated matrix B, regularization H) for one evaluation.

Each builder takes the static description of the object (:class:`ObjectSpec`), the prepared dataset arrays
and the object's traced parameters, and returns an :class:`ObjectMatrices`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from . import delaunay, meshes
from .border import ellipse_from_border, relocate
from .convolution import convolve_columns
from .gaussians import gaussian_images
from .regularization import SCHEMES, pixel_signals, regularization_matrix

MESHES = ("rectangular_uniform", "delaunay", "rectangular_bilinear_adapt_density")


@dataclass(frozen=True)
class ObjectSpec:
    """Static (shape- and branch-determining) description of one linear object."""

    kind: str  # "mapper" | "gaussians" | "basis"
    params: int  # number of linear parameters S
    mesh: str | None = None
    mesh_shape: tuple[int, int] | None = None
    zeroed_pixels: int = 0  # delaunay: the last `zeroed_pixels` vertices
    areas_factor: float = 0.5
    autoarray_row_offset: bool = False
    regularization: str | None = None
    source_grid: bool = False  # a traced over-sampled grid is supplied (else the image-plane grid)
    source_grid_slim: bool = False  # traced pixel centres are supplied

    @property
    def zeroed(self) -> np.ndarray:
        """Parameter indices (within this object) that edge zeroing pins at zero."""
        if self.kind != "mapper":
            return np.zeros(0, dtype=np.int64)
        if self.mesh == "delaunay":
            return np.arange(self.params - self.zeroed_pixels, self.params)
        return meshes.rectangular_boundary(self.mesh_shape)

    @property
    def static_edges(self) -> np.ndarray | None:
        """Neighbour graph when it does not depend on traced input (None for Delaunay)."""
        if self.kind == "mapper":
            return None if self.mesh == "delaunay" else meshes.rectangular_edges(self.mesh_shape)
        return meshes.chain_edges(self.params)


class ObjectMatrices(NamedTuple):
    """Either ``slots`` (mappers, bases: the mapping matrix in coordinate form, to be convolved by the
    pipeline's operator backend) or dense ``mapping``/``operated`` columns (light profiles, whose operated
    matrix includes flux blurred in from outside the mask)."""

    mapping: jnp.ndarray | None  # (N, S) unblurred
    operated: jnp.ndarray | None  # (N, S) PSF-blurred
    regularization: jnp.ndarray | None  # (S, S)
    slots: tuple | None = None  # (rows (K,), cols (K,), values (K,)): M[rows, cols] += values


def _parent(n_pixels: int, sub: int) -> np.ndarray:
    return np.repeat(np.arange(n_pixels), sub * sub)


def slots_to_dense(slots, n_params, ds, shape, mixed):
    """Dense (M, B) from slot form: scatter onto the FFT canvas, then convolve every column (dense backend)."""
    rows, cols, values = slots
    h, w = shape.mm_canvas
    valid = cols >= 0
    canvas = jnp.zeros((n_params, h * w)).at[jnp.where(valid, cols, n_params), ds["mm_flat"][rows]].add(
        jnp.where(valid, values, 0.0), mode="drop")
    mapping = canvas[:, ds["mm_flat"]].T
    operated = convolve_columns(canvas, (h, w), ds["mm_kfft"], ds["mm_flat"],
                                forward_dtype=jnp.float32 if mixed else None)
    return mapping, operated


def _slots(rows, cols, values, mixed):
    """Flatten (K, U) slot tables; in mixed precision the mapping-matrix values are stored in float32."""
    values = values.reshape(-1)
    if mixed:
        values = values.astype(jnp.float32).astype(jnp.float64)
    return (jnp.broadcast_to(jnp.asarray(rows)[:, None], cols.shape).reshape(-1), cols.reshape(-1), values)


def mapper(spec: ObjectSpec, ds: dict, shape, p: dict, settings) -> ObjectMatrices:
    n = shape.pixels
    sub = shape.sub_size_pixelization
    points = p["source_grid"] if spec.source_grid else ds["sub_pix"]
    # the image-plane centres are only used when no traced grid was given (checked by the engine)
    centres = p["source_grid_slim"] if spec.source_grid_slim else ds["centres"]
    vertices = p.get("vertices")
    if settings.use_border_relocator:
        ellipse = ellipse_from_border(centres[ds["border"]])
        points = relocate(points, ellipse)
        centres = relocate(centres, ellipse)
        if vertices is not None:
            vertices = relocate(vertices, ellipse)
    scheme = spec.regularization
    split = scheme in ("constant_split", "adapt_split")
    edges = None if spec.static_edges is None else jnp.asarray(spec.static_edges)
    split_maps = None
    if spec.mesh == "rectangular_uniform":
        mappings, weights, mesh_centres = meshes.rectangular_uniform_interpolation(points, spec.mesh_shape)
    elif spec.mesh == "rectangular_bilinear_adapt_density":
        nside = spec.mesh_shape[0]
        mappings, weights = meshes.bilinear_adapt_density_interpolation(
            centres, points, nside, spec.autoarray_row_offset)
        mesh_centres = meshes.overlay_centres(meshes.overlay_geometry(points, spec.mesh_shape), spec.mesh_shape)
    else:
        tri = delaunay.interpolate(vertices, points, split, spec.areas_factor)
        mappings, weights, edges = tri["mappings"], tri["weights"], tri["edges"]
        mesh_centres = vertices
        if split:
            split_maps = (tri["split_mappings"], tri["split_weights"])
    parent = _parent(n, sub)
    slots = _slots(parent, mappings, weights / (sub * sub), settings.use_mixed_precision)
    h = None
    if scheme is not None:
        signals = None
        if SCHEMES[scheme][1]:
            signals = pixel_signals(spec.params, mappings, weights, parent, p["adapt_image"],
                                    p["regularization"]["signal_scale"], spec.mesh == "delaunay")
        h = regularization_matrix(scheme, spec.params, p["regularization"], edges=edges, signals=signals,
                                  split=split_maps, centres=mesh_centres)
    return ObjectMatrices(None, None, h, slots)


def gaussians(spec: ObjectSpec, ds: dict, shape, p: dict, settings) -> ObjectMatrices:
    """MGE columns: images on the light-profile sub-grid binned by the mean; the operated matrix convolves the
    in-mask image together with the blurring-region image, so flux from outside the mask is blurred in."""
    sub = shape.sub_size_lp
    sub_img = gaussian_images(ds["sub_lp"], p["centre"], p["ell_comps"], p["sigmas"])
    mapping = sub_img.reshape(shape.pixels, sub * sub, -1).mean(axis=1)
    blur_img = gaussian_images(ds["blurring"], p["centre"], p["ell_comps"], p["sigmas"])
    h, w = shape.lp_canvas
    canvas = jnp.zeros((spec.params, h * w)).at[:, ds["lp_flat_in"]].set(
        jnp.concatenate([mapping, blur_img]).T)
    if settings.use_mixed_precision:  # light-profile convolution entirely in float32
        spec32 = jnp.fft.rfft2(canvas.reshape(-1, h, w).astype(jnp.float32))
        out = jnp.fft.irfft2(spec32 * ds["lp_kfft"].astype(jnp.complex64)[None], s=(h, w))
        operated = out.reshape(-1, h * w)[:, ds["lp_flat_out"]].T.astype(jnp.float64)
    else:
        operated = convolve_columns(canvas, (h, w), ds["lp_kfft"], ds["lp_flat_out"])
    return ObjectMatrices(mapping, operated, _chain_regularization(spec, p))


def basis(spec: ObjectSpec, ds: dict, shape, p: dict, settings) -> ObjectMatrices:
    """Arbitrary images (n, N): the mapping matrix is their transpose, blurred inside the mask only."""
    n = shape.pixels
    cols = jnp.broadcast_to(jnp.arange(spec.params, dtype=jnp.int32)[None, :], (n, spec.params))
    slots = _slots(np.arange(n), cols, p["images"].T, settings.use_mixed_precision)
    return ObjectMatrices(None, None, _chain_regularization(spec, p), slots)


def _chain_regularization(spec, p):
    if spec.regularization is None:
        return None
    return regularization_matrix(spec.regularization, spec.params, p["regularization"],
                                 edges=jnp.asarray(spec.static_edges))


BUILDERS = {"mapper": mapper, "gaussians": gaussians, "basis": basis}
