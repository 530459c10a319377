"""The worker's readiness heartbeat: a Redis key with a short expiry, refreshed by a daemon thread.

The API's ``/readyz`` counts these keys. A worker writes it only after its pipelines are warm, and the key
disappears ``heartbeat_ttl_s`` after the worker stops (or hangs). Optionally a file is touched too, for container
health checks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Heartbeat:
    """Refresh ``key`` with ``info`` every ``interval_s`` seconds (expiry ``ttl_s``) until :meth:`stop`."""

    def __init__(self, redis: Redis, key: str, info: dict[str, Any], interval_s: float, ttl_s: float,
                 ready_file: str | None = None, on_beat: Callable[[], None] | None = None):
        self.redis = redis
        self.on_beat = on_beat  # also run every interval (the worker extends its running job's registration)
        self.key = key
        self.info = {**info, "ready": True}
        self.interval_s = interval_s
        self.ttl_ms = max(int(ttl_s * 1000), int(interval_s * 2000))
        self.ready_file = Path(ready_file) if ready_file else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def beat(self) -> None:
        """Write the key once (and touch the ready file)."""
        self.redis.set(self.key, msgpack.packb({**self.info, "beat_at": time.time()}), px=self.ttl_ms)
        if self.ready_file:
            self.ready_file.touch()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
                if self.on_beat is not None:
                    self.on_beat()
            except RedisError as exc:
                log.warning("heartbeat failed (%s); retrying", type(exc).__name__)
            except Exception:
                log.exception("heartbeat callback failed")

    def start(self) -> Heartbeat:
        """Beat now, then keep beating in the background."""
        self.beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and remove the key at once (so /readyz stops counting this worker)."""
        self._stop.set()
        with contextlib.suppress(RedisError):
            self.redis.delete(self.key)
        if self.ready_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.ready_file)
