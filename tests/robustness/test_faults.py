"""Faults: workers killed mid-job, jobs over their time limit, Redis restarted, expiry, full queues.

Each test starts its own processes (workers run the test engine of ``engines.py``, which sleeps on sentinel
coefficients) and kills them itself. Bounds are asserted on every wait: nothing may hang.
"""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest

from service.contract import problems
from service.embedded_redis import EmbeddedRedis
from tests.service.data import as_json, imaging, inversion, rect_constant
from tests.service.http import assert_problem, register, wait_job
from tests.service.procs import Proc, Stack

from .conftest import make_stack
from .engines import CHUNKED, SLOW, SLOW_S, STUCK, STUCK_S

pytestmark = pytest.mark.slow


def start_workers(s: Stack, n: int) -> list[Proc]:
    procs = [s.start_worker(wait=False) for _ in range(n)]
    for proc in procs:
        s.wait_warm(proc)
    return procs


def job_state(s: Stack, job_id: str) -> tuple[str | None, str | None]:
    """``(RQ status, RQ worker name)`` of a job."""
    status, worker = s.redis.hmget(f"rq:job:{job_id}", "status", "worker_name")
    return (status.decode() if status else None), (worker.decode() if worker else None)


def wait_running(s: Stack, job_id: str, not_on: str | None = None, timeout_s: float = 30) -> Proc:
    """Wait until ``job_id`` runs (on a worker other than ``not_on``); return that worker's process."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, name = job_state(s, job_id)
        if status == "started" and name and name != not_on:
            for proc in s.workers:
                beat = s.heartbeat(proc)
                if beat and beat["name"] == name:
                    return proc
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} not running after {timeout_s} s: {job_state(s, job_id)}")


def kill(s: Stack, proc: Proc) -> str:
    name = s.heartbeat(proc)["name"]
    proc.stop(signal.SIGKILL)
    s.workers.remove(proc)
    return name


def started_job_ids(s: Stack) -> list[str]:
    return [m.decode().split(":")[0] for m in s.redis.zrange(f"rq:wip:{s.names.queue}", 0, -1)]


# --------------------------------------------------------------------------------------------------- worker loss
@pytest.fixture(scope="module")
def lost(redis_url, workdir, compile_cache):
    s = make_stack("lost", redis_url, workdir, compile_cache, slow=True,
                   jobs={"worker_lost_retries": 1, "reap_interval_s": 0.25, "default_wait_s": 0.2})
    try:
        s.start_api()
        start_workers(s, 2)
        yield s
    finally:
        s.close()


def test_a_job_whose_worker_is_killed_runs_again_on_another_worker(lost):
    s, c = lost, lost.client
    dataset_id = register(c, imaging(seed=201))
    r = c.post("/inversions", json=inversion(dataset_id, rect_constant(SLOW)), headers={"prefer": "respond-async"})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    first = kill(s, wait_running(s, job_id))
    t0 = time.monotonic()
    done = wait_job(c, r.headers["location"], timeout_s=30)
    elapsed = time.monotonic() - t0
    assert done["status"] == "finished", done
    assert np.isfinite(done["result"]["figure_of_merit"])
    assert job_state(s, job_id)[1] != first  # the survivor ran it
    # noticed within the heartbeat TTL (2 s, whole-second scores) + reaping, then one full slow evaluation
    assert elapsed < 2 + 1 + 0.5 + SLOW_S + 5, elapsed


def test_a_job_that_loses_every_worker_fails_clearly_and_wakes_its_waiter(lost):
    s, c = lost, lost.client
    start_workers(s, 2 - len(s.workers))
    dataset_id = register(c, imaging(seed=202))
    answer: dict = {}

    def post() -> None:
        answer["r"] = c.post("/inversions", json=inversion(dataset_id, rect_constant(SLOW)),
                             headers={"prefer": "wait=60"})

    waiter = threading.Thread(target=post)
    waiter.start()
    deadline = time.monotonic() + 30
    while not started_job_ids(s) and time.monotonic() < deadline:
        time.sleep(0.05)
    job_id = started_job_ids(s)[0]
    first = kill(s, wait_running(s, job_id))
    kill(s, wait_running(s, job_id, not_on=first))  # the retry, on the other worker
    t0 = time.monotonic()
    waiter.join(timeout=30)
    assert not waiter.is_alive(), "the waiting request hangs"
    assert time.monotonic() - t0 < 2 + 1 + 1 + 5
    body = assert_problem(answer["r"], 503, words="worker running this job stopped")
    assert body["type"] == problems.JOB_FAILED and body["title"] == "Worker lost" and body["job_id"] == job_id
    view = c.get(f"/jobs/{job_id}").json()
    assert view["status"] == "failed" and view["error"]["title"] == "Worker lost"
    assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 503  # no worker left


# --------------------------------------------------------------------------------------------------- time limits
@pytest.fixture(scope="module")
def deadline(redis_url, workdir, compile_cache):
    s = make_stack("deadline", redis_url, workdir, compile_cache, slow=True,
                   jobs={"job_timeout_s": 2, "timeout_grace_s": 1, "reap_interval_s": 0.25, "result_ttl_s": 3},
                   datasets={"ttl_s": 3})
    try:
        s.start_api()
        start_workers(s, 1)
        yield s
    finally:
        s.close()


def test_a_long_batch_is_stopped_between_chunks_at_its_time_limit(deadline):
    c = deadline.client
    dataset_id = register(c, imaging(seed=203))
    body = as_json(inversion(dataset_id, rect_constant(np.full(640, CHUNKED))))  # 10 chunks of 64, >= 0.5 s each
    t0 = time.monotonic()
    r = c.post("/inversions", json=body, headers={"prefer": "wait=60"})
    elapsed = time.monotonic() - t0
    problem = assert_problem(r, 504, words="time limit (2 s)")
    assert problem["type"] == problems.JOB_FAILED and problem["title"] == "Job timed out"
    assert 2 <= elapsed < 2 + 5, elapsed  # well before the 10 chunks would have ended
    view = c.get(f"/jobs/{problem['job_id']}").json()
    assert view["status"] == "failed" and view["error"]["status"] == 504
    dataset_id = register(c, imaging(seed=203))  # (this stack's datasets expire after 3 idle seconds)
    assert c.post("/inversions", json=inversion(dataset_id)).status_code == 200  # the worker is fine


def test_a_job_stuck_past_its_deadline_is_failed_by_the_api(deadline):
    """The worker is stuck where it cannot check its deadline (signals blocked); the API fails the job itself."""
    s, c = deadline, deadline.client
    dataset_id = register(c, imaging(seed=204))
    t0 = time.monotonic()
    r = c.post("/inversions", json=inversion(dataset_id, rect_constant(STUCK)), headers={"prefer": "wait=60"})
    elapsed = time.monotonic() - t0
    problem = assert_problem(r, 504, words="time limit")
    assert elapsed < STUCK_S, elapsed  # answered while the worker is still stuck
    assert elapsed >= 2 + 1 - 1, elapsed  # not before job_timeout_s + timeout_grace_s (whole-second scores)
    time.sleep(max(0.0, STUCK_S - elapsed) + 1.0)  # the worker comes back and finishes the job late
    view = c.get(f"/jobs/{problem['job_id']}").json()
    assert view["status"] == "failed" and view["error"]["status"] == 504, view  # never retried, never "finished"
    assert job_state(s, problem["job_id"])[0] in ("failed", "finished")
    dataset_id = register(c, imaging(seed=204))  # (this stack's datasets expire after 3 idle seconds)
    assert c.post("/inversions", json=inversion(dataset_id), headers={"prefer": "wait=30"}).status_code == 200


def test_results_and_datasets_expire_as_configured(deadline):
    c = deadline.client
    dataset_id = register(c, imaging(seed=205))
    r = c.post("/inversions", json=inversion(dataset_id), headers={"prefer": "wait=30"})
    assert r.status_code == 200, r.text
    job = f"/jobs/{r.json()['job_id']}"
    assert c.get(job).json()["status"] == "finished"
    time.sleep(3.5)  # result_ttl_s = 3, datasets.ttl_s = 3 (the inversion refreshed it)
    assert_problem(c.get(job), 404, words="expired")
    assert_problem(c.get(f"/datasets/{dataset_id}"), 404, words="expired")
    r = c.post("/inversions", json=inversion(dataset_id))
    assert_problem(r, 404, ["body", "dataset_id"])


# --------------------------------------------------------------------------------------------------- Redis restart
def test_redis_restart_answers_503_meanwhile_and_recovers_by_itself(workdir, compile_cache):
    server = EmbeddedRedis().start()
    s = make_stack("restart", server.url, workdir, compile_cache)
    try:
        s.start_api()
        start_workers(s, 1)
        c = s.client
        dataset_id = register(c, imaging(seed=206))
        before = c.post("/inversions", json=inversion(dataset_id)).json()["figure_of_merit"]

        server.stop()
        t0 = time.monotonic()
        for method, path, kw in (("GET", "/settings", {}), ("POST", "/datasets", {"json": as_json(imaging(seed=9))}),
                                 ("POST", "/inversions", {"json": inversion(dataset_id)}),
                                 ("GET", f"/datasets/{dataset_id}", {})):
            if path == "/settings":
                assert c.get(path).status_code == 200  # needs no Redis
                continue
            r = c.request(method, path, **kw)
            body = assert_problem(r, 503, words="Redis")
            assert body["type"] == problems.UNAVAILABLE and int(r.headers["retry-after"]) > 0
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["redis"] is False
        assert c.get("/healthz").status_code == 200
        assert time.monotonic() - t0 < 10  # each answer is prompt, not a hang

        server = EmbeddedRedis(port=server.port).start()  # empty: nothing was persisted
        deadline = time.monotonic() + 30
        while c.get("/readyz").status_code != 200:  # the worker's heartbeat re-registers it
            assert time.monotonic() < deadline, "not ready again within 30 s"
            time.sleep(0.2)
        assert_problem(c.get(f"/datasets/{dataset_id}"), 404)  # Redis lost its data
        assert register(c, imaging(seed=206)) == dataset_id
        r = c.post("/inversions", json=inversion(dataset_id), headers={"prefer": "wait=30"})
        assert r.status_code == 200, r.text  # the same worker, still warm, serves again
        assert r.json()["figure_of_merit"] == pytest.approx(before, abs=1e-9)
        assert r.json()["timings"]["compiled"] is False
        assert all(w.alive() for w in s.workers)
    finally:
        if server.process is None or server.process.poll() is not None:
            server = EmbeddedRedis(port=server.port).start()  # so that the stack can clean up
        s.close()
        server.stop()


# --------------------------------------------------------------------------------------------------- full queue
def test_a_full_queue_answers_503_with_retry_after(redis_url, workdir, compile_cache):
    s = make_stack("full", redis_url, workdir, compile_cache,
                   limits={"max_queued_jobs": 3, "per_key_concurrency": 2, "retry_after_s": 7})
    try:
        c = s.start_api().client  # no worker: jobs stay queued
        dataset_id = register(c, imaging(seed=207))
        codes = [c.post("/inversions", json=inversion(dataset_id), headers={"prefer": "respond-async"}).status_code
                 for _ in range(3)]
        assert codes == [202] * 3  # an open service has no fair share: all three are in the queue
        r = c.post("/inversions", json=inversion(dataset_id), headers={"prefer": "respond-async"})
        body = assert_problem(r, 503, words="queue holds 3 jobs")
        assert body["type"] == problems.UNAVAILABLE and r.headers["retry-after"] == "7"
        assert c.get("/healthz").status_code == 200
    finally:
        s.close()
