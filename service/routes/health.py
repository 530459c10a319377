"""Probes and metrics: ``/healthz`` (alive), ``/readyz`` (Redis + a warm worker), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from redis.exceptions import RedisError
from starlette.responses import JSONResponse, Response

from service.contract.responses import Health, Readiness
from service.deps import NamesDep, QueueDep, RedisDep
from service.readiness import readiness
from service.security import require_api_key

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive", response_model=Health)
async def healthz() -> JSONResponse:
    # answered on the event loop itself, with no thread hop: alive means the loop answers
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="Redis is reachable and at least one worker is warm",
    response_model=Readiness,
    responses={503: {"description": "Not ready", "model": Readiness}},
)
def readyz(redis: RedisDep, names: NamesDep) -> JSONResponse:
    state = readiness(redis, names)
    return JSONResponse(state, status_code=200 if state["ready"] else 503,
                        headers={} if state["ready"] else {"Retry-After": "5"})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    dependencies=[Depends(require_api_key)],
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request, queue: QueueDep, redis: RedisDep, names: NamesDep) -> Response:
    m = request.app.state.metrics
    try:
        m.queued.set(queue.queued())
        m.workers.set(len(readiness(redis, names)["workers"]))
    except RedisError:
        pass
    return Response(m.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
