"""Worker process entry point: configure JAX, build the engine, warm pipelines, report ready, serve jobs.

Order matters: the XLA environment and JAX options are set before the numerical core is imported; the worker
registers its readiness heartbeat only after every configured pipeline has been compiled (fp64 and mixed
precision), so ``/readyz`` never counts a cold worker.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import sys
import time
import uuid
from typing import Any

from redis import Redis

from service.config import ServerConfig, load_config
from service.contract.names import SERIALIZER, Names
from worker import jaxsetup

log = logging.getLogger("worker")


def make_engine(path: str, engine_config: dict[str, Any]) -> Any:
    """Instantiate the engine class named ``module:attribute`` with the engine configuration."""
    module_name, _, attr = path.partition(":")
    cls = getattr(importlib.import_module(module_name), attr or "Engine")
    return cls(engine_config)


def warm(engine: Any, config: ServerConfig) -> list[str]:
    """Compile every configured pipeline once; return the labels of what was warmed."""
    from worker.warmup import synth_requests

    done = []
    for spec in config.worker.warm:
        for label, dataset, request in synth_requests(spec, config.settings):
            t0 = time.perf_counter()
            log.info("compiling %s ...", label)
            if hasattr(engine, "warm"):
                engine.warm(dataset, request)
            else:
                engine.evaluate(engine.prepare(dataset), request)
            log.info("compiled %s in %.1f s", label, time.perf_counter() - t0)
            done.append(label)
    return done


def build_state(config: ServerConfig | None = None):
    """Configure JAX, build the engine and the task state (without warming)."""
    from worker import tasks

    config = config or load_config()
    jaxsetup.configure_environment(config.worker)
    info = jaxsetup.configure_jax(config.worker)
    log.info("JAX %s on %s (compile cache %s)", info["jax_version"], info["device"], info["compile_cache"])
    engine = make_engine(config.worker.engine, config.engine_config())
    redis = Redis.from_url(config.redis_url)
    state = tasks.make_state(engine, redis, Names(config.namespace), config.worker.dataset_cache_bytes)
    state.info = info
    return state


def main(argv: list[str] | None = None) -> int:
    """Run a worker until SIGINT/SIGTERM (a job in progress is finished first)."""
    from worker import tasks
    from worker.heartbeat import Heartbeat
    from worker.rqworker import InversionWorker

    config = load_config()
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    log.info("worker starting (namespace %r)", config.namespace)
    state = build_state(config)
    tasks.bind(state)
    t0 = time.perf_counter()
    warmed = warm(state.engine, config)
    log.info("warm-up done: %d pipeline(s) in %.1f s", len(warmed), time.perf_counter() - t0)

    name = config.worker.name or f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    beat = Heartbeat(
        state.redis, state.names.worker(name),
        {"name": name, "hostname": socket.gethostname(), "pid": os.getpid(), "started_at": time.time(),
         "warm": warmed, "device": state.info.get("device")},
        interval_s=config.worker.heartbeat_interval_s, ttl_s=config.worker.heartbeat_ttl_s,
        ready_file=config.worker.ready_file,
    ).start()
    log.info("worker %s ready, listening on queue %r", name, state.names.queue)
    worker = InversionWorker([state.names.queue], name=name, connection=state.redis, serializer=SERIALIZER,
                             default_result_ttl=config.jobs.result_ttl_s)
    try:
        worker.work(logging_level=config.log_level, with_scheduler=False)
    finally:
        beat.stop()
        log.info("worker %s stopped", name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
