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
#: Errors listed in one 422 answer; the rest are counted, not listed.
MAX_ERRORS = 20
#: Longest message, and longest name in a location, of a listed error (a client's key or tag can be any size).
MAX_MSG_CHARS = 400
MAX_LOC_CHARS = 80


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
    """422: the request is well-formed but cannot be evaluated; each error names its field.

    At most :data:`MAX_ERRORS` errors are listed; when there are more, a last item (``loc`` empty) and the detail
    say how many were left out; over-long messages and names are shortened, so no request can make the answer large.
    """
    errors = list(errors)
    left_out = max(0, len(errors) - MAX_ERRORS)
    listed = [_shortened(loc, msg) for loc, msg in errors[:MAX_ERRORS]]
    if left_out:
        listed.append(((), f"{left_out} more {'error was' if left_out == 1 else 'errors were'} left out"))
    if detail is None:
        first_loc, first_msg = listed[0] if listed else ((), "invalid input")
        where = ".".join(str(p) for p in first_loc if p != "body")
        detail = f"{where}: {first_msg}" if where else first_msg
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more"
            detail += f"; the first {MAX_ERRORS} are listed)" if left_out else ")"
    return problem(422, "Invalid input", detail, type=INVALID_INPUT, errors=listed)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    tail = f"... ({len(text)} characters)"
    return text[:limit - len(tail)] + tail


def _shortened(loc: Loc, msg: str) -> tuple[Loc, str]:
    return [p if isinstance(p, int) else _clip(str(p), MAX_LOC_CHARS) for p in loc], _clip(str(msg), MAX_MSG_CHARS)
