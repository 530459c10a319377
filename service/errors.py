"""Domain exceptions of the API process; the handlers in :mod:`service.app` turn them into problem bodies.

Routes raise these (or :class:`service.contract.validation.InvalidInput`); they never build HTTP responses for
errors themselves.
"""

from __future__ import annotations

from typing import Any

from service.contract import problems


class ProblemError(Exception):
    """An error answered with a problem-details body ``body`` and HTTP status ``body["status"]``."""

    def __init__(self, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("detail") or body.get("title"))
        self.body = body
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return int(self.body["status"])


def not_found(what: str, ident: str, loc: list | None = None) -> ProblemError:
    """404 for an unknown (or expired) dataset or job."""
    errors = [(loc, f"no {what} with id {ident!r} (unknown, deleted or expired)")] if loc else None
    return ProblemError(problems.problem(404, f"{what.capitalize()} not found",
                                         f"no {what} with id {ident!r} (unknown, deleted or expired)",
                                         type=problems.NOT_FOUND, errors=errors))


def conflict(detail: str) -> ProblemError:
    """409: the operation does not apply to the resource in its current state."""
    return ProblemError(problems.problem(409, "Conflict", detail, type=problems.CONFLICT))


def unavailable(detail: str, retry_after_s: int = 5) -> ProblemError:
    """503 with ``Retry-After``."""
    return ProblemError(problems.problem(503, "Service unavailable", detail, type=problems.UNAVAILABLE),
                        headers={"Retry-After": str(retry_after_s)})


def too_many(detail: str, retry_after_s: int) -> ProblemError:
    """429 with ``Retry-After``: this API key is at one of its limits."""
    return ProblemError(problems.problem(429, "Too many requests", detail, type=problems.TOO_MANY_REQUESTS),
                        headers={"Retry-After": str(retry_after_s)})


def malformed(detail: str) -> ProblemError:
    """400: the body could not be decoded at all."""
    return ProblemError(problems.problem(400, "Malformed body", detail, type=problems.MALFORMED_BODY,
                                         errors=[(["body"], detail)]))
