"""Mask geometry, computed once per dataset on the host with NumPy (docs/maths.md#grids-and-over-sampling).

Every function returns host NumPy arrays (float64 coordinates, int indices) and raises nothing.
Conventions: coordinates are (y, x) in arcsec, y upwards; native arrays are indexed [row, col] with row 0 at the
top; "slim" order is the row-major order of the unmasked pixels (``np.nonzero(~mask)``); ``mask`` is True where a
pixel is excluded.
"""

from __future__ import annotations

import numpy as np

# the pixel-centre and sub-pixel formulas are shared with the API (one definition)
from service.contract.grids import over_sample, pixel_centres

__all__ = ["blurring_mask", "border_slim_indices", "circular_mask", "over_sample", "pixel_centres", "slim_indices"]


def slim_indices(mask: np.ndarray) -> np.ndarray:
    """(N, 2) int [row, col] of the unmasked pixels in slim (row-major) order."""
    rows, cols = np.nonzero(~mask)
    return np.stack([rows, cols], axis=1)


def blurring_mask(mask: np.ndarray, kernel_shape) -> np.ndarray:
    """True for masked pixels within the kernel footprint of an unmasked pixel (autoarray's
    ``derive_mask.blurring_from``): the pixels whose light-profile flux the PSF blurs into the mask."""
    ky, kx = kernel_shape
    hy, hx = ky // 2, kx // 2
    ny, nx = mask.shape
    unmasked = ~mask
    reach = np.zeros_like(unmasked)
    for dy in range(-hy, hy + 1):
        for dx in range(-hx, hx + 1):
            shifted = np.zeros_like(unmasked)
            ys = slice(max(dy, 0), ny + min(dy, 0))
            yd = slice(max(-dy, 0), ny + min(-dy, 0))
            xs = slice(max(dx, 0), nx + min(dx, 0))
            xd = slice(max(-dx, 0), nx + min(-dx, 0))
            shifted[yd, xd] = unmasked[ys, xs]
            reach |= shifted
    return reach & mask


def border_slim_indices(mask: np.ndarray) -> np.ndarray:
    """Slim indices of border pixels: unmasked pixels with at least one straight path (up, down, left or
    right) to the array edge that crosses only masked pixels."""
    unmasked = ~mask
    # number of unmasked pixels strictly above / below / left / right of each pixel
    above = np.cumsum(unmasked, axis=0) - unmasked
    below = np.cumsum(unmasked[::-1], axis=0)[::-1] - unmasked
    left = np.cumsum(unmasked, axis=1) - unmasked
    right = np.cumsum(unmasked[:, ::-1], axis=1)[:, ::-1] - unmasked
    open_path = (above == 0) | (below == 0) | (left == 0) | (right == 0)
    is_border = (unmasked & open_path)[~mask]
    return np.nonzero(is_border)[0]


def circular_mask(shape, pixel_scales, radius: float, centre=(0.0, 0.0)) -> np.ndarray:
    """autoarray's ``Mask2D.circular``: a pixel is masked iff its centre is at distance >= radius from centre."""
    ny, nx = shape
    sy, sx = pixel_scales
    rows, cols = np.mgrid[0:ny, 0:nx]
    y = ((ny - 1) / 2.0 - rows) * sy
    x = (cols - (nx - 1) / 2.0) * sx
    return (y - centre[0]) ** 2 + (x - centre[1]) ** 2 >= radius**2
