"""Content negotiation: request bodies by ``Content-Type``, responses by ``Accept`` (with q-values).

Request bodies are JSON (``application/json``) or msgpack (``application/vnd.msgpack``, ``application/msgpack``,
``application/x-msgpack``); anything else is 415. The decoded value is validated with the same pydantic models
for both. Responses are JSON by default, msgpack when preferred by ``Accept``; if neither is acceptable, 406.
Error bodies are always ``application/problem+json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import msgpack
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from service.contract import arrays, problems
from service.contract.validation import InvalidInput, errors_from_pydantic
from service.errors import ProblemError, malformed

JSON = "application/json"
MSGPACK = "application/vnd.msgpack"
MSGPACK_TYPES = (MSGPACK, "application/msgpack", "application/x-msgpack")
#: Response media types in the server's order of preference (ties in q go to the earlier one).
OFFERED = (JSON, *MSGPACK_TYPES)
REQUEST_TYPES = (JSON, *MSGPACK_TYPES)
#: Bodies (and answers' arrays) beyond this many bytes are decoded, validated and encoded in the thread pool, so
#: the event loop never stalls on one large request.
THREAD_THRESHOLD = 64 * 1024

M = TypeVar("M", bound=BaseModel)


# --------------------------------------------------------------------------------------------------- requests
def media_type(header: str | None) -> str:
    """The bare, lower-case media type of a ``Content-Type`` value (parameters dropped)."""
    return (header or "").split(";")[0].strip().lower()


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refusing (413) anything over ``max_bytes`` without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> ProblemError:
    detail = f"request bodies are limited to {max_bytes} bytes"
    return ProblemError(problems.problem(413, "Body too large", detail, type=problems.TOO_LARGE,
                                         errors=[(["body"], detail)]))


def decode_body(raw: bytes, content_type: str | None) -> Any:
    """Decode ``raw`` according to ``content_type`` (415 for other types, 400 for undecodable bytes)."""
    mt = media_type(content_type) or JSON
    if mt == JSON or (mt.startswith("application/") and mt.endswith("+json")):
        if not raw:
            raise malformed("the request body is empty")
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise malformed(f"the body is not valid JSON ({exc})") from None
    if mt in MSGPACK_TYPES:
        if not raw:
            raise malformed("the request body is empty")
        try:
            return msgpack.unpackb(raw, raw=False, strict_map_key=True)
        except Exception as exc:  # msgpack raises several unrelated types for corrupt or truncated input
            raise malformed(f"the body is not valid msgpack (truncated or corrupt: {type(exc).__name__})") from None
    raise ProblemError(problems.problem(
        415, "Unsupported media type",
        f"Content-Type {mt!r} is not supported; send {JSON} or {MSGPACK}",
        type=problems.UNSUPPORTED_MEDIA_TYPE,
    ))


def validate(model: type[M], value: Any) -> M:
    """Validate a decoded body with ``model``; errors become :class:`InvalidInput` with ``body`` locations."""
    if not isinstance(value, dict):
        raise InvalidInput([(("body",), "the body must be an object (a JSON object or a msgpack map)")])
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidInput(errors_from_pydantic(exc)) from None


async def parse_body(request: Request, model: type[M]) -> tuple[M, bool]:
    """Read, decode and validate the body as ``model``; also whether it was large (over :data:`THREAD_THRESHOLD`
    bytes, so decoded and validated in the thread pool, as the caller should do with the rest of its work)."""
    raw = await read_body(request, request.app.state.config.limits.max_body_bytes)
    content_type = request.headers.get("content-type")

    def parse() -> M:
        return validate(model, decode_body(raw, content_type))

    large = len(raw) > THREAD_THRESHOLD
    return (await run_in_threadpool(parse) if large else parse()), large


def body_of(model: type[M]) -> Callable[[Request], Coroutine[Any, Any, M]]:
    """A FastAPI dependency that reads, decodes and validates the body as ``model``."""

    async def dependency(request: Request) -> M:
        return (await parse_body(request, model))[0]

    return dependency


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
