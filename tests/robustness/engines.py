"""A test engine for the fault tests: the real engine, made slow or stuck on request.

A worker configured with ``worker.engine: tests.robustness.engines:SlowEngine`` behaves exactly like a normal one,
except when a regularization coefficient of the request equals one of the sentinels below.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import numpy as np

from service.contract.jobs import JobRequest
from worker.engine import Engine

BRIEF = 333.0  # sleep BRIEF_S before evaluating: jobs that take a moment (fair-share tests)
SLOW = 777.0  # sleep SLOW_S (interruptible) before evaluating: a long job to kill the worker in the middle of
CHUNKED = 555.0  # sleep CHUNK_S before every batch chunk: a long batch that the cooperative deadline stops
STUCK = 888.0  # sleep STUCK_S with SIGALRM blocked: like a long call inside XLA that never returns to Python
BRIEF_S, SLOW_S, CHUNK_S, STUCK_S = 1.0, 3.0, 0.5, 6.0


def sentinel(request: JobRequest) -> float | None:
    """The sentinel coefficient in ``request``, if any."""
    for obj in request.linear_objects:
        coefficient = getattr(obj.regularization, "coefficient", None)
        if coefficient is not None:
            values = np.atleast_1d(np.asarray(coefficient, dtype=float))
            for value in (BRIEF, SLOW, CHUNKED, STUCK):
                if np.any(values == value):
                    return value
    return None


class SlowEngine(Engine):
    """:class:`worker.engine.Engine` with the sentinel behaviours."""

    def evaluate(self, prepared: Any, request: JobRequest, should_stop: Any = None) -> dict:
        which = sentinel(request)
        if which == BRIEF:
            time.sleep(BRIEF_S)
        elif which == SLOW:
            time.sleep(SLOW_S)
        elif which == STUCK:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            try:
                time.sleep(STUCK_S)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
        elif which == CHUNKED and should_stop is not None:
            inner = should_stop

            def should_stop() -> bool:
                time.sleep(CHUNK_S)
                return inner()

        return super().evaluate(prepared, request, should_stop)
