"""Messages between the API and the workers: the job payload, the envelope a job ends with, and how jobs fail.

One ``POST /inversions`` is one RQ job running ``worker.tasks.run_inversion`` (:data:`~service.contract.names.
JOB_FUNCTION`) on a :class:`JobPayload`. The job ends with one :data:`Envelope`: :class:`Finished` (the answer),
:class:`Failed` (a problem-details body) or :class:`Canceled`. On the wire (RQ's result, the answer stream) an
envelope is a map tagged by ``outcome``; :func:`envelope_to_wire` and :func:`envelope_from_wire` are the only
code that knows that form, and a value that is not an envelope is refused there, not guessed at.

Every way a job can fail has one constructor below (:func:`timed_out`, :func:`worker_lost`, ...), used by the
worker for what it notices itself and by the API for what only it can notice (a lost worker, RQ's hard time
limit): the same failure reads the same whichever side reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import problems
from .models import LinearObject, OutputName, ResolvedSettings

# --------------------------------------------------------------------------------------------------- payload


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class JobRequest(_Message):
    """The inversion a job evaluates: validated linear objects, the settings in force (every field explicit, the
    server's defaults filled in) and the requested output arrays."""

    linear_objects: list[LinearObject] = Field(min_length=1)
    settings: ResolvedSettings
    outputs: list[OutputName] = Field(default_factory=list)


class JobPayload(_Message):
    """The one argument of the job function.

    ``batch_size``: B for a batched request, None otherwise (validated by the API against the dataset);
    ``enqueued_at``: Unix time (s) of the enqueue; ``timeout_s``: the job stops itself this long after it started
    (None = no limit); ``result_ttl_s``: how long RQ keeps the result (the answer stream never outlives it).
    """

    job_id: str
    dataset_id: str
    batch_size: int | None = None
    enqueued_at: float
    timeout_s: float | None = None
    result_ttl_s: int | None = None
    request: JobRequest

    def to_wire(self) -> dict[str, Any]:
        """The payload as RQ stores it (msgpack-able: numpy arrays stay arrays, see the array codec)."""
        return self.model_dump()

    @classmethod
    def from_wire(cls, value: Any) -> JobPayload:
        """Parse a stored payload (raises pydantic's ``ValidationError`` for anything else)."""
        return cls.model_validate(value)


# --------------------------------------------------------------------------------------------------- envelope


@dataclass(frozen=True)
class Finished:
    """The job produced its answer: the scalars, the requested arrays, settings and timings."""

    result: dict[str, Any]
    outcome: Literal["finished"] = "finished"


@dataclass(frozen=True)
class Failed:
    """The job ended with an RFC 9457 problem (its ``status`` is the HTTP status the API answers with)."""

    problem: dict[str, Any]
    outcome: Literal["failed"] = "failed"


@dataclass(frozen=True)
class Canceled:
    """``DELETE /jobs/{id}`` stopped the job before it finished."""

    outcome: Literal["canceled"] = "canceled"


Envelope = Finished | Failed | Canceled
OUTCOME = "outcome"


def envelope_to_wire(envelope: Envelope) -> dict[str, Any]:
    """``{"outcome": "finished", "result": {...}}``, ``{"outcome": "failed", "problem": {...}}`` or
    ``{"outcome": "canceled"}``."""
    if isinstance(envelope, Finished):
        return {OUTCOME: envelope.outcome, "result": envelope.result}
    if isinstance(envelope, Failed):
        return {OUTCOME: envelope.outcome, "problem": envelope.problem}
    return {OUTCOME: envelope.outcome}


def envelope_from_wire(value: Any) -> Envelope | None:
    """The envelope of a stored job result, or None when ``value`` is not one (never raises)."""
    if not isinstance(value, dict):
        return None
    outcome = value.get(OUTCOME)
    if outcome == "finished" and isinstance(value.get("result"), dict):
        return Finished(value["result"])
    if outcome == "failed" and isinstance(value.get("problem"), dict):
        return Failed(value["problem"])
    if outcome == "canceled":
        return Canceled()
    return None


# --------------------------------------------------------------------------------------------------- failures
#: What the API records when it fails a job on its worker's behalf (stored under ``Names.verdict``), and what a
#: worker records when RQ's hard time limit stopped a job: the API reads the reason from here, never from RQ's
#: exception text.
TIMEOUT, WORKER_LOST = b"timeout", b"worker-lost"


def timed_out(job_id: str, timeout_s: float | None) -> dict[str, Any]:
    """504: the evaluation ran past the job time limit and was stopped."""
    limit = f" ({timeout_s:g} s)" if timeout_s else ""
    return problems.problem(504, "Job timed out", f"the evaluation exceeded the job time limit{limit} and was "
                            "stopped; split the batch into smaller requests", type=problems.JOB_FAILED, job_id=job_id)


def worker_lost(job_id: str, tries: int) -> dict[str, Any]:
    """503: the worker running the job stopped before it finished, ``tries`` times."""
    return problems.problem(
        503, "Worker lost", f"the worker running this job stopped (crashed or was killed) before finishing it, "
        f"{tries} time{'s' if tries > 1 else ''}; submit the request again, perhaps with a smaller batch",
        type=problems.JOB_FAILED, job_id=job_id)


def dataset_missing(job_id: str, dataset_id: str) -> dict[str, Any]:
    """404: the dataset was deleted or expired between the enqueue and the job's start."""
    return problems.problem(
        404, "Dataset not found", f"dataset {dataset_id!r} was deleted or expired before the job ran; register it "
        "again", type=problems.NOT_FOUND, job_id=job_id,
        errors=[(["body", "dataset_id"], "no such dataset (deleted or expired)")])


def out_of_memory(job_id: str) -> dict[str, Any]:
    """507: the evaluation needed more memory than the worker has."""
    return problems.problem(507, "Out of memory", "the evaluation needed more memory than the worker has; use a "
                            "smaller batch", type=problems.JOB_FAILED, job_id=job_id)


def evaluation_failed(job_id: str) -> dict[str, Any]:
    """500: an unanticipated failure inside the worker (logged there in full; nothing internal is exposed)."""
    return problems.problem(500, "Evaluation failed", "the worker failed while evaluating this job; the failure "
                            "was logged", type=problems.INTERNAL, job_id=job_id)


def job_failed(job_id: str) -> dict[str, Any]:
    """500: RQ recorded a failure that neither side classified (logged by the API)."""
    return problems.problem(500, "Job failed", "the worker failed while evaluating this job; the failure was logged",
                            type=problems.INTERNAL, job_id=job_id)


def invalid_input(job_id: str, errors: list[tuple[Any, str]]) -> dict[str, Any]:
    """422: input the worker found it cannot evaluate (each error names its field, from ``body``)."""
    return {**problems.invalid_input(errors), "job_id": job_id}


def canceled(job_id: str) -> dict[str, Any]:
    """409: the answer to a request whose job was canceled before it finished."""
    return problems.problem(409, "Canceled", "the job was canceled before it finished", type=problems.CONFLICT,
                            job_id=job_id)


def failure_from_verdict(job_id: str, verdict: bytes | None, timeout_s: float | None, tries: int) -> dict[str, Any]:
    """The problem of a job that RQ recorded as failed, from the verdict stored for it (None: unclassified)."""
    if verdict == TIMEOUT:
        return timed_out(job_id, timeout_s)
    if verdict == WORKER_LOST:
        return worker_lost(job_id, tries)
    return job_failed(job_id)
