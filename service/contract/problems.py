"""RFC 9457 problem details as plain dicts, built in one place for the API and the worker.

A problem is ``{"type", "title", "status", "detail", "errors": [{"loc": [...], "msg": ...}]}``. The worker stores
problems as job results, so the API can return them exactly as they were produced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"

#: Problem type URIs (RFC 9457 ``type``); stable identifiers a client can branch on.
INVALID_INPUT = "urn:inversion-service:problem:invalid-input"
MALFORMED_BODY = "urn:inversion-service:problem:malformed-body"
NOT_FOUND = "urn:inversion-service:problem:not-found"
CONFLICT = "urn:inversion-service:problem:conflict"
UNAUTHORIZED = "urn:inversion-service:problem:unauthorized"
NOT_ACCEPTABLE = "urn:inversion-service:problem:not-acceptable"
UNSUPPORTED_MEDIA_TYPE = "urn:inversion-service:problem:unsupported-media-type"
TOO_LARGE = "urn:inversion-service:problem:too-large"
UNAVAILABLE = "urn:inversion-service:problem:unavailable"
TOO_MANY_REQUESTS = "urn:inversion-service:problem:too-many-requests"
NUMERICAL_FAILURE = "urn:inversion-service:problem:numerical-failure"
JOB_FAILED = "urn:inversion-service:problem:job-failed"
INTERNAL = "urn:inversion-service:problem:internal"

Loc = Sequence[str | int]


def error_items(errors: Iterable[tuple[Loc, str]]) -> list[dict[str, Any]]:
    """``[(loc, msg), ...]`` as the ``errors`` member of a problem."""
    return [{"loc": list(loc), "msg": msg} for loc, msg in errors]


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type: str = "about:blank",
    errors: Iterable[tuple[Loc, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A problem-details dict; ``extra`` members (e.g. ``job_id``) are added as RFC 9457 extensions."""
    body: dict[str, Any] = {"type": type, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = error_items(errors)
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def invalid_input(errors: Iterable[tuple[Loc, str]], detail: str | None = None) -> dict[str, Any]:
    """422: the request is well-formed but cannot be evaluated; each error names its field."""
    errors = list(errors)
    if detail is None:
        first_loc, first_msg = errors[0] if errors else ((), "invalid input")
        where = ".".join(str(p) for p in first_loc if p != "body")
        detail = f"{where}: {first_msg}" if where else first_msg
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
    return problem(422, "Invalid input", detail, type=INVALID_INPUT, errors=errors)
