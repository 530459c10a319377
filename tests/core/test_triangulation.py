"""A Delaunay triangulation Qhull refuses is a returned status (``triangulation_valid``), never an exception."""

import numpy as np

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


def test_a_refused_triangulation_is_reported_per_object(engine, prepared):
    req = {"settings": settings(pos=True), "linear_objects": [rect_constant(shape=(5, 5)), _delaunay(REFUSED)]}
    out = engine.evaluate(prepared, req)
    assert out["triangulation_valid"].tolist() == [True, False]
    ok = engine.evaluate(prepared, dict(req, linear_objects=[rect_constant(shape=(5, 5)), _delaunay(GOOD)]))
    assert ok["triangulation_valid"].tolist() == [True, True]
    assert np.isfinite(ok["figure_of_merit"])


def test_a_batch_reports_each_lane(engine, prepared):
    """Batched vertices: each lane triangulates its own (lax.map); batched coefficients: one shared system."""
    req = {"settings": settings(pos=False), "linear_objects": [_delaunay(np.stack([GOOD, REFUSED]))]}
    out = engine.evaluate(prepared, req)
    assert out["triangulation_valid"].tolist() == [[True], [False]]
    # only the coefficient varies: every lane shares one (refused) triangulation
    scan = dict(_delaunay(REFUSED), regularization={"type": "constant", "coefficient": np.array([1.0, 2.0])})
    out = engine.evaluate(prepared, dict(req, linear_objects=[rect_constant(np.array([1.0, 3.0])), scan]))
    assert out["triangulation_valid"].tolist() == [[True, False], [True, False]]
