"""A Delaunay triangulation Qhull refuses is a returned status (``triangulation_valid``), never an exception."""

import numpy as np
import pytest

from worker.inversion import delaunay

from .conftest import rect_constant, settings

#: not collinear (the engine's own check passes them), but 1e-200 arcsec apart: Qhull cannot scale the last
#: coordinate (QH6019 "can not scale last coordinate") and raises QhullError
GOOD = np.random.default_rng(3).uniform(-1.2, 1.2, (12, 2))
REFUSED = GOOD * 1e-200


def _delaunay(vertices):
    return {"type": "mapper", "mesh": {"type": "delaunay", "vertices": vertices, "zeroed_pixels": 0},
            "regularization": {"type": "constant", "coefficient": 1.0}}


def test_the_host_functions_return_the_failed_sentinel():
    simplices, edges = delaunay._host_triangulate(REFUSED)
    assert (simplices == -1).all() and (edges == -1).all()
    simplex, nearest = delaunay._host_locate(REFUSED, GOOD)
    assert (simplex == -1).all() and (nearest == 0).all()
    simplices, _ = delaunay._host_triangulate(GOOD)
    assert (simplices[0] >= 0).all()


def test_the_pipeline_reports_each_object_and_the_engine_refuses_naming_its_vertices(engine, prepared):
    """The jitted pipeline returns ``triangulation_valid`` per object (no exception inside compiled code); the
    engine turns a False into the contract's InvalidInput naming that object's vertices."""
    from service.contract.validation import InvalidInput
    from worker.engine import parse_request
    from worker.inversion import pipeline
    from worker.translate import translate

    req = {"settings": settings(pos=True), "linear_objects": [rect_constant(shape=(5, 5)), _delaunay(REFUSED)]}
    request, _ = parse_request(prepared, req)
    job = translate(prepared, request, engine.config.nnls, engine.config.resolved_operator)
    out = pipeline.evaluate(job.signature, prepared.arrays, job.params, job.diag_value)
    assert np.asarray(out["triangulation_valid"]).tolist() == [True, False]
    with pytest.raises(InvalidInput) as err:
        engine.evaluate(prepared, req)
    [(loc, msg)] = err.value.errors
    assert loc == ("body", "linear_objects", 1, "mesh", "vertices") and "triangulation" in msg
    ok = engine.evaluate(prepared, dict(req, linear_objects=[rect_constant(shape=(5, 5)), _delaunay(GOOD)]))
    assert "triangulation_valid" not in ok and np.isfinite(ok["figure_of_merit"])


def test_a_batch_with_one_refused_lane_is_refused(engine, prepared):
    """Batched vertices: each lane triangulates its own (lax.map); batched coefficients: one shared system whose
    refused triangulation is reported for every lane. Either way the engine refuses naming the vertices."""
    from service.contract.validation import InvalidInput

    req = {"settings": settings(pos=False), "linear_objects": [_delaunay(np.stack([GOOD, REFUSED]))]}
    with pytest.raises(InvalidInput) as err:
        engine.evaluate(prepared, req)
    assert err.value.errors[0][0] == ("body", "linear_objects", 0, "mesh", "vertices")
    scan = dict(_delaunay(REFUSED), regularization={"type": "constant", "coefficient": np.array([1.0, 2.0])})
    with pytest.raises(InvalidInput) as err:
        engine.evaluate(prepared, dict(req, linear_objects=[rect_constant(np.array([1.0, 3.0])), scan]))
    assert err.value.errors[0][0] == ("body", "linear_objects", 1, "mesh", "vertices")
