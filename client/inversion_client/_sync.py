"""The synchronous client."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ._protocol import Call, Flow, OnRetry, Protocol, Sleep, T, imaging_body, inversion_body
from ._retry import RetryPolicy
from ._transport import KeepAliveTransport, lean_transport_applies
from .models import DatasetInfo, JobInfo, Result

USER_AGENT = "inversion-client/0.1"


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"user-agent": USER_AGENT}
    if api_key:
        headers["x-api-key"] = api_key
    return headers


def _timeout(client_timeout: float, call: Call) -> httpx.Timeout | None:
    if call.timeout is None:
        return None
    return httpx.Timeout(client_timeout, read=max(client_timeout, call.timeout))


def _protocol(retries: int, backoff: float, max_backoff: float, float32_grids: bool, job_timeout: float | None,
              on_retry: OnRetry | None) -> Protocol:
    """The behaviour both clients share (retries, float32 grids, job polling), from their constructor arguments."""
    return Protocol(RetryPolicy(retries=retries, backoff=backoff, max_backoff=max_backoff),
                    float32_grids=float32_grids, job_timeout=job_timeout, on_retry=on_retry)


def _request(client_timeout: float, call: Call) -> dict[str, Any]:
    """Keyword arguments of ``httpx.Client.request`` / ``httpx.AsyncClient.request`` for one call."""
    return {"method": call.method, "url": call.path, "content": call.content, "headers": dict(call.headers),
            "params": call.params, "timeout": _timeout(client_timeout, call) or httpx.USE_CLIENT_DEFAULT}


class InversionClient:
    """A client of the inversion service: register datasets, evaluate inversions (single or batched).

    Bodies travel as msgpack in both directions (numpy arrays in, numpy arrays out). Requests answered 429/503 are
    retried with exponential backoff and jitter, honouring ``Retry-After``, and so are connection failures, up to
    ``retries`` times; errors are raised as :class:`~inversion_client.errors.ProblemError` subclasses carrying the
    problem body. Thread-safe (one connection pool); use it as a context manager or call :meth:`close`.

    ``float32_grids=True`` sends ``source_grid``/``source_grid_slim`` as float32 (half the bytes; the service
    computes in float64 from the rounded grid). ``job_timeout`` bounds how long :meth:`evaluate` polls a job that
    was answered 202 (None = no bound).

    Transport: a plain ``http://`` service with no proxy configured is reached through
    :class:`~inversion_client._transport.KeepAliveTransport` (``http.client`` keep-alive connections, called
    directly: a sampler's round trip is milliseconds, and httpx's client and default transport cost most of one of
    them per request). ``https://``, a proxy from the environment, or ``http=`` (any ``httpx.Client``, used as
    given) go through httpx.
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None, timeout: float = 120.0,
                 retries: int = 5, *, backoff: float = 0.1, max_backoff: float = 10.0, float32_grids: bool = False,
                 job_timeout: float | None = None, on_retry: OnRetry | None = None,
                 http: httpx.Client | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.protocol = _protocol(retries, backoff, max_backoff, float32_grids, job_timeout, on_retry)
        self._lean: KeepAliveTransport | None = None
        if http is None and lean_transport_applies(self.base_url):
            self._lean = KeepAliveTransport()
            self._headers = httpx.Headers(_headers(api_key))
            self._http: httpx.Client | None = None
        else:
            self._http = http or httpx.Client(base_url=self.base_url, timeout=self.timeout, headers=_headers(api_key))

    # ------------------------------------------------------------------------------------------ plumbing
    def _run(self, flow: Flow[T]) -> T:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                answer: Any = None
            else:
                try:
                    answer = self._send(step)
                except httpx.TransportError as exc:
                    answer = exc
            try:
                step = flow.send(answer)
            except StopIteration as stop:
                return stop.value

    def _send(self, call: Call) -> httpx.Response:
        if self._lean is None:
            return self._http.request(**_request(self.timeout, call))
        timeout = _timeout(self.timeout, call) or httpx.Timeout(self.timeout)
        request = httpx.Request(call.method, self.base_url + call.path, params=call.params, content=call.content,
                                headers={**self._headers, **call.headers}, extensions={"timeout": timeout.as_dict()})
        return self._lean.handle_request(request)

    def close(self) -> None:
        if self._lean is not None:
            self._lean.close()
        else:
            self._http.close()

    def __enter__(self) -> InversionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ datasets
    def register_imaging(self, data: Any, noise_map: Any, psf: Any, mask: Any, pixel_scales: float | Sequence[float],
                         origin: Sequence[float] = (0.0, 0.0), over_sample_size_pixelization: int = 4,
                         over_sample_size_lp: int = 4, normalize_psf: bool = True) -> str:
        """Register an imaging dataset (native (Ny, Nx) arrays, ``mask`` true = excluded); return its id.

        Idempotent: the id is a hash of the content, so registering the same data again returns the same id.
        """
        body = imaging_body(data, noise_map, psf, mask, pixel_scales, origin, over_sample_size_pixelization,
                            over_sample_size_lp, normalize_psf)
        return self._run(self.protocol.register(body)).dataset_id

    def register(self, body: Mapping[str, Any]) -> DatasetInfo:
        """Register a dataset given as a ``POST /datasets`` body (openapi/openapi.json), numpy arrays allowed."""
        return self._run(self.protocol.register(body))

    def get_dataset(self, dataset_id: str, include_grids: bool = False) -> DatasetInfo:
        """Metadata; with ``include_grids`` also ``image_grid`` (N, 2) and ``pixelization_grid`` (N_sub, 2)."""
        return self._run(self.protocol.get_dataset(dataset_id, include_grids))

    def delete_dataset(self, dataset_id: str) -> None:
        self._run(self.protocol.delete_dataset(dataset_id))

    # ------------------------------------------------------------------------------------------ inversions
    def evaluate(self, dataset_id: str, linear_objects: Sequence[Mapping[str, Any]] | Mapping[str, Any],
                 settings: Mapping[str, Any] | None = None, outputs: Sequence[str] | None = None,
                 wait: float | None = None, timeout: float | None = None,
                 float32_grids: bool | None = None) -> Result:
        """Evaluate ``linear_objects`` (dicts as in openapi/openapi.json, numpy arrays allowed); block until done.

        A leading batch axis B on any per-evaluation field (``source_grid``, ``coefficient``, ``sigmas``, ...)
        makes a batch: every scalar of the result is then an array of shape (B,). ``wait`` is sent as
        ``Prefer: wait=N`` (how long the server holds the request before answering 202; the client then polls
        the job, for at most ``timeout`` seconds, default the client's ``job_timeout``).
        """
        f32 = self.protocol.float32_grids if float32_grids is None else float32_grids
        body = inversion_body(dataset_id, linear_objects, settings, outputs, f32)
        return self._run(self.protocol.evaluate(body, wait, timeout))

    def submit(self, dataset_id: str, linear_objects: Sequence[Mapping[str, Any]] | Mapping[str, Any],
               settings: Mapping[str, Any] | None = None, outputs: Sequence[str] | None = None,
               float32_grids: bool | None = None) -> str:
        """Enqueue an evaluation without waiting (``Prefer: respond-async``); its job id."""
        f32 = self.protocol.float32_grids if float32_grids is None else float32_grids
        body = inversion_body(dataset_id, linear_objects, settings, outputs, f32)
        return self._run(self.protocol.submit(body))

    def job(self, job_id: str) -> JobInfo:
        """The job's status (queued, running, finished, failed, canceled) with its result once finished."""
        return self._run(self.protocol.job(job_id))

    def result(self, job_id: str, timeout: float | None = None) -> Result:
        """Wait for a submitted job and return its result (raises its problem if it failed)."""
        return self._run(self.protocol.wait_job(job_id, timeout))

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a queued job, or ask a running one to stop (raises Conflict if it has already ended)."""
        return self._run(self.protocol.cancel(job_id))

    # ------------------------------------------------------------------------------------------ service
    def server_settings(self) -> dict[str, Any]:
        """The server's defaults of the five ``Settings`` fields."""
        return self._run(self.protocol.get("/settings"))

    def ready(self) -> bool:
        """Whether Redis is reachable and at least one worker is warm (no retries)."""
        return self._run(self.protocol.ready())[0]

    def wait_ready(self, timeout: float = 300.0, interval: float = 0.5) -> None:
        """Block until :meth:`ready` (raises TimeoutError after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the service at {self.base_url} was not ready within {timeout} s")
            time.sleep(interval)
