"""Load: many concurrent clients, small inversions, two workers; every answer correct, none lost, none duplicated.

``LOAD_CLIENTS`` x ``LOAD_REQUESTS`` (default 16 x 500, the issue's numbers) synchronous ``POST /inversions`` of a
3 x 3 mesh on a tiny dataset, each with its own regularization coefficient, so that every answer can be checked
against the reference for its own request: the same coefficients evaluated afterwards as batches (one request of
B = LOAD_REQUESTS per client; batched results equal single results, a property of the engine). Prints throughput
and latency percentiles. Marked ``load``; CI runs it (``.ci/run`` runs the whole suite).
"""

from __future__ import annotations

import os
import threading
import time

import httpx
import numpy as np
import pytest

from tests.service.data import as_json, imaging, inversion, rect_constant
from tests.service.http import register, wait_job

from .conftest import make_stack

CLIENTS = int(os.environ.get("LOAD_CLIENTS", "16"))
REQUESTS = int(os.environ.get("LOAD_REQUESTS", "500"))
WORKERS = int(os.environ.get("LOAD_WORKERS", "2"))

pytestmark = [pytest.mark.load, pytest.mark.slow]


def coefficient(client: int, i: int) -> float:
    return float(0.05 + 1e-3 * (client * REQUESTS + i))


def mesh(c) -> dict:
    return rect_constant(c, shape=(3, 3))


@pytest.fixture(scope="module")
def load_stack(redis_url, workdir, compile_cache):
    s = make_stack("load", redis_url, workdir, compile_cache, log_level="WARNING",
                   worker={"heartbeat_interval_s": 1.0, "heartbeat_ttl_s": 10.0},
                   limits={"max_batch": max(64, REQUESTS), "per_key_max_evaluations": max(262144, REQUESTS * 4)})
    try:
        s.start_api()
        procs = [s.start_worker(wait=False) for _ in range(WORKERS)]
        for proc in procs:
            s.wait_warm(proc)
        yield s
    finally:
        s.close()


def test_concurrent_clients_get_every_answer_right(load_stack):
    s = load_stack
    dataset_id = register(s.client, imaging(ny=8, nx=8, radius=0.7, seed=401))
    for _ in range(4 * WORKERS):  # compile the single-evaluation pipeline on every worker before timing
        assert s.client.post("/inversions", json=inversion(dataset_id, mesh(1.0))).status_code == 200

    answers: list[list[dict]] = [[] for _ in range(CLIENTS)]
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors: list[str] = []
    start = threading.Barrier(CLIENTS + 1)

    def client(k: int) -> None:
        with httpx.Client(base_url=s.url, timeout=120) as http:
            start.wait()
            for i in range(REQUESTS):
                t0 = time.perf_counter()
                r = http.post("/inversions", json=inversion(dataset_id, mesh(coefficient(k, i))))
                if r.status_code == 202:  # longer than the server's wait: poll (still one answer)
                    body = wait_job(http, r.headers["location"], timeout_s=120)
                    result = body["result"] if body["status"] == "finished" else None
                elif r.status_code == 200:
                    result = r.json()
                else:
                    result = None
                latencies[k].append(time.perf_counter() - t0)
                if result is None:
                    errors.append(f"client {k} request {i}: {r.status_code} {r.text[:200]}")
                else:
                    answers[k].append({"i": i, "job_id": result["job_id"], "fom": result["figure_of_merit"],
                                       "compute_ms": result["timings"]["compute_ms"]})

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout=3600)
    wall = time.perf_counter() - t0
    assert not any(t.is_alive() for t in threads), "a client hangs"
    assert not errors, errors[:5]

    total = CLIENTS * REQUESTS
    lat = np.array([x for per in latencies for x in per]) * 1000
    p50, p90, p99 = np.percentile(lat, [50, 90, 99])
    compute = np.median([a["compute_ms"] for per in answers for a in per])
    print(f"\nload: {CLIENTS} clients x {REQUESTS} requests, {WORKERS} workers: {total} answers in {wall:.1f} s = "
          f"{total / wall:.0f} req/s; latency ms p50 {p50:.1f} p90 {p90:.1f} p99 {p99:.1f} max {lat.max():.1f} "
          f"(engine compute median {compute:.1f} ms)")

    job_ids = [a["job_id"] for per in answers for a in per]
    assert len(job_ids) == total and len(set(job_ids)) == total  # none lost, none duplicated
    for k in range(CLIENTS):  # every answer is the one for its own request
        assert [a["i"] for a in answers[k]] == list(range(REQUESTS))
        batch = np.array([coefficient(k, i) for i in range(REQUESTS)])
        r = s.client.post("/inversions", json=as_json(inversion(dataset_id, mesh(batch))),
                          headers={"prefer": "wait=300"})
        assert r.status_code == 200, r.text
        reference = np.asarray(r.json()["figure_of_merit"], dtype=float)
        got = np.array([a["fom"] for a in answers[k]], dtype=float)
        np.testing.assert_allclose(got, reference, rtol=1e-9, atol=1e-8)
        assert len(np.unique(np.round(got, 6))) > REQUESTS // 2  # the answers really differ request by request
