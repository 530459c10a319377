"""Response models of the HTTP contract. They document the answers (OpenAPI); the routes encode plain dicts.

Array-valued fields are nested lists in JSON (non-finite values as "NaN"/"Infinity"/"-Infinity" strings) and
``{dtype, shape, data}`` maps in msgpack.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from . import vocabulary
from .models import ResolvedSettings
from .types import ARRAY_SCHEMA

_SCALAR_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number"},
        {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
        ARRAY_SCHEMA,
    ],
    "description": "a float64, or an array of shape (B,) for a batch; non-finite in JSON as strings",
}
Scalar = Annotated[Any, WithJsonSchema(_SCALAR_SCHEMA)]
ArrayOut = Annotated[np.ndarray | None, WithJsonSchema({**ARRAY_SCHEMA, "nullable": True})]
SCALAR_NAMES: tuple[str, ...] = vocabulary.SCALAR_NAMES


class _Out(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)


class ErrorItem(_Out):
    """One problem with one field: the path to it and a sentence saying what is wrong."""

    loc: list[str | int]
    msg: str


class Problem(_Out):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[ErrorItem] | None = None
    job_id: str | None = None


class DatasetInfo(_Out):
    """Metadata of a registered dataset; the grids only with ``?include=grids``."""

    dataset_id: str = Field(description="sha256 of the canonical encoding of the dataset")
    kind: Literal["imaging"]
    shape_native: list[int]
    pixels: int = Field(description="number of unmasked pixels N")
    sub_pixels_pixelization: int = Field(description="rows of the over-sampled pixelization grid (N_sub)")
    sub_pixels_lp: int = Field(description="rows of the over-sampled light-profile grid")
    pixel_scales: list[float]
    origin: list[float]
    over_sample_size_pixelization: int
    over_sample_size_lp: int
    psf_shape: list[int]
    image_grid: ArrayOut = Field(None, description="(N, 2) unmasked pixel centres (y, x), slim order")
    pixelization_grid: ArrayOut = Field(None, description="(N_sub, 2) over-sampled pixelization grid, slim order")


class Timings(_Out):
    """Where the time went."""

    queue_ms: float = Field(description="from enqueue to the start of the job")
    compute_ms: float = Field(description="engine evaluation time")
    compiled: bool = Field(description="whether this evaluation traced/compiled a pipeline")


class _ResultHead(_Out):
    job_id: str
    dataset_id: str
    batch_size: int | None = Field(None, description="B for a batched request, else null")


def _result_model() -> type[_Out]:
    """The answer's model: its fields are the vocabulary's scalars and output arrays, in that order."""
    fields: dict[str, Any] = {name: (Scalar, ...) for name in vocabulary.SCALAR_NAMES}
    fields["settings"] = (ResolvedSettings, ...)
    fields["timings"] = (Timings, ...)
    fields["solver_certified"] = (bool | list[bool] | None, Field(
        None, description="positive-only solves: whether the solver certified optimality (per batch element)"))
    fields.update({name: (ArrayOut, None) for name in vocabulary.OUTPUT_NAMES})
    return create_model("InversionResult", __base__=_ResultHead, __module__=__name__, __doc__=(
        "The answer of one evaluation (or of B evaluations, each scalar then an array of shape (B,))."), **fields)


InversionResult = _result_model()


JobState = Literal["queued", "running", "finished", "failed", "canceled"]


class JobView(_Out):
    """``GET /jobs/{id}``: the state of a job, its result once finished, its problem once failed."""

    job_id: str
    status: JobState
    result: InversionResult | None = None
    error: Problem | None = None
    cancel_requested: bool = False


class Readiness(_Out):
    """``GET /readyz``."""

    redis: bool
    workers: list[dict[str, Any]]
    ready: bool


class Health(_Out):
    """``GET /healthz``."""

    status: Literal["ok"] = "ok"
