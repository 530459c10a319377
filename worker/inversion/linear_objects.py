"""Linear objects -> their mapping (slots or dense columns) and regularization block H for one evaluation.

Each builder takes the static description of the object (:class:`ObjectSpec`), the prepared dataset arrays, the
dataset's shape description and the object's traced parameters, and returns an :class:`ObjectMatrices`. Nothing
here applies a dataset operator (PSF convolution, NUFFT): that is the dataset kind's job
(:mod:`worker.inversion.kinds`). The builders read the real-space grids every kind prepares: ``sub_pix`` (the
over-sampled pixelization grid), ``centres``, ``border``, ``sub_lp`` and ``blurring`` (light-profile grids).
Formulas: docs/maths.md#meshes-and-interpolation and docs/maths.md#regularization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from service.contract.vocabulary import (
    DELAUNAY,
    RECTANGULAR_BILINEAR_ADAPT_DENSITY,
    RECTANGULAR_UNIFORM,
    REGULARIZATIONS,
    TRIANGULATED_MESHES,
)

from . import delaunay, meshes
from .border import ellipse_from_border, relocate
from .gaussians import gaussian_images
from .regularization import pixel_signals, regularization_matrix


@dataclass(frozen=True)
class ObjectSpec:
    """Static (shape- and branch-determining) description of one linear object."""

    kind: str  # "mapper" | "gaussians" | "basis"
    params: int  # number of linear parameters S
    mesh: str | None = None
    mesh_shape: tuple[int, int] | None = None
    zeroed_pixels: int = 0  # triangulated meshes: the last `zeroed_pixels` vertices
    areas_factor: float = 0.5
    autoarray_row_offset: bool = False
    regularization: str | None = None
    source_grid: bool = False  # a traced over-sampled grid is supplied (else the image-plane grid)
    source_grid_slim: bool = False  # traced pixel centres are supplied

    @property
    def zeroed(self) -> np.ndarray:
        """Parameter indices (int64, within this object) that edge zeroing pins at zero: a rectangular mesh's
        boundary pixels, the last ``zeroed_pixels`` vertices of a triangulated mesh, none for other objects."""
        if self.kind != "mapper":
            return np.zeros(0, dtype=np.int64)
        if self.mesh in TRIANGULATED_MESHES:
            return np.arange(self.params - self.zeroed_pixels, self.params)
        return meshes.rectangular_boundary(self.mesh_shape)

    @property
    def static_edges(self) -> np.ndarray | None:
        """(E, 2) int neighbour pairs (i < j) when they do not depend on traced input (None for triangulated
        meshes, whose edges come from the traced vertices); a chain i -- i + 1 for objects without a mesh."""
        if self.kind == "mapper":
            return None if self.mesh in TRIANGULATED_MESHES else meshes.rectangular_edges(self.mesh_shape)
        return meshes.chain_edges(self.params)


class ObjectMatrices(NamedTuple):
    """What one linear object contributes to one evaluation, before any dataset operator (PSF, NUFFT) is applied.

    Either ``slots`` (mappers, bases: the mapping matrix in coordinate form) or dense ``mapping`` columns with
    their ``blurring_mapping`` (light profiles: images inside the mask, and on the blurring region outside it
    whose flux an operator may spread into the mask). The dataset kind applies its operator to either form
    (:mod:`worker.inversion.kinds`).
    """

    mapping: jnp.ndarray | None  # (N, S) float64, unoperated, or None for slot objects
    regularization: jnp.ndarray | None  # (S, S) float64 H block, or None when unregularized
    slots: tuple | None = None  # (rows (K,) int, cols (K,) int32, values (K,) float64): M[rows, cols] += values
    blurring_mapping: jnp.ndarray | None = None  # (N_blurring, S) float64 light-profile images outside the mask
    triangulation_valid: jnp.ndarray | None = None  # () bool for triangulated meshes: at least one simplex


def _parent(n_pixels: int, sub: int) -> np.ndarray:
    return np.repeat(np.arange(n_pixels), sub * sub)


def _slots(rows, cols, values, mixed):
    """Flatten (K, U) slot tables; in mixed precision the mapping-matrix values are stored in float32."""
    values = values.reshape(-1)
    if mixed:
        values = values.astype(jnp.float32).astype(jnp.float64)
    return (jnp.broadcast_to(jnp.asarray(rows)[:, None], cols.shape).reshape(-1), cols.reshape(-1), values)


def mapper(spec: ObjectSpec, ds: dict, shape, p: dict, settings) -> ObjectMatrices:
    """A pixelization: interpolation slots of the over-sampled grid onto the mesh, and the mesh's H.

    ``ds``: prepared arrays (``sub_pix`` (N·s², 2), ``centres`` (N, 2), ``border`` (N_border,) int32, in arcsec);
    ``shape``: ``pixels`` N and ``sub_size_pixelization`` s; ``p``: the traced parameters (``source_grid``
    (N·s², 2) and ``source_grid_slim`` (N, 2) when the spec says so, ``vertices`` (S, 2) for a triangulated mesh,
    ``adapt_image`` (N,) for adaptive schemes, ``regularization`` dict of scalars), all float64 arcsec;
    ``settings``: :class:`~worker.inversion.signature.SolverSettings`.

    Slot values are the interpolation weights divided by s² (each sub-pixel's share of its pixel), rounded to
    float32 under mixed precision; slot rows are the parent pixel of each sub-pixel. Raises nothing: a failed
    triangulation is reported in ``triangulation_valid`` (docs/maths.md#meshes-and-interpolation).
    """
    n = shape.pixels
    sub = shape.sub_size_pixelization
    points = p["source_grid"] if spec.source_grid else ds["sub_pix"]
    # the image-plane centres are only used when no traced grid was given (checked by the contract's validation)
    centres = p["source_grid_slim"] if spec.source_grid_slim else ds["centres"]
    vertices = p.get("vertices")
    if settings.use_border_relocator:
        ellipse = ellipse_from_border(centres[ds["border"]])
        points = relocate(points, ellipse)
        centres = relocate(centres, ellipse)
        if vertices is not None:
            vertices = relocate(vertices, ellipse)
    scheme = spec.regularization
    split = scheme is not None and REGULARIZATIONS[scheme].split
    edges = None if spec.static_edges is None else jnp.asarray(spec.static_edges)
    split_maps = valid = None
    if spec.mesh == RECTANGULAR_UNIFORM:
        mappings, weights, mesh_centres = meshes.rectangular_uniform_interpolation(points, spec.mesh_shape)
    elif spec.mesh == RECTANGULAR_BILINEAR_ADAPT_DENSITY:
        nside = spec.mesh_shape[0]
        mappings, weights = meshes.bilinear_adapt_density_interpolation(
            centres, points, nside, spec.autoarray_row_offset)
        mesh_centres = meshes.overlay_centres(meshes.overlay_geometry(points, spec.mesh_shape), spec.mesh_shape)
    elif spec.mesh == DELAUNAY:
        tri = delaunay.interpolate(vertices, points, split, spec.areas_factor)
        mappings, weights, edges, valid = tri["mappings"], tri["weights"], tri["edges"], tri["valid"]
        mesh_centres = vertices
        if split:
            split_maps = (tri["split_mappings"], tri["split_weights"])
    else:
        raise ValueError(f"no interpolation for mesh {spec.mesh!r}")
    parent = _parent(n, sub)
    slots = _slots(parent, mappings, weights / (sub * sub), settings.use_mixed_precision)
    h = None
    if scheme is not None:
        signals = None
        if REGULARIZATIONS[scheme].adaptive:
            signals = pixel_signals(spec.params, mappings, weights, parent, p["adapt_image"],
                                    p["regularization"]["signal_scale"], spec.mesh in TRIANGULATED_MESHES)
        h = regularization_matrix(scheme, spec.params, p["regularization"], edges=edges, signals=signals,
                                  split=split_maps, centres=mesh_centres)
    return ObjectMatrices(None, h, slots, triangulation_valid=valid)


def gaussians(spec: ObjectSpec, ds: dict, shape, p: dict, settings) -> ObjectMatrices:
    """Multi-Gaussian expansion columns (one per width), unit intensity, dimensionless.

    ``mapping`` (N, S): each Gaussian's image on the light-profile sub-grid ``sub_lp`` (N·s², 2), binned to pixels
    by the mean over each pixel's s² sub-pixels; ``blurring_mapping`` (N_blurring, S): its image at the
    blurring-region pixel centres ``blurring`` (no over-sampling). ``p``: ``centre`` (2,) and ``ell_comps`` (2,),
    ``sigmas`` (S,) in arcsec. Raises nothing (formula: :func:`~worker.inversion.gaussians.gaussian_images`).
    """
    sub = shape.sub_size_lp
    sub_img = gaussian_images(ds["sub_lp"], p["centre"], p["ell_comps"], p["sigmas"])
    mapping = sub_img.reshape(shape.pixels, sub * sub, -1).mean(axis=1)
    blur_img = gaussian_images(ds["blurring"], p["centre"], p["ell_comps"], p["sigmas"])
    return ObjectMatrices(mapping, _chain_regularization(spec, p), blurring_mapping=blur_img)


def basis(spec: ObjectSpec, ds: dict, shape, p: dict, settings) -> ObjectMatrices:
    """Arbitrary images: ``p["images"]`` (S, N) float64, slim order; the mapping matrix is their transpose (N, S),
    given as slots (one per pixel and image), rounded to float32 under mixed precision. Raises nothing."""
    n = shape.pixels
    cols = jnp.broadcast_to(jnp.arange(spec.params, dtype=jnp.int32)[None, :], (n, spec.params))
    slots = _slots(np.arange(n), cols, p["images"].T, settings.use_mixed_precision)
    return ObjectMatrices(None, _chain_regularization(spec, p), slots)


def _chain_regularization(spec, p):
    if spec.regularization is None:
        return None
    return regularization_matrix(spec.regularization, spec.params, p["regularization"],
                                 edges=jnp.asarray(spec.static_edges))


BUILDERS = {"mapper": mapper, "gaussians": gaussians, "basis": basis}
