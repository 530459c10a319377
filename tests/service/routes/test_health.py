"""Probes, metrics, settings and API keys."""

import httpx
import msgpack

from ..http import MSGPACK, assert_problem
from ..procs import Stack


def test_healthz_and_readyz(stack, bare):
    assert stack.client.get("/healthz").json() == {"status": "ok"}
    ready = stack.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] and ready.json()["workers"]
    assert ready.json()["workers"][0]["warm"]
    not_ready = bare.client.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.json() == {"redis": True, "workers": [], "ready": False}


def test_metrics(stack):
    stack.client.get("/settings")
    text = stack.client.get("/metrics").text
    assert 'inversion_http_requests_total{method="GET",route="/settings",status="200"}' in text
    assert "inversion_warm_workers 1.0" in text


def test_settings_show_the_configured_defaults(stack, bare):
    assert stack.client.get("/settings").json() == {
        "use_mixed_precision": False, "use_positive_only_solver": True, "use_edge_zeroed_pixels": True,
        "use_border_relocator": False, "no_regularization_add_to_curvature_diag_value": 1e-3}
    r = bare.client.get("/settings", headers={"accept": MSGPACK})  # the bare stack's YAML changes one value
    assert msgpack.unpackb(r.content)["no_regularization_add_to_curvature_diag_value"] == 1e-5


def test_unknown_route_is_a_problem(stack):
    assert_problem(stack.client.get("/nowhere"), 404)
    assert_problem(stack.client.put("/settings"), 405)


def test_api_keys(redis_url, workdir, compile_cache):
    s = Stack("keys", redis_url, workdir, compile_cache, api_keys=["k-1", "k-2"])
    try:
        s.start_api()
        c = httpx.Client(base_url=s.url)
        r = c.get("/settings")
        assert_problem(r, 401, words="API key")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert_problem(c.get("/settings", headers={"x-api-key": "k-3"}), 401)
        assert c.get("/settings", headers={"x-api-key": "k-2"}).status_code == 200
        assert c.get("/settings", headers={"authorization": "Bearer k-1"}).status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 503
        for path in ("/openapi.json", "/docs", "/metrics", "/jobs/0123456789abcdef0123456789abcdef", "/datasets/x"):
            assert_problem(c.get(path), 401)  # every route but the probes
        assert c.get("/openapi.json", headers={"x-api-key": "k-1"}).status_code == 200
        assert c.get("/docs", headers={"x-api-key": "k-1"}).status_code == 200
        c.close()
    finally:
        s.close()
