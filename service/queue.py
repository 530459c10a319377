"""The only module of the API that talks to RQ: enqueue inversion jobs, wait for them, report and cancel them.

A job's return value is an *envelope* written by the worker (:mod:`worker.tasks`):
``{"result": {...}}`` on success, ``{"error": problem}`` for an input or numerical error, ``{"canceled": true}``
when a cancel request reached it. A job that raised (timeout, crash) has an RQ failure instead, turned here into
a problem without server internals.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from redis import Redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.results import Result

from service.config import JobsConfig, Limits
from service.contract import problems
from service.contract.names import JOB_FUNCTION, SERIALIZER, Names

log = logging.getLogger(__name__)

_QUEUED = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED, JobStatus.RATE_LIMITED,
           JobStatus.READY_TO_ENQUEUE}


_BLOCK_SLICE_MS = 1000


class QueueFull(Exception):
    """More jobs are queued than ``limits.max_queued_jobs``."""


def _failure_problem(job_id: str, exc_string: str | None, timeout_s: int | None) -> dict[str, Any]:
    """The problem of a job that raised in the worker (no traceback or path is exposed)."""
    if exc_string and "JobTimeoutException" in exc_string:
        return problems.problem(504, "Job timed out",
                                f"the evaluation exceeded the job time limit ({timeout_s} s) and was stopped",
                                type=problems.JOB_FAILED, job_id=job_id)
    if exc_string and ("AbandonedJobError" in exc_string or "abandoned" in exc_string.lower()):
        return problems.problem(503, "Worker lost", "the worker running this job stopped before finishing it; "
                                "submit the request again", type=problems.JOB_FAILED, job_id=job_id)
    log.error("job %s failed in the worker: %s", job_id, (exc_string or "").strip().splitlines()[-1:] or "")
    return problems.problem(500, "Job failed", "the worker failed while evaluating this job; the failure was logged",
                            type=problems.INTERNAL, job_id=job_id)


class JobQueue:
    """Inversion jobs of one namespace."""

    def __init__(self, redis: Redis, names: Names, jobs: JobsConfig, limits: Limits):
        self.redis = redis
        self.names = names
        self.jobs = jobs
        self.limits = limits
        self.queue = Queue(names.queue, connection=redis, serializer=SERIALIZER)

    # ------------------------------------------------------------------------------------------- enqueue
    def enqueue(self, payload: dict[str, Any], description: str) -> str:
        """Enqueue one job running ``worker.tasks.run_inversion(payload)``; return its id."""
        if self.queue.count >= self.limits.max_queued_jobs:
            raise QueueFull
        job_id = uuid.uuid4().hex
        payload = {**payload, "job_id": job_id, "enqueued_at": time.time()}
        self.queue.enqueue_call(
            JOB_FUNCTION,
            args=(payload,),
            job_id=job_id,
            timeout=self.jobs.job_timeout_s,
            result_ttl=self.jobs.result_ttl_s,
            ttl=self.jobs.queued_ttl_s,
            failure_ttl=self.jobs.failure_ttl_s,
            description=description,
        )
        return job_id

    # ------------------------------------------------------------------------------------------- results
    def _envelope(self, job_id: str, result: Result | None) -> dict[str, Any] | None:
        """The envelope of a result entry (None when there is none yet)."""
        if result is None:
            return None
        if result.type == Result.Type.SUCCESSFUL:
            value = result.return_value
            if isinstance(value, dict) and ("result" in value or "error" in value or "canceled" in value):
                return value
            return {"error": _failure_problem(job_id, "unexpected return value", None)}
        if result.type == Result.Type.STOPPED:
            return {"canceled": True}
        if result.type == Result.Type.RETRIED:
            return None
        return {"error": _failure_problem(job_id, result.exc_string, self.jobs.job_timeout_s)}

    def wait(self, job_id: str, timeout_s: float) -> dict[str, Any] | None:
        """Block up to ``timeout_s`` for the job's envelope; None if it is not done by then.

        Blocks on the job's RQ result stream in slices of at most a second, so the Redis socket timeout never
        fires and a Redis outage is noticed within a second.
        """
        key = Result.get_key(job_id)
        deadline = time.monotonic() + max(0.0, timeout_s)
        last = "0-0"
        while True:
            ms = int((deadline - time.monotonic()) * 1000)
            if ms <= 0:
                entries = self.redis.xrevrange(key, "+", "-", count=1)
                payload = entries[0] if entries else None
            else:
                response = self.redis.xread({key: last}, block=min(ms, _BLOCK_SLICE_MS))
                payload = response[0][1][-1] if response else None
            if payload is not None:
                result_id, fields = payload
                last = result_id.decode()
                result = Result.restore(job_id, last, fields, connection=self.redis, serializer=SERIALIZER)
                envelope = self._envelope(job_id, result)
                if envelope is not None:
                    return envelope
            if ms <= 0:
                return None

    # ------------------------------------------------------------------------------------------- status
    def _fetch(self, job_id: str) -> Job | None:
        try:
            return Job.fetch(job_id, connection=self.redis, serializer=SERIALIZER)
        except (NoSuchJobError, ValueError):  # ValueError: not a valid RQ job id, so not one of ours
            return None

    def view(self, job_id: str) -> dict[str, Any] | None:
        """``{"job_id", "status", "result", "error", "cancel_requested"}``, or None for an unknown job."""
        job = self._fetch(job_id)
        if job is None or job.origin != self.names.queue:
            return None
        status = job.get_status(refresh=False)
        cancel_requested = bool(self.redis.exists(self.names.cancel(job_id)))
        view: dict[str, Any] = {"job_id": job_id, "status": "queued", "result": None, "error": None,
                                "cancel_requested": cancel_requested}
        if status in _QUEUED:
            return view
        if status == JobStatus.STARTED:
            return {**view, "status": "running"}
        if status == JobStatus.CANCELED:
            return {**view, "status": "canceled"}
        envelope = self._envelope(job_id, Result.fetch_latest(job, serializer=SERIALIZER))
        if status == JobStatus.STOPPED or (envelope and envelope.get("canceled")):
            return {**view, "status": "canceled"}
        if envelope is None:
            if status == JobStatus.FAILED:
                return {**view, "status": "failed", "error": _failure_problem(job_id, job.exc_info, None)}
            return {**view, "status": "running"}
        if "result" in envelope:
            return {**view, "status": "finished", "result": envelope["result"]}
        return {**view, "status": "failed", "error": envelope["error"]}

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued job at once, or ask a running one to stop at its next safe point.

        Returns the job's view afterwards, or None for an unknown job. A job that already ended is returned as
        it is (the caller decides whether that is a conflict).
        """
        job = self._fetch(job_id)
        if job is None or job.origin != self.names.queue:
            return None
        status = job.get_status(refresh=False)
        if status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            return self.view(job_id)
        # The flag also covers the race where a worker picks the job up between these two steps.
        self.redis.set(self.names.cancel(job_id), b"1", ex=self.jobs.job_timeout_s + self.jobs.queued_ttl_s)
        if status in _QUEUED:
            try:
                job.cancel()
                self.redis.expire(job.key, self.jobs.result_ttl_s)
            except InvalidJobOperation:
                pass
        return self.view(job_id)

    # ------------------------------------------------------------------------------------------- stats
    def queued(self) -> int:
        """Number of jobs waiting in the queue."""
        return self.queue.count
