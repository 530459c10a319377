"""Workers come and go: readiness follows them, queued jobs wait for them, a restart loses nothing."""

import signal
import time

import pytest

from .data import imaging, inversion
from .http import register, wait_job
from .procs import Stack


@pytest.fixture
def own_stack(redis_url, workdir, compile_cache):
    s = Stack("life", redis_url, workdir, compile_cache, jobs={"default_wait_s": 0.2})
    try:
        yield s.start_api()
    finally:
        s.close()


def wait_status(client, path, status, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get(path).status_code == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} never answered {status}")


def test_readiness_and_a_worker_restarted_between_two_requests(own_stack):
    s, c = own_stack, own_stack.client
    assert c.get("/readyz").status_code == 503
    dataset_id = register(c, imaging(seed=31))
    queued = c.post("/inversions", json=inversion(dataset_id))
    assert queued.status_code == 202  # no worker yet: the job waits in the queue

    first = s.start_worker()
    first_name = s.heartbeat(first)["name"]
    assert c.get("/readyz").status_code == 200
    before = wait_job(c, queued.headers["location"])
    assert before["status"] == "finished"

    assert s.stop_worker(first) == 0  # SIGTERM: warm shutdown, heartbeat removed at once
    wait_status(c, "/readyz", 503, timeout_s=5)

    second = s.start_worker()
    assert s.heartbeat(second)["name"] != first_name
    again = c.post("/inversions", json=inversion(dataset_id), headers={"prefer": "wait=60"})
    assert again.status_code == 200, again.text
    assert again.json()["figure_of_merit"] == pytest.approx(before["result"]["figure_of_merit"], abs=1e-10)


def test_a_killed_worker_disappears_from_readiness(own_stack):
    s, c = own_stack, own_stack.client
    worker = s.start_worker()
    assert c.get("/readyz").status_code == 200
    worker.stop(signal.SIGKILL)
    s.workers.remove(worker)
    wait_status(c, "/readyz", 503, timeout_s=s.config["worker"]["heartbeat_ttl_s"] + 5)
