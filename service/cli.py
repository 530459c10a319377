"""Command line: ``inversion-service api | worker | dev | redis | export-openapi``.

``worker`` imports no worker code here: it replaces this process with ``python -m worker`` (same process id).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
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


def _jax_missing() -> bool:
    """True (after saying what to install) when JAX, which every worker needs, is not installed."""
    if importlib.util.find_spec("jax") is None:
        print("the worker needs JAX: pip install 'inversion-service[worker]'", file=sys.stderr)
        return True
    return False


def _worker(args: argparse.Namespace) -> int:
    if _jax_missing():
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "worker"])  # does not return
    return 0  # pragma: no cover


def _redis(args: argparse.Namespace) -> int:
    from service.embedded_redis import EmbeddedRedis

    if args.host not in ("127.0.0.1", "localhost"):
        # EmbeddedRedis binds 127.0.0.1 only (its command line and its url); another address needs it to take one.
        print(f"inversion-service redis: only 127.0.0.1 is supported, not {args.host!r}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    try:
        server = EmbeddedRedis(port=args.port)
    except FileNotFoundError as exc:
        print(f"inversion-service redis: {exc}", file=sys.stderr)
        return 2
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        server.start()
        print(server.url, flush=True)
        while not stop.wait(0.5):
            if server.process.poll() is not None:
                print(f"redis-server exited with code {server.process.returncode}", file=sys.stderr, flush=True)
                code = 1
                break
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _dev(args: argparse.Namespace) -> int:
    if _jax_missing():
        return 2
    from service.devserver import run_dev

    return run_dev(host=args.host, port=args.port, workers=args.workers)


def _export(args: argparse.Namespace) -> int:
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(openapi_text())
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="inversion-service", description=__doc__, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, formatter_class=fmt)

    api = command("api", "run the HTTP API (needs Redis; see INVERSION_REDIS_URL)")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on")
    api.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    api.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    api.add_argument("--access-log", action="store_true", help="log every request")
    api.set_defaults(func=_api)

    worker = command("worker", "run a JAX worker (python -m worker): warm the configured pipelines, then serve jobs")
    worker.set_defaults(func=_worker)

    dev = command("dev", "run everything on this machine: embedded Redis, workers and the API")
    dev.add_argument("--host", default="127.0.0.1", help="address the API listens on")
    dev.add_argument("--port", type=int, default=8000, help="TCP port the API listens on")
    dev.add_argument("--workers", type=int, default=1, help="number of worker processes")
    dev.set_defaults(func=_dev)

    redis = command("redis", "run a private Redis server (no persistence) in the foreground until SIGTERM/Ctrl-C; "
                             "prints its URL on one line once it answers")
    redis.add_argument("--host", default="127.0.0.1", help="address to listen on (only 127.0.0.1 for now)")
    redis.add_argument("--port", type=int, default=None, help="TCP port to listen on (None: a free one)")
    redis.set_defaults(func=_redis)

    export = command("export-openapi", "write the OpenAPI document")
    export.add_argument("--output", default=str(DEFAULT_OPENAPI), help="file to write")
    export.set_defaults(func=_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``inversion-service`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
