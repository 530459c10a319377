"""/docs (Swagger UI) and /redoc (ReDoc) load nothing from another host: every script, style and icon they name
is a local URL that this API answers with the right content type (tests/browser renders them in chromium)."""

from __future__ import annotations

import re

import pytest

from .conftest import DASHBOARD_KEY

_URLS = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_assets(bare, page):
    r = bare.client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "http" not in r.text.lower(), "a docs page names another host"
    assert "/openapi.json" in r.text
    csp = r.headers["content-security-policy"]  # the browser itself may load and contact only this origin
    assert "default-src 'self'" in csp and "http" not in csp
    urls = _URLS.findall(r.text)
    assert any(u.endswith(".js") for u in urls), urls
    for url in urls:
        assert url.startswith("/static/docs/"), url
        asset = bare.client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rfind("."):]
        assert asset.headers["content-type"].split(";")[0] in _TYPES[suffix], (url, asset.headers["content-type"])
        assert len(asset.content) > 1000


def test_assets_are_open_but_the_pages_need_a_key(dashboard_api):
    api = dashboard_api.client
    assert api.get("/static/docs/swagger-ui-bundle.js").status_code == 200
    for page in ("/docs", "/redoc", "/openapi.json"):
        assert api.get(page).status_code == 401
        assert api.get(page, headers={"X-API-Key": DASHBOARD_KEY}).status_code == 200
    assert api.get("/static/docs/../../service/config.py").status_code == 404
    assert api.get("/static/docs/nothing.js").status_code == 404
