"""``inversion-service dev``: embedded Redis, worker process(es) and the API on one machine, stopped together.

Workers run as ``python -m worker`` and the API as ``python -m service.cli api``: nothing of the worker package
is imported here. Children run in their own sessions, so Ctrl-C reaches only this supervisor, which then stops
them in order (API, workers, Redis). Start-up progress is printed; the workers' logs show which pipelines are
compiling.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from service.embedded_redis import EmbeddedRedis


def _say(msg: str) -> None:
    print(f"[dev] {msg}", flush=True)


WORKER_COMMAND = [sys.executable, "-m", "worker"]
API_COMMAND = [sys.executable, "-m", "service.cli", "api"]


def _spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, start_new_session=True)


def _stop(proc: subprocess.Popen, name: str, timeout_s: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _say(f"{name} did not stop in {timeout_s:.0f} s; killing it")
        proc.kill()
        proc.wait()


def _wait_ready(url: str, children: dict[str, subprocess.Popen], timeout_s: float = 1800.0) -> bool:
    start = time.monotonic()
    last_note = 0.0
    while time.monotonic() - start < timeout_s:
        for name, proc in children.items():
            if proc.poll() is not None:
                _say(f"{name} exited with code {proc.returncode} during start-up")
                return False
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        elapsed = time.monotonic() - start
        if elapsed - last_note >= 10:
            _say(f"waiting for a warm worker (compiling pipelines), {elapsed:.0f} s ...")
            last_note = elapsed
        time.sleep(0.5)
    _say("gave up waiting for readiness")
    return False


def run_dev(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> int:
    """Run until Ctrl-C/SIGTERM or until a child dies; return an exit code."""
    stop_requested = False

    def _on_term(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, _on_term)
    redis = EmbeddedRedis()
    _say(f"starting embedded Redis ({redis.binary}) on port {redis.port} ...")
    redis.start()
    env = {**os.environ, "INVERSION_REDIS_URL": redis.url}
    children: dict[str, subprocess.Popen] = {}
    code = 0
    try:
        for i in range(workers):
            _say(f"starting worker {i + 1}/{workers} (it compiles its pipelines before reporting ready) ...")
            children[f"worker-{i + 1}"] = _spawn(WORKER_COMMAND, env)
        _say(f"starting the API on http://{host}:{port} ...")
        children["api"] = _spawn([*API_COMMAND, "--host", host, "--port", str(port)], env)
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        if not _wait_ready(url, children):
            return 1
        _say(f"ready: {url}  (docs: {url}/docs, settings: {url}/settings); Ctrl-C stops everything")
        while not stop_requested:
            dead = [n for n, p in children.items() if p.poll() is not None]
            if dead:
                _say(f"{', '.join(dead)} exited; stopping")
                code = 1
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        _say("stopping ...")
        if "api" in children:
            _stop(children.pop("api"), "api")
        for name, proc in children.items():
            _stop(proc, name, timeout_s=30.0)
        redis.stop()
        _say("stopped")
    return code
