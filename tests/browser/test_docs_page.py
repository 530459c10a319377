"""/docs and /redoc render in a real browser with the network cut off: Debian's chromium driven by Playwright
(``playwright install`` is never run; its own browser builds are not needed), every request to a host other than
this machine aborted. Screenshots go to ``$ARTIFACTS_DIR`` (default tests/artifacts/, ignored by git).

Without chromium or the ``playwright`` package the tests skip, except under CI (``CI`` set), where they fail:
``.ci/run`` installs both.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "tests" / "artifacts")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000  # the 2-core VM parses 1.5 MB of Swagger UI slowly


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why}: CI must run the browser tests (.ci/run installs chromium and the test extra)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        _unavailable("no chromium on PATH (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def offline_page(browser):
    """A page whose requests to any host but this machine are aborted. ``page.blocked`` lists those requests,
    ``page.refused`` what the page's Content-Security-Policy kept from being requested at all, ``page.errors`` the
    scripts' uncaught errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def only_local(route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname not in LOCAL_HOSTS:
            blocked.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_local)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    refused: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.blocked, page.errors, page.refused = blocked, errors, refused
    try:
        yield page
    finally:
        context.close()


def _screenshot(page, name: str, full_page: bool) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def test_swagger_ui_renders_the_operations_offline(bare, offline_page):
    page = offline_page
    response = page.goto(f"{bare.url}/docs", wait_until="load")
    assert response is not None and response.status == 200
    inversions = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/inversions"))
    inversions.first.wait_for(state="visible")
    page.wait_for_load_state("networkidle")
    paths = page.locator(".opblock .opblock-summary-path").all_inner_texts()
    assert {"/datasets", "/inversions", "/jobs/{job_id}", "/settings"} <= {p.strip() for p in paths}, paths
    assert "Inversion service" in page.locator(".information-container .title").inner_text()
    path = _screenshot(page, "docs-swagger-ui.png", full_page=True)
    assert path.stat().st_size > 10_000
    assert page.blocked == [], f"the page asked another host for {page.blocked}"
    assert page.refused == [], page.refused
    assert page.errors == [], page.errors


def test_redoc_renders_the_operations_offline(bare, offline_page):
    page = offline_page
    response = page.goto(f"{bare.url}/redoc", wait_until="load")
    assert response is not None and response.status == 200
    page.locator("h1", has_text="Inversion service").first.wait_for(state="visible")
    menu = page.locator("[role=menuitem]", has_text="inversion")  # ReDoc's side menu: one entry per operation
    menu.first.wait_for(state="visible")
    page.get_by_text("/inversions", exact=True).first.wait_for(state="attached")
    page.wait_for_load_state("networkidle")
    path = _screenshot(page, "docs-redoc.png", full_page=False)
    assert path.stat().st_size > 10_000
    assert page.blocked == [], f"the page asked another host for {page.blocked}"
    # ReDoc's footer logo (cdn.redoc.ly) is the one thing it names elsewhere: the policy stops it unasked
    assert all("cdn.redoc.ly/redoc/logo-mini.svg" in m for m in page.refused), page.refused
    assert page.errors == [], page.errors
