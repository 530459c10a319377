"""Client pieces that need no service: the array codec, Retry-After and backoff, batching of per-point objects,
error classes, connection retries, and the import boundary (no JAX, no FastAPI)."""

from __future__ import annotations

import email.utils
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from inversion_client import (
    InvalidInput,
    InversionClient,
    JobCanceled,
    ServerError,
    ServiceUnavailable,
    TransportError,
    stack_objects,
)
from inversion_client._codec import packb, unpackb
from inversion_client._retry import RetryPolicy, parse_retry_after
from inversion_client.errors import problem_error

ROOT = Path(__file__).resolve().parents[2]


def test_client_imports_neither_jax_nor_fastapi():
    code = (
        "import sys\n"
        "import inversion_client, inversion_client.samplers, inversion_client.batching\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('jax', 'jaxlib', 'fastapi', 'starlette', 'pydantic', 'rq', 'redis', 'service', 'worker'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT / "client")


@pytest.mark.parametrize("dtype", ["<f8", "<f4", "<c16", "<c8", "<i8", "<i4", "|b1"])
def test_codec_round_trips_every_allowed_dtype(dtype):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((3, 4, 2)) * 10).astype(dtype)
    if arr.dtype.kind == "f":
        arr.flat[:3] = [np.nan, np.inf, -np.inf]
    back = unpackb(packb({"a": arr, "n": [1, 2.5, None]}))
    assert back["a"].dtype == np.dtype(dtype) and back["a"].flags.writeable
    np.testing.assert_array_equal(back["a"], arr)
    assert back["n"] == [1, 2.5, None]


def test_codec_sends_big_endian_and_narrow_types_as_allowed_ones():
    m = unpackb(packb(np.arange(4, dtype=">f8")))
    assert m.dtype == np.dtype("<f8") and m.tolist() == [0, 1, 2, 3]
    assert unpackb(packb(np.arange(3, dtype=np.int16))).dtype == np.dtype("<i4")
    with pytest.raises(TypeError):
        packb(np.array(["a"]))


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= parse_retry_after(when) <= 31


def test_backoff_grows_with_jitter_and_retry_after_wins():
    policy = RetryPolicy(backoff=0.1, max_backoff=1.0, max_retry_after=60)
    for attempt, cap in [(0, 0.1), (1, 0.2), (2, 0.4), (5, 1.0)]:
        delays = [policy.backoff_delay(attempt) for _ in range(200)]
        assert 0.5 * cap <= min(delays) and max(delays) <= cap and len(set(delays)) > 1
    assert 5.0 <= policy.delay(0, "5") <= 5.5
    assert 60.0 <= policy.delay(0, "3600") <= 66.0  # capped


def test_connection_failures_are_retried_then_raised():
    seen = []
    client = InversionClient("http://127.0.0.1:9", retries=2, backoff=0.01, on_retry=lambda *a: seen.append(a))
    with pytest.raises(TransportError) as err:
        client.get_dataset("x")
    assert [s[0] for s in seen] == [1, 2] and "ConnectError" in seen[0][2]
    assert "after 3 attempts" in str(err.value)


def test_problem_bodies_become_the_matching_exception():
    exc = problem_error({"type": "t", "title": "Invalid input", "status": 422, "detail": "d",
                         "errors": [{"loc": ["body", "linear_objects", 0, "sigmas"], "msg": "must be positive"}]})
    assert isinstance(exc, InvalidInput) and exc.errors[0]["msg"] == "must be positive"
    assert "linear_objects.0.sigmas: must be positive" in str(exc)
    assert isinstance(problem_error({"title": "Service unavailable", "status": 503}), ServiceUnavailable)
    assert isinstance(problem_error({"title": "Job timed out", "status": 504, "job_id": "j"}), ServerError)
    assert isinstance(problem_error({"title": "Canceled", "status": 409}), JobCanceled)


# ------------------------------------------------------------------------------------------------ batching
def _mapper(coef, grid, adapt):
    return [{"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]}, "source_grid": grid,
             "adapt_image": adapt, "regularization": {"type": "adapt", "inner_coefficient": coef,
                                                       "outer_coefficient": 1.0, "signal_scale": 1.0}}]


def test_stack_objects_batches_what_differs_and_shares_the_rest():
    grid = np.zeros((7, 2))
    adapt = np.ones(5)
    per_point = [_mapper(c, grid + c, adapt) for c in (0.1, 0.2, 0.3)]
    (obj,), batched = stack_objects(per_point)
    assert batched
    assert obj["source_grid"].shape == (3, 7, 2) and obj["source_grid"][2, 0, 0] == 0.3
    np.testing.assert_array_equal(obj["regularization"]["inner_coefficient"], [0.1, 0.2, 0.3])
    assert obj["regularization"]["outer_coefficient"] == 1.0 and obj["adapt_image"] is adapt  # shared
    assert obj["mesh"] == {"type": "rectangular_uniform", "shape": [4, 4]}


def test_stack_objects_refuses_static_differences_and_reports_identical_points():
    a = _mapper(0.1, np.zeros((7, 2)), None)
    b = _mapper(0.1, np.zeros((7, 2)), None)
    b[0]["mesh"] = {"type": "rectangular_uniform", "shape": [5, 5]}
    with pytest.raises(ValueError, match=r"0\.mesh\.shape differs"):
        stack_objects([a, b])
    _, batched = stack_objects([a, _mapper(0.1, np.zeros((7, 2)), None)])
    assert not batched
    with pytest.raises(ValueError, match="shapes differ"):
        stack_objects([a, _mapper(0.2, np.zeros((8, 2)), None)])
