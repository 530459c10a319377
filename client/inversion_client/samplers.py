"""Sampler adapters: log-likelihoods evaluated by the service, one request per batch of points.

You write ``objects(theta)``, mapping one parameter vector to the linear objects of one evaluation (for example
a regularization coefficient, or a source grid ray-traced with the lens parameters in ``theta``). The adapter
stacks the objects of all points of a batch into one request with a leading batch axis
(:func:`~inversion_client.batching.stack_objects`), chunked into requests of at most ``chunk_size`` points, and
returns the figure of merit (or ``statistic``) of each point. With ``batched=True``, ``objects`` receives the
(n, ndim) array of a whole chunk instead and returns the batched objects itself (faster for big grids).

* nautilus: ``Sampler(prior, ServiceLikelihood(...), n_dim, vectorized=True, pass_dict=False)``;
* emcee: ``EnsembleSampler(nwalkers, ndim, ServiceLikelihood(..., log_prior=...), vectorize=True)``;
* dynesty: ``pool = DynestyPool(ServiceLikelihood(...))``, then
  ``NestedSampler(pool.loglikelihood, prior_transform, ndim, pool=pool, queue_size=pool.size)``.

**Non-finite values.** The service answers a numerically singular system with a non-finite figure of merit
(NaN). Samplers need a number that means "impossible": every non-finite value is returned as ``-inf`` (emcee
refuses NaN; nautilus and dynesty treat ``-inf`` as zero likelihood). Points outside ``bounds`` or where
``log_prior`` is not finite are ``-inf`` too and are never sent. Errors in the request itself (a 422 naming a
field) are raised, not hidden.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._sync import InversionClient
from .batching import stack_objects

ObjectsFn = Callable[[Any], Sequence[Mapping[str, Any]] | Mapping[str, Any]]


def _as_points(theta: Any) -> tuple[np.ndarray | dict[str, np.ndarray], int, bool]:
    """(points, n, single): a (n, ndim) array or a dict of (n,) arrays (nautilus ``pass_dict=True``)."""
    if isinstance(theta, Mapping):
        cols = {k: np.asarray(v, dtype=np.float64) for k, v in theta.items()}
        single = all(c.ndim == 0 for c in cols.values())
        cols = {k: np.atleast_1d(c) for k, c in cols.items()}
        return cols, len(next(iter(cols.values()))), single
    arr = np.asarray(theta, dtype=np.float64)
    if arr.ndim == 1:
        return arr[None, :], 1, True
    if arr.ndim != 2:
        raise ValueError(f"expected a parameter vector (ndim,) or an array (n, ndim), got shape {arr.shape}")
    return arr, arr.shape[0], False


def _take(points: np.ndarray | dict[str, np.ndarray], idx: Any) -> Any:
    if isinstance(points, dict):
        return {k: v[idx] for k, v in points.items()}
    return points[idx]


class ServiceLikelihood:
    """A vectorized log-likelihood: (n, ndim) -> (n,), or (ndim,) -> float; see the module docstring.

    Parameters: ``client``, ``dataset_id``; ``objects(theta)`` as above; ``settings`` and ``statistic`` (a scalar
    name of the result, default ``figure_of_merit``); ``chunk_size`` points per request; ``concurrency`` requests
    in flight (useful with several workers); ``bounds`` (ndim, 2) and ``log_prior(theta)`` (added to the result,
    for emcee); ``batched`` as above; ``wait`` for ``Prefer: wait``. ``n_points`` and ``n_requests`` count what
    was sent.
    """

    def __init__(self, client: InversionClient, dataset_id: str, objects: ObjectsFn, *,
                 settings: Mapping[str, Any] | None = None, statistic: str = "figure_of_merit",
                 chunk_size: int = 64, concurrency: int = 1, bounds: Any = None,
                 log_prior: Callable[[np.ndarray], float] | None = None, batched: bool = False,
                 wait: float | None = None):
        if chunk_size < 1 or concurrency < 1:
            raise ValueError("chunk_size and concurrency must be at least 1")
        self.client = client
        self.dataset_id = dataset_id
        self.objects = objects
        self.settings = dict(settings) if settings else None
        self.statistic = statistic
        self.chunk_size = int(chunk_size)
        self.concurrency = int(concurrency)
        self.bounds = None if bounds is None else np.asarray(bounds, dtype=np.float64)
        self.log_prior = log_prior
        self.batched = batched
        self.wait = wait
        self.n_points = 0
        self.n_requests = 0
        self._lock = threading.Lock()

    def __call__(self, theta: Any) -> np.ndarray | float:
        points, n, single = _as_points(theta)
        out = self.evaluate(points, n)
        return float(out[0]) if single else out

    # ------------------------------------------------------------------------------------------ internals
    def _prior(self, points: Any, n: int) -> np.ndarray:
        """ln prior of each point (0 without a prior; -inf outside the bounds)."""
        lp = np.zeros(n)
        if self.bounds is not None and not isinstance(points, dict):
            lo, hi = self.bounds[:, 0], self.bounds[:, 1]
            lp[~np.all((points >= lo) & (points <= hi), axis=1)] = -np.inf
        if self.log_prior is not None:
            for i in np.flatnonzero(np.isfinite(lp)):
                lp[i] = float(self.log_prior(_take(points, i)))
        return lp

    def _chunk(self, points: Any) -> np.ndarray:
        """The statistic of each point of one chunk: one request (none if all points ask the same)."""
        n = len(next(iter(points.values()))) if isinstance(points, dict) else len(points)
        if self.batched:
            linear_objects, batched = self.objects(points), True
        elif n == 1:  # no batch axis: the single-evaluation pipeline (often warm already) serves it
            linear_objects, batched = self.objects(_take(points, 0)), False
        else:
            linear_objects, batched = stack_objects([self.objects(_take(points, i)) for i in range(n)])
        result = self.client.evaluate(self.dataset_id, linear_objects, self.settings, wait=self.wait)
        with self._lock:
            self.n_requests += 1
            self.n_points += n
        values = np.asarray(result[self.statistic], dtype=np.float64)
        if values.ndim == 0 or not batched:
            values = np.full(n, float(np.ravel(values)[0]))
        if values.shape != (n,):
            raise ValueError(f"the service answered {values.shape[0]} values for a batch of {n}")
        return values

    def evaluate(self, points: Any, n: int | None = None) -> np.ndarray:
        """The log-likelihood (plus log prior) of each of n points; non-finite values become -inf."""
        if n is None:
            points, n, _ = _as_points(points)
        out = self._prior(points, n)
        todo = np.flatnonzero(np.isfinite(out))
        chunks = [todo[i:i + self.chunk_size] for i in range(0, len(todo), self.chunk_size)]
        if self.concurrency > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(min(self.concurrency, len(chunks))) as pool:
                values = list(pool.map(lambda idx: self._chunk(_take(points, idx)), chunks))
        else:
            values = [self._chunk(_take(points, idx)) for idx in chunks]
        for idx, vals in zip(chunks, values, strict=True):
            out[idx] += vals
        out[~np.isfinite(out)] = -np.inf
        return out


def nautilus_likelihood(client: InversionClient, dataset_id: str, objects: ObjectsFn, **kw: Any) -> ServiceLikelihood:
    """For ``nautilus.Sampler(prior, likelihood, n_dim, vectorized=True, pass_dict=False)``."""
    return ServiceLikelihood(client, dataset_id, objects, **kw)


def emcee_log_prob(client: InversionClient, dataset_id: str, objects: ObjectsFn, *, bounds: Any = None,
                   log_prior: Callable[[np.ndarray], float] | None = None, **kw: Any) -> ServiceLikelihood:
    """For ``emcee.EnsembleSampler(nwalkers, ndim, log_prob, vectorize=True)``: likelihood + prior, -inf outside
    ``bounds``; (nwalkers, ndim) -> (nwalkers,)."""
    return ServiceLikelihood(client, dataset_id, objects, bounds=bounds, log_prior=log_prior, **kw)


class _Slot:
    __slots__ = ("done", "theta", "value")

    def __init__(self, theta: np.ndarray):
        self.theta, self.value, self.done = theta, float("nan"), False


class DynestyPool:
    """A pool for dynesty that turns its parallel likelihood calls into one batched request.

    dynesty maps its proposal functions over ``queue_size`` points with ``pool.map``; each of them calls the
    log-likelihood (once, or several times for random walks and slices). Here every mapped call runs in its own
    thread, and :meth:`loglikelihood` collects the calls of all threads: when every running thread is waiting
    for a likelihood, the points go to the service as one batch (:class:`ServiceLikelihood` chunks it) and the
    threads carry on. Pass ``pool.loglikelihood`` as dynesty's log-likelihood, ``pool=pool`` and
    ``queue_size=pool.size``.
    """

    def __init__(self, likelihood: Callable[[np.ndarray], np.ndarray], size: int = 64):
        self.likelihood = likelihood
        self.size = int(size)
        self._cond = threading.Condition()
        self._active = 0
        self._pending: list[_Slot] = []
        self._flushing = False

    def loglikelihood(self, theta: Any) -> float:
        """One point's log-likelihood, batched with the other threads' points (direct when not in a map)."""
        slot = _Slot(np.asarray(theta, dtype=np.float64))
        with self._cond:
            if self._active == 0:
                inside = False
            else:
                inside = True
                self._pending.append(slot)
                self._maybe_flush()
                while not slot.done:
                    self._cond.wait()
        if not inside:
            return float(self.likelihood(slot.theta[None, :])[0])
        if isinstance(slot.value, BaseException):
            raise slot.value
        return slot.value

    def _maybe_flush(self) -> None:
        """Called with the lock held: evaluate the pending points once every active thread waits for one."""
        while self._pending and not self._flushing and len(self._pending) >= self._active:
            batch, self._pending, self._flushing = self._pending, [], True
            self._cond.release()
            try:
                values: Any = self.likelihood(np.stack([s.theta for s in batch]))
            except Exception as exc:
                values = [exc] * len(batch)
            finally:
                self._cond.acquire()
            for s, v in zip(batch, values, strict=True):
                s.value, s.done = (v if isinstance(v, BaseException) else float(v)), True
            self._flushing = False
            self._cond.notify_all()

    def _run(self, func: Callable[[Any], Any], item: Any) -> Any:
        try:
            return func(item)
        finally:
            with self._cond:
                self._active -= 1
                self._maybe_flush()

    def map(self, func: Callable[[Any], Any], iterable: Iterable[Any]) -> list[Any]:
        """``[func(x) for x in iterable]``, in threads, with their likelihood calls batched."""
        items = list(iterable)
        if not items:
            return []
        with self._cond:
            self._active += len(items)
        with ThreadPoolExecutor(len(items)) as ex:
            return list(ex.map(lambda x: self._run(func, x), items))

    def close(self) -> None:
        """Nothing to release (the client belongs to the caller); for ``with`` and dynesty's pool protocol."""

    def __enter__(self) -> DynestyPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
