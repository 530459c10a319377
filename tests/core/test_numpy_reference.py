"""Each step of the core against a small, independent dense NumPy reference (or a published autoarray value)."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal

from worker.inversion import border, delaunay, grids, meshes, regularization
from worker.inversion.convolution import convolve_columns, make_canvas

from .conftest import rect_constant, settings


def test_grid_conventions():
    mask = np.ones((3, 4), bool)
    mask[0, 1] = mask[2, 3] = False
    c = grids.pixel_centres(mask, (1.0, 2.0), (0.5, 0.0))
    np.testing.assert_allclose(c, [[1.5, -1.0], [-0.5, 3.0]])  # row 0 is the top, y up, x right
    sub = grids.over_sample(c[:1], (1.0, 2.0), 2)
    np.testing.assert_allclose(sub, [[1.75, -1.5], [1.75, -0.5], [1.25, -1.5], [1.25, -0.5]])


def test_convolution_matches_scipy_same_mode():
    rng = np.random.default_rng(3)
    mask = grids.circular_mask((13, 11), (1.0, 1.0), 4.2, centre=(0.5, -0.7))
    rc = grids.slim_indices(mask)
    kernel = rng.random((5, 3))
    canvas, flat_in = make_canvas(rc, rc, kernel)
    cols = rng.normal(size=(3, len(rc)))
    img = np.zeros((3, canvas.shape[0] * canvas.shape[1]))
    img[:, flat_in] = cols
    ours = np.asarray(convolve_columns(jnp.asarray(img), canvas.shape, canvas.kernel_fft, canvas.flat_index))
    for j in range(3):
        native = np.zeros(mask.shape)
        native[~mask] = cols[j]
        ref = scipy.signal.convolve(native, kernel, mode="same")[~mask]
        np.testing.assert_allclose(ours[:, j], ref, atol=1e-13)


def test_rectangular_mapping_matrix_matches_loop(engine, prepared):
    out = engine.evaluate(prepared, {"linear_objects": [rect_constant(shape=(5, 6))],
                                     "settings": settings(pos=False, edge=False), "outputs": ["mapping_matrix"]})
    sub = prepared.host["sub_pix"]
    ny, nx = 5, 6
    ymin, ymax = sub[:, 0].min() - 1e-8, sub[:, 0].max() + 1e-8
    xmin, xmax = sub[:, 1].min() - 1e-8, sub[:, 1].max() + 1e-8
    dy, dx = (ymax - ymin) / ny, (xmax - xmin) / nx
    yc = ymax - dy / 2 - dy * np.arange(ny)  # row centres from the top
    xc = xmin + dx / 2 + dx * np.arange(nx)
    ref = np.zeros((prepared.shape.pixels, ny * nx))
    for k, (y, x) in enumerate(sub):
        iy = int(np.clip(np.floor((yc[0] - y) / dy), 0, ny - 2))
        ix = int(np.clip(np.floor((x - xc[0]) / dx), 0, nx - 2))
        ty, tx = (yc[0] - y) / dy - iy, (x - xc[0]) / dx - ix
        for (r, c), w in [((iy, ix), (1 - ty) * (1 - tx)), ((iy, ix + 1), (1 - ty) * tx),
                          ((iy + 1, ix), ty * (1 - tx)), ((iy + 1, ix + 1), ty * tx)]:
            ref[k // 4, r * nx + c] += w / 4
    np.testing.assert_allclose(out["mapping_matrix"], ref, atol=1e-12)


def test_data_vector_and_curvature_from_blurred_matrix(engine, prepared):
    out = engine.evaluate(prepared, {"linear_objects": [rect_constant()], "settings": settings(pos=False),
                                     "outputs": ["blurred_mapping_matrix", "data_vector", "curvature_matrix"]})
    b = out["blurred_mapping_matrix"]
    d, sigma = np.asarray(prepared.arrays["data"]), np.asarray(prepared.arrays["noise"])
    np.testing.assert_allclose(out["data_vector"], b.T @ (d / sigma**2), rtol=1e-12)
    np.testing.assert_allclose(out["curvature_matrix"], (b / sigma[:, None]).T @ (b / sigma[:, None]), rtol=1e-12,
                               atol=1e-12 * np.abs(out["curvature_matrix"]).max())


def test_constant_regularization_is_scaled_laplacian_plus_jitter():
    h = np.asarray(regularization.regularization_matrix(
        "constant", 9, {"coefficient": 2.0}, edges=jnp.asarray(meshes.rectangular_edges((3, 3)))))
    assert h[0, 0] == pytest.approx(8.00000001)  # autoarray test_constant: corner pixel, 2 neighbours, λ=2
    assert h[4, 4] == pytest.approx(16.00000001)
    assert h[0, 1] == -4.0 and h[0, 4] == 0.0


def test_adapt_regularization_value_from_autoarray_tests():
    """autoarray test_adapt: Adapt(1, 2, 1) with pixel signals 1..9 on a 3x3 mesh gives H[0,0] = 18."""
    h = regularization.regularization_matrix(
        "adapt", 9, {"inner_coefficient": 1.0, "outer_coefficient": 2.0, "signal_scale": 1.0},
        edges=jnp.asarray(meshes.rectangular_edges((3, 3))), signals=jnp.arange(1.0, 10.0))
    assert float(h[0, 0]) == pytest.approx(18.0, abs=1e-7)


POINTS = np.array([[0.1, 0.1], [1.1, 0.6], [2.1, 0.1], [0.4, 1.1], [1.1, 7.1], [2.1, 1.1]])


@pytest.mark.parametrize("kind,expected", [("exponential_kernel", 1.71521), ("gaussian_kernel", 8.6290664)])
def test_kernel_regularizations_match_autoarray_tests(kind, expected):
    h = regularization.kernel_matrix(jnp.asarray(POINTS), 1.0, 2.0, kind)
    assert float(h[0, 0]) == pytest.approx(expected, rel=1e-5)


def test_split_points_match_autoarray_tests():
    simplices, _ = delaunay.triangulate(jnp.asarray(POINTS))
    pts = np.asarray(delaunay.split_points(jnp.asarray(POINTS), delaunay.dual_areas(jnp.asarray(POINTS), simplices),
                                           0.5))
    np.testing.assert_allclose(pts[0], [0.45059473, 0.1], atol=1e-7)
    np.testing.assert_allclose(pts[1], [-0.25059473, 0.1], atol=1e-7)
    np.testing.assert_allclose(pts[-1], [2.1, 0.39142161], atol=1e-7)


def test_barycentric_weights_reproduce_linear_functions():
    rng = np.random.default_rng(0)
    verts = jnp.asarray(rng.uniform(-1, 1, (30, 2)))
    q = jnp.asarray(rng.uniform(-1.5, 1.5, (200, 2)))
    out = delaunay.interpolate(verts, q, split=False)
    m, w = np.asarray(out["mappings"]), np.asarray(out["weights"])
    inside = m[:, 1] >= 0
    f = lambda p: 2.0 * p[..., 0] - 3.0 * p[..., 1] + 0.5  # noqa: E731
    vals = (f(np.asarray(verts))[np.maximum(m, 0)] * w).sum(axis=1)
    np.testing.assert_allclose(vals[inside], f(np.asarray(q))[inside], atol=1e-12)
    nearest = np.argmin(((np.asarray(q)[~inside, None] - np.asarray(verts)[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(m[~inside, 0], nearest)
    np.testing.assert_array_equal(w[~inside], np.tile([1.0, 0, 0], ((~inside).sum(), 1)))


def test_border_relocation_matches_autoarray_tests():
    """autoarray test_border_relocator: 30x30 circular mask r=1, 0.1", sub 2; (10.1, 0.1) -> (0.94995, 0.00941)."""
    mask = grids.circular_mask((30, 30), (0.1, 0.1), 1.0)
    centres = grids.pixel_centres(mask, (0.1, 0.1), (0.0, 0.0))
    ell = border.ellipse_from_border(jnp.asarray(centres[grids.border_slim_indices(mask)]))
    moved = np.asarray(border.relocate(jnp.asarray([[10.1, 0.1], [0.05, 0.05]]), ell))
    np.testing.assert_allclose(moved[0], [0.949953439, 0.009405479597], rtol=1e-6)
    np.testing.assert_allclose(moved[1], [0.05, 0.05])  # inside: unchanged
