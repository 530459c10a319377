"""The RQ job function ``run_inversion(payload)`` and the per-process state it uses.

The payload (written by ``service.queue``) is ``{"job_id", "dataset_id", "batch_size", "enqueued_at",
"timeout_s", "request": {"linear_objects", "settings", "outputs"}}`` with numpy arrays. The return value is an
envelope: ``{"result": {...}}``, ``{"error": problem}`` or ``{"canceled": True}``. Input errors and anticipated
failures never raise, so RQ records them as finished jobs whose problem the API returns faithfully; anything
unexpected is logged here with its traceback and answered with a generic 500 problem.

Time limit: the job stops itself ``timeout_s`` after it started. The engine checks between batch chunks (the
same hook as cancellation), and a result that arrives late is not returned either, so what the API reports
never depends on which side noticed first.
"""

from __future__ import annotations

import functools
import gc
import inspect
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from redis import Redis
from redis.exceptions import RedisError

from service.contract import arrays, datasets, problems
from service.contract.names import SERIALIZER, Names
from service.contract.responses import SCALAR_NAMES
from worker.cache import DatasetMissing, PreparedCache

log = logging.getLogger(__name__)

#: Envelopes up to this size (msgpack bytes) are published on the job's answer stream as soon as they exist.
ANSWER_MAX_BYTES = 256 * 1024
#: Seconds an answer stays on its stream (or ``result_ttl_s`` if shorter). It is needed only until the API has read
#: it and RQ has recorded the same envelope as the job's result (milliseconds later), so it need not cost Redis
#: memory for the hour that RQ keeps results.
ANSWER_TTL_S = 60


@dataclass
class WorkerState:
    """What a job needs from its worker process: the engine, Redis and the prepared-dataset cache."""

    engine: Any
    redis: Redis
    names: Names
    cache: PreparedCache
    info: dict[str, Any] = field(default_factory=dict)

    def evaluate(self, prepared: Any, request: dict[str, Any], job_id: str, deadline: float) -> dict[str, Any]:
        """Run the engine, letting it poll the cancel flag and the deadline (``time.monotonic()``) between batch
        chunks when it supports that."""
        if self.engine_polls:
            def stop() -> bool:
                return time.monotonic() > deadline or self.cancel_requested(job_id)

            return self.engine.evaluate(prepared, request, cancelled=stop)
        return self.engine.evaluate(prepared, request)

    @functools.cached_property
    def finish_script(self) -> Any:
        """The Lua script of :func:`finish` (registered once per process)."""
        return self.redis.register_script(_FINISH)

    @functools.cached_property
    def engine_polls(self) -> bool:
        """Whether the engine's ``evaluate`` takes a ``cancelled`` callback (looked up once, not per job)."""
        return "cancelled" in inspect.signature(self.engine.evaluate).parameters

    def cancel_requested(self, job_id: str) -> bool:
        """True when ``DELETE /jobs/{id}`` asked this job to stop."""
        return bool(self.redis.exists(self.names.cancel(job_id)))


_state: WorkerState | None = None


def make_state(engine: Any, redis: Redis, names: Names, cache_bytes: int) -> WorkerState:
    """Build the state of a worker process around ``engine``."""

    def load(dataset_id: str) -> dict | None:
        blob = redis.get(names.dataset(dataset_id))
        return None if blob is None else datasets.unpack(blob)

    return WorkerState(engine, redis, names, PreparedCache(load, engine.prepare, cache_bytes))


def bind(state: WorkerState) -> None:
    """Install the state used by :func:`run_inversion` in this process."""
    global _state
    _state = state


def _current_state() -> WorkerState:
    """The bound state, or one built from the configuration (when RQ runs the task in a plain worker)."""
    global _state
    if _state is None:
        from worker.main import build_state

        _state = build_state()
    return _state


def _scalar(value: Any) -> float | np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr


def build_result(payload: dict[str, Any], out: dict[str, Any], queue_ms: float, compute_ms: float) -> dict[str, Any]:
    """The answer of API.md from the engine's output: scalars, requested arrays, settings, job id, timings."""
    request = payload["request"]
    result: dict[str, Any] = {
        "job_id": payload["job_id"],
        "dataset_id": payload["dataset_id"],
        "batch_size": out.get("batch_size", payload.get("batch_size")),
    }
    for name in SCALAR_NAMES:
        result[name] = _scalar(out[name])
    result["settings"] = dict(request["settings"])
    result["timings"] = {
        "queue_ms": round(queue_ms, 3),
        "compute_ms": round(float(out.get("compute_ms", compute_ms)), 3),
        "compiled": bool(out.get("compiled", False)),
    }
    if out.get("solver_certified") is not None:
        result["solver_certified"] = np.asarray(out["solver_certified"]).astype(bool).tolist()
    for name in request.get("outputs") or []:
        if name in out and out[name] is not None:
            result[name] = np.asarray(out[name])
    return result


def _input_error(exc: Exception, job_id: str) -> dict[str, Any]:
    loc = ("body", *getattr(exc, "loc", ()))
    return {**problems.invalid_input([(loc, getattr(exc, "msg", str(exc)))]), "job_id": job_id}


def run_inversion(payload: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one inversion request (any batch size) and return its envelope. Never raises for bad input.

    The envelope is also published on the job's answer stream (:func:`finish`), so the API can answer while RQ is
    still recording the job as finished.
    """
    envelope = finish(payload, _evaluate(payload))
    if envelope.get("result", {}).get("timings", {}).get("compiled"):
        gc.freeze()  # what this compilation added lives as long as the worker: keep it out of the collector's scans
    return envelope


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
_CANCELED = SERIALIZER.dumps({"canceled": True})


def finish(payload: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
    """The job's final envelope, published on its answer stream (kept :data:`ANSWER_TTL_S`) unless it is over
    :data:`ANSWER_MAX_BYTES`.

    A result is replaced by ``{"canceled": True}`` when ``DELETE /jobs/{id}`` asked the job to stop while it ran
    (errors stand). RQ records the same envelope as the job's result a millisecond or so later; that record is what
    counts when the answer is too large to publish (its transfer dwarfs the bookkeeping) or the write fails.
    """
    job_id, state = payload.get("job_id"), _current_state()
    if not job_id:
        return envelope
    # arrays alone over the limit: skip serialising them here at all (RQ serialises the envelope for its record)
    blob = SERIALIZER.dumps(envelope) if arrays.array_bytes(envelope) <= ANSWER_MAX_BYTES else None
    publish = blob is not None and len(blob) <= ANSWER_MAX_BYTES
    cancellable = "result" in envelope
    if not publish and not cancellable:
        return envelope
    keys = [state.names.cancel(job_id), state.names.answer(job_id)]
    ttl = min(int(payload.get("result_ttl_s") or ANSWER_TTL_S), ANSWER_TTL_S)
    try:
        canceled = state.finish_script(keys=keys, args=[blob if publish else b"", _CANCELED if cancellable else b"",
                                                        ttl, "1" if publish else "0"])
    except RedisError as exc:
        log.warning("job %s: could not publish its answer (%s); RQ's result will carry it", job_id,
                    type(exc).__name__)
        return envelope
    return {"canceled": True} if canceled else envelope


def _evaluate(payload: dict[str, Any]) -> dict[str, Any]:
    from rq.timeouts import JobTimeoutException

    from worker.inversion.errors import InputError

    started = time.time()
    job_id = payload.get("job_id", "?")
    timeout_s = payload.get("timeout_s")
    deadline = time.monotonic() + (float(timeout_s) if timeout_s else float("inf"))
    queue_ms = max(0.0, (started - float(payload.get("enqueued_at", started))) * 1000.0)
    state = _current_state()
    # No cancel check before the work: a job canceled while queued left the queue (RQ's cancel), a batch polls the
    # flag before its first chunk, and every result is checked once more when it is published (finish()).
    try:
        prepared = state.cache.get(payload["dataset_id"])
        t0 = time.perf_counter()
        out = state.evaluate(prepared, payload["request"], job_id, deadline)
        compute_ms = (time.perf_counter() - t0) * 1000.0
        if time.monotonic() > deadline:
            return {"error": _timed_out(job_id, timeout_s)}
        return {"result": build_result(payload, out, queue_ms, compute_ms)}
    except InputError as exc:
        return {"error": _input_error(exc, job_id)}
    except DatasetMissing:
        return {"error": problems.problem(
            404, "Dataset not found", f"dataset {payload.get('dataset_id')!r} was deleted or expired before the "
            "job ran; register it again", type=problems.NOT_FOUND, job_id=job_id,
            errors=[(["body", "dataset_id"], "no such dataset (deleted or expired)")])}
    except JobTimeoutException:
        return {"error": _timed_out(job_id, timeout_s)}
    except Exception as exc:
        if type(exc).__name__ != "Cancelled":  # the engine's "stopped between chunks" signal
            return _unexpected(exc, job_id, payload.get("request"))
        if time.monotonic() > deadline and not state.cancel_requested(job_id):
            return {"error": _timed_out(job_id, timeout_s)}
        return {"canceled": True}


def _timed_out(job_id: str, timeout_s: Any) -> dict[str, Any]:
    log.warning("job %s exceeded its time limit of %s s", job_id, timeout_s)
    limit = f" ({timeout_s} s)" if timeout_s else ""
    return problems.problem(504, "Job timed out", f"the evaluation exceeded the job time limit{limit} and was "
                            "stopped; split the batch into smaller requests", type=problems.JOB_FAILED, job_id=job_id)


def _delaunay_loc(request: dict[str, Any] | None) -> tuple:
    """Location of the first Delaunay mesh's vertices in the request (for a failed triangulation)."""
    for i, obj in enumerate((request or {}).get("linear_objects") or []):
        mesh = obj.get("mesh") if isinstance(obj, dict) else None
        if isinstance(mesh, dict) and mesh.get("type") == "delaunay":
            return ("body", "linear_objects", i, "mesh", "vertices")
    return ("body", "linear_objects")


def _unexpected(exc: BaseException, job_id: str, request: dict[str, Any] | None = None) -> dict[str, Any]:
    """The envelope of an unanticipated failure: logged in full here, generic for the client.

    A Delaunay triangulation that Qhull refuses (degenerate vertices the API's checks did not catch) surfaces as
    a JAX callback error; it is bad input, so it is answered 422 naming the vertices.
    """
    if "QhullError" in f"{type(exc).__name__} {exc}":
        log.warning("job %s: Delaunay triangulation failed: %s", job_id, str(exc).splitlines()[-1:] or "")
        loc = _delaunay_loc(request)
        msg = ("the Delaunay triangulation of these vertices failed (they are degenerate: coincident, collinear "
               "or cocircular within rounding); move or drop vertices")
        return {"error": {**problems.invalid_input([(loc, msg)]), "job_id": job_id}}
    if isinstance(exc, MemoryError):
        log.error("job %s ran out of memory", job_id)
        return {"error": problems.problem(507, "Out of memory", "the evaluation needed more memory than the worker "
                                          "has; use a smaller batch", type=problems.JOB_FAILED, job_id=job_id)}
    log.error("job %s failed", job_id, exc_info=exc)
    return {"error": problems.problem(500, "Evaluation failed", "the worker failed while evaluating this job; "
                                      "the failure was logged", type=problems.INTERNAL, job_id=job_id)}
