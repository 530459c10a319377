"""The job function's result layout (without a worker process)."""

import time

import numpy as np

from service.contract.jobs import Canceled, Finished, JobPayload
from service.contract.vocabulary import SCALAR_NAMES
from worker.tasks import build_result

SETTINGS = {"use_mixed_precision": False, "use_positive_only_solver": True, "use_edge_zeroed_pixels": True,
            "use_border_relocator": False, "no_regularization_add_to_curvature_diag_value": 1e-3}
OBJECTS = [{"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [3, 3]}},
           {"type": "mapper", "mesh": {"type": "delaunay", "vertices": [[0, 0], [1, 0], [0, 1]]}}]


def payload_of(**changes):
    """A job payload as the API writes it (typed, validated)."""
    wire = {"job_id": "j", "dataset_id": "d", "batch_size": None, "enqueued_at": time.time(), "timeout_s": None,
            "result_ttl_s": 60, "request": {"linear_objects": OBJECTS, "settings": SETTINGS, "outputs": []}}
    return JobPayload.from_wire({**wire, **changes})


def test_build_result_scalars_batches_and_outputs():
    payload = payload_of(batch_size=2, request={"linear_objects": OBJECTS, "settings": SETTINGS,
                                                "outputs": ["model_image"]})
    out = {name: np.array([1.0, 2.0]) for name in SCALAR_NAMES}
    out.update(batch_size=2, compiled=True, compute_ms=3.0, model_image=np.ones((2, 5)),
               reconstruction=np.ones((2, 3)), solver_certified=[1.0, 0.0])
    result = build_result(payload, out, queue_ms=1.5, compute_ms=9.0)
    assert result["figure_of_merit"].tolist() == [1.0, 2.0] and result["batch_size"] == 2
    assert result["timings"] == {"queue_ms": 1.5, "compute_ms": 3.0, "compiled": True}
    assert "reconstruction" not in result and result["model_image"].shape == (2, 5)
    assert result["solver_certified"] == [True, False]
    single = build_result(payload_of(), {n: np.float64(1) for n in SCALAR_NAMES}, 0, 1)
    assert isinstance(single["log_evidence"], float) and single["timings"]["compiled"] is False


# --------------------------------------------------------------------------------------------------- run_inversion
import uuid  # noqa: E402

import pytest  # noqa: E402
from redis import Redis  # noqa: E402

from service.contract.names import SERIALIZER, Names  # noqa: E402
from service.contract.validation import InvalidInput  # noqa: E402
from worker import state as worker_state  # noqa: E402
from worker import tasks  # noqa: E402
from worker.cache import PreparedCache  # noqa: E402
from worker.errors import EvaluationStopped  # noqa: E402


class FakeEngine:
    """Sleeps ``per_chunk`` before each of ``chunks`` chunks, polling ``cancelled`` like the real engine."""

    def __init__(self, chunks=1, per_chunk=0.0, error=None):
        self.chunks, self.per_chunk, self.error = chunks, per_chunk, error

    def evaluate(self, prepared, request, should_stop=None):
        if self.error:
            raise self.error
        for _ in range(self.chunks):
            if should_stop is not None and should_stop():
                raise EvaluationStopped()
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
    state = worker_state.WorkerState(engine, _REDIS, _NAMES,
                                     PreparedCache(lambda i: {"kind": "imaging"}, lambda d: d, 10**6))
    worker_state.bind(state)
    try:
        return tasks.run_inversion(payload_of(timeout_s=timeout_s, result_ttl_s=result_ttl_s).to_wire())
    finally:
        worker_state.bind(None)


def _published() -> list:
    """Envelopes on job ``j``'s answer stream."""
    return [SERIALIZER.loads(fields[b"envelope"]) for _, fields in _REDIS.xrange(_NAMES.answer("j"))]


def test_a_job_stops_itself_at_its_deadline_between_chunks():
    t0 = time.monotonic()
    envelope = _run(FakeEngine(chunks=50, per_chunk=0.05), timeout_s=0.2)
    assert time.monotonic() - t0 < 1.0
    assert envelope["problem"]["status"] == 504 and "time limit (0.2 s)" in envelope["problem"]["detail"]


def test_a_result_that_arrives_after_the_deadline_is_not_returned():
    envelope = _run(FakeEngine(chunks=1, per_chunk=0.3), timeout_s=0.1)
    assert envelope["problem"]["status"] == 504


def test_in_time_results_and_cancellation():
    assert _run(FakeEngine(chunks=2, per_chunk=0.01), timeout_s=10)["outcome"] == "finished"
    assert _run(FakeEngine(), timeout_s=None)["outcome"] == "finished"
    assert _run(FakeEngine(chunks=5, per_chunk=0.01), flags={"cancel"}) == {"outcome": "canceled"}


def test_input_the_engine_refuses_is_a_422_naming_the_field():
    error = InvalidInput([(("body", "linear_objects", 1, "mesh", "vertices"), "the triangulation failed")])
    envelope = _run(FakeEngine(error=error))
    problem = envelope["problem"]
    assert problem["status"] == 422 and problem["job_id"] == "j"
    assert problem["errors"][0]["loc"] == ["body", "linear_objects", 1, "mesh", "vertices"]
    assert "Traceback" not in str(problem) and ".py" not in str(problem)


@pytest.mark.parametrize("error", [RuntimeError("/secret/path.py exploded"), MemoryError()])
def test_unexpected_failures_are_generic(error):
    problem = _run(FakeEngine(error=error))["problem"]
    assert problem["status"] in (500, 507) and "secret" not in str(problem)


def test_every_envelope_is_published_on_the_answer_stream_at_once():
    """The API answers from this stream while RQ still records the job; it expires within a minute (RQ's result
    is the record), or with the result if that is kept less."""
    envelope = _run(FakeEngine(), result_ttl_s=3600)
    assert envelope["outcome"] == "finished" and _published() == [envelope]
    assert 50 <= _REDIS.ttl(_NAMES.answer("j")) <= tasks.ANSWER_TTL_S == 60
    _run(FakeEngine(), result_ttl_s=20)
    assert 10 <= _REDIS.ttl(_NAMES.answer("j")) <= 20
    _REDIS.delete(_NAMES.answer("j"))
    failed = _run(FakeEngine(error=RuntimeError("boom")))
    assert failed["problem"]["status"] == 500 and _published() == [failed]


def test_large_answers_are_left_to_rq(monkeypatch):
    monkeypatch.setattr(tasks, "ANSWER_MAX_BYTES", 64)
    envelope = _run(FakeEngine())
    assert envelope["outcome"] == "finished" and _published() == []


def test_large_arrays_are_not_serialised_for_the_answer_stream(monkeypatch):
    """An envelope whose arrays alone exceed the limit is never encoded by the job function (RQ encodes it once)."""
    encoded = []
    monkeypatch.setattr(tasks, "SERIALIZER", type("Counting", (), {"dumps": staticmethod(
        lambda obj: encoded.append(obj) or SERIALIZER.dumps(obj))}))
    state = worker_state.WorkerState(FakeEngine(), _REDIS, _NAMES, PreparedCache(lambda i: None, lambda d: d, 1))
    big = Finished({"reconstruction": np.zeros(tasks.ANSWER_MAX_BYTES // 8 + 1)})
    assert tasks.finish(state, payload_of(), big) is big and encoded == [] and _published() == []
    small = Finished({"reconstruction": np.zeros(4)})
    assert tasks.finish(state, payload_of(), small) is small and len(encoded) == 1
    assert encoded[0]["result"] is small.result and len(_published()) == 1


class CanceledMidway(FakeEngine):
    """Asked to stop while its single chunk runs (after its last poll)."""

    def evaluate(self, prepared, request, should_stop=None):
        out = super().evaluate(prepared, request, should_stop)
        _REDIS.set(_NAMES.cancel("j"), b"1")
        return out


def test_a_result_is_replaced_by_canceled_when_asked_while_it_ran(monkeypatch):
    assert _run(CanceledMidway()) == {"outcome": "canceled"}
    assert _published() == [{"outcome": "canceled"}]
    _REDIS.delete(_NAMES.answer("j"), _NAMES.cancel("j"))
    monkeypatch.setattr(tasks, "ANSWER_MAX_BYTES", 64)  # too large to publish: the check still happens
    assert _run(CanceledMidway()) == {"outcome": "canceled"} and _published() == []


def test_errors_stand_when_a_cancel_arrives():
    envelope = _run(FakeEngine(error=RuntimeError("boom")), flags={"cancel"})
    assert envelope["problem"]["status"] == 500 and _published() == [envelope]


def test_a_payload_the_api_did_not_write_is_refused_naming_the_field():
    wire = payload_of().to_wire()
    del wire["request"]["settings"]["use_border_relocator"]
    worker_state.bind(worker_state.WorkerState(FakeEngine(), _REDIS, _NAMES, PreparedCache(lambda i: None,
                                                                                           lambda d: d, 1)))
    try:
        envelope = tasks.run_inversion(wire)
    finally:
        worker_state.bind(None)
    assert envelope["outcome"] == "failed" and envelope["problem"]["status"] == 422
    assert envelope["problem"]["errors"][0]["loc"] == ["payload", "request", "settings", "use_border_relocator"]


def test_envelopes_round_trip_and_anything_else_is_no_envelope():
    from service.contract import jobs

    for envelope in (Finished({"figure_of_merit": 1.0}), jobs.Failed({"status": 500}), Canceled()):
        assert jobs.envelope_from_wire(SERIALIZER.loads(SERIALIZER.dumps(jobs.envelope_to_wire(envelope)))) == envelope
    for other in (None, [], {"result": {}}, {"outcome": "finished"}, {"outcome": "failed", "problem": "x"}):
        assert jobs.envelope_from_wire(other) is None
