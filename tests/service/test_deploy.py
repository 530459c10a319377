"""Deployment files, checked by construction (no Docker engine is needed)."""

import re

import yaml

from .procs import ROOT


def stages():
    text = (ROOT / "Dockerfile").read_text()
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\w+)\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_dockerfile_targets():
    s = stages()
    assert {"build", "api", "worker"} <= s.keys()
    assert "jax" not in s["api"] and "[worker]" not in s["api"]
    assert "jax[cuda12]" in s["worker"] and "[worker]" in s["worker"]
    assert "chmod 700 /cache/jax" in s["worker"] and "USER app" in s["api"] and "USER app" in s["worker"]
    assert '"inversion-service", "api"' in s["api"] and '"inversion-service", "worker"' in s["worker"]


def test_compose_order_healthchecks_gpu_and_cache():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    svc = compose["services"]
    assert svc["redis"]["healthcheck"]["test"][-1] == "ping"
    assert svc["api"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert svc["api"]["depends_on"]["worker"]["condition"] == "service_healthy"
    assert svc["worker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    devices = svc["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "jax-cache:/cache/jax" in svc["worker"]["volumes"] and "jax-cache" in compose["volumes"]
    assert svc["api"]["build"]["target"] == "api" and svc["worker"]["build"]["target"] == "worker"
    for name in ("api", "worker"):
        assert svc[name]["environment"]["INVERSION_REDIS_URL"] == "redis://redis:6379/0"
