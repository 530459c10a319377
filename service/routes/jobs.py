"""``/jobs/{id}``: the state of an inversion job (with its result or problem), and cancellation."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from service.contract.responses import JobView
from service.deps import MediaTypeDep, QueueDep
from service.errors import conflict, not_found
from service.negotiation import openapi_problems, openapi_response, respond

router = APIRouter(tags=["jobs"])


@router.get(
    "/jobs/{job_id}",
    summary="Job status and result",
    responses={200: openapi_response(JobView, "The job"), **openapi_problems(401, 404, 406, 422, 503)},
)
def get_job(job_id: str, queue: QueueDep, mt: MediaTypeDep) -> Response:
    view = queue.view(job_id)
    if view is None:
        raise not_found("job", job_id)
    return respond(view, mt)


@router.delete(
    "/jobs/{job_id}",
    summary="Cancel a job",
    description="A queued job is canceled at once (200); a running one stops at its next safe point (202).",
    responses={
        200: openapi_response(JobView, "Canceled"),
        202: openapi_response(JobView, "Cancel requested; the running job stops at its next safe point"),
        **openapi_problems(401, 404, 406, 409, 422, 503),
    },
)
def cancel_job(job_id: str, queue: QueueDep, mt: MediaTypeDep) -> Response:
    view = queue.cancel(job_id)
    if view is None:
        raise not_found("job", job_id)
    if view["status"] in ("finished", "failed"):
        raise conflict(f"job {job_id} has already {view['status']}; there is nothing to cancel")
    return respond(view, mt, status_code=200 if view["status"] == "canceled" else 202)
