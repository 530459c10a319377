"""The job function's result layout (without a worker process)."""

import numpy as np

from service.contract.responses import SCALAR_NAMES
from worker.tasks import build_result


def test_build_result_scalars_batches_and_outputs():
    payload = {"job_id": "j", "dataset_id": "d", "batch_size": 2,
               "request": {"settings": {"use_mixed_precision": False}, "outputs": ["model_image"]}}
    out = {name: np.array([1.0, 2.0]) for name in SCALAR_NAMES}
    out.update(batch_size=2, compiled=True, compute_ms=3.0, model_image=np.ones((2, 5)),
               reconstruction=np.ones((2, 3)), solver_certified=[1.0, 0.0])
    result = build_result(payload, out, queue_ms=1.5, compute_ms=9.0)
    assert result["figure_of_merit"].tolist() == [1.0, 2.0] and result["batch_size"] == 2
    assert result["timings"] == {"queue_ms": 1.5, "compute_ms": 3.0, "compiled": True}
    assert "reconstruction" not in result and result["model_image"].shape == (2, 5)
    assert result["solver_certified"] == [True, False]
    single = build_result({**payload, "batch_size": None}, {n: np.float64(1) for n in SCALAR_NAMES}, 0, 1)
    assert isinstance(single["log_evidence"], float) and single["timings"]["compiled"] is False


# --------------------------------------------------------------------------------------------------- run_inversion
import time  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402
from redis import Redis  # noqa: E402

from service.contract.names import SERIALIZER, Names  # noqa: E402
from worker import tasks  # noqa: E402
from worker.cache import PreparedCache  # noqa: E402
from worker.inversion import errors as _errors  # noqa: E402, F401  (imported by run_inversion; not timed)


class Cancelled(Exception):
    """Named like the engine's "stopped between chunks" exception."""


class FakeEngine:
    """Sleeps ``per_chunk`` before each of ``chunks`` chunks, polling ``cancelled`` like the real engine."""

    def __init__(self, chunks=1, per_chunk=0.0, error=None):
        self.chunks, self.per_chunk, self.error = chunks, per_chunk, error

    def evaluate(self, prepared, request, cancelled=None):
        if self.error:
            raise self.error
        for _ in range(self.chunks):
            if cancelled is not None and cancelled():
                raise Cancelled()
            time.sleep(self.per_chunk)
        return {name: 1.0 for name in SCALAR_NAMES}


@pytest.fixture(scope="module")
def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _names(redis):
    """A fresh namespace per test in the real Redis; the job is always ``j``."""
    global _NAMES, _REDIS
    _NAMES, _REDIS = Names(f"tasks-{uuid.uuid4().hex[:8]}"), redis
    yield
    keys = list(redis.scan_iter(f"{_NAMES.namespace}:*"))
    if keys:
        redis.delete(*keys)


_NAMES: Names
_REDIS: Redis


def _run(engine, timeout_s=None, flags=(), result_ttl_s=60):
    for flag in flags:
        _REDIS.set(getattr(_NAMES, flag)("j"), b"1")
    state = tasks.WorkerState(engine, _REDIS, _NAMES, PreparedCache(lambda i: {"kind": "imaging"}, lambda d: d, 10**6))
    tasks.bind(state)
    payload = {"job_id": "j", "dataset_id": "d", "batch_size": None, "enqueued_at": time.time(),
               "timeout_s": timeout_s, "result_ttl_s": result_ttl_s, "request": {"linear_objects": [
                   {"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [3, 3]}},
                   {"type": "mapper", "mesh": {"type": "delaunay", "vertices": [[0, 0], [1, 0], [0, 1]]}}],
                   "settings": {}, "outputs": []}}
    try:
        return tasks.run_inversion(payload)
    finally:
        tasks.bind(None)


def _published() -> list:
    """Envelopes on job ``j``'s answer stream."""
    return [SERIALIZER.loads(fields[b"envelope"]) for _, fields in _REDIS.xrange(_NAMES.answer("j"))]


def test_a_job_stops_itself_at_its_deadline_between_chunks():
    t0 = time.monotonic()
    envelope = _run(FakeEngine(chunks=50, per_chunk=0.05), timeout_s=0.2)
    assert time.monotonic() - t0 < 1.0
    assert envelope["error"]["status"] == 504 and "time limit (0.2 s)" in envelope["error"]["detail"]


def test_a_result_that_arrives_after_the_deadline_is_not_returned():
    envelope = _run(FakeEngine(chunks=1, per_chunk=0.3), timeout_s=0.1)
    assert envelope["error"]["status"] == 504


def test_in_time_results_and_cancellation():
    assert "result" in _run(FakeEngine(chunks=2, per_chunk=0.01), timeout_s=10)
    assert "result" in _run(FakeEngine(), timeout_s=None)
    assert _run(FakeEngine(chunks=5, per_chunk=0.01), flags={"cancel"}) == {"canceled": True}


def test_a_failed_triangulation_is_bad_input_naming_the_vertices():
    error = RuntimeError("INTERNAL: CpuCallback error calling callback: Traceback (most recent call last):\n"
                         "  File \"/x/y.py\"\nQhullError: QH6154 Qhull precision error: Initial simplex is flat")
    envelope = _run(FakeEngine(error=error))
    problem = envelope["error"]
    assert problem["status"] == 422 and problem["job_id"] == "j"
    assert problem["errors"][0]["loc"] == ["body", "linear_objects", 1, "mesh", "vertices"]
    assert "Traceback" not in str(problem) and ".py" not in str(problem)


@pytest.mark.parametrize("error", [RuntimeError("/secret/path.py exploded"), MemoryError()])
def test_unexpected_failures_are_generic(error):
    problem = _run(FakeEngine(error=error))["error"]
    assert problem["status"] in (500, 507) and "secret" not in str(problem)


def test_every_envelope_is_published_on_the_answer_stream_at_once():
    """The API answers from this stream while RQ still records the job; it expires within a minute (RQ's result
    is the record), or with the result if that is kept less."""
    envelope = _run(FakeEngine(), result_ttl_s=3600)
    assert "result" in envelope and _published() == [envelope]
    assert 50 <= _REDIS.ttl(_NAMES.answer("j")) <= tasks.ANSWER_TTL_S == 60
    _run(FakeEngine(), result_ttl_s=20)
    assert 10 <= _REDIS.ttl(_NAMES.answer("j")) <= 20
    _REDIS.delete(_NAMES.answer("j"))
    failed = _run(FakeEngine(error=RuntimeError("boom")))
    assert failed["error"]["status"] == 500 and _published() == [failed]


def test_large_answers_are_left_to_rq(monkeypatch):
    monkeypatch.setattr(tasks, "ANSWER_MAX_BYTES", 64)
    envelope = _run(FakeEngine())
    assert "result" in envelope and _published() == []


def test_large_arrays_are_not_serialised_for_the_answer_stream(monkeypatch):
    """An envelope whose arrays alone exceed the limit is never encoded by the job function (RQ encodes it once)."""
    encoded = []
    monkeypatch.setattr(tasks, "SERIALIZER", type("Counting", (), {"dumps": staticmethod(
        lambda obj: encoded.append(obj) or SERIALIZER.dumps(obj))}))
    tasks.bind(tasks.WorkerState(FakeEngine(), _REDIS, _NAMES, PreparedCache(lambda i: None, lambda d: d, 1)))
    try:
        big = {"result": {"reconstruction": np.zeros(tasks.ANSWER_MAX_BYTES // 8 + 1)}}
        assert tasks.finish({"job_id": "j", "result_ttl_s": 60}, big) is big and encoded == [] and _published() == []
        small = {"result": {"reconstruction": np.zeros(4)}}
        assert tasks.finish({"job_id": "j", "result_ttl_s": 60}, small) is small and encoded == [small]
        assert len(_published()) == 1
    finally:
        tasks.bind(None)


class CanceledMidway(FakeEngine):
    """Asked to stop while its single chunk runs (after its last poll)."""

    def evaluate(self, prepared, request, cancelled=None):
        out = super().evaluate(prepared, request, cancelled)
        _REDIS.set(_NAMES.cancel("j"), b"1")
        return out


def test_a_result_is_replaced_by_canceled_when_asked_while_it_ran(monkeypatch):
    assert _run(CanceledMidway()) == {"canceled": True}
    assert _published() == [{"canceled": True}]
    _REDIS.delete(_NAMES.answer("j"), _NAMES.cancel("j"))
    monkeypatch.setattr(tasks, "ANSWER_MAX_BYTES", 64)  # too large to publish: the check still happens
    assert _run(CanceledMidway()) == {"canceled": True} and _published() == []


def test_errors_stand_when_a_cancel_arrives():
    envelope = _run(FakeEngine(error=RuntimeError("boom")), flags={"cancel"})
    assert envelope["error"]["status"] == 500 and _published() == [envelope]
