"""CORS over real HTTP: a dashboard origin listed in ``cors.allow_origins`` may call the API from a browser
(preflight answered without a key, the headers a client needs exposed); other origins, and every origin under the
default configuration, get no ``Access-Control-Allow-Origin``."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.config import CorsConfig, ServerConfig

from .conftest import DASHBOARD_KEY, DASHBOARD_ORIGIN
from .data import as_json, imaging, inversion
from .http import assert_problem

OTHER_ORIGIN = "https://elsewhere.example"


def _preflight(client, origin: str, path: str = "/inversions", method: str = "POST"):
    return client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "x-api-key, prefer, content-type"})


def _listed(value: str | None) -> set[str]:
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


def test_preflight_from_the_allowed_origin_gets_the_headers(dashboard_api):
    r = _preflight(dashboard_api.client, DASHBOARD_ORIGIN)  # a preflight carries no API key
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    assert {"get", "post", "delete"} <= _listed(r.headers["access-control-allow-methods"])
    assert {"x-api-key", "authorization", "prefer", "content-type", "accept"} <= _listed(
        r.headers["access-control-allow-headers"])
    assert r.headers["access-control-max-age"] == "120"
    assert "access-control-allow-credentials" not in r.headers
    assert "origin" in _listed(r.headers["vary"])


def test_answers_to_the_allowed_origin_expose_location_and_preferences(dashboard_api):
    api, key = dashboard_api.client, {"X-API-Key": DASHBOARD_KEY, "Origin": DASHBOARD_ORIGIN}
    r = api.post("/datasets", json=as_json(imaging()), headers=key)
    assert r.status_code in (200, 201), r.text
    r = api.post("/inversions", json=inversion(r.json()["dataset_id"]),
                 headers={**key, "Prefer": "respond-async"})  # no worker: queued, 202 with Location
    assert r.status_code == 202, r.text
    assert r.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    exposed = _listed(r.headers["access-control-expose-headers"])
    assert {"location", "retry-after", "preference-applied", "www-authenticate"} <= exposed
    assert r.headers["location"].startswith("/jobs/") and "respond-async" in r.headers["preference-applied"]
    assert "accept" in _listed(r.headers["vary"]) and "origin" in _listed(r.headers["vary"])


def test_a_refused_key_is_still_readable_by_the_dashboard(dashboard_api):
    r = dashboard_api.client.get("/settings", headers={"Origin": DASHBOARD_ORIGIN})
    assert_problem(r, 401)
    assert r.headers["access-control-allow-origin"] == DASHBOARD_ORIGIN
    assert "www-authenticate" in _listed(r.headers["access-control-expose-headers"])


def test_a_disallowed_origin_gets_no_allow_origin(dashboard_api):
    api = dashboard_api.client
    r = _preflight(api, OTHER_ORIGIN)
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers
    r = api.get("/settings", headers={"Origin": OTHER_ORIGIN, "X-API-Key": DASHBOARD_KEY})
    assert r.status_code == 200  # the server answers; without Allow-Origin the browser withholds it from the page
    assert "access-control-allow-origin" not in r.headers  # (Starlette still lists the exposed headers: inert)
    assert "access-control-allow-credentials" not in r.headers


def test_the_default_configuration_sends_no_cors_headers(bare):
    assert ServerConfig().cors.allow_origins == []
    for origin in (DASHBOARD_ORIGIN, OTHER_ORIGIN):
        preflight = _preflight(bare.client, origin)
        simple = bare.client.get("/settings", headers={"Origin": origin})
        assert simple.status_code == 200
        for r in (preflight, simple):
            assert not [h for h in r.headers if h.lower().startswith("access-control-")], dict(r.headers)
    assert preflight.status_code == 405  # no CORS middleware: OPTIONS is just a method /settings does not have


@pytest.mark.parametrize("origin", ["https://dash.example/", "dash.example", "https://dash.example/app", ""])
def test_an_origin_with_a_path_or_without_a_scheme_is_refused(origin):
    with pytest.raises(ValidationError, match="allow_origins"):
        CorsConfig(allow_origins=[origin])


def test_origins_are_compared_as_browsers_send_them():
    assert CorsConfig(allow_origins=["HTTPS://Dash.Example:8443", "*"]).allow_origins == [
        "https://dash.example:8443", "*"]
