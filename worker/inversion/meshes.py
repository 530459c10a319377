"""Rectangular meshes: interpolation of source-plane points onto a mesh (docs/maths.md#meshes-and-interpolation).

Every interpolator returns ``(mappings, weights)``, both (M, U): for each query point the indices of the U mesh
pixels it is interpolated from (−1 = unused slot; int32) and the weights (float64). Coordinates are (y, x) in
arcsec, float64. Everything here is traced JAX and raises nothing; the mesh shape is static.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

OVERLAY_BUFFER = 1e-8


def overlay_geometry(points: jnp.ndarray, shape) -> tuple:
    """Bounding box of ``points`` grown by 1e-8 on every side, split into ``shape`` pixels.

    ``points`` (M, 2) float64 (y, x; arcsec), ``shape`` (ny, nx). Returns ``(dy, dx, oy, ox)``, () float64
    each: pixel sizes and the box centre (arcsec).
    """
    ny, nx = shape
    ymin = jnp.min(points[:, 0]) - OVERLAY_BUFFER
    ymax = jnp.max(points[:, 0]) + OVERLAY_BUFFER
    xmin = jnp.min(points[:, 1]) - OVERLAY_BUFFER
    xmax = jnp.max(points[:, 1]) + OVERLAY_BUFFER
    return (ymax - ymin) / ny, (xmax - xmin) / nx, 0.5 * (ymax + ymin), 0.5 * (xmax + xmin)


def overlay_centres(geometry, shape) -> jnp.ndarray:
    """(ny·nx, 2) pixel centres of the overlay, row-major from the top row: y_r = ((ny-1)/2 - r)·dy + oy."""
    dy, dx, oy, ox = geometry
    ny, nx = shape
    r, c = np.divmod(np.arange(ny * nx), nx)
    y = ((ny - 1) / 2.0 - r) * dy + oy
    x = (c - (nx - 1) / 2.0) * dx + ox
    return jnp.stack([y, x], axis=1)


def rectangular_uniform_interpolation(points: jnp.ndarray, shape) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Bilinear interpolation on the lattice of overlay-pixel centres (extrapolating in the outer half pixel).

    fy = (q_y - y_0)/(-dy), fx = (q_x - x_0)/dx with (y_0, x_0) the top-left centre; iy = clip(floor(fy), 0,
    ny-2), ty = fy - iy (same in x). Slots: (iy, ix), (iy, ix+1), (iy+1, ix), (iy+1, ix+1) with weights
    (1-tx)(1-ty), tx(1-ty), (1-tx)ty, tx·ty. Weights may be negative or > 1 at the edge (rows sum to 1).
    ``points`` (M, 2) float64 arcsec. Returns mappings (M, 4) int32, weights (M, 4) float64 and the (ny·nx, 2)
    mesh centres. Raises nothing.
    """
    ny, nx = shape
    geometry = overlay_geometry(points, shape)
    dy, dx, oy, ox = geometry
    y0 = (ny - 1) / 2.0 * dy + oy
    x0 = -(nx - 1) / 2.0 * dx + ox
    fy = (points[:, 0] - y0) / (-dy)
    fx = (points[:, 1] - x0) / dx
    iy = jnp.clip(jnp.floor(fy), 0, ny - 2)
    ix = jnp.clip(jnp.floor(fx), 0, nx - 2)
    ty, tx = fy - iy, fx - ix
    iy = iy.astype(jnp.int32)
    ix = ix.astype(jnp.int32)
    p = iy * nx + ix
    mappings = jnp.stack([p, p + 1, p + nx, p + nx + 1], axis=1)
    weights = jnp.stack([(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty], axis=1)
    return mappings, weights, overlay_centres(geometry, shape)


def _rank_cdf(sorted_values: jnp.ndarray, queries: jnp.ndarray) -> jnp.ndarray:
    """Empirical CDF with levels k/(N+1) at the sorted values, linear in between, 0 left / 1 right."""
    n = sorted_values.shape[0]
    levels = jnp.arange(1, n + 1, dtype=queries.dtype) / (n + 1)
    return jnp.interp(queries, sorted_values, levels, left=0.0, right=1.0)


def bilinear_adapt_density_interpolation(centres: jnp.ndarray, points: jnp.ndarray, n: int,
                                         autoarray_row_offset: bool = False):
    """autoarray's ``RectangularBilinearAdaptDensity``: a uniform n×n lattice in per-axis rank-CDF space.

    The CDFs are built from the (traced) pixel centres after standardising them (mean, smallest population
    std); a query q maps to index space Y = (n-3)·t_y(q) + 1 (and X likewise), then bilinear interpolation
    between rows floor(Y), floor(Y)+1 (clipped to the mesh) with weights 1-t, t measured from the lower node.

    Rows count downwards from the top: autoarray 2026.10.26.1 uses row = n - Y, which shifts the populated
    block one row down (rows 2..n-1 instead of 1..n-2: docs/maths.md#autoarray-differences). By default this
    function uses the symmetric row = n - 1 - Y; ``autoarray_row_offset=True`` reproduces the release exactly.
    """
    mu = jnp.mean(centres, axis=0)
    scale = jnp.min(jnp.std(centres, axis=0))
    g = (centres - mu) / scale
    q = (points - mu) / scale
    ty = _rank_cdf(jnp.sort(g[:, 0]), q[:, 0])
    tx = _rank_cdf(jnp.sort(g[:, 1]), q[:, 1])
    yi = (n - 3) * ty + 1
    xi = (n - 3) * tx + 1
    r_dn = jnp.clip(jnp.floor(yi), 0, n - 2)
    c_dn = jnp.clip(jnp.floor(xi), 0, n - 2)
    t_r, t_c = yi - r_dn, xi - c_dn
    top = n if autoarray_row_offset else n - 1
    r_dn = r_dn.astype(jnp.int32)
    c_dn = c_dn.astype(jnp.int32)

    def flat(r, c):
        return (top - r) * n + c

    mappings = jnp.stack([flat(r_dn + 1, c_dn), flat(r_dn + 1, c_dn + 1), flat(r_dn, c_dn), flat(r_dn, c_dn + 1)],
                         axis=1)
    weights = jnp.stack([t_r * (1 - t_c), t_r * t_c, (1 - t_r) * (1 - t_c), (1 - t_r) * t_c], axis=1)
    return mappings, weights


def rectangular_edges(shape) -> np.ndarray:
    """(E, 2) undirected 4-connectivity edges (i < j) of a row-major ny×nx lattice."""
    ny, nx = shape
    idx = np.arange(ny * nx).reshape(ny, nx)
    horizontal = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1)
    vertical = np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1)
    return np.concatenate([horizontal, vertical]).astype(np.int32)


def rectangular_boundary(shape) -> np.ndarray:
    """Sorted indices of the boundary ring (row 0, row ny-1, col 0, col nx-1): the edge-zeroed pixels."""
    ny, nx = shape
    r, c = np.divmod(np.arange(ny * nx), nx)
    return np.nonzero((r == 0) | (r == ny - 1) | (c == 0) | (c == nx - 1))[0]


def chain_edges(n: int) -> np.ndarray:
    """Edges i <-> i+1 of a chain of n parameters (neighbours of linear-function lists)."""
    i = np.arange(n - 1)
    return np.stack([i, i + 1], axis=1).astype(np.int32)
