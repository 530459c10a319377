"""Jobs of dead workers and jobs past their deadline: requeued or failed, never lost.

While a job runs, its worker's heartbeat thread keeps the job's entry in RQ's started-job registry fresh for
``worker.heartbeat_ttl_s`` seconds, but never past the job's deadline (``jobs.job_timeout_s +
jobs.timeout_grace_s`` after it started). :func:`reap`, run by the API every ``jobs.reap_interval_s``
(:func:`reap_forever`), records a verdict for every expired entry and hands it to RQ's abandoned-job handling: a
job whose worker died is queued again (``jobs.worker_lost_retries`` times) and then failed as "worker lost"; a job
past its deadline is failed as "timed out". Either way a failure Result is written, which wakes the requests
waiting for it, and the API reads the failure's reason from the verdict (:func:`service.contract.jobs.
failure_from_verdict`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC

from redis.exceptions import RedisError
from rq.job import JobStatus
from rq.rate_limit import RateLimitRegistry
from rq.registry import StartedJobRegistry

from service.contract.jobs import TIMEOUT, WORKER_LOST
from service.queue import JobQueue

log = logging.getLogger(__name__)


def reap_forever(queue: JobQueue, interval_s: float, stop: threading.Event) -> None:
    """Background thread of the API: :func:`reap` every ``interval_s`` until ``stop`` is set."""
    while not stop.wait(interval_s):
        try:
            reap(queue)
        except RedisError:
            pass  # Redis is down: the requests answer 503 meanwhile; reaping resumes when it is back
        except Exception:
            log.exception("reaping jobs failed")


def reap(queue: JobQueue) -> int:
    """Requeue or fail the running jobs whose worker stopped beating or whose deadline passed; return how many.

    One API process at a time does this (a lock in Redis). Entries of the started-job registry that expired
    are classified first by the worker's readiness heartbeat: worker gone = worker lost (retried while
    retries are left); worker alive = the job overran its deadline (failed as timed out, never retried).
    RQ's own abandoned-job handling then requeues or fails them, writing the failure Result that wakes
    waiting requests.
    """
    token = uuid.uuid4().hex
    lock_ms = max(1000, int(queue.jobs.reap_interval_s * 5000))
    if not queue.redis.set(queue.names.reaper_lock, token, nx=True, px=lock_ms):
        return 0
    try:
        registry = StartedJobRegistry(queue=queue.queue)
        now = time.time()
        expired = {key.decode(): key.decode().split(":", 1)[0]
                   for key in queue.redis.zrangebyscore(registry.key, 0, int(now))}
        deadline_s = queue.jobs.job_timeout_s + queue.jobs.timeout_grace_s
        reaped = 0
        for composite, job_id in expired.items():
            job = queue.fetch(job_id)
            if job is None or job.get_status(refresh=False) != JobStatus.STARTED:
                reaped += 1  # a leftover entry; RQ's cleanup drops it
                continue
            started = job.started_at.replace(tzinfo=job.started_at.tzinfo or UTC).timestamp() \
                if job.started_at else now
            alive = bool(job.worker_name) and bool(queue.redis.exists(queue.names.worker(job.worker_name)))
            if alive and now - started < deadline_s - 1:
                # expired a little early (whole-second scores) while its worker still beats: decide later
                queue.redis.zadd(registry.key, {composite: int(now) + 2}, xx=True)
                continue
            verdict = TIMEOUT if alive else WORKER_LOST
            pipe = queue.redis.pipeline()
            pipe.set(queue.names.verdict(job_id), verdict, ex=queue.jobs.failure_ttl_s)
            if verdict == TIMEOUT:
                pipe.hset(job.key, "retries_left", 0)
            pipe.execute()
            log.warning("job %s: %s (worker %s)", job_id,
                        "past its deadline" if verdict == TIMEOUT else "its worker stopped beating",
                        job.worker_name)
            reaped += 1
        if reaped:
            registry.cleanup()
        _release_stale_slots(queue)
        return reaped
    finally:
        if queue.redis.get(queue.names.reaper_lock) == token.encode():
            queue.redis.delete(queue.names.reaper_lock)

def _rate_limit_keys(queue: JobQueue) -> list[str]:
    prefix = queue.names.rate_limit("")
    return [k for k in (m.decode() for m in queue.redis.smembers(RateLimitRegistry.rl_keys_key))
            if k.startswith(prefix)]

def _release_stale_slots(queue: JobQueue) -> None:
    """Free per-key slots held by jobs that no longer exist or ended (e.g. expired in the queue)."""
    for key in _rate_limit_keys(queue):
        RateLimitRegistry(key, queue.redis).cleanup()
