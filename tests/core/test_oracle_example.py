"""The shared oracle (shared/oracle/oracle_example.py, autoarray 2026.10.26.1): 15x15 image, 7x7 rectangular
mesh, constant regularization, three solver settings, and an MGE-style function list."""

import numpy as np
import pytest

from worker.inversion import grids

from .conftest import rect_constant, settings

CASES = {
    "positive_negative": settings(pos=False, edge=False),
    "positive_only_default_edge_zeroing": settings(pos=True, edge=True),
    "positive_only_no_edge_zeroing": settings(pos=True, edge=False),
}


@pytest.mark.parametrize("label", list(CASES))
def test_rectangular_constant_matches_autoarray(engine, prepared, oracle, label):
    exp = oracle["outputs"][label]
    out = engine.evaluate(prepared, {"linear_objects": [rect_constant()], "settings": CASES[label],
                                     "outputs": ["reconstruction", "data_vector", "curvature_matrix",
                                                 "regularization_matrix", "model_image"]})
    np.testing.assert_allclose(out["data_vector"], exp["data_vector"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.diag(out["curvature_matrix"]), exp["curvature_matrix_diag"], rtol=1e-8)
    np.testing.assert_allclose(out["regularization_matrix"][0], exp["regularization_matrix_row0"], rtol=1e-8,
                               atol=1e-12)
    scale = np.max(np.abs(exp["reconstruction"]))
    np.testing.assert_allclose(out["reconstruction"], exp["reconstruction"], rtol=0, atol=1e-8 * scale)
    np.testing.assert_allclose(out["model_image"], exp["mapped_reconstructed_operated_data"], rtol=0,
                               atol=1e-8 * np.max(np.abs(exp["mapped_reconstructed_operated_data"])))
    terms = exp["terms"]
    for ours, theirs in [("chi_squared", "chi_squared"), ("regularization_term", "regularization_term"),
                         ("log_det_curvature_reg_matrix_term", "log_curvature_regularization_term"),
                         ("log_det_regularization_matrix_term", "log_regularization_term"),
                         ("noise_normalization", "noise_normalization")]:
        assert out[ours] == pytest.approx(terms[theirs], abs=1e-6), ours
    tol = 1e-6 if label == "positive_negative" else 1e-3
    assert out["figure_of_merit"] == pytest.approx(exp["figure_of_merit"], abs=tol)
    assert out["log_evidence"] == pytest.approx(exp["log_evidence"], abs=tol)
    if label != "positive_negative":
        assert np.all(out["reconstruction"] >= 0)


def test_function_list_matches_autoarray(engine, prepared, oracle):
    """oracle_example.py's GaussianBasis: circular Gaussians on the lp sub-grid, blurred inside the mask only,
    no regularization (so the evidence is the log-likelihood and the 1e-3 diagonal is added)."""
    exp = oracle["outputs"]["mge_func_list_positive_negative"]
    host = prepared.host
    sub = grids.over_sample(host["centres"], host["pixel_scales"], 4)
    images = np.stack([np.exp(-0.5 * ((sub[:, 0] - 0.1) ** 2 + (sub[:, 1] + 0.2) ** 2) / s**2)
                       .reshape(-1, 16).mean(axis=1) for s in (0.1, 0.2, 0.4, 0.8)])
    out = engine.evaluate(prepared, {"linear_objects": [{"type": "basis", "images": images}],
                                     "settings": settings(pos=False, edge=False), "outputs": ["reconstruction"]})
    np.testing.assert_allclose(out["reconstruction"], exp["intensities"], rtol=1e-8)
    assert out["chi_squared"] == pytest.approx(exp["chi_squared"], abs=1e-6)
    assert out["log_likelihood"] == pytest.approx(exp["log_likelihood"], abs=1e-6)
    assert out["figure_of_merit"] == pytest.approx(exp["figure_of_merit"], abs=1e-6)
    assert out["log_det_curvature_reg_matrix_term"] == 0.0
