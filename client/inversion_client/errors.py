"""Exceptions of the client. Every answer of the service that is an error becomes a :class:`ProblemError` carrying
the RFC 9457 problem body (``status``, ``title``, ``detail``, ``errors`` naming the fields).

    InversionServiceError
    ├── TransportError            the service could not be reached (after the retries)
    ├── JobTimeout                a job did not finish within the time the caller was willing to wait
    └── ProblemError              an error answer (or a failed job) with its problem body
        ├── ClientError           4xx: BadRequest 400, Unauthorized 401, NotFound 404, Conflict 409 (JobCanceled),
        │                         PayloadTooLarge 413, InvalidInput 422, TooManyRequests 429
        └── ServerError           5xx: ServiceUnavailable 503
"""

from __future__ import annotations

from typing import Any


class InversionServiceError(Exception):
    """Base of every exception raised by the client."""


class TransportError(InversionServiceError):
    """The service could not be reached, or the connection broke, on every attempt."""


class JobTimeout(InversionServiceError):
    """A job was still queued or running when the caller stopped waiting; it may still finish (``job_id``)."""

    def __init__(self, job_id: str, waited_s: float, status: str):
        super().__init__(f"job {job_id} was still {status} after {waited_s:.1f} s; "
                         f"poll client.job({job_id!r}) later or cancel it")
        self.job_id = job_id
        self.status = status


class ProblemError(InversionServiceError):
    """An error answer of the service: ``status``, ``title``, ``detail``, ``errors`` ([{loc, msg}]), ``body``."""

    def __init__(self, body: dict[str, Any], headers: dict[str, str] | None = None):
        self.body = dict(body)
        self.status: int = int(body.get("status") or 0)
        self.title: str = str(body.get("title") or "")
        self.detail: str | None = body.get("detail")
        self.type: str = str(body.get("type") or "about:blank")
        self.errors: list[dict[str, Any]] = list(body.get("errors") or [])
        self.job_id: str | None = body.get("job_id")
        self.headers = dict(headers or {})
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"{self.status} {self.title}".strip()
        if self.detail:
            text += f": {self.detail}"
        for err in self.errors[:5]:
            loc = ".".join(str(p) for p in err.get("loc", []) if p != "body")
            text += f"\n  {loc}: {err.get('msg')}"
        if len(self.errors) > 5:
            text += f"\n  ... and {len(self.errors) - 5} more"
        return text


class ClientError(ProblemError):
    """4xx: the request cannot be served as it is; fix it (the problem names the field)."""


class BadRequest(ClientError):
    """400: the body could not be decoded."""


class Unauthorized(ClientError):
    """401: a valid API key is required."""


class NotFound(ClientError):
    """404: unknown (deleted or expired) dataset or job."""


class Conflict(ClientError):
    """409: the operation does not apply in the resource's current state."""


class JobCanceled(Conflict):
    """The job was canceled before it finished."""


class PayloadTooLarge(ClientError):
    """413: the request body exceeds the server's limit; send smaller batches (or float32 grids)."""


class InvalidInput(ClientError):
    """422: well-formed but invalid; ``errors`` lists each field with a sentence."""


class TooManyRequests(ClientError):
    """429: rate limited (after the client's retries)."""


class ServerError(ProblemError):
    """5xx: the service failed, or a job failed in the worker."""


class ServiceUnavailable(ServerError):
    """503: Redis unreachable, queue full or worker lost (after the client's retries)."""


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest, 401: Unauthorized, 404: NotFound, 409: Conflict, 413: PayloadTooLarge, 422: InvalidInput,
    429: TooManyRequests, 503: ServiceUnavailable,
}


def problem_error(body: dict[str, Any], headers: dict[str, str] | None = None) -> ProblemError:
    """The exception class matching ``body["status"]``."""
    status = int(body.get("status") or 0)
    if status == 409 and body.get("title") == "Canceled":
        cls: type[ProblemError] = JobCanceled
    else:
        cls = _BY_STATUS.get(status) or (ClientError if 400 <= status < 500 else ServerError)
    return cls(body, headers)
