"""What the client returns: a :class:`Result` per request, :class:`DatasetInfo`, :class:`JobInfo` (numpy inside)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCALARS: tuple[str, ...] = (
    "figure_of_merit", "log_evidence", "log_likelihood", "chi_squared", "regularization_term",
    "log_det_curvature_reg_matrix_term", "log_det_regularization_matrix_term", "noise_normalization",
)
OUTPUTS: tuple[str, ...] = (
    "reconstruction", "reconstruction_noise_map", "model_image", "residual_map", "normalized_residual_map",
    "chi_squared_map", "mapped_reconstructed_image",
)

Scalar = float | np.ndarray


def _scalar(value: Any) -> Scalar:
    if isinstance(value, np.ndarray):
        return value.astype(np.float64, copy=False)
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float64)
    return float(value)


def _array(value: Any) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else np.asarray(value, dtype=np.float64)


@dataclass(frozen=True)
class Result:
    """The answer of one request: each scalar is a float, or an array of shape (B,) for a batch of B.

    ``arrays`` holds the outputs that were asked for (``reconstruction`` (P,) or (B, P), ``model_image`` (N,) ...);
    ``result["model_image"]`` and ``result.model_image`` read them too. ``settings`` are the settings the server
    actually used, ``timings`` has ``queue_ms``, ``compute_ms`` and ``compiled``.
    """

    figure_of_merit: Scalar
    log_evidence: Scalar
    log_likelihood: Scalar
    chi_squared: Scalar
    regularization_term: Scalar
    log_det_curvature_reg_matrix_term: Scalar
    log_det_regularization_matrix_term: Scalar
    noise_normalization: Scalar
    job_id: str
    dataset_id: str
    batch_size: int | None
    settings: dict[str, Any]
    timings: dict[str, Any]
    solver_certified: bool | list[bool] | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Result:
        known = {*SCALARS, *OUTPUTS, "job_id", "dataset_id", "batch_size", "settings", "timings", "solver_certified"}
        return cls(
            **{name: _scalar(body[name]) for name in SCALARS},
            job_id=body.get("job_id", ""),
            dataset_id=body.get("dataset_id", ""),
            batch_size=body.get("batch_size"),
            settings=dict(body.get("settings") or {}),
            timings=dict(body.get("timings") or {}),
            solver_certified=body.get("solver_certified"),
            arrays={name: _array(body[name]) for name in OUTPUTS if body.get(name) is not None},
            extra={k: v for k, v in body.items() if k not in known},
        )

    def __getitem__(self, name: str) -> Any:
        if name in self.arrays:
            return self.arrays[name]
        if name in SCALARS:
            return getattr(self, name)
        raise KeyError(f"{name!r} is not in this result; ask for it with outputs=[{name!r}]")

    def __getattr__(self, name: str) -> np.ndarray:
        # only called when normal lookup fails: the requested output arrays
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        if name in OUTPUTS:
            raise AttributeError(f"{name!r} was not requested; pass outputs=[{name!r}]")
        raise AttributeError(name)

    def __len__(self) -> int:
        return 1 if self.batch_size is None else int(self.batch_size)

    @property
    def compute_ms(self) -> float:
        return float(self.timings.get("compute_ms", float("nan")))


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata of a registered dataset; ``image_grid`` (N, 2) and ``pixelization_grid`` (N_sub, 2) are numpy
    arrays in slim order when fetched with ``include_grids=True`` (else None)."""

    dataset_id: str
    kind: str
    shape_native: tuple[int, int]
    pixels: int
    sub_pixels_pixelization: int
    image_grid: np.ndarray | None = None
    pixelization_grid: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> DatasetInfo:
        grids = {k: None if body.get(k) is None else _array(body[k]) for k in ("image_grid", "pixelization_grid")}
        return cls(dataset_id=body["dataset_id"], kind=body.get("kind", "imaging"),
                   shape_native=tuple(body.get("shape_native", ())), pixels=int(body.get("pixels", 0)),
                   sub_pixels_pixelization=int(body.get("sub_pixels_pixelization", 0)), **grids,
                   meta={k: v for k, v in body.items() if k not in ("image_grid", "pixelization_grid")})

    @property
    def over_sample_size_pixelization(self) -> int:
        return int(self.meta.get("over_sample_size_pixelization", 1))


@dataclass(frozen=True)
class JobInfo:
    """``GET /jobs/{id}``: ``status`` is queued, running, finished, failed or canceled."""

    job_id: str
    status: str
    result: Result | None = None
    error: dict[str, Any] | None = None
    cancel_requested: bool = False

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> JobInfo:
        result = body.get("result")
        return cls(job_id=body["job_id"], status=body["status"],
                   result=Result.from_body(result) if isinstance(result, dict) else None,
                   error=body.get("error"), cancel_requested=bool(body.get("cancel_requested", False)))

    @property
    def done(self) -> bool:
        return self.status in ("finished", "failed", "canceled")
