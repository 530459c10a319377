"""API keys: configured in ``api_keys``; none configured = open service (local use).

A key is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. Every route but the health probes and
the static files of the docs pages (public Swagger UI and ReDoc scripts) requires one when keys are configured,
``/openapi.json``, ``/docs`` and ``/redoc`` included. CORS preflights (``OPTIONS``) are answered before any route.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from service.contract import problems
from service.errors import ProblemError

API_KEY_HEADER = "X-API-Key"
_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="API key (or Authorization: Bearer <key>)")


def _presented(request: Request, header_key: str | None) -> str | None:
    if header_key:
        return header_key
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def require_api_key(request: Request, header_key: Annotated[str | None, Depends(_header)]) -> str | None:
    """Check the presented key against the configured ones; return it (None for an open service). ``async`` only
    so that FastAPI runs it inline, not in its thread pool."""
    keys = request.app.state.config.api_keys
    if not keys:
        return None
    key = _presented(request, header_key)
    if key is not None and any(hmac.compare_digest(key.encode(), k.encode()) for k in keys):
        return key
    raise ProblemError(
        problems.problem(401, "Unauthorized", "a valid API key is required (X-API-Key or Authorization: Bearer)",
                         type=problems.UNAUTHORIZED),
        headers={"WWW-Authenticate": 'Bearer realm="inversion-service"'},
    )
