"""The RQ worker class: non-forking (``SimpleWorker``), msgpack serializer.

A forking worker would lose every compiled pipeline and prepared dataset with each work horse (and forking after
JAX starts its threads can deadlock), so jobs run in the worker process itself. Jobs never raise for bad input
(see :mod:`worker.tasks`); RQ's own failure handling covers the rest, so one bad job cannot end the worker.
"""

from __future__ import annotations

from typing import Any

from rq.worker import SimpleWorker

from service.contract.names import SERIALIZER


class InversionWorker(SimpleWorker):
    """A ``SimpleWorker`` that uses the service's msgpack serializer."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("serializer", SERIALIZER)
        kwargs.setdefault("log_job_description", True)
        super().__init__(*args, **kwargs)
