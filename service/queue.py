"""The only module of the API that talks to RQ: enqueue inversion jobs, wait for them, report, cancel and reap them.

A job's return value is an *envelope* written by the worker (:mod:`worker.tasks`):
``{"result": {...}}`` on success, ``{"error": problem}`` for an input or numerical error, ``{"canceled": true}``
when a cancel request reached it. A job that raised (timeout, crash) has an RQ failure instead, turned here into
a problem without server internals.

Jobs never get lost with their worker. While a job runs, its worker's heartbeat thread keeps the job's entry in
RQ's started-job registry fresh for ``worker.heartbeat_ttl_s`` seconds, but never past the job's deadline
(``jobs.job_timeout_s + jobs.timeout_grace_s`` after it started). :meth:`JobQueue.reap`, run by the API every
``jobs.reap_interval_s``, hands the expired entries to RQ's abandoned-job handling: a job whose worker died is
queued again (``jobs.worker_lost_retries`` times) and then failed as "worker lost"; a job past its deadline is
failed as "timed out". Either way a failure Result is written, which wakes the requests waiting for it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.client import Pipeline
from rq import Queue, Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimit, RateLimitRegistry
from rq.registry import StartedJobRegistry
from rq.results import Result
from starlette.concurrency import run_in_threadpool

from service.config import JobsConfig, Limits
from service.contract import problems
from service.contract.names import JOB_FUNCTION, SERIALIZER, Names
from service.negotiation import THREAD_THRESHOLD
from service.quota import Admission, QueueKeys, Quota

log = logging.getLogger(__name__)

_QUEUED = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED, JobStatus.RATE_LIMITED,
           JobStatus.READY_TO_ENQUEUE}
_UNFINISHED = _QUEUED | {JobStatus.STARTED}
_BLOCK_SLICE_MS = 1000
#: Seconds the RQ death penalty (SIGALRM) waits beyond the job's own, cooperative deadline.
HARD_TIMEOUT_MARGIN_S = 5
TIMEOUT, WORKER_LOST = b"timeout", b"worker-lost"


class QueueFull(Exception):
    """More jobs are waiting for a worker than ``limits.max_queued_jobs``."""


class OverQuota(Exception):
    """The key already has as many unfinished jobs (or evaluations) as its limits allow."""

    def __init__(self, admission: Admission):
        super().__init__(f"{admission.jobs} jobs, {admission.evaluations} evaluations")
        self.admission = admission


def failure_problem(job_id: str, exc_string: str | None, verdict: bytes | None, jobs: JobsConfig) -> dict[str, Any]:
    """The problem of a job that did not end by itself in the worker (no traceback or path is exposed)."""
    if verdict == TIMEOUT or (exc_string and "JobTimeoutException" in exc_string):
        return problems.problem(
            504, "Job timed out", f"the evaluation exceeded the job time limit ({jobs.job_timeout_s} s) and was "
            "stopped; split the batch into smaller requests", type=problems.JOB_FAILED, job_id=job_id)
    if verdict == WORKER_LOST or (exc_string and "AbandonedJobError" in exc_string):
        tries = 1 + jobs.worker_lost_retries
        return problems.problem(
            503, "Worker lost", f"the worker running this job stopped (crashed or was killed) before finishing it, "
            f"{tries} time{'s' if tries > 1 else ''}; submit the request again, perhaps with a smaller batch",
            type=problems.JOB_FAILED, job_id=job_id)
    log.error("job %s failed in the worker: %s", job_id, (exc_string or "").strip().splitlines()[-1:] or "")
    return problems.problem(500, "Job failed", "the worker failed while evaluating this job; the failure was logged",
                            type=problems.INTERNAL, job_id=job_id)


def _check(admission: Admission) -> None:
    if admission.queue_full:
        raise QueueFull
    if not admission.admitted:
        raise OverQuota(admission)


def _failed(result: Result | None) -> bool:
    """Whether a result entry records a failure (whose problem depends on the reaper's verdict)."""
    return result is not None and result.type not in (Result.Type.SUCCESSFUL, Result.Type.STOPPED,
                                                      Result.Type.RETRIED)


class JobQueue:
    """Inversion jobs of one namespace."""

    def __init__(self, redis: Redis, aredis: AsyncRedis, names: Names, jobs: JobsConfig, limits: Limits,
                 fair_share: bool = True):
        self.redis = redis
        #: an asyncio client of the same Redis: what the event loop awaits (:meth:`submit`, :meth:`wait`)
        self.aredis = aredis
        self.names = names
        self.jobs = jobs
        self.limits = limits
        #: route jobs through RQ's per-key rate limiter (``limits.per_key_concurrency``); pointless, and a few
        #: tenths of a millisecond per job, when the service is open and everyone is one key
        self.fair_share = fair_share and limits.per_key_concurrency is not None
        self.queue = Queue(names.queue, connection=redis, serializer=SERIALIZER)
        key_ttl = jobs.queued_ttl_s + jobs.job_timeout_s + int(jobs.timeout_grace_s) + 60
        marker = "\x00"
        waiting_prefix, _, waiting_suffix = RateLimitRegistry(marker, redis).rate_limited_key.partition(marker)
        queue_keys = QueueKeys(self.queue.key, RateLimitRegistry.rl_keys_key, names.rate_limit(""), waiting_prefix,
                               waiting_suffix)
        self.quota = Quota(redis, aredis, names, limits, Job.redis_job_namespace_prefix, key_ttl, queue_keys)

    # ------------------------------------------------------------------------------------------- enqueue
    def enqueue(self, payload: dict[str, Any], description: str, owner: str, evaluations: int = 1,
                also: Callable[[Pipeline], Any] | None = None) -> str:
        """Enqueue one job running ``worker.tasks.run_inversion(payload)`` for ``owner``; return its id.

        Raises :class:`QueueFull` when too many jobs wait for a worker, :class:`OverQuota` when the key is at
        its limits. The worker stops the job itself at ``job_timeout_s`` (checked between batch chunks); RQ's
        death penalty is a backstop a few seconds later. ``also`` may add commands to the transaction that
        enqueues the job (the caller's bookkeeping rides along instead of costing its own round trip).

        Without fair share (an open service) the commands RQ would send to write and push the job are collected
        unsent and run by the admission script once the job is admitted: admission plus enqueueing are one round
        trip to Redis, as atomic as RQ's own transaction. With fair share RQ's rate limiter needs its own steps.
        """
        job_id, options = self._job(payload, description)
        if self.fair_share:
            _check(self.quota.admit(owner, job_id, evaluations))
            try:
                rate_limit = RateLimit(self.names.rate_limit(owner), self.limits.per_key_concurrency)
                self.queue.enqueue_call(JOB_FUNCTION, rate_limit=rate_limit, **options)
                if also is not None:
                    also(self.redis.pipeline(transaction=False)).execute()
            except BaseException:
                self.quota.release(owner, job_id)
                raise
            return job_id
        try:
            _check(self.quota.admit(owner, job_id, evaluations, self._enqueue_commands(options, also)))
        except (QueueFull, OverQuota):
            raise
        except BaseException:
            self.quota.release(owner, job_id)  # the script failed after admitting (a Redis error mid-way)
            raise
        return job_id

    async def submit(self, payload: dict[str, Any], description: str, owner: str, evaluations: int = 1,
                     also: Callable[[Pipeline], Any] | None = None, offload: bool = False) -> str:
        """:meth:`enqueue` for the event loop: its one round trip awaited on the asyncio client. ``offload``: the
        payload is large, so RQ serialises it in the thread pool (fair share, whose RQ steps are synchronous, runs
        :meth:`enqueue` there in any case)."""
        if self.fair_share:
            return await run_in_threadpool(self.enqueue, payload, description, owner, evaluations, also)
        job_id, options = self._job(payload, description)
        if offload:
            commands = await run_in_threadpool(self._enqueue_commands, options, also)
        else:
            commands = self._enqueue_commands(options, also)
        try:
            _check(await self.quota.admit_async(owner, job_id, evaluations, commands))
        except (QueueFull, OverQuota):
            raise
        except BaseException:
            await self.quota.release_async(owner, job_id)
            raise
        return job_id

    def _job(self, payload: dict[str, Any], description: str) -> tuple[str, dict[str, Any]]:
        """A new job id and the options of RQ's ``enqueue_call`` for it."""
        job_id = uuid.uuid4().hex
        payload = {**payload, "job_id": job_id, "enqueued_at": time.time(), "timeout_s": self.jobs.job_timeout_s,
                   "result_ttl_s": self.jobs.result_ttl_s}
        retries = self.jobs.worker_lost_retries
        return job_id, dict(
            args=(payload,),
            job_id=job_id,
            timeout=self.jobs.job_timeout_s + HARD_TIMEOUT_MARGIN_S,
            result_ttl=self.jobs.result_ttl_s,
            ttl=self.jobs.queued_ttl_s,
            failure_ttl=self.jobs.failure_ttl_s,
            description=description,
            retry=Retry(max=retries, enqueue_at_front=True) if retries else None,
        )

    def _enqueue_commands(self, options: dict[str, Any], also: Callable[[Pipeline], Any] | None) -> list[tuple]:
        """The Redis commands with which RQ would enqueue the job (written into a pipeline that is never sent)."""
        with self.redis.pipeline(transaction=True) as pipe:
            self.queue.enqueue_call(JOB_FUNCTION, pipeline=pipe, **options)
            if also is not None:
                also(pipe)
            commands = [args for args, _ in pipe.command_stack]
            pipe.reset()
        return commands

    # ------------------------------------------------------------------------------------------- results
    def _envelope(self, job_id: str, result: Result | None, verdict: bytes | None = None) -> dict[str, Any] | None:
        """The envelope of a result entry (None when there is none yet). ``verdict``: the reaper's verdict on the
        job (:func:`_failed` results only; see :meth:`_verdict`)."""
        if result is None:
            return None
        if result.type == Result.Type.SUCCESSFUL:
            value = result.return_value
            if isinstance(value, dict) and ("result" in value or "error" in value or "canceled" in value):
                return value
            return {"error": failure_problem(job_id, "unexpected return value", None, self.jobs)}
        if result.type == Result.Type.STOPPED:
            return {"canceled": True}
        if result.type == Result.Type.RETRIED:
            return None
        return {"error": failure_problem(job_id, result.exc_string, verdict, self.jobs)}

    def _verdict(self, job_id: str) -> bytes | None:
        """The reaper's verdict on a job (``timeout``, ``worker-lost`` or None)."""
        return self.redis.get(self.names.verdict(job_id))

    def _failure(self, job_id: str, exc_string: str | None) -> dict[str, Any]:
        return failure_problem(job_id, exc_string, self._verdict(job_id), self.jobs)

    def _answer(self, job_id: str) -> dict[str, Any] | None:
        """The envelope on the job's answer stream (published by the job function itself), if any."""
        entries = self.redis.xrevrange(self.names.answer(job_id), "+", "-", count=1)
        return self._answer_envelope(entries[0][1]) if entries else None

    @staticmethod
    def _answer_envelope(fields: dict[bytes, bytes]) -> dict[str, Any] | None:
        value = SERIALIZER.loads(fields[b"envelope"]) if b"envelope" in fields else None
        return value if isinstance(value, dict) and value.keys() & {"result", "error", "canceled"} else None

    async def wait(self, job_id: str, timeout_s: float) -> dict[str, Any] | None:
        """Wait up to ``timeout_s`` for the job's envelope, on the asyncio client; None if it is not done by then.

        Blocks on two streams at once: the job's answer stream, written by the job function the moment it has the
        envelope, and RQ's result stream of the job (failures the job function never saw: time limit, lost
        worker; and envelopes too large for the answer stream). Blocks in slices of at most a second, so the
        Redis socket timeout never fires and a Redis outage is noticed within a second. A waiting request holds a
        Redis connection, not a thread.
        """
        aredis = self.aredis
        answer_key, result_key = self.names.answer(job_id), Result.get_key(job_id)
        deadline = time.monotonic() + max(0.0, timeout_s)
        last = {answer_key: "0-0", result_key: "0-0"}
        while True:
            ms = int((deadline - time.monotonic()) * 1000)
            if ms <= 0:  # a last look, without blocking
                entries = await aredis.xrevrange(answer_key, "+", "-", count=1)
                answer = self._answer_envelope(entries[0][1]) if entries else None
                if answer is not None:
                    return answer
                entries = await aredis.xrevrange(result_key, "+", "-", count=1)
                found: Any = [(result_key.encode(), entries)] if entries else []
            else:
                found = await aredis.xread(last, block=min(ms, _BLOCK_SLICE_MS)) or []
            for stream, entries in (found.items() if isinstance(found, dict) else found):  # RESP3: a map
                entry_id, fields = entries[-1]
                name = stream.decode() if isinstance(stream, bytes) else stream
                last[name] = entry_id.decode()
                if name == answer_key:
                    envelope = self._answer_envelope(fields)
                else:
                    def restore(entry_id: str = last[name], fields: dict = fields) -> Result:
                        return Result.restore(job_id, entry_id, fields, connection=self.redis, serializer=SERIALIZER)

                    large = len(fields.get(b"return_value") or b"") > THREAD_THRESHOLD
                    result = await run_in_threadpool(restore) if large else restore()
                    verdict = await aredis.get(self.names.verdict(job_id)) if _failed(result) else None
                    envelope = self._envelope(job_id, result, verdict)
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
        if status == JobStatus.CANCELED:
            return {**view, "status": "canceled"}
        if status in _UNFINISHED:
            # RQ may not have recorded the end yet, although the job function already answered
            answer = self._answer(job_id)
            if answer is None:
                return view if status in _QUEUED else {**view, "status": "running"}
            return self._ended_view(view, answer)
        result = Result.fetch_latest(job, serializer=SERIALIZER)
        envelope = self._envelope(job_id, result, self._verdict(job_id) if _failed(result) else None)
        if status == JobStatus.STOPPED or (envelope and envelope.get("canceled")):
            return {**view, "status": "canceled"}
        if envelope is None:
            if status == JobStatus.FAILED:
                return {**view, "status": "failed", "error": self._failure(job_id, job.exc_info)}
            return {**view, "status": "running"}
        return self._ended_view(view, envelope)

    @staticmethod
    def _ended_view(view: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
        if envelope.get("canceled"):
            return {**view, "status": "canceled"}
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
        if status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED) or (
                status in _UNFINISHED and self._answer(job_id) is not None):
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

    # ------------------------------------------------------------------------------------------- reaping
    def reap(self) -> int:
        """Requeue or fail the running jobs whose worker stopped beating or whose deadline passed; return how many.

        One API process at a time does this (a lock in Redis). Entries of the started-job registry that expired
        are classified first by the worker's readiness heartbeat: worker gone = worker lost (retried while
        retries are left); worker alive = the job overran its deadline (failed as timed out, never retried).
        RQ's own abandoned-job handling then requeues or fails them, writing the failure Result that wakes
        waiting requests.
        """
        token = uuid.uuid4().hex
        lock_ms = max(1000, int(self.jobs.reap_interval_s * 5000))
        if not self.redis.set(self.names.reaper_lock, token, nx=True, px=lock_ms):
            return 0
        try:
            registry = StartedJobRegistry(queue=self.queue)
            now = time.time()
            expired = {key.decode(): key.decode().split(":", 1)[0]
                       for key in self.redis.zrangebyscore(registry.key, 0, int(now))}
            deadline_s = self.jobs.job_timeout_s + self.jobs.timeout_grace_s
            reaped = 0
            for composite, job_id in expired.items():
                job = self._fetch(job_id)
                if job is None or job.get_status(refresh=False) != JobStatus.STARTED:
                    reaped += 1  # a leftover entry; RQ's cleanup drops it
                    continue
                started = job.started_at.replace(tzinfo=job.started_at.tzinfo or UTC).timestamp() \
                    if job.started_at else now
                alive = bool(job.worker_name) and bool(self.redis.exists(self.names.worker(job.worker_name)))
                if alive and now - started < deadline_s - 1:
                    # expired a little early (whole-second scores) while its worker still beats: decide later
                    self.redis.zadd(registry.key, {composite: int(now) + 2}, xx=True)
                    continue
                verdict = TIMEOUT if alive else WORKER_LOST
                pipe = self.redis.pipeline()
                pipe.set(self.names.verdict(job_id), verdict, ex=self.jobs.failure_ttl_s)
                if verdict == TIMEOUT:
                    pipe.hset(job.key, "retries_left", 0)
                pipe.execute()
                log.warning("job %s: %s (worker %s)", job_id,
                            "past its deadline" if verdict == TIMEOUT else "its worker stopped beating",
                            job.worker_name)
                reaped += 1
            if reaped:
                registry.cleanup()
            self._release_stale_slots()
            return reaped
        finally:
            if self.redis.get(self.names.reaper_lock) == token.encode():
                self.redis.delete(self.names.reaper_lock)

    def _rate_limit_keys(self) -> list[str]:
        prefix = self.names.rate_limit("")
        return [k for k in (m.decode() for m in self.redis.smembers(RateLimitRegistry.rl_keys_key))
                if k.startswith(prefix)]

    def _release_stale_slots(self) -> None:
        """Free per-key slots held by jobs that no longer exist or ended (e.g. expired in the queue)."""
        for key in self._rate_limit_keys():
            RateLimitRegistry(key, self.redis).cleanup()

    # ------------------------------------------------------------------------------------------- stats
    def queued(self) -> int:
        """Jobs waiting for a worker: those in the queue and those waiting for their key's turn to enter it."""
        return self.quota.queued()
