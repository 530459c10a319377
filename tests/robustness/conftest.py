"""Fixtures of the robustness tests: real Redis, real API and worker processes, real HTTP (Redis, ``workdir`` and
``compile_cache`` come from tests/conftest.py).

Each fault test builds its own stack (namespace, config, processes) and kills what it started; the shared
``robust`` stack (API + one worker, small limits) serves the bad-input table, the payload scan and the fuzzing.
"""

from __future__ import annotations

import os

import pytest

from tests.service.data import imaging
from tests.service.http import register
from tests.service.procs import ROOT, Stack

SLOW_ENGINE = "tests.robustness.engines:SlowEngine"
#: Fast failure detection for the fault tests: beats every 0.25 s, a worker silent for 2 s is dead.
FAST_BEATS = {"heartbeat_interval_s": 0.25, "heartbeat_ttl_s": 2.0}
ROBUST_LIMITS = {"max_body_bytes": 1_000_000, "max_json_body_bytes": 300_000, "max_batch": 64, "max_sub_pixels": 50_000}


@pytest.fixture(scope="session")
def robust(redis_url, workdir, compile_cache):
    """API + one warm worker with small limits (1 MB bodies, 300 kB JSON, B <= 64, 50k sub-pixels)."""
    with Stack("robust", redis_url, workdir, compile_cache, limits=ROBUST_LIMITS).serving() as s:
        yield s


@pytest.fixture(scope="session")
def robust_dataset(robust):
    """A registered 12 x 12 dataset on the robust stack: ``(dataset_id, metadata)``."""
    dataset_id = register(robust.client, imaging(seed=101))
    return dataset_id, robust.client.get(f"/datasets/{dataset_id}").json()


def make_stack(name: str, redis_url: str, workdir, compile_cache, *, slow: bool = False, **config) -> Stack:
    """A stack whose workers run the test engine (``slow``) and beat fast; the caller starts and closes it."""
    worker = {**FAST_BEATS, **config.pop("worker", {})}
    if slow:
        worker["engine"] = SLOW_ENGINE
    s = Stack(name, redis_url, workdir, compile_cache, worker=worker, **config)
    s.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), s.env.get("PYTHONPATH", "")) if p)
    return s
