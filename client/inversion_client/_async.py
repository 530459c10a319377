"""The asyncio client: the same operations and behaviour as :class:`~inversion_client.InversionClient`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ._protocol import Flow, OnRetry, Sleep, T, imaging_body, inversion_body
from ._sync import _headers, _protocol, _request
from .models import DatasetInfo, JobInfo, Result


class AsyncInversionClient:
    """``await client.evaluate(...)``; see :class:`~inversion_client.InversionClient` for the parameters.

    Many evaluations can be in flight at once (``asyncio.gather``); each is one job on the service.
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None, timeout: float = 120.0,
                 retries: int = 5, *, backoff: float = 0.1, max_backoff: float = 10.0, float32_grids: bool = False,
                 job_timeout: float | None = None, on_retry: OnRetry | None = None,
                 http: httpx.AsyncClient | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.protocol = _protocol(retries, backoff, max_backoff, float32_grids, job_timeout, on_retry)
        self._http = http or httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout,
                                               headers=_headers(api_key))

    async def _run(self, flow: Flow[T]) -> T:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                answer: Any = None
            else:
                try:
                    answer = await self._http.request(**_request(self.timeout, step))
                except httpx.TransportError as exc:
                    answer = exc
            try:
                step = flow.send(answer)
            except StopIteration as stop:
                return stop.value

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncInversionClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def register_imaging(self, data: Any, noise_map: Any, psf: Any, mask: Any,
                               pixel_scales: float | Sequence[float], origin: Sequence[float] = (0.0, 0.0),
                               over_sample_size_pixelization: int = 4, over_sample_size_lp: int = 4,
                               normalize_psf: bool = True) -> str:
        body = imaging_body(data, noise_map, psf, mask, pixel_scales, origin, over_sample_size_pixelization,
                            over_sample_size_lp, normalize_psf)
        return (await self._run(self.protocol.register(body))).dataset_id

    async def register(self, body: Mapping[str, Any]) -> DatasetInfo:
        return await self._run(self.protocol.register(body))

    async def get_dataset(self, dataset_id: str, include_grids: bool = False) -> DatasetInfo:
        return await self._run(self.protocol.get_dataset(dataset_id, include_grids))

    async def delete_dataset(self, dataset_id: str) -> None:
        await self._run(self.protocol.delete_dataset(dataset_id))

    async def evaluate(self, dataset_id: str, linear_objects: Sequence[Mapping[str, Any]] | Mapping[str, Any],
                       settings: Mapping[str, Any] | None = None, outputs: Sequence[str] | None = None,
                       wait: float | None = None, timeout: float | None = None,
                       float32_grids: bool | None = None) -> Result:
        f32 = self.protocol.float32_grids if float32_grids is None else float32_grids
        body = inversion_body(dataset_id, linear_objects, settings, outputs, f32)
        return await self._run(self.protocol.evaluate(body, wait, timeout))

    async def submit(self, dataset_id: str, linear_objects: Sequence[Mapping[str, Any]] | Mapping[str, Any],
                     settings: Mapping[str, Any] | None = None, outputs: Sequence[str] | None = None,
                     float32_grids: bool | None = None) -> str:
        f32 = self.protocol.float32_grids if float32_grids is None else float32_grids
        body = inversion_body(dataset_id, linear_objects, settings, outputs, f32)
        return await self._run(self.protocol.submit(body))

    async def job(self, job_id: str) -> JobInfo:
        return await self._run(self.protocol.job(job_id))

    async def result(self, job_id: str, timeout: float | None = None) -> Result:
        return await self._run(self.protocol.wait_job(job_id, timeout))

    async def cancel(self, job_id: str) -> JobInfo:
        return await self._run(self.protocol.cancel(job_id))

    async def server_settings(self) -> dict[str, Any]:
        return await self._run(self.protocol.get("/settings"))

    async def ready(self) -> bool:
        return (await self._run(self.protocol.ready()))[0]

    async def wait_ready(self, timeout: float = 300.0, interval: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while not await self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the service at {self.base_url} was not ready within {timeout} s")
            await asyncio.sleep(interval)
