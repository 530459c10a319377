"""Readiness of the deployment: Redis answers, and at least one worker has registered itself warm.

Workers write a heartbeat key (``{namespace}:worker:{name}``, msgpack map) with a short expiry and refresh it from
a thread; a worker that stops or hangs disappears when its key expires.
"""

from __future__ import annotations

from typing import Any

import msgpack
from redis import Redis
from redis.exceptions import RedisError

from service.contract.names import Names


def warm_workers(redis: Redis, names: Names) -> list[dict[str, Any]]:
    """Heartbeat maps of the warm workers of this namespace."""
    out = []
    for key in redis.scan_iter(match=names.worker_pattern, count=100):
        raw = redis.get(key)
        if not raw:
            continue
        try:
            beat = msgpack.unpackb(raw)
        except Exception:  # a foreign or corrupt key must not break readiness
            continue
        if isinstance(beat, dict) and beat.get("ready"):
            out.append(beat)
    return out


def readiness(redis: Redis, names: Names) -> dict[str, Any]:
    """``{"redis": bool, "workers": [...], "ready": bool}`` (never raises for Redis being down)."""
    try:
        redis.ping()
        workers = warm_workers(redis, names)
        ok = True
    except RedisError:
        ok, workers = False, []
    public = [{k: w.get(k) for k in ("name", "hostname", "pid", "started_at", "warm", "device")} for w in workers]
    return {"redis": ok, "workers": public, "ready": ok and bool(workers)}
