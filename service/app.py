"""Composition root of the API process: ``create_app()`` wires config, Redis, store, queue, routers, handlers.

This process never imports JAX (a test checks it in a fresh interpreter): the work happens in the workers.
Every error leaves as an RFC 9457 problem body; nothing of the server's internals (paths, tracebacks) does.
"""

from __future__ import annotations

import gc
import logging
import threading
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, swagger_ui_default_parameters
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

from service.bodies import Decoders
from service.config import CorsConfig, ServerConfig, load_config
from service.contract import problems
from service.contract.models import ImagingDataset, InversionRequest, Settings
from service.contract.names import Names
from service.contract.responses import Problem
from service.contract.validation import InvalidInput
from service.errors import ProblemError
from service.metrics import Metrics, MetricsMiddleware
from service.negotiation import problem_response
from service.queue import JobQueue
from service.reaper import reap_forever
from service.routes import datasets, health, inversions, jobs, settings
from service.security import API_KEY_HEADER, require_api_key
from service.store import DatasetStore

log = logging.getLogger("service")

VERSION = "0.1.0"
DESCRIPTION = """\
Evaluate autoarray-compatible linear inversions (pixelized sources, multi-Gaussian expansions, arbitrary bases)
over HTTP: register an imaging dataset once, then evaluate many parameter sets, one at a time or in batches.
Bodies are JSON or msgpack (`application/vnd.msgpack`; arrays as `{dtype, shape, data}` maps); answers follow
`Accept`. Errors are RFC 9457 problem details naming the offending field.
"""
_THREADS = 200  # sync routes, and large bodies and answers, run in the thread pool (waiting requests hold none)

#: Where /docs and /redoc load Swagger UI and ReDoc from: the files shipped by the ``fastapi-offline`` package
#: (swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png), served by this process, no CDN.
DOCS_ASSETS_URL = "/static/docs"
DOCS_ASSETS_DIR = files("fastapi_offline") / "static"
#: The docs pages may load and contact nothing but this origin. ReDoc's "API docs by Redocly" footer names a logo
#: on Redocly's CDN: under this policy the browser never asks for it (the footer shows text only). Inline script
#: and styles: FastAPI's page starts Swagger UI inline, and both UIs style their elements inline; ReDoc's search
#: runs in a worker made from a blob.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; worker-src 'self' blob:")

#: CORS (when ``cors.allow_origins`` names any): what a browser page of an allowed origin may send and read.
CORS_METHODS = ["GET", "POST", "DELETE"]
CORS_REQUEST_HEADERS = [API_KEY_HEADER, "Authorization", "Content-Type", "Accept", "Prefer"]
CORS_EXPOSED_HEADERS = ["Location", "Retry-After", "Preference-Applied", "WWW-Authenticate"]


@asynccontextmanager
async def _lifespan(app: FastAPI):
    anyio.to_thread.current_default_thread_limiter().total_tokens = _THREADS
    gc.freeze()  # the app, FastAPI, pydantic and RQ are here for good: the collector need not scan them again
    stop = threading.Event()
    reaper = threading.Thread(target=reap_forever, name="reaper", daemon=True,
                              args=(app.state.queue, app.state.config.jobs.reap_interval_s, stop))
    reaper.start()
    log.info("API ready: namespace %r, queue %r", app.state.config.namespace, app.state.names.queue)
    try:
        yield
    finally:
        stop.set()
        reaper.join(timeout=5)
        app.state.decoders.close()
        app.state.redis.close()
        await app.state.aredis.aclose()


# --------------------------------------------------------------------------------------------------- handlers
async def _on_problem(request: Request, exc: ProblemError) -> Response:
    return problem_response(exc.body, exc.headers)


async def _on_invalid(request: Request, exc: InvalidInput) -> Response:
    return problem_response(problems.invalid_input(exc.errors))


async def _on_request_validation(request: Request, exc: RequestValidationError) -> Response:
    errors = [(tuple(e.get("loc", ())), str(e.get("msg", "invalid")).removeprefix("Value error, "))
              for e in exc.errors()]
    return problem_response(problems.invalid_input(errors))


async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
    titles = {404: "Not found", 405: "Method not allowed"}
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"there is no resource at {request.url.path}"
    body = problems.problem(exc.status_code, titles.get(exc.status_code, "HTTP error"), detail)
    return problem_response(body, dict(exc.headers or {}))


async def _on_redis_down(request: Request, exc: Exception) -> Response:
    log.warning("Redis unavailable: %s", type(exc).__name__)
    body = problems.problem(503, "Service unavailable", "the job store (Redis) is unreachable; retry shortly",
                            type=problems.UNAVAILABLE)
    return problem_response(body, {"Retry-After": "5"})


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = problems.problem(500, "Internal server error", "an unexpected error occurred; it was logged",
                            type=problems.INTERNAL)
    return problem_response(body)


def _install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(InvalidInput, _on_invalid)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RedisConnectionError, _on_redis_down)
    app.add_exception_handler(RedisTimeoutError, _on_redis_down)
    app.add_exception_handler(Exception, _on_unexpected)


# --------------------------------------------------------------------------------------------------- OpenAPI
def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the request models parsed by :mod:`service.negotiation` and the problem body."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    _, defs = models_json_schema(
        [(ImagingDataset, "validation"), (InversionRequest, "validation"), (Settings, "validation"),
         (Problem, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, model_schema in defs.get("$defs", {}).items():
        components.setdefault(name, model_schema)
    schema["components"]["schemas"] = dict(sorted(components.items()))
    app.openapi_schema = schema
    return schema


# --------------------------------------------------------------------------------------------------- factory
def create_app(config: ServerConfig | None = None) -> FastAPI:
    """Build the API application (Redis is connected lazily, so building it needs no server)."""
    config = config or load_config()
    app = FastAPI(title="Inversion service", version=VERSION, description=DESCRIPTION, lifespan=_lifespan,
                  openapi_url=None, docs_url=None, redoc_url=None)
    names = Names(config.namespace)
    options = dict(socket_connect_timeout=2, socket_timeout=10, socket_keepalive=True, health_check_interval=30)
    redis = Redis.from_url(config.redis_url, **options)
    aredis = AsyncRedis.from_url(config.redis_url, **options)  # what the event loop awaits (POST /inversions)
    app.state.config = config
    app.state.names = names
    app.state.redis = redis
    app.state.aredis = aredis
    app.state.store = DatasetStore(redis, names, config.datasets.ttl_s, config.limits.max_sub_pixels)
    app.state.queue = JobQueue(redis, aredis, names, config.jobs, config.limits, fair_share=bool(config.api_keys))
    app.state.metrics = Metrics()
    app.state.decoders = Decoders()  # processes for dense bodies, started on first use (service/bodies.py)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    _install_cors(app, config.cors)  # after (= outside) the metrics: preflights are answered before them

    secured = [Depends(require_api_key)]
    for module in (datasets, inversions, jobs, settings):
        # POST /inversions checks the key itself (a sampler's hot path: see inversions.create_inversion)
        app.include_router(module.router, dependencies=[] if module is inversions else secured)
    app.include_router(health.router)
    _install_docs(app, secured)
    _install_handlers(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _install_cors(app: FastAPI, cors: CorsConfig) -> None:
    """Let pages of ``cors.allow_origins`` call the API from a browser; with none configured, no middleware at
    all (no CORS headers, nothing on the hot path). Keys travel in headers, never cookies, so no credentials mode.
    The outermost middleware of the app, so that problem answers (401, 429, 503) carry the headers too."""
    if not cors.allow_origins:
        return
    app.add_middleware(CORSMiddleware, allow_origins=cors.allow_origins, allow_methods=CORS_METHODS,
                       allow_headers=CORS_REQUEST_HEADERS, expose_headers=CORS_EXPOSED_HEADERS,
                       allow_credentials=False, max_age=cors.max_age_s)


def _install_docs(app: FastAPI, dependencies: list) -> None:
    """``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``, behind the API keys like every route but the
    probes, and their scripts and styles under :data:`DOCS_ASSETS_URL`, open to all (a ``<script>`` tag sends no
    key, and they are the public Swagger UI and ReDoc files). Nothing is loaded from another host: the pages work
    offline. The static mount is not an API route, so it is not part of the OpenAPI document."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=str(DOCS_ASSETS_DIR)), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False, dependencies=dependencies)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=dependencies)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _offline(get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json", title=f"{app.title} - docs",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            # validatorUrl: no badge fetched from validator.swagger.io
            swagger_ui_parameters={**swagger_ui_default_parameters, "validatorUrl": None}))

    @app.get("/redoc", include_in_schema=False, dependencies=dependencies)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _offline(get_redoc_html(
            openapi_url=f"{root}/openapi.json", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png", with_google_fonts=False))


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page
