"""``POST /inversions`` over real HTTP with a real worker: sync/async, Prefer, settings, batches, errors."""

import numpy as np
import pytest

from service.contract.responses import SCALAR_NAMES

from ..data import as_json, imaging, inversion, rect_constant
from ..http import MSGPACK, assert_problem, decoded, post_msgpack, register, wait_job

DEFAULTS = {"use_mixed_precision": False, "use_positive_only_solver": True, "use_edge_zeroed_pixels": True,
            "use_border_relocator": False, "no_regularization_add_to_curvature_diag_value": 1e-3}


@pytest.fixture(scope="module")
def dataset_id(stack):
    return register(stack.client, imaging())


def test_sync_answer_has_scalars_settings_job_and_timings(client, dataset_id):
    r = client.post("/inversions", json=inversion(dataset_id))
    assert r.status_code == 200, r.text
    assert "preference-applied" not in r.headers
    body = r.json()
    for name in SCALAR_NAMES:
        assert isinstance(body[name], float), name
    assert body["figure_of_merit"] == pytest.approx(body["log_evidence"])
    assert body["settings"] == DEFAULTS
    assert len(body["job_id"]) == 32 and body["dataset_id"] == dataset_id and body["batch_size"] is None
    assert set(body["timings"]) == {"queue_ms", "compute_ms", "compiled"}
    assert body["timings"]["compiled"] is False  # the worker warmed this signature at start


@pytest.mark.parametrize("given", [
    {},
    {"use_positive_only_solver": False},
    {"use_mixed_precision": False, "use_positive_only_solver": False, "use_edge_zeroed_pixels": False,
     "use_border_relocator": False, "no_regularization_add_to_curvature_diag_value": 1e-4},
])
def test_settings_are_resolved_field_by_field_and_echoed(client, dataset_id, given):
    r = client.post("/inversions", json=inversion(dataset_id, settings=given))
    assert r.status_code == 200, r.text
    assert r.json()["settings"] == {**DEFAULTS, **given}


def test_unknown_setting_is_422(client, dataset_id):
    r = client.post("/inversions", json=inversion(dataset_id, settings={"use_gpu": True}))
    assert_problem(r, 422, ["body", "settings", "use_gpu"], "unknown field")


def test_async_and_poll(client, dataset_id):
    sync = client.post("/inversions", json=inversion(dataset_id)).json()
    r = client.post("/inversions", json=inversion(dataset_id), headers={"prefer": "respond-async"})
    assert r.status_code == 202, r.text
    assert r.headers["preference-applied"] == "respond-async"
    job_id = r.json()["job_id"]
    assert r.headers["location"] == f"/jobs/{job_id}" and r.json()["status"] in ("queued", "running", "finished")
    done = wait_job(client, r.headers["location"])
    assert done["status"] == "finished" and done["error"] is None
    assert done["result"]["figure_of_merit"] == pytest.approx(sync["figure_of_merit"], abs=1e-9)
    assert done["result"]["job_id"] == job_id


def test_prefer_wait(client, dataset_id):
    r = client.post("/inversions", json=inversion(dataset_id), headers={"prefer": "wait=20"})
    assert r.status_code == 200 and r.headers["preference-applied"] == "wait=20"
    r = client.post("/inversions", json=inversion(dataset_id), headers={"prefer": "wait=0"})
    assert r.status_code == 202 and r.headers["preference-applied"] == "wait=0"
    assert wait_job(client, r.headers["location"])["status"] == "finished"


def test_msgpack_batch_equals_singles_and_outputs(client, stack, dataset_id):
    coefficients = np.array([0.5, 1.0, 4.0])
    body = inversion(dataset_id, rect_constant(coefficients), outputs=["model_image", "reconstruction"])
    r = post_msgpack(client, "/inversions", body)
    assert r.status_code == 200 and r.headers["content-type"] == MSGPACK
    batch = decoded(r)
    assert batch["batch_size"] == 3
    fom = batch["figure_of_merit"]
    assert isinstance(fom, np.ndarray) and fom.shape == (3,) and fom.dtype == np.float64
    n = client.get(f"/datasets/{dataset_id}").json()["pixels"]
    assert batch["model_image"].shape == (3, n) and batch["reconstruction"].shape == (3, 16)
    for i, c in enumerate(coefficients):
        single = client.post("/inversions", json=inversion(dataset_id, rect_constant(float(c)),
                                                           outputs=["model_image"])).json()
        assert single["figure_of_merit"] == pytest.approx(fom[i], abs=1e-8)
        np.testing.assert_allclose(single["model_image"], batch["model_image"][i], rtol=1e-9, atol=1e-9)


def test_json_request_msgpack_response_and_back(client, dataset_id):
    r = client.post("/inversions", json=inversion(dataset_id), headers={"accept": "application/x-msgpack"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-msgpack"
    r2 = post_msgpack(client, "/inversions", inversion(dataset_id), headers={"accept": "application/json"})
    assert r2.status_code == 200 and r2.headers["content-type"] == "application/json"
    assert decoded(r)["figure_of_merit"] == pytest.approx(r2.json()["figure_of_merit"], abs=1e-9)


@pytest.mark.parametrize(("obj", "loc", "words"), [
    ({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]}, "source_grid": np.zeros((7, 2))},
     ["body", "linear_objects", 0, "source_grid"], "the dataset's over-sampled pixelization grid"),
    ({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [2, 4]}},
     ["body", "linear_objects", 0, "mesh", "shape"], "at least 3x3"),
    ({"type": "mapper", "mesh": {"type": "delaunay", "vertices": [[0, 0], [0, 1]]}},
     ["body", "linear_objects", 0, "mesh", "vertices"], "at least 3 vertices"),
    ({"type": "mapper", "mesh": {"type": "voronoi"}}, ["body", "linear_objects", 0, "mesh"], "voronoi"),
    ({"type": "gaussians", "centre": [[0, 0]] * 2, "ell_comps": [[0, 0]] * 3, "sigmas": [0.1]},
     ["body", "linear_objects", 0, "ell_comps"], "batch axis of length 3"),
    ({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
      "source_grid": np.full((69, 2), np.nan)}, ["body", "linear_objects", 0, "source_grid"], "non-finite"),
])
def test_request_errors_found_before_enqueueing(client, dataset_id, obj, loc, words):
    n_sub = client.get(f"/datasets/{dataset_id}").json()["sub_pixels_pixelization"]
    if "source_grid" in obj and obj["source_grid"].shape[0] == 69:
        obj["source_grid"] = np.full((n_sub, 2), np.nan)
    assert_problem(client.post("/inversions", json=as_json(inversion(dataset_id, obj))), 422, loc, words)


def test_unknown_dataset_and_empty_objects(client):
    assert_problem(client.post("/inversions", json=inversion("nope")), 404, ["body", "dataset_id"])
    r = client.post("/inversions", json={"dataset_id": "nope", "linear_objects": []})
    assert_problem(r, 422, ["body", "linear_objects"])


def test_input_the_engine_used_to_judge_is_refused_before_enqueueing_and_the_worker_survives(client, stack,
                                                                                             dataset_id):
    """A mesh-less object with a mesh regularization: once judged by the worker, now by the one validation in the
    API (422 without a job); the workers are untouched and serve the next request."""
    bad = {"type": "gaussians", "centre": [0, 0], "ell_comps": [0, 0], "sigmas": [0.1, 0.2],
           "regularization": {"type": "gaussian_kernel", "coefficient": 1.0, "scale": 1.0}}
    r = client.post("/inversions", json=inversion(dataset_id, bad))
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == ["body", "linear_objects", 0, "regularization", "type"]
    assert "job_id" not in body and "needs a mesh" in body["errors"][0]["msg"]
    assert all(w.alive() for w in stack.workers)
    assert client.post("/inversions", json=inversion(dataset_id)).status_code == 200


def test_vertices_only_qhull_refuses_come_back_from_the_worker_as_422_and_it_survives(client, stack, dataset_id):
    """Vertices that pass validation (they span an area) but that Qhull cannot triangulate (1e-200 arcsec apart):
    the pipeline reports the failed triangulation, the worker answers 422 naming the vertices, and keeps serving."""
    vertices = np.random.default_rng(3).uniform(-1.2, 1.2, (12, 2)) * 1e-200
    bad = {"type": "mapper", "mesh": {"type": "delaunay", "vertices": vertices.tolist()},
           "regularization": {"type": "constant", "coefficient": 1.0}}
    body = assert_problem(client.post("/inversions", json=inversion(dataset_id, bad)), 422)
    assert body["errors"][0]["loc"] == ["body", "linear_objects", 0, "mesh", "vertices"] and body["job_id"]
    assert all(w.alive() for w in stack.workers)
    assert client.post("/inversions", json=inversion(dataset_id)).status_code == 200


def test_a_singular_system_answers_a_nan_figure_of_merit(client, stack, dataset_id):
    n = client.get(f"/datasets/{dataset_id}").json()["pixels"]
    body = inversion(dataset_id, {"type": "basis", "images": np.zeros((2, n))},
                     settings={"no_regularization_add_to_curvature_diag_value": 0.0})
    r = client.post("/inversions", json=as_json(body))
    assert r.status_code == 200, r.text
    assert r.json()["figure_of_merit"] == "NaN"
    assert np.isnan(decoded(post_msgpack(client, "/inversions", body))["figure_of_merit"])
    assert all(w.alive() for w in stack.workers)



def test_large_requests_and_answers_take_the_thread_pool_and_rqs_result(client, dataset_id):
    """A batch whose body is over 64 KiB and whose answer is over the 256 KiB an answer stream carries: decoded,
    checked, enqueued and encoded off the event loop, answered from RQ's own result record; lanes equal singles."""
    grid = decoded(client.get(f"/datasets/{dataset_id}", params={"include": "grids"},
                              headers={"accept": MSGPACK}))["pixelization_grid"]
    coefficients = np.linspace(0.5, 4.0, 512)
    mapper = {**rect_constant(coefficients), "source_grid": np.broadcast_to(grid, (512, *grid.shape)).copy()}
    body = inversion(dataset_id, mapper, outputs=["model_image", "reconstruction"])
    r = post_msgpack(client, "/inversions", body)
    assert len(r.request.content) > 64 * 1024 and r.status_code == 200, r.text
    batch = decoded(r)
    assert batch["batch_size"] == 512 and batch["model_image"].nbytes + batch["reconstruction"].nbytes > 256 * 1024
    for i in (0, 255, 511):
        one = inversion(dataset_id, {**rect_constant(float(coefficients[i])), "source_grid": grid},
                        outputs=["model_image"])
        single = decoded(post_msgpack(client, "/inversions", one))
        assert single["figure_of_merit"] == pytest.approx(batch["figure_of_merit"][i], abs=1e-8)
        np.testing.assert_allclose(single["model_image"], batch["model_image"][i], rtol=1e-9, atol=1e-9)
