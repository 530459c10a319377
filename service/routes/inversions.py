"""``POST /inversions``: validate against the dataset, enqueue one job, answer 200 in time or 202 + Location."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from service.bodies import parse_body
from service.contract import jobs
from service.contract.datasets import DatasetMeta
from service.contract.jobs import Canceled, Finished, JobRequest
from service.contract.models import InversionRequest, resolve_settings
from service.contract.responses import InversionResult, JobView
from service.contract.validation import check_inversion
from service.errors import ProblemError, not_found, too_many, unavailable
from service.negotiation import (
    openapi_body,
    openapi_problems,
    openapi_response,
    respond,
    respond_async,
    response_media_type,
)
from service.prefer import applied_header, parse_prefer
from service.queue import OverQuota, QueueFull
from service.quota import owner_of
from service.security import API_KEY_HEADER, require_api_key

router = APIRouter(tags=["inversions"])

PREFER_DOC = (
    "By default the answer is 200 with the result if the job finishes within the server's wait limit, else 202 "
    "with `Location: /jobs/{id}`. `Prefer: wait=N` sets the limit for this request (capped by the server), "
    "`Prefer: respond-async` always answers 202. `Preference-Applied` echoes what was honoured."
)


@router.post(
    "/inversions",
    summary="Evaluate an inversion (one job, any batch size)",
    description=PREFER_DOC,
    openapi_extra={**openapi_body(InversionRequest), "security": [{"APIKeyHeader": []}]},
    responses={
        200: openapi_response(InversionResult, "The result"),
        202: openapi_response(JobView, "Accepted: poll the Location"),
        **openapi_problems(400, 401, 404, 406, 409, 413, 415, 422, 429, 503),
    },
)
async def create_inversion(request: Request) -> Response:
    """API key (401), body (413, 415, 422), ``Accept`` (406), in the order FastAPI's dependencies checked them;
    then admission + enqueue (one round trip) and the wait, awaited on the event loop's Redis client."""
    # what FastAPI would do per dependency, done directly: this route is a sampler's hot path, where resolving a
    # handful of dependencies costs more than everything else the API does before the job is enqueued
    api_key = await require_api_key(request, request.headers.get(API_KEY_HEADER))
    body, large = await parse_body(request, InversionRequest)
    mt = await response_media_type(request)
    state = request.app.state
    config, store, queue, metrics = state.config, state.store, state.queue, state.metrics
    limits = config.limits
    # a small request is checked on the event loop; a large one (or an unremembered dataset: a Redis read) in the
    # thread pool, as its body was decoded there
    meta = None if large else store.recent_meta(body.dataset_id)
    if meta is None:
        job_request, batch_size = await run_in_threadpool(_job_request, state, body)
    else:
        job_request, batch_size = _job_request(state, body, meta)
    try:
        job_id = await queue.submit(body.dataset_id, job_request, batch_size, owner=owner_of(api_key),
                                    also=lambda pipe: store.touch(body.dataset_id, pipe), offload=large)
    except QueueFull:
        metrics.jobs.labels("rejected_full").inc()
        raise unavailable(f"the queue holds {limits.max_queued_jobs} jobs already; retry later",
                          retry_after_s=limits.retry_after_s) from None
    except OverQuota as exc:
        metrics.jobs.labels("rejected_quota").inc()
        raise too_many(
            f"this API key has {exc.admission.jobs} unfinished jobs with {exc.admission.evaluations} evaluations; "
            f"the limits are {limits.per_key_max_jobs} jobs and {limits.per_key_max_evaluations} evaluations. "
            "Wait for some to finish (or batch evaluations into fewer requests)", limits.retry_after_s) from None
    metrics.jobs.labels("enqueued").inc()

    prefs = parse_prefer(request.headers.getlist("prefer"))
    wait = 0.0 if prefs.respond_async else min(
        prefs.wait_s if prefs.wait_s is not None else config.jobs.default_wait_s, config.jobs.max_wait_s
    )
    envelope = await queue.wait(job_id, wait) if wait > 0 else None
    headers = {}
    applied = applied_header(prefs, wait)
    if applied:
        headers["Preference-Applied"] = applied
    if envelope is None:
        view = await run_in_threadpool(queue.view, job_id) or {"job_id": job_id, "status": "queued", "result": None,
                                                               "error": None}
        return respond(view, mt, status_code=202, headers={**headers, "Location": f"/jobs/{job_id}"})
    if isinstance(envelope, Finished):
        metrics.jobs.labels("finished").inc()
        metrics.observe_result(envelope.result)
        return await respond_async(envelope.result, mt, headers=headers)
    if isinstance(envelope, Canceled):
        metrics.jobs.labels("canceled").inc()
        raise ProblemError(jobs.canceled(job_id), headers=headers)
    metrics.jobs.labels("failed").inc()
    raise ProblemError({**envelope.problem, "job_id": job_id}, headers=headers)


def _job_request(state: Any, body: InversionRequest,
                 meta: DatasetMeta | None = None) -> tuple[JobRequest, int | None]:
    """The job's request and batch size, after checking the request against its dataset (404, 422)."""
    meta = meta or state.store.meta(body.dataset_id, recent=True)
    if meta is None:
        raise not_found("dataset", body.dataset_id, loc=["body", "dataset_id"])
    settings = resolve_settings(body.settings, state.config.settings)
    batch_size = check_inversion(body, meta, state.config.limits.max_batch, settings)
    return JobRequest(linear_objects=body.linear_objects, settings=settings, outputs=body.outputs), batch_size
