"""Multi-Gaussian expansion images (autogalaxy's linear ``Gaussian``; docs/maths.md#grids-and-over-sampling).

Unit-intensity image of Gaussian g: with f = min(|e|, 0.999), q = (1-f)/(1+f), φ = ½ atan2(e1, e2) (degrees, +180
if < −45), rotate (y, x) − c by −φ to (y', x'), image = exp(−(q² x'² + y'²) / (2σ_g²)).
"""

from __future__ import annotations

import jax.numpy as jnp


def axis_ratio_angle(ell_comps):
    """(axis ratio q, position angle φ in radians), float64, from ``ell_comps`` (2,) = (e1, e2) as autogalaxy
    defines them (formula: module docstring)."""
    e1, e2 = ell_comps[0], ell_comps[1]
    f = jnp.minimum(jnp.sqrt(e1**2 + e2**2), 0.999)
    q = (1.0 - f) / (1.0 + f)
    phi = 0.5 * jnp.degrees(jnp.arctan2(e1, e2))
    phi = jnp.where(phi < -45.0, phi + 180.0, phi)
    return q, jnp.radians(phi)


def gaussian_images(points, centre, ell_comps, sigmas):
    """(M, n) float64 images of n unit-intensity Gaussians sharing ``centre`` (2,) (y, x arcsec) and
    ``ell_comps`` (2,), with widths ``sigmas`` (n,) arcsec, at ``points`` (M, 2) arcsec. Raises nothing."""
    q, phi = axis_ratio_angle(ell_comps)
    dy = points[:, 0] - centre[0]
    dx = points[:, 1] - centre[1]
    c, s = jnp.cos(phi), jnp.sin(phi)
    xr = c * dx + s * dy
    yr = -s * dx + c * dy
    r2 = (q**2 * xr**2 + yr**2)[:, None]
    return jnp.exp(-r2 / (2.0 * sigmas[None, :] ** 2))
