"""Fuzzing: schemathesis generates requests from the exported OpenAPI document and sends them to a real stack.

Bounded: ``FUZZ_EXAMPLES`` examples per operation (default 50) of the examples and fuzzing phases, with valid and
invalid data (schemathesis' "all" generation mode); the exhaustive coverage phase (about a thousand cases for
``POST /datasets`` alone) is left to ``FUZZ_COVERAGE=1``. Derandomized so that CI is reproducible
(``FUZZ_RANDOM=1`` explores new examples). Every answer must be below 500; error answers must be problem
documents that leak nothing of the server. The stack's /readyz must still be 200 at the end.
"""

from __future__ import annotations

import os
from typing import Any

import msgpack
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.service.procs import ROOT

MSGPACK_TYPES = ("application/vnd.msgpack", "application/msgpack", "application/x-msgpack")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
LEAKS = ("Traceback", "/work/", "site-packages", 'File "', ".py\"", "redis://")

pytestmark = pytest.mark.slow


def _bytes(obj: Any) -> Any:
    """What msgpack cannot pack as it is: generated binary strings, and integers beyond 64 bits (sent as floats)."""
    data = getattr(obj, "data", None)
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(obj, int):
        return float(obj)
    raise TypeError(type(obj).__name__)


@schemathesis.serializer(*MSGPACK_TYPES)
def _to_msgpack(ctx: Any, value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True, default=_bytes)


CONFIG = schemathesis.Config.from_dict({
    "generation": {"mode": "all"},
    "phases": {"coverage": {"enabled": bool(os.environ.get("FUZZ_COVERAGE"))}, "stateful": {"enabled": False}},
})
schema = schemathesis.openapi.from_path(ROOT / "openapi" / "openapi.json", config=CONFIG)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("FUZZ_RANDOM"),
          suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors(case, robust, robust_dataset):
    response = case.call(base_url=robust.url, timeout=60, headers={"prefer": "wait=30"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        headers = {k.lower(): v for k, v in response.headers.items()}
        ctype = headers.get("content-type")
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        assert ctype.startswith("application/problem+json"), (case.method, case.formatted_path, headers)
        assert not any(leak in response.text for leak in LEAKS), response.text


def test_still_ready_after_fuzzing(robust):
    r = robust.client.get("/readyz")
    assert r.status_code == 200 and r.json()["ready"], r.text
    assert all(w.alive() for w in robust.workers)
