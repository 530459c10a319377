"""The lens of the traced cases: a singular isothermal sphere that ray-traces image-plane grids to the source plane."""

from __future__ import annotations

from typing import Any

import autoarray as aa
import numpy as np

# Off the origin, so that no pixel centre or sub-pixel of the datasets lies exactly on the lens centre.
LENS_CENTRE = (0.013, -0.021)
LENS_THETA_E = 0.8


def sis_trace(points: np.ndarray, centre: tuple[float, float], einstein_radius: float) -> np.ndarray:
    """beta = theta - theta_E (theta - c)/|theta - c| (singular isothermal sphere)."""
    d = np.asarray(points, dtype=np.float64) - np.asarray(centre)
    r = np.sqrt(np.sum(d**2, axis=1))
    if np.any(r == 0.0):
        raise ValueError("a traced point sits exactly on the lens centre")
    return points - einstein_radius * d / r[:, None]


def traced_grid_for(ds: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """The dataset's pixelization grid ray-traced through the SIS: a Grid2D whose over_sampled sub-grid IS the traced
    one (a Grid2D built from coordinates alone would silently rebuild an untraced sub-grid).

    Returns the traced aa.Grid2D, the traced sub-grid (N_sub, 2) and the traced slim grid (N, 2)."""
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
