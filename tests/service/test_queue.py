"""The API's queue, quota and dataset store against a real Redis, without a worker: the shortcuts that keep a
tiny job's overhead low (one admission script, the answer stream, remembered dataset metadata, the trimmed RQ
worker bookkeeping) must not change what clients see."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from redis import Redis
from redis.asyncio import ConnectionPool as AsyncConnectionPool
from redis.asyncio import Redis as AsyncRedis
from rq import Queue, SimpleWorker
from rq.results import Result

from service import store as store_module
from service.config import JobsConfig, Limits
from service.contract import jobs
from service.contract.jobs import Canceled, Failed, Finished, JobRequest
from service.contract.models import ImagingDataset
from service.contract.names import SERIALIZER, Names
from service.queue import JobQueue, OverQuota, QueueFull
from service.store import DatasetStore
from worker.rqworker import InversionWorker

from .data import imaging


@pytest.fixture
def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def names(redis):
    names = Names(f"q-{uuid.uuid4().hex[:8]}")
    yield names
    keys = list(redis.scan_iter(f"{names.namespace}:*")) + list(redis.scan_iter(f"rq:*{names.namespace}*"))
    if keys:
        redis.delete(*keys)


def _queue(redis, names, fair_share=False, **limits) -> JobQueue:
    aredis = AsyncRedis(connection_pool=AsyncConnectionPool.from_url(redis_url_of(redis)))
    return JobQueue(redis, aredis, names, JobsConfig(), Limits(**limits), fair_share=fair_share)


def redis_url_of(redis: Redis) -> str:
    kw = redis.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


def _run(queue: JobQueue, coroutine):
    """Run one of the queue's coroutines on a fresh event loop (its asyncio connections die with the loop)."""
    async def go():
        try:
            return await coroutine
        finally:
            await queue.aredis.connection_pool.disconnect()

    return asyncio.run(go())


def _request(coefficient: float = 1.0) -> JobRequest:
    """A valid request (these tests never run it: answers are published by hand)."""
    return JobRequest.model_validate({
        "linear_objects": [{"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [3, 3]},
                            "regularization": {"type": "constant", "coefficient": coefficient}}],
        "settings": {"use_mixed_precision": False, "use_positive_only_solver": True, "use_edge_zeroed_pixels": True,
                     "use_border_relocator": False, "no_regularization_add_to_curvature_diag_value": 1e-3}})


def _wait(queue: JobQueue, job_id: str, timeout_s: float):
    return _run(queue, queue.wait(job_id, timeout_s))


def _publish(redis, names, job_id, envelope, delay_s=0.0) -> threading.Thread:
    """What the job function does when it has the envelope (worker.tasks.finish)."""
    def write():
        time.sleep(delay_s)
        redis.xadd(names.answer(job_id), {"envelope": SERIALIZER.dumps(jobs.envelope_to_wire(envelope))})

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_wait_view_and_cancel_follow_the_answer_before_rq_records_the_end(redis, names):
    queue = _queue(redis, names)
    job_id = queue.enqueue("d", _request(), None, owner="anonymous")
    assert _wait(queue, job_id, 0.1) is None and queue.view(job_id)["status"] == "queued"

    envelope = Finished({"job_id": job_id, "figure_of_merit": 1.5})
    writer = _publish(redis, names, job_id, envelope, delay_s=0.3)
    t0 = time.monotonic()
    assert _wait(queue, job_id, 10.0) == envelope  # RQ never recorded anything: the answer stream alone
    assert 0.25 < time.monotonic() - t0 < 2.0
    writer.join()

    view = queue.view(job_id)
    assert view["status"] == "finished" and view["result"] == envelope.result
    assert queue.cancel(job_id)["status"] == "finished"  # the route answers 409: nothing left to cancel
    assert not redis.exists(names.cancel(job_id))


def test_failures_and_cancellations_on_the_answer_stream(redis, names):
    queue = _queue(redis, names)
    failed, canceled = (queue.enqueue("d", _request(), None, owner="anonymous") for _ in range(2))
    problem = {"status": 422, "title": "Invalid input", "errors": [{"loc": ["body"], "msg": "bad"}]}
    _publish(redis, names, failed, Failed(problem)).join()
    _publish(redis, names, canceled, Canceled()).join()
    assert _wait(queue, failed, 1.0) == Failed(problem)
    assert queue.view(failed)["status"] == "failed" and queue.view(failed)["error"] == problem
    assert queue.view(canceled)["status"] == "canceled"
    redis.xadd(names.answer("x" * 32), {"envelope": SERIALIZER.dumps(["not", "an", "envelope"])})
    assert queue._answer("x" * 32) is None


def test_one_admission_script_checks_the_queue_then_the_key(redis, names):
    queue = _queue(redis, names, max_queued_jobs=2, per_key_max_jobs=3)
    queue.enqueue("d", _request(), None, owner="alice")
    queue.enqueue("d", _request(), None, owner="bob")
    assert queue.queued() == 2
    with pytest.raises(QueueFull):
        queue.enqueue("d", _request(), None, owner="carol")
    roomy = _queue(redis, names, max_queued_jobs=100, per_key_max_jobs=2, per_key_max_evaluations=4096)
    roomy.enqueue("d", _request(), None, owner="alice")
    with pytest.raises(OverQuota) as over:
        roomy.enqueue("d", _request(), None, owner="alice")
    assert (over.value.admission.jobs, over.value.admission.queue_full) == (2, False)


def _job_hashes_of(redis, names) -> set:
    """RQ job hashes of this test's queue (the Redis server is shared with the other stacks of the run, whose
    workers and reapers write job hashes of their own at any moment)."""
    return {key for key in redis.scan_iter("rq:job:*") if redis.hget(key, "origin") == names.queue.encode()}


def test_the_enqueue_runs_inside_the_admission_script_only_when_admitted(redis, names):
    queue = _queue(redis, names, max_queued_jobs=100, per_key_max_jobs=1)
    touched = f"{names.namespace}:touched"
    job_id = queue.enqueue("d", _request(1.5), None, owner="alice",
                           also=lambda pipe: pipe.set(touched, b"1", ex=30))
    job = queue.fetch(job_id)  # a complete RQ job: RQ reads back what it would have written itself
    assert job is not None and job.get_status(refresh=False) == "queued" and job.origin == names.queue
    payload = jobs.JobPayload.from_wire(job.args[0])
    assert payload.request.linear_objects[0].regularization.coefficient == 1.5 and payload.job_id == job_id
    assert queue.queue.job_ids == [job_id] and redis.get(touched) == b"1"
    assert 0 < redis.ttl(job.key) <= queue.jobs.queued_ttl_s
    redis.delete(touched)
    keys_before = _job_hashes_of(redis, names)
    assert keys_before == {job.key.encode()}  # the admitted job's hash is seen, so a refused one would be too
    with pytest.raises(OverQuota):
        queue.enqueue("d", _request(), None, owner="alice", also=lambda pipe: pipe.set(touched, b"1"))
    # refused: none of the enqueue's commands ran (no job hash, nothing pushed, no bookkeeping)
    assert _job_hashes_of(redis, names) == keys_before
    assert queue.queue.job_ids == [job_id] and not redis.exists(touched)


def test_submit_on_the_event_loop_admits_and_enqueues_like_enqueue(redis, names):
    queue = _queue(redis, names, max_queued_jobs=100, per_key_max_jobs=2)
    first = _run(queue, queue.submit("d", _request(2.0), None, owner="alice"))
    second = _run(queue, queue.submit("d", _request(3.0), None, owner="alice", offload=True))
    assert queue.queue.job_ids == [first, second]
    assert jobs.JobPayload.from_wire(queue.fetch(second).args[0]).request.linear_objects[0].regularization \
        .coefficient == 3.0
    with pytest.raises(OverQuota):
        _run(queue, queue.submit("d", _request(), None, owner="alice"))
    assert queue.queue.job_ids == [first, second]  # refused: nothing written
    full = _queue(redis, names, max_queued_jobs=2)
    with pytest.raises(QueueFull):
        _run(full, full.submit("d", _request(), None, owner="bob"))


def test_a_failure_recorded_by_rq_wakes_the_wait_with_the_reapers_verdict(redis, names):
    queue = _queue(redis, names)
    job_id = queue.enqueue("d", _request(), None, owner="anonymous")
    redis.set(names.verdict(job_id), b"worker-lost")
    job = queue.fetch(job_id)
    Result.create_failure(job, ttl=60, exc_string="rq.exceptions.AbandonedJobError")  # what RQ writes
    envelope = _wait(queue, job_id, 5.0)
    assert isinstance(envelope, Failed)
    assert envelope.problem["status"] == 503 and envelope.problem["title"] == "Worker lost"


def test_fair_share_sends_a_keys_jobs_through_the_rate_limiter(redis, names):
    queue = _queue(redis, names, fair_share=True, per_key_concurrency=1)
    first, second = (queue.enqueue("d", _request(), None, owner="alice") for _ in range(2))
    assert queue.queue.job_ids == [first]  # the second waits for its key's turn, outside the queue
    assert queue.view(second)["status"] == "queued"
    assert queue.queued() == 2
    assert not _queue(redis, names, fair_share=False, per_key_concurrency=1).fair_share


def test_dataset_metadata_is_remembered_briefly_and_forgotten_on_delete(redis, names, monkeypatch):
    ds = ImagingDataset.model_validate(imaging(seed=401))
    store = DatasetStore(redis, names, ttl_s=600)
    meta, created = store.register(ds)
    assert created and store.meta(meta.dataset_id, recent=True) == meta

    redis.delete(names.dataset(meta.dataset_id), names.dataset_meta(meta.dataset_id))  # behind the API's back
    assert store.meta(meta.dataset_id, recent=True) == meta  # remembered (the worker answers 404 then)
    assert store.meta(meta.dataset_id) is None  # a plain read asks Redis, and forgets it
    assert store.meta(meta.dataset_id, recent=True) is None

    store.register(ds)
    assert store.delete(meta.dataset_id) and store.meta(meta.dataset_id, recent=True) is None

    store.register(ds)
    monkeypatch.setattr(store_module, "META_CACHE_S", 0.0)
    redis.delete(names.dataset_meta(meta.dataset_id))
    assert store.meta(meta.dataset_id, recent=True) is None  # stale: read again


def test_the_expiry_refresh_rides_on_a_pipeline(redis, names):
    ds = ImagingDataset.model_validate(imaging(seed=402))
    store = DatasetStore(redis, names, ttl_s=600)
    meta, _ = store.register(ds)
    redis.expire(names.dataset(meta.dataset_id), 5)
    pipe = redis.pipeline()
    store.touch(meta.dataset_id, pipe).execute()
    assert redis.ttl(names.dataset(meta.dataset_id)) > 500 and redis.ttl(names.dataset_meta(meta.dataset_id)) > 500


def test_the_worker_does_not_repeat_its_heartbeat_or_state(redis, names):
    worker = InversionWorker([names.queue], name=f"w-{uuid.uuid4().hex[:6]}", connection=redis)
    try:
        worker.heartbeat()
        first = redis.hget(worker.key, "last_heartbeat")
        assert redis.ttl(worker.key) > worker.worker_ttl
        worker.heartbeat(10)  # RQ asks for a short expiry while a job runs: the key keeps the idle one
        worker.heartbeat()
        assert redis.hget(worker.key, "last_heartbeat") == first and redis.ttl(worker.key) > worker.worker_ttl
        time.sleep(1.1)
        worker.heartbeat()
        assert redis.hget(worker.key, "last_heartbeat") != first

        worker.set_state("idle")
        redis.hdel(worker.key, "state")
        worker.set_state("idle")  # already written: not again
        assert redis.hget(worker.key, "state") is None and worker.get_state() == "idle"
        worker.set_state("busy")
        assert redis.hget(worker.key, "state") == b"busy"
    finally:
        redis.delete(worker.key, worker.executions_key)


def _echo(value):
    return {"echo": value}


def _explode(value):
    raise ValueError(value)


def test_the_trimmed_worker_still_records_every_step_of_a_job(redis, names, monkeypatch):
    """RQ's bookkeeping with this worker's merges (one pre-job transaction, idle state with the end): the job is
    marked started by this worker, its registrations and the intermediate queue are emptied, the result and the
    counters are written, and the worker is idle afterwards, for a success and for a failure."""
    queue = Queue(names.queue, connection=redis, serializer=SERIALIZER)
    ok = queue.enqueue(_echo, 7)
    bad = queue.enqueue(_explode, "boom")
    worker = InversionWorker([queue], name=f"w-{uuid.uuid4().hex[:6]}", connection=redis)
    writes = []  # the worker states RQ really wrote: (state, inside a transaction)
    rq_set_state = SimpleWorker.set_state

    def record(self, state, pipeline=None):
        writes.append((getattr(state, "value", state), pipeline is not None))
        rq_set_state(self, state, pipeline=pipeline)

    monkeypatch.setattr(SimpleWorker, "set_state", record)
    try:
        assert worker.work(burst=True)
        ok.refresh()
        bad.refresh()
        assert ok.get_status() == "finished" and ok.return_value() == {"echo": 7}
        assert ok.worker_name == worker.name and ok.started_at is not None and ok.ended_at >= ok.started_at
        assert bad.get_status() == "failed" and "boom" in (bad.latest_result().exc_string or "")
        assert queue.started_job_registry.get_job_ids() == [] and redis.llen(queue.intermediate_queue_key) == 0
        assert queue.finished_job_registry.get_job_ids() == [ok.id]
        assert queue.failed_job_registry.get_job_ids() == [bad.id]
        assert redis.hmget(worker.key, "successful_job_count", "failed_job_count", "state") == [b"1", b"1", b"idle"]
        # busy with the job's start, idle with its end: no state round trip of their own after the first one
        assert writes.count(("busy", True)) == 2 and writes.count(("idle", True)) >= 2
        assert [w for w in writes if not w[1] and w[0] in ("busy", "idle")] == [("idle", False)]
    finally:
        redis.delete(worker.key, worker.executions_key)


def test_rqs_hard_time_limit_is_recorded_as_a_timeout_verdict(redis, names):
    """RQ's death penalty fires outside the job function: the worker records the verdict before RQ writes the
    failure, and the API reads the timeout from the verdict, never from RQ's exception text."""
    from rq.timeouts import JobTimeoutException

    queue = _queue(redis, names)
    job_id = queue.enqueue("d", _request(), None, owner="anonymous")
    worker = InversionWorker([queue.queue], name=f"w-{uuid.uuid4().hex[:6]}", connection=redis, verdicts=names)
    exc = JobTimeoutException("Task exceeded maximum timeout value (605 seconds)")
    try:
        worker.handle_exception(queue.fetch(job_id), type(exc), exc, None)
        Result.create_failure(queue.fetch(job_id), ttl=60, exc_string="an exception text nobody parses")
        envelope = _wait(queue, job_id, 5.0)
        assert isinstance(envelope, Failed) and envelope.problem["status"] == 504
    finally:
        redis.delete(worker.key)
