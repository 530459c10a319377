"""The worker's engine: a validated request in, numpy results out.

``Engine.prepare`` turns a registered dataset (its canonical dict) into a prepared dataset of the numerical core;
``Engine.evaluate`` translates a :class:`~service.contract.jobs.JobRequest` into the core's signature and
parameters (:mod:`worker.translate`), pads a batch up to a bucket size so that only a few shapes ever compile, runs
the jitted pipeline chunk by chunk and slices the padding off again. See ``docs/internals.md`` for the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import ValidationError

from service.config import NnlsConfig
from service.contract import datasets, vocabulary
from service.contract.datasets import DatasetMeta
from service.contract.jobs import JobRequest
from service.contract.validation import InvalidInput, check_inversion, errors_from_pydantic

from .errors import EvaluationStopped
from .inversion import pipeline
from .inversion.dataset import PreparedImaging, prepare_imaging
from .inversion.solvers import NNLSOptions
from .translate import translate

DEFAULT_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
#: the message of a triangulation that Qhull refused although the vertices passed validation
TRIANGULATION_FAILED = ("the Delaunay triangulation of these vertices failed (they are degenerate: coincident, "
                        "collinear or cocircular within rounding); move or drop vertices")


@dataclass(frozen=True)
class EngineConfig:
    """Solver options (as autoarray reads them from its config), batch buckets and the operator backend."""

    nnls_jacobi_preconditioning: bool = vocabulary.NNLS_JACOBI_PRECONDITIONING
    nnls_target_kappa: float = vocabulary.NNLS_TARGET_KAPPA
    nnls_max_iter: int = vocabulary.NNLS_MAX_ITER
    buckets: tuple[int, ...] = DEFAULT_BUCKETS
    operator: str = "auto"  # "sparse" (host scipy.sparse curvature), "dense" (XLA), "auto": sparse on CPU

    @property
    def resolved_operator(self) -> str:
        """``"sparse"`` or ``"dense"``; raises ValueError for anything else."""
        if self.operator == "auto":
            return "sparse" if jax.default_backend() == "cpu" else "dense"
        if self.operator not in ("sparse", "dense"):
            raise ValueError(f"operator must be 'auto', 'sparse' or 'dense', not {self.operator!r}")
        return self.operator

    @property
    def nnls(self) -> NNLSOptions:
        return NNLSOptions(self.nnls_jacobi_preconditioning, self.nnls_target_kappa, self.nnls_max_iter)

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any] | None) -> EngineConfig:
        """From :meth:`service.config.ServerConfig.engine_config` (``nnls``, optional ``buckets``/``operator``)."""
        cfg = dict(cfg or {})
        nnls = NnlsConfig(**cfg.get("nnls", {}))
        return cls(nnls_jacobi_preconditioning=nnls.jacobi_preconditioning, nnls_target_kappa=nnls.target_kappa,
                   buckets=tuple(int(b) for b in cfg.get("buckets", DEFAULT_BUCKETS)),
                   operator=str(cfg.get("operator", "auto")))


def dataset_meta(prepared: PreparedImaging) -> DatasetMeta:
    """The contract's metadata of a prepared dataset (what requests are validated against), computed by the
    contract's own :func:`~service.contract.datasets.imaging_meta`."""
    shape, host = prepared.shape, prepared.host
    return datasets.imaging_meta("", {
        "mask": host["mask"], "psf": host["kernel"], "pixel_scales": host["pixel_scales"], "origin": host["origin"],
        "over_sample_size_pixelization": shape.sub_size_pixelization, "over_sample_size_lp": shape.sub_size_lp})


def parse_request(prepared: PreparedImaging, body: Mapping[str, Any],
                  max_batch: int = 1 << 30) -> tuple[JobRequest, tuple[str, ...]]:
    """A request given as a plain dict (tests, benchmarks, warm-up), validated exactly as the API validates one.

    Names of :data:`~service.contract.vocabulary.MATRIX_NAMES` in ``outputs`` are split off and returned apart
    (they are for tests and debugging, never sent over HTTP). Raises :class:`InvalidInput` naming the field.
    """
    body = dict(body)
    outputs = list(body.get("outputs") or [])
    matrices = tuple(name for name in outputs if name in vocabulary.MATRIX_NAMES)
    body["outputs"] = [name for name in outputs if name not in matrices]
    try:
        request = JobRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput(errors_from_pydantic(exc)) from None
    check_inversion(request, dataset_meta(prepared), max_batch, request.settings)
    return request, matrices


class Engine:
    """Owns the compiled pipelines of one worker process."""

    def __init__(self, config: Mapping[str, Any] | EngineConfig | None = None):
        self.config = config if isinstance(config, EngineConfig) else EngineConfig.from_dict(config)
        self._compiled: set = set()

    def prepare(self, dataset: Mapping[str, Any]) -> PreparedImaging:
        """The prepared form of a registered imaging dataset (its canonical dict, validated at registration)."""
        return prepare_imaging(
            dataset["data"], dataset["noise_map"], dataset["psf"], dataset["mask"], dataset["pixel_scales"],
            dataset.get("origin", (0.0, 0.0)), dataset.get("over_sample_size_pixelization", 4),
            dataset.get("over_sample_size_lp", 4), dataset.get("normalize_psf", True))

    def bucket(self, b: int) -> int:
        """The smallest bucket size >= b (the largest bucket for bigger b: the batch is then chunked)."""
        for size in self.config.buckets:
            if size >= b:
                return size
        return self.config.buckets[-1]

    def evaluate(self, prepared: PreparedImaging, request: JobRequest | Mapping[str, Any],
                 should_stop: Callable[[], bool] | None = None, *, matrices: Sequence[str] = ()) -> dict[str, Any]:
        """Run one request (a single evaluation or a batch); see ``docs/internals.md`` for the result layout.

        ``request`` is a validated :class:`JobRequest`, or a plain dict that :func:`parse_request` validates.
        ``should_stop`` is polled between batch chunks; when it returns True, :class:`EvaluationStopped` is
        raised. Raises :class:`InvalidInput` when the core finds the input unusable after all (a triangulation
        that Qhull refuses).
        """
        t0 = time.perf_counter()
        if not isinstance(request, JobRequest):
            request, extra = parse_request(prepared, request)
            matrices = (*matrices, *extra)
        job = translate(prepared, request, self.config.nnls, self.config.resolved_operator, matrices)
        sig, params, b = job.signature, job.params, job.batch_size
        if b is None:
            out, compiled = self._call(sig, prepared, params, job.diag_value)
            result = {k: (float(v) if np.ndim(v) == 0 else np.asarray(v)) for k, v in out.items()}
        else:
            chunks, start, top, compiled = [], 0, self.config.buckets[-1], False
            while start < b:
                if should_stop is not None and should_stop():
                    raise EvaluationStopped()
                size = min(top, b - start)
                padded = self.bucket(size)
                lanes = np.minimum(np.arange(start, start + padded), start + size - 1)  # pad by repeating last
                chunk_params = _take_lanes(params, sig.batch_axes, lanes)
                out, c = self._call(replace(sig, batch=padded), prepared, chunk_params, job.diag_value)
                compiled |= c
                chunks.append({k: np.asarray(v)[:size] for k, v in out.items()})
                start += size
            result = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        _check_triangulations(result.pop("triangulation_valid", None))
        result["batch_size"] = b
        result["compiled"] = compiled
        result["solver_certified"] = np.asarray(result["solver_certified"]).tolist()
        result["compute_ms"] = (time.perf_counter() - t0) * 1e3
        return result

    def _call(self, sig: pipeline.Signature, prepared: PreparedImaging, params: list, diag: float) -> tuple:
        new = sig not in self._compiled
        out = pipeline.evaluate(sig, prepared.arrays, jax.tree_util.tree_map(jnp.asarray, params), jnp.float64(diag))
        out = jax.device_get(out)
        self._compiled.add(sig)
        return out, new

    def warm(self, dataset: Mapping[str, Any], request: JobRequest | Mapping[str, Any]) -> dict[str, Any]:
        """Compile (or load from the persistent cache) the pipeline for this dataset/request shape."""
        return self.evaluate(self.prepare(dataset), request)


def _check_triangulations(valid: Any) -> None:
    """Raise :class:`InvalidInput` naming the vertices of the first object whose triangulation failed."""
    if valid is None:
        return
    ok = np.asarray(valid, dtype=bool)
    if ok.all():
        return
    failed = int(np.flatnonzero(~ok.reshape(-1, ok.shape[-1]).all(axis=0))[0])
    raise InvalidInput([(("body", "linear_objects", failed, "mesh", "vertices"), TRIANGULATION_FAILED)])


def _take_lanes(params: list, batch_axes: tuple, lanes: np.ndarray) -> list:
    """The parameters of the given batch lanes (unbatched leaves are shared)."""
    out = []
    for p, ax in zip(params, batch_axes, strict=True):
        axd = dict(ax)
        q = {}
        for k, v in p.items():
            a = axd.get(k)
            if isinstance(v, dict):
                sub = dict(a) if a is not None else {}
                q[k] = {kk: (vv[lanes] if sub.get(kk) == 0 else vv) for kk, vv in v.items()}
            else:
                q[k] = v[lanes] if a == 0 else v
        out.append(q)
    return out
