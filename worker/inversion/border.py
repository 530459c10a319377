"""Border relocation (docs/maths.md#border-relocation): pull traced points outside the traced mask border back onto it.

An ellipse is fitted by PCA to the traced centres of the image-plane border pixels: origin o = mean, major
axis = leading eigenvector of the (ddof=1) covariance of (dx, dy), semi-axes a = max|x'| + 1e-12,
b = max|y'| + 1e-12 in the rotated frame (φ = 0 when the two eigenvalues agree to √eps). A point with
q = (x'/a)² + (y'/b)² > 1 is scaled by 1/sqrt(q) in that frame.
"""

from __future__ import annotations

import jax.numpy as jnp


def ellipse_from_border(border_points):
    """(origin o (2,) as (y, x), semi-axes a, b, angle φ in radians), all float64 (arcsec), of the PCA ellipse of
    the (M, 2) ``border_points`` (M ≥ 2; fewer gives NaN, not an exception). Formula: module docstring."""
    o = jnp.mean(border_points, axis=0)
    dy = border_points[:, 0] - o[0]
    dx = border_points[:, 1] - o[1]
    m = border_points.shape[0]
    cxx = jnp.sum(dx * dx) / (m - 1)
    cyy = jnp.sum(dy * dy) / (m - 1)
    cxy = jnp.sum(dx * dy) / (m - 1)
    evals, evecs = jnp.linalg.eigh(jnp.array([[cxx, cxy], [cxy, cyy]]))
    vx, vy = evecs[0, 1], evecs[1, 1]  # eigenvector of the largest eigenvalue, components (x, y)
    # an (almost) circular border has no preferred axis: take φ = 0 so the answer does not hinge on round-off
    gap = (evals[1] - evals[0]) / jnp.maximum(jnp.max(jnp.abs(evals)), 1e-12)
    phi = jnp.where(gap <= jnp.sqrt(jnp.finfo(evals.dtype).eps), 0.0, jnp.arctan2(vy, vx))
    c, s = jnp.cos(phi), jnp.sin(phi)
    xr = c * dx + s * dy
    yr = -s * dx + c * dy
    return o, jnp.max(jnp.abs(xr)) + 1e-12, jnp.max(jnp.abs(yr)) + 1e-12, phi


def relocate(points, ellipse):
    """(M, 2) float64 ``points`` (y, x; arcsec) with those outside the ``ellipse`` of :func:`ellipse_from_border`
    (q = (x'/a)² + (y'/b)² > 1 in its frame) scaled by 1/sqrt(q) in that frame, the others unchanged."""
    o, a, b, phi = ellipse
    c, s = jnp.cos(phi), jnp.sin(phi)
    dy = points[:, 0] - o[0]
    dx = points[:, 1] - o[1]
    xr = c * dx + s * dy
    yr = -s * dx + c * dy
    q = (xr / a) ** 2 + (yr / b) ** 2
    f = jnp.where(q > 1.0, 1.0 / jnp.sqrt(jnp.maximum(q, 1.0 + 1e-12)), 1.0)
    xr, yr = xr * f, yr * f
    nx = c * xr - s * yr
    ny = s * xr + c * yr
    return jnp.stack([ny + o[0], nx + o[1]], axis=1)
