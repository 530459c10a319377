"""The worker's composition root: the state one worker process builds once and every job uses.

:func:`build_state` configures JAX (before the numerical core is imported), makes the engine named in the
configuration, connects to Redis and sets up the prepared-dataset cache. :func:`bind` installs the state for the
job function (:mod:`worker.tasks`), and :func:`current` returns it, building it from the configuration when RQ
runs the job function in a process that did not (a plain ``rq worker``).
"""

from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from service.config import ServerConfig, load_config
from service.contract import datasets
from service.contract.names import Names
from worker import jaxsetup
from worker.cache import PreparedCache

log = logging.getLogger("worker")


@dataclass
class WorkerState:
    """What a job needs from its worker process: the engine, Redis, the key names and the prepared-dataset cache.

    ``info``: facts about the process for the readiness heartbeat (JAX version, device, compile cache).
    """

    engine: Any
    redis: Redis
    names: Names
    cache: PreparedCache
    info: dict[str, Any] = field(default_factory=dict)

    def cancel_requested(self, job_id: str) -> bool:
        """True when ``DELETE /jobs/{id}`` asked this job to stop."""
        return bool(self.redis.exists(self.names.cancel(job_id)))

    def register_script(self, source: str) -> Any:
        """A Lua script registered once per process and source text."""
        return _scripts(self.redis, source)


@functools.lru_cache(maxsize=8)
def _scripts(redis: Redis, source: str) -> Any:
    return redis.register_script(source)


def make_engine(path: str, engine_config: dict[str, Any]) -> Any:
    """Instantiate the engine class named ``module:attribute`` with the engine configuration."""
    module_name, _, attr = path.partition(":")
    cls = getattr(importlib.import_module(module_name), attr or "Engine")
    return cls(engine_config)


def make_state(engine: Any, redis: Redis, names: Names, cache_bytes: int) -> WorkerState:
    """The state of a worker process around ``engine``: datasets are loaded from Redis and prepared on first use."""

    def load(dataset_id: str) -> dict | None:
        blob = redis.get(names.dataset(dataset_id))
        return None if blob is None else datasets.unpack(blob)

    return WorkerState(engine, redis, names, PreparedCache(load, engine.prepare, cache_bytes))


def build_state(config: ServerConfig | None = None) -> WorkerState:
    """Configure JAX, build the engine and the task state (without warming)."""
    config = config or load_config()
    jaxsetup.configure_environment(config.worker)
    info = jaxsetup.configure_jax(config.worker)
    log.info("JAX %s on %s (compile cache %s)", info["jax_version"], info["device"], info["compile_cache"])
    engine = make_engine(config.worker.engine, config.engine_config())
    state = make_state(engine, Redis.from_url(config.redis_url), Names(config.namespace),
                       config.worker.dataset_cache_bytes)
    state.info = info
    return state


_state: WorkerState | None = None


def bind(state: WorkerState) -> None:
    """Install the state that jobs of this process use."""
    global _state
    _state = state


def current() -> WorkerState:
    """The bound state, or one built from the configuration (when RQ runs the job function in a plain worker)."""
    global _state
    if _state is None:
        _state = build_state()
    return _state
