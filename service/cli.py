"""Command line: ``inversion-service api | worker | dev | export-openapi``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

DEFAULT_OPENAPI = Path("openapi") / "openapi.json"


def openapi_text() -> str:
    """The OpenAPI document of the app, as committed in ``openapi/openapi.json``."""
    from service.app import create_app

    return json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n"


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from service.config import load_config

    config = load_config()
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run("service.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=config.log_level.lower(), access_log=args.access_log)
    return 0


def _worker(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        print("the worker needs JAX: pip install 'inversion-service[worker]'", file=sys.stderr)
        return 2
    from worker.main import main as worker_main

    return worker_main()


def _dev(args: argparse.Namespace) -> int:
    from service.devserver import run_dev

    return run_dev(host=args.host, port=args.port, workers=args.workers)


def _export(args: argparse.Namespace) -> int:
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(openapi_text())
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inversion-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    api = sub.add_parser("api", help="run the HTTP API (needs Redis; see INVERSION_REDIS_URL)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    api.add_argument("--access-log", action="store_true", help="log every request")
    api.set_defaults(func=_api)

    worker = sub.add_parser("worker", help="run a JAX worker: warm the configured pipelines, then serve jobs")
    worker.set_defaults(func=_worker)

    dev = sub.add_parser("dev", help="run everything on this machine: embedded Redis, workers and the API")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--workers", type=int, default=1, help="number of worker processes")
    dev.set_defaults(func=_dev)

    export = sub.add_parser("export-openapi", help="write the OpenAPI document")
    export.add_argument("--output", default=str(DEFAULT_OPENAPI))
    export.set_defaults(func=_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``inversion-service`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
