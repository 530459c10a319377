"""Request bodies in the API process: read them (413 past the limits), then decode and validate them
(:mod:`service.decoding`) where they cannot stall the event loop or swell the process.

Where a body is decoded, by ``Content-Type`` (anything but JSON and msgpack is 415, before the body is read):

* up to :data:`~service.negotiation.THREAD_THRESHOLD` bytes (64 KiB): on the event loop (a few milliseconds at most;
  such a body holds at most :data:`~service.decoding.SPARSE_VALUES` values or it is *dense*, below);
* larger msgpack: in the thread pool, one short step per value, binary data handed out as views of the body (no
  copy, so the GIL is never held for long); a body of binary arrays holds a few dozen values, whatever its size;
* larger JSON, and *dense* msgpack (arrays as plain lists, or long strings: more than ``SPARSE_VALUES`` values): in
  a decoder process (:class:`Decoders`), so their CPU time, their GIL and their memory (Python objects take 4-30
  times the bytes of the body) are never the API's. Such bodies are limited to ``limits.max_json_body_bytes``
  (16 MiB by default, never more than ``limits.max_body_bytes``); binary msgpack may have ``limits.max_body_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from service import decoding
from service.contract import problems
from service.decoding import Format
from service.errors import ProblemError, unavailable
from service.negotiation import JSON, MSGPACK, MSGPACK_TYPES, THREAD_THRESHOLD, media_type

log = logging.getLogger("service.bodies")

M = TypeVar("M", bound=BaseModel)

#: Decoder processes of one API process: at most this many dense bodies are decoded at once (the others wait).
DECODER_PROCESSES = 2
#: Bodies a decoder process decodes before it is replaced (returning whatever memory its heap kept).
TASKS_PER_PROCESS = 200


def body_format(content_type: str | None) -> Format:
    """``"json"`` or ``"msgpack"`` for a ``Content-Type`` (JSON when absent); 415 for anything else."""
    mt = media_type(content_type) or JSON
    if mt == JSON or (mt.startswith("application/") and mt.endswith("+json")):
        return "json"
    if mt in MSGPACK_TYPES:
        return "msgpack"
    raise ProblemError(problems.problem(
        415, "Unsupported media type", f"Content-Type {mt!r} is not supported; send {JSON} or {MSGPACK}",
        type=problems.UNSUPPORTED_MEDIA_TYPE,
    ))


def too_large(limit: int, setting: str, why: str = "") -> ProblemError:
    """413 naming the limit and the setting that holds it."""
    detail = f"{why or 'request bodies'} are limited to {limit} bytes (limits.{setting})"
    if setting == "max_json_body_bytes":
        detail += f"; send large arrays as binary {{dtype, shape, data}} maps in {MSGPACK}"
    return ProblemError(problems.problem(413, "Body too large", detail, type=problems.TOO_LARGE,
                                         errors=[(["body"], detail)]))


async def read_body(request: Request, max_bytes: int, setting: str = "max_body_bytes",
                    why: str = "") -> bytearray:
    """The whole body, refusing (413) anything over ``max_bytes`` without reading it all."""
    declared = request.headers.get("content-length")
    expected = int(declared) if declared and declared.isdigit() else 0
    if expected > max_bytes:
        raise too_large(max_bytes, setting, why)
    # written in place (the declared size up front): no copy of what was read so far, on the event loop
    body, size = bytearray(expected), 0
    async for chunk in request.stream():
        end = size + len(chunk)
        if end > max_bytes:
            raise too_large(max_bytes, setting, why)
        if end <= len(body):
            body[size:end] = chunk
        else:
            del body[size:]
            body += chunk
        size = end
    del body[size:]
    return body


class Decoders:
    """Decoder processes (``spawn``ed on first use) that decode and validate dense bodies.

    The body goes to a process as a scratch file and the validated body comes back as another, binary msgpack
    (:func:`service.decoding.parse_in_child`): the API only writes and reads files (system calls, which release the
    GIL) and decodes the answer as views of the bytes read, so no step copies a body or an array while holding the
    GIL. A process that dies (out of memory) is answered 503 and the pool is replaced.
    """

    def __init__(self, processes: int = DECODER_PROCESSES):
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self._processes, mp_context=multiprocessing.get_context("spawn"),
                                                 max_tasks_per_child=TASKS_PER_PROCESS,
                                                 initializer=decoding.exit_with_parent, initargs=(os.getpid(),))
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    async def parse(self, raw: bytearray, fmt: Format, model: type[M]) -> M:
        """Decode and validate ``raw`` in a decoder process; raises what :func:`service.decoding.parse` raises, as
        a ``ProblemError``, or 503 when the process died."""
        body_path, out_path = await run_in_threadpool(_scratch_files, raw)
        try:
            pool = self._executor()
            try:  # submit starts processes on first use: not on the event loop
                future = await run_in_threadpool(pool.submit, decoding.parse_in_child, body_path, out_path, fmt,
                                                 model)
                outcome, problem = await asyncio.wrap_future(future)
            except BrokenProcessPool:
                log.error("a decoder process died decoding a %d-byte %s body", len(raw), fmt)
                self._discard(pool)
                raise unavailable("the body could not be decoded (a decoder process died, perhaps out of memory); "
                                  "retry, or send large arrays as binary msgpack maps") from None
            if outcome == "problem":
                raise ProblemError(problem)
            return await run_in_threadpool(_read_answer, out_path, model)
        finally:
            for path in (body_path, out_path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def close(self) -> None:
        """Stop the processes: queued bodies are dropped, those being decoded are finished first."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _scratch_dir() -> str | None:
    """Memory-backed ``/dev/shm`` where there is one (the files never need a disk), else the temporary directory."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _scratch_files(raw: bytearray) -> tuple[str, str]:
    """The body written to a new private file, and an empty one for the answer: their paths."""
    paths = []
    for what in ("body", "answer"):
        fd, path = tempfile.mkstemp(prefix=f"inversion-{what}-", dir=_scratch_dir())
        paths.append(path)
        with os.fdopen(fd, "wb") as f:
            if what == "body":
                f.write(raw)  # one system call, without the GIL
    return paths[0], paths[1]


def _read_answer(path: str, model: type[M]) -> M:
    """The validated body a decoder process wrote, read into one buffer (without the GIL) and decoded as views."""
    with open(path, "rb") as f:
        buf = bytearray(os.fstat(f.fileno()).st_size)
        f.readinto(buf)
    return decoding.parse(buf, "msgpack", model, decoding.DUMP_VALUES)


async def parse_body(request: Request, model: type[M]) -> tuple[M, bool]:
    """Read, decode and validate the body as ``model``; also whether it was large (over :data:`THREAD_THRESHOLD`
    bytes, or decoded in a decoder process), so that the caller does the rest of its work in the thread pool."""
    limits = request.app.state.config.limits
    fmt = body_format(request.headers.get("content-type"))
    json_limit = min(limits.max_json_body_bytes, limits.max_body_bytes)
    if fmt == "json":
        raw = await read_body(request, json_limit, "max_json_body_bytes", "JSON bodies")
    else:
        raw = await read_body(request, limits.max_body_bytes)
    decoders: Decoders = request.app.state.decoders
    large = len(raw) > THREAD_THRESHOLD
    try:
        if fmt == "json" and large:
            return await decoders.parse(raw, fmt, model), True
        if large:
            return await run_in_threadpool(decoding.parse, raw, fmt, model, decoding.SPARSE_VALUES), True
        return decoding.parse(raw, fmt, model, decoding.SPARSE_VALUES), False
    except decoding.Dense:
        pass
    if len(raw) > json_limit:
        raise too_large(json_limit, "max_json_body_bytes", "msgpack bodies whose data is not in binary maps (arrays "
                                                           "as plain lists, long strings) are dense and, like JSON,")
    return await decoders.parse(raw, fmt, model), True


def body_of(model: type[M]) -> Callable[[Request], Coroutine[Any, Any, M]]:
    """A FastAPI dependency that reads, decodes and validates the body as ``model``."""

    async def dependency(request: Request) -> M:
        return (await parse_body(request, model))[0]

    return dependency
