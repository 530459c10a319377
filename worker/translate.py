"""Contract models -> the numerical core's static signature and traced parameters.

The only place where a validated request (:class:`service.contract.jobs.JobRequest`) becomes arrays. It checks
nothing: the API validated the request against the dataset before enqueueing it
(:func:`service.contract.validation.check_inversion`), and the worker trusts what passed. What fixes shapes or
control flow goes into the hashable :class:`~worker.inversion.pipeline.Signature` (one compiled program each);
everything else is a float64 array in ``params``, one dict per linear object, with a leading batch axis B where
the request gave one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.contract import vocabulary
from service.contract.jobs import JobRequest
from service.contract.models import Basis, Delaunay, Gaussians, Mapper, RectangularBilinearAdaptDensity

from .inversion import pipeline
from .inversion.linear_objects import ObjectSpec
from .inversion.solvers import NNLSOptions

#: base dimensions of every array parameter (one more = batched)
_BASE_NDIM = {"source_grid": 2, "source_grid_slim": 2, "vertices": 2, "adapt_image": 1, "centre": 1,
              "ell_comps": 1, "sigmas": 1, "images": 2}


@dataclass(frozen=True)
class Translation:
    """A request in the core's terms.

    ``signature``: static description without the batch size; ``params``: per linear object, parameter name ->
    float64 array (regularization parameters under ``"regularization"``); ``batch_size``: B or None;
    ``diag_value``: ``no_regularization_add_to_curvature_diag_value`` (traced, so changing it never recompiles).
    """

    signature: pipeline.Signature
    params: list[dict[str, Any]]
    batch_size: int | None
    diag_value: float


class _Params:
    """Collects one object's parameters and which of them carry the batch axis."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.axes: dict[str, Any] = {}
        self.batch: int | None = None

    def put(self, name: str, value: Any, base_ndim: int, target: str | None = None) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float64)
        batched = arr.ndim == base_ndim + 1
        if batched:
            self.batch = arr.shape[0]
        values, axes = (self.values, self.axes) if target is None else (
            self.values.setdefault(target, {}), self.axes.setdefault(target, {}))
        values[name] = arr
        axes[name] = 0 if batched else None
        return arr


def _regularization(obj: Any, p: _Params) -> str | None:
    reg = obj.regularization
    if reg is None:
        return None
    for name in vocabulary.REGULARIZATIONS[reg.type].parameters:
        p.put(name, getattr(reg, name), 0, target="regularization")
    return reg.type


def _mapper(obj: Mapper, prepared: Any, settings: Any, p: _Params) -> ObjectSpec:
    sub = prepared.shape.sub_size_pixelization
    reg = _regularization(obj, p)
    has_grid, has_slim = obj.source_grid is not None, obj.source_grid_slim is not None
    if has_grid:
        p.put("source_grid", obj.source_grid, 2)
    if has_slim:
        p.put("source_grid_slim", obj.source_grid_slim, 2)
    elif has_grid and sub == 1:  # without over-sampling the traced grid is the traced pixel centres
        p.put("source_grid_slim", obj.source_grid, 2)
        has_slim = True
    mesh = obj.mesh
    zeroed, areas_factor, row_offset, mesh_shape = 0, 0.5, False, None
    if isinstance(mesh, Delaunay):
        pixels = p.put("vertices", mesh.vertices, 2).shape[-2]
        zeroed, areas_factor = mesh.zeroed_pixels, mesh.areas_factor
    else:
        mesh_shape = (int(mesh.shape[0]), int(mesh.shape[1]))
        pixels = mesh_shape[0] * mesh_shape[1]
        if isinstance(mesh, RectangularBilinearAdaptDensity):
            row_offset = mesh.autoarray_row_offset
    if reg is not None and vocabulary.REGULARIZATIONS[reg].adaptive:
        p.put("adapt_image", obj.adapt_image, 1)
    return ObjectSpec(kind="mapper", params=pixels, mesh=mesh.type, mesh_shape=mesh_shape, zeroed_pixels=zeroed,
                      areas_factor=areas_factor, autoarray_row_offset=row_offset, regularization=reg,
                      source_grid=has_grid, source_grid_slim=has_slim)


def _gaussians(obj: Gaussians, prepared: Any, settings: Any, p: _Params) -> ObjectSpec:
    reg = _regularization(obj, p)
    p.put("centre", obj.centre, 1)
    p.put("ell_comps", obj.ell_comps, 1)
    count = p.put("sigmas", obj.sigmas, 1).shape[-1]
    return ObjectSpec(kind="gaussians", params=count, regularization=reg)


def _basis(obj: Basis, prepared: Any, settings: Any, p: _Params) -> ObjectSpec:
    reg = _regularization(obj, p)
    images = np.asarray(obj.images)
    if images.ndim >= 3 and images.shape[-2:] == prepared.shape.shape_native:  # native -> slim
        images = images[..., ~prepared.host["mask"]]
    count = p.put("images", images, 2).shape[-2]
    return ObjectSpec(kind="basis", params=count, regularization=reg)


_OBJECTS = {"mapper": _mapper, "gaussians": _gaussians, "basis": _basis}


def _frozen(axes: dict[str, Any]) -> tuple:
    """vmap ``in_axes`` of one object in hashable form: ((name, 0 | None | ((sub-name, axis), ...)), ...)."""
    return tuple(sorted((k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in axes.items()))


def translate(prepared: Any, request: JobRequest, nnls: NNLSOptions, operator: str,
              matrices: Sequence[str] = ()) -> Translation:
    """The core's form of ``request`` on ``prepared`` (a prepared dataset).

    ``matrices``: names from :data:`~service.contract.vocabulary.MATRIX_NAMES` to return besides the request's
    outputs (tests and debugging); ``operator``: ``"sparse"`` or ``"dense"`` (see ``docs/maths.md#linear-system``).
    """
    s = request.settings
    solver = pipeline.SolverSettings(use_mixed_precision=s.use_mixed_precision,
                                     use_positive_only_solver=s.use_positive_only_solver,
                                     use_edge_zeroed_pixels=s.use_edge_zeroed_pixels,
                                     use_border_relocator=s.use_border_relocator)
    specs, params, axes, batch = [], [], [], None
    for obj in request.linear_objects:
        p = _Params()
        specs.append(_OBJECTS[obj.type](obj, prepared, s, p))
        params.append(p.values)
        axes.append(_frozen(p.axes))
        batch = batch or p.batch
    signature = pipeline.Signature(
        dataset=prepared.shape, objects=tuple(specs), settings=solver, nnls=nnls,
        outputs=tuple(sorted({*request.outputs, *matrices})), batch=None, operator=operator, batch_axes=tuple(axes))
    return Translation(signature, params, batch, float(s.no_regularization_add_to_curvature_diag_value))
