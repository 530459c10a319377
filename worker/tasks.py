"""The RQ job function ``run_inversion(payload)``: one :class:`~service.contract.jobs.JobPayload` in, one envelope out.

The envelope (:mod:`service.contract.jobs`) is :class:`Finished`, :class:`Failed` or :class:`Canceled`, in its
wire form. Input errors and anticipated failures never raise, so RQ records them as finished jobs whose problem
the API returns faithfully; anything unexpected is logged here with its traceback and answered with a generic
500 problem.

Time limit: the job stops itself ``timeout_s`` after it started. The engine checks between batch chunks (the
same hook as cancellation), and a result that arrives late is not returned either, so what the API reports
never depends on which side noticed first.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import numpy as np
from pydantic import ValidationError
from redis.exceptions import RedisError
from rq.timeouts import JobTimeoutException

from service.contract import arrays, jobs
from service.contract.jobs import Canceled, Envelope, Failed, Finished, JobPayload
from service.contract.names import SERIALIZER
from service.contract.validation import InvalidInput, errors_from_pydantic
from service.contract.vocabulary import SCALAR_NAMES
from worker import state as worker_state
from worker.cache import DatasetMissing
from worker.errors import EvaluationStopped

log = logging.getLogger(__name__)

#: Envelopes up to this size (msgpack bytes) are published on the job's answer stream as soon as they exist.
ANSWER_MAX_BYTES = 256 * 1024
#: Seconds an answer stays on its stream (or ``result_ttl_s`` if shorter). It is needed only until the API has read
#: it and RQ has recorded the same envelope as the job's result (milliseconds later), so it need not cost Redis
#: memory for the hour that RQ keeps results.
ANSWER_TTL_S = 60


def _scalar(value: Any) -> float | np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr


def build_result(payload: JobPayload, out: dict[str, Any], queue_ms: float, compute_ms: float) -> dict[str, Any]:
    """The answer from the engine's output: scalars, requested arrays, settings, job id, timings."""
    request = payload.request
    result: dict[str, Any] = {
        "job_id": payload.job_id,
        "dataset_id": payload.dataset_id,
        "batch_size": out.get("batch_size", payload.batch_size),
    }
    for name in SCALAR_NAMES:
        result[name] = _scalar(out[name])
    result["settings"] = request.settings.model_dump()
    result["timings"] = {
        "queue_ms": round(queue_ms, 3),
        "compute_ms": round(float(out.get("compute_ms", compute_ms)), 3),
        "compiled": bool(out.get("compiled", False)),
    }
    if out.get("solver_certified") is not None:
        result["solver_certified"] = np.asarray(out["solver_certified"]).astype(bool).tolist()
    for name in request.outputs:
        if out.get(name) is not None:
            result[name] = np.asarray(out[name])
    return result


def run_inversion(payload: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one inversion request (any batch size) and return its envelope's wire form. Never raises for bad
    input.

    The envelope is also published on the job's answer stream (:func:`finish`), so the API can answer while RQ is
    still recording the job as finished.
    """
    state = worker_state.current()
    try:
        job = JobPayload.from_wire(payload)
    except ValidationError as exc:  # not written by this service's API: refuse it, naming the fields
        job_id = payload.get("job_id", "?") if isinstance(payload, dict) else "?"
        return jobs.envelope_to_wire(Failed(jobs.invalid_input(job_id, errors_from_pydantic(exc, ("payload",)))))
    envelope = finish(state, job, _evaluate(state, job))
    if isinstance(envelope, Finished) and envelope.result["timings"]["compiled"]:
        gc.freeze()  # what this compilation added lives as long as the worker: keep it out of the collector's scans
    return jobs.envelope_to_wire(envelope)


# KEYS: the job's cancel flag, its answer stream. ARGV: envelope, replacement if canceled ('' = none), expiry, publish
# Returns 1 when the cancel flag replaced the envelope. One round trip for the last cancel check and the answer.
_FINISH = """
local canceled = ARGV[2] ~= '' and redis.call('EXISTS', KEYS[1]) == 1
if ARGV[4] == '1' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '1', '*', 'envelope', canceled and ARGV[2] or ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return canceled and 1 or 0
"""
_CANCELED = SERIALIZER.dumps(jobs.envelope_to_wire(Canceled()))


def finish(state: worker_state.WorkerState, job: JobPayload, envelope: Envelope) -> Envelope:
    """The job's final envelope, published on its answer stream (kept :data:`ANSWER_TTL_S`) unless it is over
    :data:`ANSWER_MAX_BYTES`.

    A result is replaced by :class:`Canceled` when ``DELETE /jobs/{id}`` asked the job to stop while it ran
    (failures stand). RQ records the same envelope as the job's result a millisecond or so later; that record is
    what counts when the answer is too large to publish (its transfer dwarfs the bookkeeping) or the write fails.
    """
    wire = jobs.envelope_to_wire(envelope)
    # arrays alone over the limit: skip serialising them here at all (RQ serialises the envelope for its record)
    blob = SERIALIZER.dumps(wire) if arrays.array_bytes(wire) <= ANSWER_MAX_BYTES else None
    publish = blob is not None and len(blob) <= ANSWER_MAX_BYTES
    cancellable = isinstance(envelope, Finished)
    if not publish and not cancellable:
        return envelope
    keys = [state.names.cancel(job.job_id), state.names.answer(job.job_id)]
    ttl = min(int(job.result_ttl_s or ANSWER_TTL_S), ANSWER_TTL_S)
    try:
        canceled = state.register_script(_FINISH)(
            keys=keys, args=[blob if publish else b"", _CANCELED if cancellable else b"", ttl, "1" if publish else "0"])
    except RedisError as exc:
        log.warning("job %s: could not publish its answer (%s); RQ's result will carry it", job.job_id,
                    type(exc).__name__)
        return envelope
    return Canceled() if canceled else envelope


def _evaluate(state: worker_state.WorkerState, job: JobPayload) -> Envelope:
    started = time.time()
    deadline = time.monotonic() + (float(job.timeout_s) if job.timeout_s else float("inf"))
    queue_ms = max(0.0, (started - job.enqueued_at) * 1000.0)

    def should_stop() -> bool:
        return time.monotonic() > deadline or state.cancel_requested(job.job_id)

    # No cancel check before the work: a job canceled while queued left the queue (RQ's cancel), a batch polls the
    # flag before its first chunk, and every result is checked once more when it is published (finish()).
    try:
        prepared = state.cache.get(job.dataset_id)
        t0 = time.perf_counter()
        out = state.engine.evaluate(prepared, job.request, should_stop)
        compute_ms = (time.perf_counter() - t0) * 1000.0
        if time.monotonic() > deadline:
            return _timed_out(job)
        return Finished(build_result(job, out, queue_ms, compute_ms))
    except InvalidInput as exc:
        log.info("job %s: invalid input: %s", job.job_id, exc)
        return Failed(jobs.invalid_input(job.job_id, exc.errors))
    except DatasetMissing:
        return Failed(jobs.dataset_missing(job.job_id, job.dataset_id))
    except JobTimeoutException:
        return _timed_out(job)
    except EvaluationStopped:
        if time.monotonic() > deadline and not state.cancel_requested(job.job_id):
            return _timed_out(job)
        return Canceled()
    except MemoryError:
        log.error("job %s ran out of memory", job.job_id)
        return Failed(jobs.out_of_memory(job.job_id))
    except Exception as exc:
        log.error("job %s failed", job.job_id, exc_info=exc)
        return Failed(jobs.evaluation_failed(job.job_id))


def _timed_out(job: JobPayload) -> Failed:
    log.warning("job %s exceeded its time limit of %s s", job.job_id, job.timeout_s)
    return Failed(jobs.timed_out(job.job_id, job.timeout_s))
