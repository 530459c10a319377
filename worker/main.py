"""Worker process entry point: configure JAX, build the engine, warm pipelines, report ready, serve jobs.

Order matters: the XLA environment and JAX options are set before the numerical core is imported; the worker
registers its readiness heartbeat only after every configured pipeline has been compiled (fp64 and mixed
precision), so ``/readyz`` never counts a cold worker.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from service.config import ServerConfig, load_config
from worker import state as worker_state

log = logging.getLogger("worker")


def warm(engine: Any, config: ServerConfig) -> list[str]:
    """Compile every configured pipeline once; return the labels of what was warmed."""
    from worker.warmup import synth_requests

    done = []
    for spec in config.worker.warm:
        for label, dataset, request in synth_requests(spec, config.settings):
            t0 = time.perf_counter()
            log.info("compiling %s ...", label)
            engine.warm(dataset, request)
            log.info("compiled %s in %.1f s", label, time.perf_counter() - t0)
            done.append(label)
    return done


def _wait_for_redis(redis: Redis, stopping: threading.Event) -> None:
    """Block until Redis answers again (or a stop signal arrives), with a capped backoff."""
    delay = 0.5
    while not stopping.is_set():
        try:
            redis.ping()
            return
        except RedisError:
            stopping.wait(delay)
            delay = min(delay * 2, 5.0)


def serve(state: Any, config: ServerConfig, name: str, beat: Any) -> None:
    """Run RQ work loops until a stop signal; a loop that ends on a Redis outage is restarted, still warm.

    RQ's worker quits when Redis fails while a job is saved (or at teardown); the engine and its compiled
    pipelines live on here, and a fresh RQ worker of the same name (the name ties running jobs to this process's
    readiness heartbeat) takes over once Redis answers again. A job caught in the outage is requeued or failed by
    the API's reaper.
    """
    from worker.rqworker import InversionWorker

    stopping = threading.Event()
    incarnation = 0
    while not stopping.is_set():
        worker = InversionWorker(
            [state.names.queue], name=name, connection=state.redis, default_result_ttl=config.jobs.result_ttl_s,
            execution_ttl_s=config.worker.heartbeat_ttl_s,
            deadline_s=config.jobs.job_timeout_s + config.jobs.timeout_grace_s,
            verdicts=state.names, verdict_ttl_s=config.jobs.failure_ttl_s,
        )
        if incarnation:
            log.info("restarting the RQ loop (%d)", incarnation)
            state.redis.delete(worker.key)  # our previous loop's registration, if its teardown could not run
        beat.on_beat = worker.beat_running
        try:
            worker.work(logging_level=config.log_level, with_scheduler=False)
        except RedisError as exc:
            log.warning("worker loop stopped: Redis unavailable (%s)", type(exc).__name__)
        finally:
            beat.on_beat = None
        if worker.stop_signalled:
            break
        for sig in (signal.SIGINT, signal.SIGTERM):  # RQ's handlers belong to the finished loop
            signal.signal(sig, lambda *_: stopping.set())
        log.warning("worker loop ended without a stop request; reconnecting to Redis")
        stopping.wait(1.0)  # never spin, whatever ended the loop
        _wait_for_redis(state.redis, stopping)
        incarnation += 1


def main(argv: list[str] | None = None) -> int:
    """Run a worker until SIGINT/SIGTERM (a job in progress is finished first)."""
    from worker.heartbeat import Heartbeat

    config = load_config()
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    log.info("worker starting (namespace %r)", config.namespace)
    state = worker_state.build_state(config)
    worker_state.bind(state)
    t0 = time.perf_counter()
    warmed = warm(state.engine, config)
    log.info("warm-up done: %d pipeline(s) in %.1f s", len(warmed), time.perf_counter() - t0)
    gc.freeze()  # JAX, the engine and the compiled pipelines stay: the collector need not scan them again

    name = config.worker.name or f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    beat = Heartbeat(
        state.redis, state.names.worker(name),
        {"name": name, "hostname": socket.gethostname(), "pid": os.getpid(), "started_at": time.time(),
         "warm": warmed, "device": state.info.get("device")},
        interval_s=config.worker.heartbeat_interval_s, ttl_s=config.worker.heartbeat_ttl_s,
        ready_file=config.worker.ready_file,
    ).start()
    log.info("worker %s ready, listening on queue %r", name, state.names.queue)
    try:
        serve(state, config, name, beat)
    finally:
        beat.stop()
        log.info("worker %s stopped", name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
