"""Invariants: the NNLS answer satisfies the KKT conditions, F + H is symmetric positive definite, and a
relabelling of the parameters leaves the evidence unchanged."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from worker.inversion import solvers

from .conftest import rect_constant, settings


@hsettings(max_examples=25, deadline=None)
@given(n=st.integers(2, 24), seed=st.integers(0, 2**31 - 1), log_cond=st.floats(0, 8), compact=st.booleans())
def test_nnls_satisfies_kkt(n, seed, log_cond, compact):
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(n, n)))
    q = (u * np.logspace(0, log_cond, n)) @ u.T
    q = 0.5 * (q + q.T)
    rhs = rng.normal(size=n) * np.sqrt(np.diag(q))
    x_unc = np.linalg.solve(q, rhs)
    x, certified, _ = solvers.bpp_nnls(jnp.asarray(q), jnp.asarray(rhs), jnp.asarray(x_unc > 0), compact=compact)
    x = np.asarray(x)
    assert bool(certified)
    grad = q @ x - rhs
    scale = np.abs(rhs).max() + np.abs(q).max() * np.abs(x).max()
    assert np.all(x >= 0)
    assert np.all(grad >= -1e-8 * scale)  # dual feasibility
    assert np.all(np.abs(grad[x > 0]) <= 1e-8 * scale)  # stationarity on the free set
    assert abs(x @ grad) <= 1e-8 * scale * (1 + np.abs(x).sum())  # complementarity


def test_nnls_agrees_with_jaxnnls():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(60, 25))
    q, rhs = a.T @ a + 0.1 * np.eye(25), a.T @ rng.normal(size=60)
    x, ok, _ = solvers.bpp_nnls(jnp.asarray(q), jnp.asarray(rhs), jnp.asarray(np.linalg.solve(q, rhs) > 0))
    ref = solvers.jaxnnls_solve(jnp.asarray(q), jnp.asarray(rhs), solvers.NNLSOptions())
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(x), np.asarray(ref), atol=1e-6)


def test_curvature_plus_regularization_is_spd(engine, prepared):
    out = engine.evaluate(prepared, {"linear_objects": [rect_constant(0.3)], "settings": settings(pos=False),
                                     "outputs": ["curvature_matrix", "regularization_matrix"]})
    c = out["curvature_matrix"] + out["regularization_matrix"]
    np.testing.assert_allclose(c, c.T, rtol=0, atol=1e-12 * np.abs(c).max())
    assert np.linalg.eigvalsh(c).min() > 0


def _delaunay(vertices, zeroed, coefficient=1.2):
    return {"type": "mapper", "mesh": {"type": "delaunay", "vertices": vertices, "zeroed_pixels": zeroed},
            "regularization": {"type": "constant", "coefficient": coefficient}}


@pytest.mark.parametrize("pos", [False, True])
def test_permuting_delaunay_vertices_leaves_evidence_unchanged(engine, prepared, pos):
    rng = np.random.default_rng(11)
    inner = rng.uniform(-1.1, 1.1, (24, 2))
    ring = 1.5 * np.stack([np.sin(np.linspace(0, 2 * np.pi, 8, endpoint=False)),
                           np.cos(np.linspace(0, 2 * np.pi, 8, endpoint=False))], axis=1)
    perm = rng.permutation(24)  # the zeroed ring stays last, as its definition requires
    req = {"settings": settings(pos=pos, edge=True), "outputs": ["reconstruction"]}
    a = engine.evaluate(prepared, dict(req, linear_objects=[_delaunay(np.concatenate([inner, ring]), 8)]))
    b = engine.evaluate(prepared, dict(req, linear_objects=[_delaunay(np.concatenate([inner[perm], ring]), 8)]))
    # ln det of a matrix with a 1e-8 jitter eigenvalue carries ~1e-8 of Cholesky round-off, which depends on the
    # elimination order: agreement to the project's figure-of-merit tolerance
    assert b["figure_of_merit"] == pytest.approx(a["figure_of_merit"], abs=1e-6)
    scale = np.abs(a["reconstruction"]).max()
    np.testing.assert_allclose(b["reconstruction"][:24], a["reconstruction"][:24][perm], atol=1e-7 * scale)


def test_permuting_basis_images_leaves_evidence_unchanged(engine, prepared):
    rng = np.random.default_rng(5)
    images = rng.random((6, prepared.shape.pixels))
    req = {"settings": settings(pos=False), "outputs": ["reconstruction"]}
    perm = rng.permutation(6)
    a = engine.evaluate(prepared, dict(req, linear_objects=[{"type": "basis", "images": images}]))
    b = engine.evaluate(prepared, dict(req, linear_objects=[{"type": "basis", "images": images[perm]}]))
    assert b["figure_of_merit"] == pytest.approx(a["figure_of_merit"], abs=1e-8)
    np.testing.assert_allclose(b["reconstruction"], a["reconstruction"][perm], rtol=1e-8)
