"""What the client says to the service and how it reads the answers, written once for the sync and async clients.

Each operation is a generator ("flow") that yields two kinds of steps and gets answers back:
:class:`Call` (one HTTP attempt; the driver sends back the ``httpx.Response``, or the ``httpx.TransportError`` it
raised) and :class:`Sleep` (the driver sleeps, ``time.sleep`` or ``asyncio.sleep``). Retries, polling, decoding
and errors live here; :mod:`._sync` and :mod:`._async` only run the steps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any, TypeVar

import httpx
import numpy as np

from . import _codec
from ._retry import RETRY_STATUSES, RetryPolicy
from .errors import JobCanceled, JobTimeout, TransportError, problem_error
from .models import DatasetInfo, JobInfo, Result

MSGPACK = "application/vnd.msgpack"
_SEND = {"content-type": MSGPACK, "accept": MSGPACK}
#: Transport failures after which a retry is safe: nothing reached the service, or the connection broke.
#: (Read timeouts are not retried: the work may still be running; raise ``timeout`` instead.)
RETRYABLE_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError,
                       httpx.WriteError, httpx.PoolTimeout)
#: Mapper fields that are grids and may travel as float32 (``float32_grids=True``).
GRID_FIELDS = ("source_grid", "source_grid_slim")

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One HTTP request; ``timeout`` overrides the client's read timeout (seconds)."""

    method: str
    path: str
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class Sleep:
    seconds: float


Flow = Generator[Call | Sleep, Any, T]
OnRetry = Callable[[int, float, str], None]


def imaging_body(data: Any, noise_map: Any, psf: Any, mask: Any, pixel_scales: float | Sequence[float],
                 origin: Sequence[float] = (0.0, 0.0), over_sample_size_pixelization: int = 4,
                 over_sample_size_lp: int = 4, normalize_psf: bool = True) -> dict[str, Any]:
    """The ``POST /datasets`` body of an imaging dataset (native arrays, mask true = excluded)."""
    scales = [float(pixel_scales)] * 2 if np.ndim(pixel_scales) == 0 else [float(s) for s in pixel_scales]
    return {"kind": "imaging", "data": np.asarray(data, dtype=np.float64),
            "noise_map": np.asarray(noise_map, dtype=np.float64), "psf": np.asarray(psf, dtype=np.float64),
            "mask": np.asarray(mask, dtype=bool), "pixel_scales": scales, "origin": [float(o) for o in origin],
            "over_sample_size_pixelization": int(over_sample_size_pixelization),
            "over_sample_size_lp": int(over_sample_size_lp), "normalize_psf": bool(normalize_psf)}


def prepare_objects(linear_objects: Sequence[Mapping[str, Any]], float32_grids: bool) -> list[dict[str, Any]]:
    """The linear objects as sent: shallow copies, grids cast to float32 when asked (halves the payload)."""
    if isinstance(linear_objects, Mapping):
        linear_objects = [linear_objects]
    out = []
    for obj in linear_objects:
        obj = dict(obj)
        if float32_grids:
            for name in GRID_FIELDS:
                if obj.get(name) is not None:
                    obj[name] = np.asarray(obj[name], dtype=np.float32)
        out.append(obj)
    return out


def inversion_body(dataset_id: str, linear_objects: Sequence[Mapping[str, Any]], settings: Mapping | None,
                   outputs: Sequence[str] | None, float32_grids: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"dataset_id": dataset_id,
                            "linear_objects": prepare_objects(linear_objects, float32_grids)}
    if settings:
        body["settings"] = dict(settings)
    if outputs:
        body["outputs"] = list(outputs)
    return body


def _problem_body(r: httpx.Response) -> dict[str, Any]:
    """The problem body of an error answer (synthesised when a proxy answered with something else)."""
    ctype = r.headers.get("content-type", "")
    try:
        body = _codec.unpackb(r.content) if "msgpack" in ctype else json.loads(r.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and "status" in body:
        return body
    return {"type": "about:blank", "title": r.reason_phrase or "Error", "status": r.status_code,
            "detail": r.text[:500] or None}


class Protocol:
    """The client's behaviour, independent of sync/async I/O."""

    def __init__(self, retry: RetryPolicy, float32_grids: bool = False, job_timeout: float | None = None,
                 on_retry: OnRetry | None = None, poll_interval: tuple[float, float] = (0.01, 0.5)):
        self.retry = retry
        self.float32_grids = float32_grids
        self.job_timeout = job_timeout
        self.on_retry = on_retry
        self.poll_interval = poll_interval

    # ------------------------------------------------------------------------------------------ transport
    def send(self, call: Call) -> Flow[httpx.Response]:
        """One request with retries on 429/503 (honouring ``Retry-After``) and on broken connections."""
        for attempt in count():
            answer = yield call
            if isinstance(answer, BaseException):
                if attempt >= self.retry.retries or not isinstance(answer, RETRYABLE_TRANSPORT):
                    raise TransportError(f"{call.method} {call.path}: {type(answer).__name__}: {answer} "
                                         f"(after {attempt + 1} attempt{'s' * (attempt > 0)})") from answer
                delay, reason = self.retry.backoff_delay(attempt), f"{type(answer).__name__}: {answer}"
            elif answer.status_code in RETRY_STATUSES and attempt < self.retry.retries:
                delay = self.retry.delay(attempt, answer.headers.get("retry-after"))
                reason = f"{answer.status_code} {answer.reason_phrase}"
            else:
                return answer
            if self.on_retry is not None:
                self.on_retry(attempt + 1, delay, reason)
            yield Sleep(delay)
        raise AssertionError("unreachable")

    @staticmethod
    def decode(r: httpx.Response) -> Any:
        """The body of a 2xx answer (msgpack arrays as numpy), or the matching :class:`ProblemError` raised."""
        if r.status_code >= 400:
            raise problem_error(_problem_body(r), dict(r.headers))
        if not r.content:
            return None
        if "msgpack" in r.headers.get("content-type", ""):
            return _codec.unpackb(r.content)
        return _codec.from_json(r.json())

    def request(self, call: Call) -> Flow[Any]:
        return self.decode((yield from self.send(call)))

    # ------------------------------------------------------------------------------------------ datasets
    def register(self, body: Mapping[str, Any]) -> Flow[DatasetInfo]:
        out = yield from self.request(Call("POST", "/datasets", _codec.packb(dict(body)), _SEND))
        return DatasetInfo.from_body(out)

    def get_dataset(self, dataset_id: str, include_grids: bool) -> Flow[DatasetInfo]:
        params = {"include": "grids"} if include_grids else None
        out = yield from self.request(Call("GET", f"/datasets/{dataset_id}", headers=_SEND, params=params))
        return DatasetInfo.from_body(out)

    def delete_dataset(self, dataset_id: str) -> Flow[None]:
        yield from self.request(Call("DELETE", f"/datasets/{dataset_id}", headers=_SEND))

    # ------------------------------------------------------------------------------------------ inversions
    def submit(self, body: Mapping[str, Any]) -> Flow[str]:
        headers = {**_SEND, "prefer": "respond-async"}
        out = yield from self.request(Call("POST", "/inversions", _codec.packb(dict(body)), headers))
        return out["job_id"]

    def evaluate(self, body: Mapping[str, Any], wait: float | None, timeout: float | None) -> Flow[Result]:
        """POST, then (on 202) poll the job until it is done or ``timeout`` seconds have passed since the start."""
        start = time.monotonic()
        headers, read_timeout = dict(_SEND), None
        if wait is not None:
            headers["prefer"] = f"wait={max(0.0, float(wait)):g}"
            read_timeout = float(wait) + 30.0
        r = yield from self.send(Call("POST", "/inversions", _codec.packb(dict(body)), headers, timeout=read_timeout))
        out = self.decode(r)
        if r.status_code == 200:
            return Result.from_body(out)
        return (yield from self.wait_job(out["job_id"], timeout, start=start))

    def job(self, job_id: str) -> Flow[JobInfo]:
        return JobInfo.from_body((yield from self.request(Call("GET", f"/jobs/{job_id}", headers=_SEND))))

    def cancel(self, job_id: str) -> Flow[JobInfo]:
        return JobInfo.from_body((yield from self.request(Call("DELETE", f"/jobs/{job_id}", headers=_SEND))))

    def wait_job(self, job_id: str, timeout: float | None, start: float | None = None) -> Flow[Result]:
        """Poll ``GET /jobs/{id}`` (interval growing from 10 ms to 0.5 s) until the job is done."""
        start = time.monotonic() if start is None else start
        timeout = self.job_timeout if timeout is None else timeout
        interval, cap = self.poll_interval
        while True:
            info = yield from self.job(job_id)
            if info.status == "finished" and info.result is not None:
                return info.result
            if info.status == "failed":
                raise problem_error({**(info.error or {"title": "Job failed", "status": 500}), "job_id": job_id})
            if info.status == "canceled":
                raise JobCanceled({"type": "urn:inversion-service:problem:conflict", "title": "Canceled",
                                   "status": 409, "detail": f"job {job_id} was canceled", "job_id": job_id})
            waited = time.monotonic() - start
            if timeout is not None and waited >= timeout:
                raise JobTimeout(job_id, waited, info.status)
            yield Sleep(interval if timeout is None else min(interval, max(0.0, timeout - waited)))
            interval = min(cap, interval * 1.5)

    # ------------------------------------------------------------------------------------------ service
    def get(self, path: str) -> Flow[Any]:
        return (yield from self.request(Call("GET", path, headers=_SEND)))

    def ready(self) -> Flow[tuple[bool, Any]]:
        """``GET /readyz`` once, without retries: (ready, body)."""
        answer = yield Call("GET", "/readyz", headers=_SEND)
        if isinstance(answer, BaseException):
            return False, None
        try:
            body = _codec.unpackb(answer.content) if "msgpack" in answer.headers.get("content-type", "") \
                else answer.json()
        except ValueError:
            body = None
        return answer.status_code == 200, body
