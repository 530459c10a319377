"""The RQ worker class: non-forking (``SimpleWorker``), msgpack serializer, a short-lived claim on the running job.

A forking worker would lose every compiled pipeline and prepared dataset with each work horse (and forking after
JAX starts its threads can deadlock), so jobs run in the worker process itself. Jobs never raise for bad input
(see :mod:`worker.tasks`); RQ's own failure handling covers the rest, so one bad job cannot end the worker.

``SimpleWorker`` cannot heartbeat while a job runs, so RQ would register the job as running for its whole time
limit plus a minute, and a killed worker's job would look alive that long. This class registers the execution
for ``execution_ttl_s`` only and lets the worker's heartbeat thread extend it (:meth:`beat_running`), never past
``deadline_s`` after the start: once the worker dies, or the job overruns, the entry expires and the API's reaper
requeues or fails the job (see :mod:`service.queue`).

Per-job Redis round trips are what a tiny evaluation's latency is made of (each costs 0.1-0.2 ms here), so RQ's
per-job bookkeeping is trimmed where that changes nothing anyone reads:

* the worker heartbeat (``last_heartbeat`` and two expiries, three round trips, sent up to three times per job) is
  one pipeline, and is skipped when the same expiry was written less than :data:`HEARTBEAT_COALESCE_S` ago. The
  worker's own key always gets RQ's idle expiry (``worker_ttl`` + 60 s), also while a job runs: what detects a dead
  worker is the job's registration (``execution_ttl_s``) and the readiness heartbeat, not this key;
* a worker state already written is not written again;
* ``rq suspend`` is looked for at most once per :data:`SUSPENSION_CHECK_S` instead of before every job;
* the job's ``last_heartbeat`` is not written once more between the job's end and its result (RQ does that to
  cover success/failure callbacks, which these jobs do not have);
* RQ's two steps before a job runs (register the execution and mark the worker busy; then mark the job started,
  heartbeat, and drop it from the intermediate queue) are one transaction instead of two (:meth:`prepare_execution`);
* the worker's idle state after a job rides on the transaction that records the job's end.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Any

from redis.exceptions import RedisError
from rq.executions import Execution
from rq.timeouts import JobTimeoutException
from rq.utils import now
from rq.worker import SimpleWorker, WorkerStatus

from service.contract.jobs import TIMEOUT
from service.contract.names import SERIALIZER, Names

#: A heartbeat with the same expiry as one sent less than this many seconds ago is not sent again (the expiries
#: RQ asks for are minutes, so the key's remaining life never falls more than this short of what RQ intended).
HEARTBEAT_COALESCE_S = 1.0
#: Seconds between two looks for ``rq suspend`` while jobs keep coming.
SUSPENSION_CHECK_S = 1.0


class InversionWorker(SimpleWorker):
    """A ``SimpleWorker`` with the service's msgpack serializer and a heartbeat-extended job registration."""

    max_connection_wait_time = 5.0  # reconnect to Redis within seconds after an outage

    def __init__(self, *args: Any, execution_ttl_s: float = 10.0, deadline_s: float | None = None,
                 verdicts: Names | None = None, verdict_ttl_s: int = 86400, **kwargs: Any):
        kwargs.setdefault("serializer", SERIALIZER)
        kwargs.setdefault("log_job_description", True)
        super().__init__(*args, **kwargs)
        self.execution_ttl_s = max(2, math.ceil(execution_ttl_s))
        self.deadline_s = deadline_s
        self.stop_signalled = False
        self.verdicts, self.verdict_ttl_s = verdicts, verdict_ttl_s
        self._running: tuple[Any, Any, float] | None = None
        self._running_lock = threading.Lock()
        self._last_beat: tuple[float, int] | None = None  # (time.monotonic(), expiry) of the last heartbeat
        self._written_state: str | None = None
        self._suspension_checked = -math.inf
        self._prepared: str | None = None  # id of the job whose start prepare_execution has written already

    def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
        """How long the job's registration lives unless the heartbeat thread extends it."""
        return self.execution_ttl_s

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's worker heartbeat, as one round trip, and none when the same one was just sent."""
        timeout = max(timeout or 0, self.worker_ttl + 60)
        clock = time.monotonic()
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
        else:
            last = self._last_beat
            if last is not None and last[1] == timeout and clock - last[0] < HEARTBEAT_COALESCE_S:
                return
            with self.connection.pipeline(transaction=False) as pipe:
                super().heartbeat(timeout, pipeline=pipe)
                pipe.execute()
        self._last_beat = (clock, timeout)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's ``set_state``, skipping the write when Redis already holds this state."""
        if pipeline is None and state == self._written_state:
            self._state = state
            return
        super().set_state(state, pipeline=pipeline)
        self._written_state = state

    def increment_successful_job_count(self, pipeline: Any = None) -> None:
        """RQ's counter, and (within the same transaction that records the job's end) the worker's idle state,
        which RQ would write with a round trip of its own right after."""
        super().increment_successful_job_count(pipeline)
        if pipeline is not None:
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)

    def increment_failed_job_count(self, pipeline: Any = None) -> None:
        super().increment_failed_job_count(pipeline)
        if pipeline is not None:
            self.set_state(WorkerStatus.IDLE, pipeline=pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check for ``rq suspend``, at most once per :data:`SUSPENSION_CHECK_S`."""
        clock = time.monotonic()
        if clock - self._suspension_checked < SUSPENSION_CHECK_S:
            return
        super().check_for_suspension(burst)
        self._suspension_checked = time.monotonic()

    def handle_execution_ended(self, job: Any, queue: Any, heartbeat_ttl: int) -> None:
        """Record the end time; no job heartbeat (it only covers callbacks, and these jobs have none)."""
        job.ended_at = now()

    def prepare_execution(self, job: Any) -> Any:
        """RQ's ``prepare_execution`` and ``prepare_job_execution`` (which ``perform_job`` then skips) in one
        transaction: the same writes, one round trip instead of two, and no moment where the job is registered as
        executing but not yet marked started."""
        ttl = self.get_heartbeat_ttl(job)
        with self.connection.pipeline() as pipe:
            execution = Execution.create(job, ttl, pipeline=pipe, worker_name=self.name)
            self.executions[execution.id] = execution
            self.set_state(WorkerStatus.BUSY, pipeline=pipe)
            self.heartbeat(ttl, pipeline=pipe)
            job.heartbeat(now(), ttl, pipeline=pipe)
            job.prepare_for_execution(self.name, pipeline=pipe)
            pipe.persist(job.key)
            if len(self.queues) == 1:  # RQ's condition: one queue = jobs are dequeued through its intermediate list
                pipe.lrem(self.queues[0].intermediate_queue_key, 1, job.id)
            pipe.execute()
        self._prepared = job.id
        with self._running_lock:
            self._running = (job, execution, time.time())
        return execution

    def prepare_job_execution(self, job: Any, remove_from_intermediate_queue: bool = False) -> None:
        """Done already by :meth:`prepare_execution` for this job."""
        if self._prepared != job.id:
            super().prepare_job_execution(job, remove_from_intermediate_queue)
        self._prepared = None

    def execute_job(self, job: Any, queue: Any) -> None:
        try:
            super().execute_job(job, queue)
        finally:
            with self._running_lock:
                self._running = None

    def beat_running(self) -> None:
        """Extend the running job's registration (called by the heartbeat thread; no-op when idle)."""
        with self._running_lock:
            running = self._running
        if running is None:
            return
        job, execution, started = running
        ttl = self.execution_ttl_s
        if self.deadline_s is not None:
            ttl = min(ttl, math.floor(started + self.deadline_s - time.time()))
        if ttl <= 0:
            return  # past the deadline: the registration expires and the API fails the job as timed out
        with self.connection.pipeline() as pipe:
            execution.heartbeat(job.started_job_registry, ttl, pipeline=pipe)
            pipe.expire(self.key, ttl + 60)
            pipe.execute()

    def handle_exception(self, job: Any, *exc_info: Any) -> None:
        """Record RQ's hard time limit as the job's verdict before RQ writes the failure (RQ calls this first), so
        the API reports a timeout from the verdict instead of reading exception text."""
        if self.verdicts is not None and isinstance(exc_info[1], JobTimeoutException):
            with contextlib.suppress(RedisError):
                self.connection.set(self.verdicts.verdict(job.id), TIMEOUT, ex=self.verdict_ttl_s)
        super().handle_exception(job, *exc_info)

    def request_stop(self, signum: Any, frame: Any) -> None:
        self.stop_signalled = True
        super().request_stop(signum, frame)
