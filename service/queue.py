"""The only module of the API that talks to RQ: enqueue inversion jobs, wait for them, report, cancel and reap them.

A job's return value is an envelope (:mod:`service.contract.jobs`): :class:`Finished`, :class:`Failed` or
:class:`Canceled`. A job that raised (RQ's hard time limit, a lost worker) has an RQ failure instead, turned here into
a problem from the verdict recorded for it, without server internals.

Jobs never get lost with their worker: :mod:`service.reaper` requeues or fails the jobs whose worker stopped
beating or whose deadline passed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.client import Pipeline
from rq import Queue, Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimit, RateLimitRegistry
from rq.results import Result
from starlette.concurrency import run_in_threadpool

from service.config import JobsConfig, Limits
from service.contract import jobs
from service.contract.jobs import Canceled, Envelope, Failed, Finished, JobPayload, JobRequest
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


class QueueFull(Exception):
    """More jobs are waiting for a worker than ``limits.max_queued_jobs``."""


class OverQuota(Exception):
    """The key already has as many unfinished jobs (or evaluations) as its limits allow."""

    def __init__(self, admission: Admission):
        super().__init__(f"{admission.jobs} jobs, {admission.evaluations} evaluations")
        self.admission = admission


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
    def enqueue(self, dataset_id: str, request: JobRequest, batch_size: int | None, owner: str,
                also: Callable[[Pipeline], Any] | None = None) -> str:
        """Enqueue one job evaluating ``request`` (validated, with ``batch_size`` B or None) on the dataset for
        ``owner``; return its id.

        Raises :class:`QueueFull` when too many jobs wait for a worker, :class:`OverQuota` when the key is at
        its limits. The worker stops the job itself at ``job_timeout_s`` (checked between batch chunks); RQ's
        death penalty is a backstop a few seconds later. ``also`` may add commands to the transaction that
        enqueues the job (the caller's bookkeeping rides along instead of costing its own round trip).

        Without fair share (an open service) the commands RQ would send to write and push the job are collected
        unsent and run by the admission script once the job is admitted: admission plus enqueueing are one round
        trip to Redis, as atomic as RQ's own transaction. With fair share RQ's rate limiter needs its own steps.
        """
        job_id, options = self._job(dataset_id, request, batch_size)
        evaluations = batch_size or 1
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

    async def submit(self, dataset_id: str, request: JobRequest, batch_size: int | None, owner: str,
                     also: Callable[[Pipeline], Any] | None = None, offload: bool = False) -> str:
        """:meth:`enqueue` for the event loop: its one round trip awaited on the asyncio client. ``offload``: the
        payload is large, so RQ serialises it in the thread pool (fair share, whose RQ steps are synchronous, runs
        :meth:`enqueue` there in any case)."""
        if self.fair_share:
            return await run_in_threadpool(self.enqueue, dataset_id, request, batch_size, owner, also)
        job_id, options = self._job(dataset_id, request, batch_size)
        evaluations = batch_size or 1
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

    def _job(self, dataset_id: str, request: JobRequest, batch_size: int | None) -> tuple[str, dict[str, Any]]:
        """A new job id and the options of RQ's ``enqueue_call`` for it (the payload a :class:`JobPayload`)."""
        job_id = uuid.uuid4().hex
        payload = JobPayload(job_id=job_id, dataset_id=dataset_id, batch_size=batch_size, enqueued_at=time.time(),
                             timeout_s=self.jobs.job_timeout_s, result_ttl_s=self.jobs.result_ttl_s, request=request)
        retries = self.jobs.worker_lost_retries
        return job_id, dict(
            args=(payload.to_wire(),),
            job_id=job_id,
            timeout=self.jobs.job_timeout_s + HARD_TIMEOUT_MARGIN_S,
            result_ttl=self.jobs.result_ttl_s,
            ttl=self.jobs.queued_ttl_s,
            failure_ttl=self.jobs.failure_ttl_s,
            description=f"inversion dataset={dataset_id[:12]} B={batch_size}",
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
    def _envelope(self, job_id: str, result: Result | None, verdict: bytes | None = None) -> Envelope | None:
        """The envelope of a result entry (None when there is none yet). ``verdict``: the verdict recorded for the
        job (:func:`_failed` results only; see :meth:`_verdict`)."""
        if result is None or result.type == Result.Type.RETRIED:
            return None
        if result.type == Result.Type.SUCCESSFUL:
            envelope = jobs.envelope_from_wire(result.return_value)
            if envelope is None:
                log.error("job %s returned something that is not an envelope", job_id)
                return Failed(jobs.job_failed(job_id))
            return envelope
        if result.type == Result.Type.STOPPED:
            return Canceled()
        if verdict is None:
            log.error("job %s failed in the worker: %s", job_id,
                      (result.exc_string or "").strip().splitlines()[-1:] or "")
        return Failed(self._failure(job_id, verdict))

    def _verdict(self, job_id: str) -> bytes | None:
        """The verdict recorded for a failed job (``timeout``, ``worker-lost`` or None)."""
        return self.redis.get(self.names.verdict(job_id))

    def _failure(self, job_id: str, verdict: bytes | None) -> dict[str, Any]:
        return jobs.failure_from_verdict(job_id, verdict, self.jobs.job_timeout_s, 1 + self.jobs.worker_lost_retries)

    def _answer(self, job_id: str) -> Envelope | None:
        """The envelope on the job's answer stream (published by the job function itself), if any."""
        entries = self.redis.xrevrange(self.names.answer(job_id), "+", "-", count=1)
        return self._answer_envelope(entries[0][1]) if entries else None

    @staticmethod
    def _answer_envelope(fields: dict[bytes, bytes]) -> Envelope | None:
        return jobs.envelope_from_wire(SERIALIZER.loads(fields[b"envelope"])) if b"envelope" in fields else None

    async def wait(self, job_id: str, timeout_s: float) -> Envelope | None:
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
    def fetch(self, job_id: str) -> Job | None:
        """The RQ job of that id, or None (also for ids RQ would refuse)."""
        try:
            return Job.fetch(job_id, connection=self.redis, serializer=SERIALIZER)
        except (NoSuchJobError, ValueError):  # ValueError: not a valid RQ job id, so not one of ours
            return None

    def view(self, job_id: str) -> dict[str, Any] | None:
        """``{"job_id", "status", "result", "error", "cancel_requested"}``, or None for an unknown job."""
        job = self.fetch(job_id)
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
        if status == JobStatus.STOPPED or isinstance(envelope, Canceled):
            return {**view, "status": "canceled"}
        if envelope is None:
            if status == JobStatus.FAILED:
                return {**view, "status": "failed", "error": self._failure(job_id, self._verdict(job_id))}
            return {**view, "status": "running"}
        return self._ended_view(view, envelope)

    @staticmethod
    def _ended_view(view: dict[str, Any], envelope: Envelope) -> dict[str, Any]:
        if isinstance(envelope, Finished):
            return {**view, "status": "finished", "result": envelope.result}
        if isinstance(envelope, Failed):
            return {**view, "status": "failed", "error": envelope.problem}
        return {**view, "status": "canceled"}

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued job at once, or ask a running one to stop at its next safe point.

        Returns the job's view afterwards, or None for an unknown job. A job that already ended is returned as
        it is (the caller decides whether that is a conflict).
        """
        job = self.fetch(job_id)
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

    # ------------------------------------------------------------------------------------------- stats
    def queued(self) -> int:
        """Jobs waiting for a worker: those in the queue and those waiting for their key's turn to enter it."""
        return self.quota.queued()
