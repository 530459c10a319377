"""Content negotiation: the media types of request bodies, responses by ``Accept`` (with q-values).

Request bodies are JSON (``application/json``) or msgpack (``application/vnd.msgpack``, ``application/msgpack``,
``application/x-msgpack``); anything else is 415. They are read, decoded and validated by :mod:`service.bodies`,
with the same pydantic models for both. Responses are JSON by default, msgpack when preferred by ``Accept``; if
neither is acceptable, 406. Error bodies are always ``application/problem+json``.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
from fastapi import Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from service.contract import arrays, problems
from service.errors import ProblemError

JSON = "application/json"
MSGPACK = "application/vnd.msgpack"
MSGPACK_TYPES = (MSGPACK, "application/msgpack", "application/x-msgpack")
#: Response media types in the server's order of preference (ties in q go to the earlier one).
OFFERED = (JSON, *MSGPACK_TYPES)
REQUEST_TYPES = (JSON, *MSGPACK_TYPES)
#: Bodies (and answers' arrays) beyond this many bytes are decoded, validated and encoded off the event loop (the
#: thread pool, or a decoder process: :mod:`service.bodies`), so it never stalls on one large request.
THREAD_THRESHOLD = 64 * 1024


# --------------------------------------------------------------------------------------------------- media types
def media_type(header: str | None) -> str:
    """The bare, lower-case media type of a ``Content-Type`` value (parameters dropped)."""
    return (header or "").split(";")[0].strip().lower()


# --------------------------------------------------------------------------------------------------- responses
def _parse_accept(header: str) -> list[tuple[str, float, int]]:
    """``[(range, q, specificity)]`` of an ``Accept`` header; specificity 2 = exact, 1 = type/*, 0 = */*."""
    out = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        rng = pieces[0].lower()
        if not rng:
            continue
        q = 1.0
        for param in pieces[1:]:
            key, _, val = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(val), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        spec = 0 if rng == "*/*" else 1 if rng.endswith("/*") else 2
        out.append((rng, q, spec))
    return out


def _q_for(offer: str, ranges: list[tuple[str, float, int]]) -> float:
    """q of ``offer``: that of the most specific matching range (0 when none matches)."""
    best_spec, best_q = -1, 0.0
    main = offer.split("/")[0]
    for rng, q, spec in ranges:
        if (rng == offer or rng == "*/*" or rng == f"{main}/*") and spec > best_spec:
            best_spec, best_q = spec, q
    return best_q


def choose_media_type(accept: str | None) -> str:
    """The response media type for ``Accept`` (JSON when absent); 406 when nothing offered is acceptable."""
    if not accept or not accept.strip():
        return JSON
    ranges = _parse_accept(accept)
    scored = [(_q_for(offer, ranges), -i, offer) for i, offer in enumerate(OFFERED)]
    q, _, offer = max(scored)
    if q <= 0:
        raise ProblemError(problems.problem(
            406, "Not acceptable",
            f"cannot answer with any of {accept!r}; acceptable are {JSON} and {MSGPACK}",
            type=problems.NOT_ACCEPTABLE,
        ))
    return offer


async def response_media_type(request: Request) -> str:
    """A FastAPI dependency: the negotiated response media type (raises 406 before any work is done; ``async``
    only so that FastAPI runs it inline, not in its thread pool)."""
    return choose_media_type(request.headers.get("accept"))


def encode(content: Any, mt: str) -> bytes:
    """Serialise ``content`` (dicts, lists, numpy arrays and scalars) as JSON or msgpack."""
    if mt in MSGPACK_TYPES:
        return msgpack.packb(content, default=arrays.msgpack_default, use_bin_type=True)
    return json.dumps(arrays.jsonable(content), allow_nan=False, separators=(",", ":")).encode()


def respond(content: Any, mt: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response with ``content`` encoded in the negotiated media type ``mt``."""
    hdrs = {"Vary": "Accept", **(headers or {})}
    return Response(encode(content, mt), status_code=status_code, media_type=mt, headers=hdrs)


async def respond_async(content: Any, mt: str, status_code: int = 200,
                        headers: dict[str, str] | None = None) -> Response:
    """:func:`respond` for the event loop: content whose arrays hold more than :data:`THREAD_THRESHOLD` bytes is
    encoded in the thread pool."""
    if arrays.array_bytes(content) > THREAD_THRESHOLD:
        return await run_in_threadpool(respond, content, mt, status_code, headers)
    return respond(content, mt, status_code, headers)


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A problem-details response (always JSON)."""
    data = json.dumps(arrays.jsonable(body), allow_nan=False).encode()
    return Response(data, status_code=int(body["status"]), media_type=problems.PROBLEM_MEDIA_TYPE,
                    headers=headers or {})


# --------------------------------------------------------------------------------------------------- OpenAPI
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring a body of ``model`` in JSON and the three msgpack media types."""
    content = {mt: {"schema": _ref(model.__name__)} for mt in REQUEST_TYPES}
    return {"requestBody": {"required": True, "content": content}}


def openapi_response(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A ``responses`` entry for ``model`` in JSON and msgpack."""
    return {"model": model, "description": description,
            "content": {mt: {"schema": _ref(model.__name__)} for mt in MSGPACK_TYPES}}


def openapi_problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses`` entries for problem-details answers."""
    text = {400: "Malformed body", 401: "Missing or wrong API key", 404: "Not found", 406: "Not acceptable",
            409: "Conflict", 413: "Body too large", 415: "Unsupported media type", 422: "Invalid input",
            429: "This API key is at its limit of unfinished jobs or evaluations (see Retry-After)",
            503: "Unavailable (Redis down or queue full; see Retry-After)"}
    return {s: {"description": text.get(s, "Error"),
                "content": {problems.PROBLEM_MEDIA_TYPE: {"schema": _ref("Problem")}}} for s in statuses}
