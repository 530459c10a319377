"""Names shared by the API and the workers: queue names, Redis keys, the job function and the serializer.

Every Redis key of the service starts with a namespace (config ``namespace``, default ``inv``), so several
deployments (or test runs) can share one Redis server. RQ's own keys keep RQ's ``rq:`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from .serializer import MsgpackSerializer

#: The RQ job function, enqueued by dotted path so the API never imports worker code.
JOB_FUNCTION = "worker.tasks.run_inversion"
#: The RQ serializer (msgpack with the array codec; never pickle).
SERIALIZER = MsgpackSerializer


@dataclass(frozen=True)
class Names:
    """Queue names and Redis keys of one namespace."""

    namespace: str = "inv"

    @property
    def queue(self) -> str:
        """The RQ queue holding inversion jobs."""
        return f"{self.namespace}-inversions"

    def dataset(self, dataset_id: str) -> str:
        """The canonical msgpack blob of a registered dataset."""
        return f"{self.namespace}:dataset:{dataset_id}"

    def dataset_meta(self, dataset_id: str) -> str:
        """The small msgpack metadata map of a registered dataset (what the API validates requests against)."""
        return f"{self.namespace}:dataset-meta:{dataset_id}"

    def worker(self, name: str) -> str:
        """A warm worker's heartbeat key (expires when the worker stops refreshing it)."""
        return f"{self.namespace}:worker:{name}"

    @property
    def worker_pattern(self) -> str:
        """SCAN pattern matching every warm worker's heartbeat key."""
        return f"{self.namespace}:worker:*"

    def cancel(self, job_id: str) -> str:
        """Flag asking the worker running ``job_id`` to stop at its next safe point."""
        return f"{self.namespace}:cancel:{job_id}"

    def answer(self, job_id: str) -> str:
        """Stream holding the job's envelope the moment the job function has it (before RQ's own bookkeeping)."""
        return f"{self.namespace}:answer:{job_id}"

    def verdict(self, job_id: str) -> str:
        """Why the API failed a job on its worker's behalf (``timeout`` or ``worker-lost``)."""
        return f"{self.namespace}:verdict:{job_id}"

    def owner_jobs(self, owner: str) -> str:
        """Sorted set of one key's unfinished jobs (job id -> batch size), for the per-key limits."""
        return f"{self.namespace}:owner:{owner}:jobs"

    def owner_reserved(self, owner: str) -> str:
        """Hash job id -> admission time of one key's jobs (a job being enqueued has no RQ hash yet)."""
        return f"{self.namespace}:owner:{owner}:reserved"

    def rate_limit(self, owner: str) -> str:
        """RQ rate-limit key of one API key: at most ``per_key_concurrency`` of its jobs queued or running."""
        return f"{self.namespace}.{owner}"

    @property
    def reaper_lock(self) -> str:
        """Lock held by the one API process that is reaping jobs of dead workers."""
        return f"{self.namespace}:reaper-lock"
