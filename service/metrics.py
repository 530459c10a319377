"""Prometheus metrics of the API process (``GET /metrics``), kept in a registry per app instance."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """The service's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("inversion_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("inversion_http_request_seconds", "HTTP request latency", ["route"],
                                 registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.jobs = Counter("inversion_jobs", "inversion jobs by outcome as seen by the API", ["outcome"],
                            registry=self.registry)
        self.queue_ms = Histogram("inversion_job_queue_seconds", "time jobs spent queued", registry=self.registry)
        self.compute_ms = Histogram("inversion_job_compute_seconds", "engine compute time", registry=self.registry)
        self.queued = Gauge("inversion_queue_length", "jobs waiting in the queue", registry=self.registry)
        self.workers = Gauge("inversion_warm_workers", "workers registered as warm", registry=self.registry)

    def observe_result(self, result: dict[str, Any]) -> None:
        """Record the timings of a finished job's result."""
        timings = result.get("timings") or {}
        if "queue_ms" in timings:
            self.queue_ms.observe(float(timings["queue_ms"]) / 1000.0)
        if "compute_ms" in timings:
            self.compute_ms.observe(float(timings["compute_ms"]) / 1000.0)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware counting requests by route template and status."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope.get("method", ""), template, str(status["code"])).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - start)
