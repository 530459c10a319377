"""The client against a real running service: datasets, single and batched evaluations, float32 grids, jobs,
errors with their problem bodies, the async client, and retries on the service's real 503 (full queue)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from inversion_client import (
    AsyncInversionClient,
    Conflict,
    InvalidInput,
    InversionClient,
    NotFound,
    Result,
    ServiceUnavailable,
    Unauthorized,
)
from inversion_client._codec import packb
from rq import Queue

from service.contract import grids
from service.contract.names import SERIALIZER
from tests.service.data import rect_constant
from tests.service.procs import Stack

SCALARS = ("figure_of_merit", "log_evidence", "log_likelihood", "chi_squared", "regularization_term",
           "log_det_curvature_reg_matrix_term", "log_det_regularization_matrix_term", "noise_normalization")
COEFS = np.array([0.3, 1.0, 3.0, 10.0])


@pytest.fixture(scope="module")
def engine():
    from worker.engine import Engine

    return Engine()


@pytest.fixture(scope="module")
def prepared(engine, tiny):
    return engine.prepare({**tiny, "over_sample_size_pixelization": 1, "over_sample_size_lp": 1})


def traced(grid: np.ndarray, shrink: np.ndarray) -> np.ndarray:
    """A stand-in for ray-tracing: the image-plane grid shrunk towards the centre, one lane per factor."""
    return grid[None] * np.asarray(shrink)[:, None, None]


# ------------------------------------------------------------------------------------------------ datasets
def test_register_is_idempotent_and_grids_come_back_as_numpy(api, tiny, dataset_id):
    again = api.register_imaging(tiny["data"], tiny["noise_map"], tiny["psf"], tiny["mask"], tiny["pixel_scales"],
                                 over_sample_size_pixelization=1, over_sample_size_lp=1)
    assert again == dataset_id
    info = api.get_dataset(dataset_id)
    assert info.image_grid is None and info.pixelization_grid is None
    assert info.shape_native == (12, 12) and info.pixels == int((~tiny["mask"]).sum())
    info = api.get_dataset(dataset_id, include_grids=True)
    scales = (tiny["pixel_scales"],) * 2
    assert isinstance(info.pixelization_grid, np.ndarray) and info.pixelization_grid.dtype == np.float64
    np.testing.assert_array_equal(info.image_grid, grids.pixel_centres(tiny["mask"], scales, (0.0, 0.0)))
    np.testing.assert_array_equal(info.pixelization_grid, grids.over_sampled_grid(tiny["mask"], scales, (0, 0), 1))


def test_unknown_dataset_raises_not_found_with_the_problem(api):
    with pytest.raises(NotFound) as err:
        api.evaluate("0" * 64, [rect_constant()])
    exc = err.value
    assert exc.status == 404 and exc.title == "Dataset not found" and "0000" in exc.detail
    assert exc.errors and exc.errors[0]["loc"] == ["body", "dataset_id"]
    assert "404 Dataset not found" in str(exc)


# ------------------------------------------------------------------------------------------------ evaluations
def test_single_equals_the_in_process_engine_and_batch_lanes_equal_singles(api, dataset_id, engine, prepared):
    single = api.evaluate(dataset_id, [rect_constant(1.0)], outputs=["reconstruction", "model_image"])
    assert isinstance(single, Result) and single.batch_size is None
    assert all(isinstance(getattr(single, name), float) for name in SCALARS)
    assert single.reconstruction.shape == (16,) and single.model_image.shape == (prepared.shape.pixels,)
    local = engine.evaluate(prepared, {"linear_objects": [rect_constant(1.0)], "settings": single.settings,
                                       "outputs": ["reconstruction", "model_image"]})
    for name in SCALARS:
        assert getattr(single, name) == pytest.approx(float(local[name]), rel=1e-12, abs=1e-9), name
    np.testing.assert_allclose(single.reconstruction, local["reconstruction"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(single.model_image, local["model_image"], rtol=1e-9, atol=1e-12)

    batch = api.evaluate(dataset_id, [rect_constant(COEFS)], outputs=["reconstruction"])
    assert batch.batch_size == 4 and len(batch) == 4
    assert batch.figure_of_merit.shape == (4,) and batch["reconstruction"].shape == (4, 16)
    for lane, coefficient in enumerate(COEFS):
        one = api.evaluate(dataset_id, [rect_constant(float(coefficient))], outputs=["reconstruction"])
        for name in SCALARS:
            assert getattr(batch, name)[lane] == pytest.approx(getattr(one, name), rel=1e-10, abs=1e-9), name
        np.testing.assert_allclose(batch.reconstruction[lane], one.reconstruction, rtol=1e-8, atol=1e-12)


def test_float32_grids_equal_float64_grids_cast_from_float32(api, dataset_id):
    grid = api.get_dataset(dataset_id, include_grids=True).pixelization_grid
    lanes = traced(grid, [0.5, 0.6, 0.7, 0.8]) + 1e-3 * np.random.default_rng(0).standard_normal((4, *grid.shape))
    mapper = {**rect_constant(COEFS), "source_grid": lanes}
    f32 = api.evaluate(dataset_id, [mapper], float32_grids=True)
    cast = api.evaluate(dataset_id, [{**mapper, "source_grid": lanes.astype(np.float32).astype(np.float64)}])
    np.testing.assert_array_equal(f32.figure_of_merit, cast.figure_of_merit)
    full = api.evaluate(dataset_id, [mapper])
    np.testing.assert_allclose(f32.figure_of_merit, full.figure_of_merit, rtol=1e-4)
    # and the grid costs half the bytes on the wire
    f32_bytes = len(packb({"g": lanes.astype(np.float32)}))
    assert f32_bytes < 0.51 * len(packb({"g": lanes}))


def test_invalid_input_carries_the_field_and_message(api, dataset_id):
    bad = {**rect_constant(), "source_grid": np.zeros((5, 2))}
    with pytest.raises(InvalidInput) as err:
        api.evaluate(dataset_id, [bad])
    exc = err.value
    assert exc.status == 422 and exc.title
    locs = [e["loc"] for e in exc.errors]
    assert ["body", "linear_objects", 0, "source_grid"] in locs, locs
    assert "linear_objects.0.source_grid" in str(exc)


def test_submit_job_result_and_cancel(api, dataset_id):
    job_id = api.submit(dataset_id, [rect_constant(2.0)], outputs=["model_image"])
    result = api.result(job_id, timeout=60)
    assert result.job_id == job_id and result.model_image.ndim == 1
    info = api.job(job_id)
    assert info.status == "finished" and info.done and info.result.figure_of_merit == result.figure_of_merit
    with pytest.raises(Conflict) as err:
        api.cancel(job_id)
    assert err.value.status == 409 and "already finished" in err.value.detail


def test_async_client_evaluates_concurrently(stack, dataset_id):
    async def run():
        async with AsyncInversionClient(stack.url) as client:
            info = await client.get_dataset(dataset_id, include_grids=True)
            results = await asyncio.gather(*(client.evaluate(dataset_id, [rect_constant(c)]) for c in (0.5, 5.0)))
            return info, results

    info, (a, b) = asyncio.run(run())
    assert info.pixelization_grid.shape == (info.sub_pixels_pixelization, 2)
    assert np.isfinite(a.figure_of_merit) and a.figure_of_merit != b.figure_of_merit


# ------------------------------------------------------------------------------------------------ retries
def test_full_queue_503_is_retried_after_retry_after(bare, tiny):
    """The bare stack has no worker and admits 5 queued jobs: the 6th request gets the service's real 503."""
    retries: list[tuple[int, float, str]] = []
    with InversionClient(bare.url, retries=0) as impatient, \
            InversionClient(bare.url, retries=3, on_retry=lambda *a: retries.append(a)) as patient:
        did = impatient.register_imaging(tiny["data"], tiny["noise_map"], tiny["psf"], tiny["mask"], 0.2,
                                         over_sample_size_pixelization=1, over_sample_size_lp=1)
        for _ in range(5):
            impatient.submit(did, [rect_constant()])
        with pytest.raises(ServiceUnavailable) as err:
            impatient.submit(did, [rect_constant()])
        exc = err.value
        assert exc.status == 503 and exc.title == "Service unavailable" and "queue" in exc.detail
        retry_after = float(exc.headers["retry-after"])
        assert retry_after >= 1

        queue = Queue(bare.names.queue, connection=bare.redis, serializer=SERIALIZER)
        threading.Timer(0.5, queue.empty).start()  # room in the queue before the server's Retry-After is up
        t0 = time.monotonic()
        job_id = patient.submit(did, [rect_constant()])
        elapsed = time.monotonic() - t0
    assert len(job_id) == 32
    assert len(retries) == 1 and retries[0][0] == 1 and "503" in retries[0][2]
    # honoured the server's Retry-After (plus up to 10 % jitter), not the client's 0.1 s backoff
    assert retry_after <= retries[0][1] <= 1.1 * retry_after and elapsed >= retry_after


# ------------------------------------------------------------------------------------------------ API keys
@pytest.fixture(scope="module")
def keyed(redis_url, workdir, compile_cache):
    """An API (no worker) that requires an API key."""
    s = Stack("keys", redis_url, workdir, compile_cache, api_keys=["k-123"])
    try:
        yield s.start_api()
    finally:
        s.close()


def test_api_key_is_sent(keyed, tiny):
    args = (tiny["data"], tiny["noise_map"], tiny["psf"], tiny["mask"], 0.2)
    with InversionClient(keyed.url) as anonymous, pytest.raises(Unauthorized) as err:
        anonymous.register_imaging(*args)
    assert err.value.status == 401 and "API key" in err.value.detail
    with InversionClient(keyed.url, api_key="k-123") as client:
        assert len(client.register_imaging(*args)) == 64
