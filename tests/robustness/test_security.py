"""Security: API keys on every route but the probes, per-key fair share, no pickle anywhere, no leaks in errors."""

from __future__ import annotations

import ast
import base64
import contextlib
import json
import re
import zlib
from pathlib import Path

import httpx
import msgpack
import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import ServerConfig
from service.contract import problems, serializer
from service.contract.jobs import envelope_from_wire
from tests.service.data import as_json, imaging, inversion, rect_constant
from tests.service.http import assert_problem, wait_job
from tests.service.procs import ROOT

from .conftest import make_stack
from .engines import BRIEF

KEYS = {"alice": "alice-key-0123456789", "bob": "bob-key-9876543210"}
PROBES = {"/healthz", "/readyz"}


@pytest.fixture(scope="module")
def keyed(redis_url, workdir, compile_cache):
    s = make_stack("keys", redis_url, workdir, compile_cache, slow=True, api_keys=list(KEYS.values()),
                   jobs={"default_wait_s": 0.1},
                   limits={"per_key_max_jobs": 3, "per_key_concurrency": 1, "max_batch": 64,
                           "per_key_max_evaluations": 100, "retry_after_s": 3})
    try:
        s.start_api()
        s.start_worker()
        s.users = {who: httpx.Client(base_url=s.url, timeout=60, headers={"x-api-key": key})
                   for who, key in KEYS.items()}
        yield s
    finally:
        for client in getattr(s, "users", {}).values():
            client.close()
        s.close()


def test_every_route_but_the_probes_needs_a_key(keyed):
    anonymous = keyed.client
    doc = keyed.users["alice"].get("/openapi.json").json()
    routes = [(m.upper(), re.sub(r"\{[^}]+\}", "x" * 32, path)) for path, ops in doc["paths"].items() for m in ops]
    routes += [("GET", "/openapi.json"), ("GET", "/docs")]
    assert len(routes) >= 10
    for method, path in routes:
        r = anonymous.request(method, path, content=b"{}", headers={"content-type": "application/json"})
        if path in PROBES:
            assert r.status_code in (200, 503), (method, path, r.status_code)
        else:
            body = assert_problem(r, 401)
            assert body["type"] == problems.UNAUTHORIZED, (method, path)
            bad = anonymous.request(method, path, headers={"x-api-key": KEYS["alice"] + "x"})
            assert bad.status_code == 401, (method, path)
    assert keyed.users["bob"].get("/settings").status_code == 200
    assert anonymous.get("/settings", headers={"authorization": f"Bearer {KEYS['bob']}"}).status_code == 200


def _post(client: httpx.Client, dataset_id: str, coefficient, **headers) -> httpx.Response:
    body = as_json(inversion(dataset_id, rect_constant(coefficient)))
    return client.post("/inversions", json=body, headers={"prefer": "respond-async", **headers})


def test_one_key_cannot_starve_another(keyed):
    """Alice fills her share (3 unfinished jobs, 1 at a time in the queue); Bob is served between her jobs."""
    alice, bob = keyed.users["alice"], keyed.users["bob"]
    dataset_id = alice.post("/datasets", json=as_json(imaging(seed=301))).json()["dataset_id"]
    assert bob.post("/datasets", json=as_json(imaging(seed=301))).status_code == 200  # same content, same id

    mine = [_post(alice, dataset_id, BRIEF) for _ in range(3)]
    assert [r.status_code for r in mine] == [202] * 3, [r.text for r in mine]
    over = _post(alice, dataset_id, BRIEF)
    body = assert_problem(over, 429, words="3 unfinished jobs")
    assert body["type"] == problems.TOO_MANY_REQUESTS and over.headers["retry-after"] == "3"

    theirs = _post(bob, dataset_id, BRIEF)
    assert theirs.status_code == 202, theirs.text
    assert wait_job(bob, theirs.headers["location"], timeout_s=30)["status"] == "finished"
    for r in mine:
        assert wait_job(alice, r.headers["location"], timeout_s=30)["status"] == "finished"

    def started(r: httpx.Response) -> str:  # RQ's UTC timestamp, sortable as text
        return keyed.redis.hget(f"rq:job:{r.json()['job_id']}", "started_at").decode()

    # Bob's job, sent after all of Alice's, ran before her last one: it did not wait behind her whole backlog
    assert started(theirs) < started(mine[2]), (started(theirs), [started(r) for r in mine])
    again = _post(alice, dataset_id, 1.0)  # her share is free again
    assert again.status_code == 202 and wait_job(alice, again.headers["location"])["status"] == "finished"


def test_queued_evaluations_are_limited_per_key(keyed):
    bob = keyed.users["bob"]
    dataset_id = bob.post("/datasets", json=as_json(imaging(seed=302))).json()["dataset_id"]
    first = _post(bob, dataset_id, np.full(60, BRIEF))
    assert first.status_code == 202, first.text
    r = _post(bob, dataset_id, np.ones(60))
    assert_problem(r, 429, words="60 evaluations")
    assert keyed.users["alice"].post("/inversions", json=inversion(dataset_id),
                                     headers={"prefer": "wait=30"}).status_code == 200
    assert wait_job(bob, first.headers["location"], timeout_s=30)["status"] == "finished"
    assert _post(bob, dataset_id, np.ones(60)).status_code == 202


# --------------------------------------------------------------------------------------------------- no pickle
def _pickled(blob: bytes) -> bool:
    """True for a pickle of protocol 2 or later (RQ's default serializer writes the highest protocol)."""
    return len(blob) > 2 and blob[0] == 0x80 and blob[1] in (2, 3, 4, 5)


def _variants(blob: bytes) -> list[bytes]:
    out = [blob]
    for decode in (zlib.decompress, lambda b: base64.b64decode(b, validate=True),
                   lambda b: zlib.decompress(base64.b64decode(b, validate=True))):
        with contextlib.suppress(Exception):
            out.append(decode(blob))
    return out


def test_no_pickle_in_the_job_payloads_in_redis(robust, robust_dataset):
    """Run jobs of every outcome, then read every job, result and service key of the namespace back from Redis."""
    c, (dataset_id, _) = robust.client, robust_dataset
    assert c.post("/inversions", json=inversion(dataset_id), headers={"prefer": "wait=30"}).status_code == 200
    bad = {"type": "gaussians", "centre": [0, 0], "ell_comps": [0, 0], "sigmas": [0.1],
           "regularization": {"type": "gaussian_kernel", "coefficient": 1.0, "scale": 1.0}}
    assert c.post("/inversions", json=inversion(dataset_id, bad), headers={"prefer": "wait=30"}).status_code == 422
    batch = as_json(inversion(dataset_id, rect_constant(np.ones(3)), outputs=["model_image"]))
    assert c.post("/inversions", json=batch, headers={"prefer": "wait=30"}).status_code == 200
    canceled = c.post("/inversions", json=inversion(dataset_id), headers={"prefer": "respond-async"})
    c.delete(canceled.headers["location"])

    redis, queue = robust.redis, robust.names.queue
    jobs = [k for k in redis.scan_iter(match="rq:job:*", count=1000)
            if redis.type(k) == b"hash" and redis.hget(k, "origin") == queue.encode()]
    assert len(jobs) >= 3
    decoded = 0
    for key in jobs:
        fields = redis.hgetall(key)
        for name, value in fields.items():
            assert not any(_pickled(v) for v in _variants(value)), (key, name)
        func, _instance, args, _kwargs = serializer.loads(zlib.decompress(fields[b"data"]))
        assert func == "worker.tasks.run_inversion" and isinstance(args[0], dict)
        decoded += 1
        job_id = key.decode().removeprefix("rq:job:")
        for _entry_id, entry in redis.xrange(f"rq:results:{job_id}"):
            for name, value in entry.items():
                assert not any(_pickled(v) for v in _variants(value)), (job_id, name)
            if b"return_value" in entry:
                envelope = serializer.loads(base64.b64decode(entry[b"return_value"]))
                assert envelope_from_wire(envelope) is not None, envelope
    assert decoded == len(jobs)
    for key in redis.scan_iter(match=f"{robust.namespace}:*"):
        if redis.type(key) == b"string":
            assert not any(_pickled(v) for v in _variants(redis.get(key))), key


PICKLE_LIKE = re.compile(r"\b(c?[Pp]ickle|dill|cloudpickle|joblib|shelve|marshal)\b")
RQ_LOADERS = {("Job", "fetch"), ("Job", "fetch_many"), ("Job", "create"), ("Result", "restore"),
              ("Result", "fetch_latest"), ("Result", "fetch"), ("", "Queue")}


def _rq_loader(call: ast.Call) -> str | None:
    """``Job.fetch``, ``Result.restore``, ``Queue(...)`` and friends: RQ calls that (de)serialize job data."""
    func = call.func
    if isinstance(func, ast.Attribute):
        key = (getattr(func.value, "id", ""), func.attr)
    else:
        key = ("", getattr(func, "id", ""))
    return ".".join(filter(None, key)) if key in RQ_LOADERS else None


def test_no_pickle_on_any_code_path():
    """No module of the API or the worker imports a pickle-like library, and every RQ object gets the serializer."""
    sources = sorted((ROOT / "service").rglob("*.py")) + sorted((ROOT / "worker").rglob("*.py"))
    assert sources
    for path in sources:
        text = path.read_text()
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                assert not any(n and PICKLE_LIKE.search(n) for n in names), (path, names)
            if isinstance(node, ast.Call) and (name := _rq_loader(node)):
                kwargs = {k.arg for k in node.keywords}
                assert "serializer" in kwargs, f"{path.relative_to(ROOT)}:{node.lineno}: {name} without serializer"
        assert "allow_pickle=True" not in code.replace(" ", ""), path
    assert Path(serializer.__file__).read_text().count("msgpack") > 2


# --------------------------------------------------------------------------------------------------- leaks
def test_error_bodies_never_leak_paths_or_tracebacks(tmp_path, monkeypatch):
    """An unexpected exception deep in a route is a generic 500 problem; the details stay in the server log."""
    monkeypatch.setenv("INVERSION_SERVICE_CONFIG", str(ROOT / "service" / "default_config.yaml"))
    app = create_app(ServerConfig(redis_url="redis://127.0.0.1:1/0"))

    @app.get("/explode")
    def explode() -> None:
        raise RuntimeError(f"secret at {tmp_path}/service/app.py line 1\nTraceback (most recent call last)")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/explode")
        body = assert_problem(r, 500)
        assert body["type"] == problems.INTERNAL and "secret" not in r.text and str(tmp_path) not in r.text
        r = client.get("/datasets/abc")  # Redis unreachable: a 503 that names no host, port or path
        assert_problem(r, 503)
        assert "127.0.0.1" not in r.text and ":1" not in json.dumps(r.json()["detail"])
    assert msgpack.packb(body)  # (the body is plain data)
