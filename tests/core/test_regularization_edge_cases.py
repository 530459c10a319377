"""Regularizations autoarray cannot evaluate the evidence of, and refused combinations."""

import numpy as np
import pytest

from service.contract.validation import InvalidInput

from .conftest import settings


def _mapper(reg, **extra):
    return dict({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [6, 6]},
                 "regularization": reg}, **extra)


def test_brightness_zeroth_alone_reconstructs_but_has_no_evidence(engine, prepared):
    """H = diag((c(1 − p))²) is exactly zero at the brightest pixel (p = 1): autoarray raises LinAlgError in
    ln det H. The service returns the reconstruction and a NaN evidence instead of crashing or +inf."""
    adapt = np.asarray(prepared.arrays["data"])
    reg = {"type": "brightness_zeroth", "coefficient": 2.0, "signal_scale": 1.0}
    out = engine.evaluate(prepared, {"linear_objects": [_mapper(reg, adapt_image=adapt)],
                                     "settings": settings(pos=False),
                                     "outputs": ["reconstruction", "regularization_matrix", "curvature_matrix",
                                                 "data_vector"]})
    h = out["regularization_matrix"]
    assert np.allclose(h, np.diag(np.diag(h))) and np.isclose(np.diag(h).min(), 0.0)
    c = out["curvature_matrix"] + h
    np.testing.assert_allclose(out["reconstruction"], np.linalg.solve(c, out["data_vector"]), rtol=1e-8,
                               atol=1e-10)
    assert np.isnan(out["log_det_regularization_matrix_term"]) and np.isnan(out["figure_of_merit"])
    assert np.isfinite(out["chi_squared"])


@pytest.mark.parametrize("reg", ["constant_split", "adapt_split"])
def test_split_schemes_need_a_delaunay_mesh(engine, prepared, reg):
    params = {"coefficient": 1.0} if reg == "constant_split" else {
        "inner_coefficient": 1.0, "outer_coefficient": 1.0, "signal_scale": 1.0}
    with pytest.raises(InvalidInput) as err:
        engine.evaluate(prepared, {"linear_objects": [_mapper(dict(type=reg, **params),
                                                              adapt_image=np.ones(prepared.shape.pixels))],
                                   "settings": settings()})
    [(loc, msg)] = err.value.errors
    assert loc == ("body", "linear_objects", 0, "regularization") and "delaunay" in msg


def test_adapt_density_mesh_must_be_square(engine, prepared):
    obj = {"type": "mapper", "mesh": {"type": "rectangular_bilinear_adapt_density", "shape": [6, 7]},
           "regularization": {"type": "constant", "coefficient": 1.0}}
    with pytest.raises(InvalidInput) as err:
        engine.evaluate(prepared, {"linear_objects": [obj], "settings": settings()})
    [(loc, msg)] = err.value.errors
    assert loc == ("body", "linear_objects", 0, "mesh", "shape") and "square" in msg


@pytest.mark.parametrize("vertices", [np.array([[0.0, 0.0], [0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]),
                                      np.zeros((5, 2))])
def test_degenerate_delaunay_vertices_are_refused(engine, prepared, vertices):
    obj = {"type": "mapper", "mesh": {"type": "delaunay", "vertices": vertices, "zeroed_pixels": 0},
           "regularization": {"type": "constant", "coefficient": 1.0}}
    with pytest.raises(InvalidInput) as err:
        engine.evaluate(prepared, {"linear_objects": [obj], "settings": settings()})
    [(loc, msg)] = err.value.errors
    assert loc == ("body", "linear_objects", 0, "mesh", "vertices") and "collinear" in msg
