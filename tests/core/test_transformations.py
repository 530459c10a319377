"""jit/vmap behaviour: batches equal single calls, padding lanes never leak, a signature compiles once."""

import numpy as np
import pytest

from worker.inversion import pipeline

from .conftest import rect_constant, settings


def _traced_grid(prepared, shift):
    return prepared.host["sub_pix"] * 0.9 + np.asarray(shift)


@pytest.mark.parametrize("pos", [False, True])
def test_batch_equals_singles(engine, prepared, pos):
    coefs = np.array([0.4, 1.5, 7.0])
    grids = np.stack([_traced_grid(prepared, (0.01 * i, -0.02 * i)) for i in range(3)])
    obj = dict(rect_constant(), source_grid=grids)
    obj["regularization"] = {"type": "constant", "coefficient": coefs}
    req = {"settings": settings(pos=pos), "outputs": ["reconstruction", "model_image"]}
    batch = engine.evaluate(engine_prepared := prepared, dict(req, linear_objects=[obj]))
    assert batch["batch_size"] == 3 and batch["figure_of_merit"].shape == (3,)
    for i in range(3):
        single = dict(rect_constant(coefs[i]), source_grid=grids[i])
        one = engine.evaluate(engine_prepared, dict(req, linear_objects=[single]))
        for key in ("figure_of_merit", "log_evidence", "chi_squared", "regularization_term"):
            assert batch[key][i] == pytest.approx(one[key], rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(batch["reconstruction"][i], one["reconstruction"], rtol=1e-9,
                                   atol=1e-9 * np.abs(one["reconstruction"]).max())


def test_dense_backend_batch_equals_singles(prepared):
    """The GPU (dense, vmap) batch path: same numbers as single calls on the same backend."""
    from worker.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(operator="dense"))
    coefs = np.array([0.4, 7.0])
    req = {"settings": settings(pos=True), "outputs": ["reconstruction"]}
    batch = engine.evaluate(prepared, dict(req, linear_objects=[rect_constant(coefs, shape=(5, 5))]))
    for i in range(2):
        one = engine.evaluate(prepared, dict(req, linear_objects=[rect_constant(coefs[i], shape=(5, 5))]))
        assert batch["figure_of_merit"][i] == pytest.approx(one["figure_of_merit"], rel=1e-9)
        np.testing.assert_allclose(batch["reconstruction"][i], one["reconstruction"], rtol=1e-9,
                                   atol=1e-9 * np.abs(one["reconstruction"]).max())


def test_delaunay_batch_equals_singles(engine, prepared):
    rng = np.random.default_rng(2)
    verts = np.stack([rng.uniform(-1.2, 1.2, (20, 2)) for _ in range(2)])
    obj = {"type": "mapper", "mesh": {"type": "delaunay", "vertices": verts, "zeroed_pixels": 0},
           "regularization": {"type": "constant_split", "coefficient": 1.0}}
    req = {"settings": settings(pos=False)}
    batch = engine.evaluate(prepared, dict(req, linear_objects=[obj]))
    for i in range(2):
        o = dict(obj, mesh=dict(obj["mesh"], vertices=verts[i]))
        one = engine.evaluate(prepared, dict(req, linear_objects=[o]))
        assert batch["figure_of_merit"][i] == pytest.approx(one["figure_of_merit"], rel=1e-9)


def test_second_call_with_same_signature_does_not_retrace(engine, prepared):
    req = {"settings": settings(pos=True), "linear_objects": [rect_constant(2.0, shape=(6, 6))]}
    first = engine.evaluate(prepared, req)
    n = pipeline.TRACE_COUNT["n"]
    again = engine.evaluate(prepared, dict(req, linear_objects=[rect_constant(0.7, shape=(6, 6))]))
    assert pipeline.TRACE_COUNT["n"] == n
    assert first["compiled"] is True and again["compiled"] is False
    assert again["figure_of_merit"] != first["figure_of_merit"]


def test_batches_pad_to_buckets_and_padding_never_leaks(engine, prepared):
    """B = 3 and B = 4 share the bucket of 4: one compile; lane i of B = 3 equals lane i of B = 4."""
    mk = lambda c: {"settings": settings(pos=False), "linear_objects": [rect_constant(np.array(c), shape=(5, 5))]}  # noqa: E731
    four = engine.evaluate(prepared, mk([0.5, 1.0, 2.0, 9.0]))
    n = pipeline.TRACE_COUNT["n"]
    three = engine.evaluate(prepared, mk([0.5, 1.0, 2.0]))
    assert pipeline.TRACE_COUNT["n"] == n and three["compiled"] is False
    assert three["figure_of_merit"].shape == (3,)
    np.testing.assert_allclose(three["figure_of_merit"], four["figure_of_merit"][:3], rtol=1e-12)


def test_batch_axes_must_agree(engine, prepared):
    from service.contract.validation import InvalidInput

    obj = dict(rect_constant(np.array([1.0, 2.0])), source_grid=np.stack([prepared.host["sub_pix"]] * 3))
    with pytest.raises(InvalidInput) as err:
        engine.evaluate(prepared, {"settings": settings(), "linear_objects": [obj]})
    assert "batch axis" in err.value.errors[0][1]


def test_a_batch_of_regularization_coefficients_shares_one_system_and_equals_singles(engine, prepared, monkeypatch):
    """Only the coefficient varies: F and D are built once for the batch (one host curvature call), each lane's
    positive-only solve starts from its predecessor's solution, and every lane still equals its single call."""
    from worker.inversion import sparse_operator

    calls = []
    host = sparse_operator._host
    monkeypatch.setattr(sparse_operator, "_host", lambda *a, **k: calls.append(1) or host(*a, **k))
    coefs = np.array([7.0, 0.4, 1.5, 30.0, 0.9])  # unsorted, and padded to the bucket of 8
    req = {"settings": settings(pos=True), "outputs": ["reconstruction"]}
    batch = engine.evaluate(prepared, dict(req, linear_objects=[rect_constant(coefs, shape=(7, 7))]))
    assert batch["compiled"] is True and len(calls) == 1
    assert all(batch["solver_certified"])
    for i, c in enumerate(coefs):
        one = engine.evaluate(prepared, dict(req, linear_objects=[rect_constant(c, shape=(7, 7))]))
        for key in ("figure_of_merit", "chi_squared", "regularization_term", "log_det_curvature_reg_matrix_term"):
            assert batch[key][i] == pytest.approx(one[key], rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(batch["reconstruction"][i], one["reconstruction"], rtol=1e-9,
                                   atol=1e-9 * np.abs(one["reconstruction"]).max())
    calls.clear()
    grids = np.stack([_traced_grid(prepared, (0, 0))] * 2)
    traced = dict(rect_constant(coefs[:2], shape=(7, 7)), source_grid=grids)
    engine.evaluate(prepared, dict(req, linear_objects=[traced]))
    assert len(calls) == 2  # a batched source grid: every lane builds its own system
