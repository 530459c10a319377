"""The RQ worker class: non-forking (``SimpleWorker``), msgpack serializer, a short-lived claim on the running job.

A forking worker would lose every compiled pipeline and prepared dataset with each work horse (and forking after
JAX starts its threads can deadlock), so jobs run in the worker process itself. Jobs never raise for bad input
(see :mod:`worker.tasks`); RQ's own failure handling covers the rest, so one bad job cannot end the worker.

``SimpleWorker`` cannot heartbeat while a job runs, so RQ would register the job as running for its whole time
limit plus a minute, and a killed worker's job would look alive that long. This class registers the execution
for ``execution_ttl_s`` only and lets the worker's heartbeat thread extend it (:meth:`beat_running`), never past
``deadline_s`` after the start: once the worker dies, or the job overruns, the entry expires and the API's reaper
requeues or fails the job (see :mod:`service.queue`).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from rq.worker import SimpleWorker

from service.contract.names import SERIALIZER


class InversionWorker(SimpleWorker):
    """A ``SimpleWorker`` with the service's msgpack serializer and a heartbeat-extended job registration."""

    max_connection_wait_time = 5.0  # reconnect to Redis within seconds after an outage

    def __init__(self, *args: Any, execution_ttl_s: float = 10.0, deadline_s: float | None = None, **kwargs: Any):
        kwargs.setdefault("serializer", SERIALIZER)
        kwargs.setdefault("log_job_description", True)
        super().__init__(*args, **kwargs)
        self.execution_ttl_s = max(2, math.ceil(execution_ttl_s))
        self.deadline_s = deadline_s
        self.stop_signalled = False
        self._running: tuple[Any, Any, float] | None = None
        self._running_lock = threading.Lock()

    def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
        """How long the job's registration lives unless the heartbeat thread extends it."""
        return self.execution_ttl_s

    def prepare_execution(self, job: Any) -> Any:
        execution = super().prepare_execution(job)
        with self._running_lock:
            self._running = (job, execution, time.time())
        return execution

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

    def request_stop(self, signum: Any, frame: Any) -> None:
        self.stop_signalled = True
        super().request_stop(signum, frame)
