"""The service tests use the shared fixtures of tests/conftest.py (Redis, the ``stack`` and ``bare`` APIs), plus
``dashboard_api`` below."""

from __future__ import annotations

import pytest

from .procs import Stack

DASHBOARD_ORIGIN = "http://dash.example:3000"
DASHBOARD_KEY = "k-dashboard"


@pytest.fixture(scope="session")
def dashboard_api(redis_url, workdir, compile_cache):
    """An API with no worker, an API key and CORS for one dashboard origin (what a team's own dashboard calls)."""
    s = Stack("dash", redis_url, workdir, compile_cache, jobs={"default_wait_s": 0.3},
              api_keys=[DASHBOARD_KEY], cors={"allow_origins": [DASHBOARD_ORIGIN], "max_age_s": 120})
    try:
        yield s.start_api()
    finally:
        s.close()
