"""Image-plane grids against a direct, loop-by-loop reading of docs/maths.md#grids-and-over-sampling."""

import numpy as np
import pytest

from service.contract import grids


def brute_force(mask, pixel_scales, origin, sub):
    ny, nx = mask.shape
    sy, sx = pixel_scales
    centres, subs = [], []
    for row in range(ny):
        for col in range(nx):
            if mask[row, col]:
                continue
            y = ((ny - 1) / 2 - row) * sy + origin[0]
            x = (col - (nx - 1) / 2) * sx + origin[1]
            centres.append((y, x))
            for a in range(sub):
                for b in range(sub):
                    subs.append((y + sy / 2 - sy / (2 * sub) - a * sy / sub,
                                 x - sx / 2 + sx / (2 * sub) + b * sx / sub))
    return np.array(centres), np.array(subs)


@pytest.mark.parametrize("sub", [1, 2, 3])
def test_grids_match_the_spec(sub):
    rng = np.random.default_rng(sub)
    mask = rng.random((7, 6)) < 0.3
    scales, origin = (0.1, 0.15), (0.3, -0.2)
    centres, subs = brute_force(mask, scales, origin, sub)
    np.testing.assert_allclose(grids.pixel_centres(mask, scales, origin), centres, rtol=0, atol=1e-15)
    np.testing.assert_allclose(grids.over_sampled_grid(mask, scales, origin, sub), subs, rtol=0, atol=1e-15)


def test_row_zero_is_the_top_and_sub_pixels_start_top_left():
    mask = np.zeros((3, 3), dtype=bool)
    c = grids.pixel_centres(mask, (1.0, 1.0), (0.0, 0.0))
    assert c[0].tolist() == [1.0, -1.0]
    s = grids.over_sampled_grid(mask, (1.0, 1.0), (0.0, 0.0), 2)
    assert s[:4].tolist() == [[1.25, -1.25], [1.25, -0.75], [0.75, -1.25], [0.75, -0.75]]
