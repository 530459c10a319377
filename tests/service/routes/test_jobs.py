"""``/jobs/{id}``: status, results, cancellation (queued and running), expiry."""

import time

import pytest

from ..data import imaging, inversion, rect_constant
from ..http import assert_problem, register, wait_job


def test_unknown_job_is_404(client):
    assert_problem(client.get("/jobs/0123456789abcdef0123456789abcdef"), 404, words="no job")
    assert_problem(client.delete("/jobs/0123456789abcdef0123456789abcdef"), 404)
    assert_problem(client.get("/jobs/not%20an%20id"), 404)
    assert_problem(client.get("/jobs/%00"), 404)


def test_without_a_worker_the_answer_is_202_and_the_job_can_be_canceled(bare):
    c = bare.client
    dataset_id = register(c, imaging(seed=21))
    r = c.post("/inversions", json=inversion(dataset_id))  # the bare stack waits 0.3 s by default
    assert r.status_code == 202, r.text
    location = r.headers["location"]
    assert c.get(location).json()["status"] == "queued"
    r = c.delete(location)
    assert r.status_code == 200 and r.json()["status"] == "canceled"
    assert c.get(location).json()["status"] == "canceled"
    assert c.delete(location).status_code == 200  # canceling twice is harmless


def test_a_full_queue_answers_503_with_retry_after(bare):
    c = bare.client
    dataset_id = register(c, imaging(seed=22))
    codes = [c.post("/inversions", json=inversion(dataset_id), headers={"prefer": "respond-async"}).status_code
             for _ in range(6)]
    assert codes[:5] == [202] * 5
    r = c.post("/inversions", json=inversion(dataset_id), headers={"prefer": "respond-async"})
    assert_problem(r, 503, words="queue")
    assert r.headers["retry-after"]


def test_cancel_a_queued_job_behind_a_busy_worker(client, stack):
    """The worker is busy with a long batch; the job queued behind it is canceled and never runs."""
    dataset_id = register(client, imaging(seed=23))
    big = client.post("/inversions", json=inversion(dataset_id, rect_constant([1.0] * 4000, shape=(5, 5))),
                      headers={"prefer": "respond-async"})
    queued = client.post("/inversions", json=inversion(dataset_id), headers={"prefer": "respond-async"})
    assert big.status_code == queued.status_code == 202
    r = client.delete(queued.headers["location"])
    assert r.status_code in (200, 202), r.text
    if r.status_code == 200:
        assert r.json()["status"] == "canceled"
    wait_job(client, big.headers["location"], timeout_s=300)
    assert wait_job(client, queued.headers["location"])["status"] == "canceled"


def test_cancel_a_running_batch_stops_it(client, stack):
    """A running job sees the cancel flag between batch chunks."""
    dataset_id = register(client, imaging(seed=24))
    r = client.post("/inversions", json=inversion(dataset_id, rect_constant([1.0] * 4000, shape=(5, 5))),
                    headers={"prefer": "respond-async"})
    location = r.headers["location"]
    wait_job(client, location, until=("running", "finished", "failed", "canceled"))
    r = client.delete(location)
    if r.status_code == 409:
        pytest.skip("the batch finished before it could be canceled")
    # 202 while it runs on to its next safe point; 200 if it stopped there before the answer was written
    assert (r.status_code, r.json()["status"]) in ((202, "running"), (200, "canceled"))
    assert r.json()["cancel_requested"] is True
    assert wait_job(client, location, timeout_s=300)["status"] == "canceled"


def test_finished_jobs_cannot_be_canceled_and_results_expire(client, stack):
    dataset_id = register(client, imaging(seed=25))
    r = client.post("/inversions", json=inversion(dataset_id), headers={"prefer": "respond-async"})
    location = r.headers["location"]
    done = wait_job(client, location)
    assert done["status"] == "finished"
    assert_problem(client.delete(location), 409, words="nothing to cancel")
    job_key = f"rq:job:{done['result']['job_id']}"
    ttl = stack.redis.ttl(job_key)
    assert 0 < ttl <= stack.config["jobs"]["result_ttl_s"]
    stack.redis.expire(job_key, 1)  # fast-forward the configured expiry
    stack.redis.expire(f"rq:results:{done['result']['job_id']}", 1)
    time.sleep(1.5)
    assert_problem(client.get(location), 404)
