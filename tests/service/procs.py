"""Real processes for the service tests: the API under uvicorn and JAX workers, each with its own config file.

Every stack uses its own Redis namespace, so stacks (and test sessions sharing a ``REDIS_URL``) never see each
other's datasets, queues or workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import yaml
from inversion_client.local import merge_config
from inversion_client.local import service_command as command
from redis import Redis

from service.contract.names import Names
from service.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]

#: A tiny warm list: one fp64 pipeline with the geometry of ``data.imaging()`` and ``data.rect_constant()``,
#: so a worker is ready within seconds and the tests' first requests are already compiled.
TINY_WARM = [{
    "name": "tiny", "shape_native": [12, 12], "pixel_scales": 0.2, "mask_radius": 1.0, "psf_shape": [3, 3],
    "over_sample_size_pixelization": 1, "over_sample_size_lp": 1,
    "linear_objects": [{"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
                        "regularization": {"type": "constant", "coefficient": 1.0}}],
    "precisions": ["fp64"], "batch_sizes": [1],
}]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class Proc:
    """A child process with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self._fh = open(log, "ab")  # noqa: SIM115  (closed in stop)
        self.popen = subprocess.Popen(args, env=env, stdout=self._fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                      start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._fh.close()
        return self.popen.returncode

    def tail(self) -> str:
        return _tail(self.log)


class Stack:
    """One namespace: a config file, an API process, any number of worker processes."""

    def __init__(self, name: str, redis_url: str, workdir: Path, cache_dir: Path, **config: Any):
        self.namespace = f"t-{name}-{uuid.uuid4().hex[:8]}"
        self.names = Names(self.namespace)
        self.dir = workdir / self.namespace
        self.dir.mkdir(parents=True)
        base = {
            "namespace": self.namespace, "redis_url": redis_url, "log_level": "INFO",
            "jobs": {"default_wait_s": 20.0},
            "worker": {"warm": TINY_WARM, "compile_cache_dir": str(cache_dir), "min_compile_time_s": 0.0,
                       "heartbeat_interval_s": 0.5, "heartbeat_ttl_s": 3.0},
        }
        self.config = merge_config(base, config)
        self.config_path = self.dir / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(self.config))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("INVERSION_")}
        self.env.update({"INVERSION_SERVICE_CONFIG": str(self.config_path), "PYTHONUNBUFFERED": "1",
                         "JAX_PLATFORMS": "cpu"})
        self.redis = Redis.from_url(redis_url)
        self.api: Proc | None = None
        self.workers: list[Proc] = []
        self.port = 0
        self.client: httpx.Client | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_api(self, timeout_s: float = 30.0) -> Stack:
        """Start uvicorn on a free port and wait for /healthz."""
        self.port = free_port()
        self.api = Proc(command("api", "--port", str(self.port)), self.env, self.dir / "api.log")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.api.alive():
                raise RuntimeError(f"API exited:\n{self.api.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    self.client = httpx.Client(base_url=self.url, timeout=120)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"API did not start:\n{self.api.tail()}")

    def start_worker(self, wait: bool = True, timeout_s: float = 300.0) -> Proc:
        """Start a worker process; by default wait until it has registered itself warm."""
        proc = Proc(command("worker"), self.env, self.dir / f"worker-{len(self.workers)}.log")
        self.workers.append(proc)
        if wait:
            self.wait_warm(proc, timeout_s)
        return proc

    def heartbeat(self, proc: Proc) -> dict | None:
        """The heartbeat map of ``proc`` (None while it is not warm)."""
        for key in self.redis.scan_iter(match=self.names.worker_pattern):
            raw = self.redis.get(key)
            if raw:
                beat = msgpack.unpackb(raw)
                if beat.get("pid") == proc.pid:
                    return beat
        return None

    def wait_warm(self, proc: Proc, timeout_s: float = 300.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"worker exited:\n{proc.tail()}")
            beat = self.heartbeat(proc)
            if beat:
                return beat
            time.sleep(0.2)
        raise TimeoutError(f"worker not warm after {timeout_s} s:\n{proc.tail()}")

    def stop_worker(self, proc: Proc) -> int:
        code = proc.stop()
        self.workers.remove(proc)
        return code

    def drain(self) -> None:
        """Forget every queued or waiting job of this namespace (RQ queue, per-key rate limits and quotas)."""
        from rq import Queue
        from rq.rate_limit import RateLimitRegistry

        from service.contract.names import SERIALIZER

        Queue(self.names.queue, connection=self.redis, serializer=SERIALIZER).empty()
        prefix = self.names.rate_limit("")
        for raw in self.redis.smembers(RateLimitRegistry.rl_keys_key):
            key = raw.decode()
            if key.startswith(prefix):
                reg = RateLimitRegistry(key, self.redis)
                self.redis.delete(reg.allowed_key, reg.rate_limited_key, reg.config_key)
                self.redis.srem(RateLimitRegistry.rl_keys_key, key)
        for key in self.redis.scan_iter(match=f"{self.namespace}:owner:*"):
            self.redis.delete(key)

    @contextlib.contextmanager
    def serving(self) -> Iterator[Stack]:
        """The API and one warm worker while the block runs; everything stopped and removed after it."""
        try:
            self.start_api()
            self.start_worker()
            yield self
        finally:
            self.close()

    def close(self) -> None:
        if self.client:
            self.client.close()
        for proc in list(self.workers):
            self.stop_worker(proc)
        if self.api:
            self.api.stop()
        self.drain()
        for key in self.redis.scan_iter(match=f"{self.namespace}*"):
            self.redis.delete(key)
        self.redis.close()
