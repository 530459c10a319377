"""Image-plane grids of a dataset, in NumPy (docs/maths.md#grids-and-over-sampling): the one definition of the
pixel-centre and sub-pixel formulas, used by the API (``GET /datasets/{id}?include=grids``) and by the worker's
dataset preparation alike.

Conventions: coordinates are (y, x) in arcsec; row 0 is the top (largest y); "slim" order is the row-major
order of the unmasked pixels (``np.nonzero(~mask)``).
"""

from __future__ import annotations

import numpy as np


def pixel_centres(mask: np.ndarray, pixel_scales: tuple[float, float], origin: tuple[float, float]) -> np.ndarray:
    """(N, 2) centres of the unmasked pixels, slim order.

    ``y(row) = ((Ny-1)/2 - row)·sy + oy``, ``x(col) = (col - (Nx-1)/2)·sx + ox``.
    """
    ny, nx = mask.shape
    sy, sx = pixel_scales
    oy, ox = origin
    rows, cols = np.nonzero(~np.asarray(mask, dtype=bool))
    y = ((ny - 1) / 2.0 - rows) * sy + oy
    x = (cols - (nx - 1) / 2.0) * sx + ox
    return np.stack([y, x], axis=1).astype(np.float64)


def sub_offsets(sub_size: int, pixel_scales: tuple[float, float]) -> np.ndarray:
    """(s², 2) offsets of the sub-pixels from their pixel centre, row-major from the top-left sub-pixel.

    ``dy = sy/2 - sy/(2s) - a·sy/s``, ``dx = -sx/2 + sx/(2s) + b·sx/s`` for a, b = 0..s-1.
    """
    s = int(sub_size)
    sy, sx = pixel_scales
    a = np.arange(s)
    dy = sy / 2.0 - sy / (2.0 * s) - a * sy / s
    dx = -sx / 2.0 + sx / (2.0 * s) + a * sx / s
    return np.stack(np.meshgrid(dy, dx, indexing="ij"), axis=-1).reshape(s * s, 2)


def over_sample(centres: np.ndarray, pixel_scales: tuple[float, float], sub_size: int) -> np.ndarray:
    """(N·s², 2) sub-pixel centres of the (N, 2) pixel ``centres``: pixel 0's s² sub-pixels first, then pixel 1's,
    ... (slim sub-pixel order), each s×s lattice row-major from its top-left sub-pixel (:func:`sub_offsets`)."""
    offsets = sub_offsets(sub_size, pixel_scales)
    return (centres[:, None, :] + offsets[None, :, :]).reshape(-1, 2)


def over_sampled_grid(
    mask: np.ndarray, pixel_scales: tuple[float, float], origin: tuple[float, float], sub_size: int
) -> np.ndarray:
    """(N·s², 2) over-sampled grid of the unmasked pixels of ``mask`` (slim sub-pixel order, :func:`over_sample`)."""
    return over_sample(pixel_centres(mask, pixel_scales, origin), pixel_scales, sub_size)
