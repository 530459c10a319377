"""The worker's engine: API-shaped dicts in, numpy results out (the only place requests become arrays).

``Engine.prepare`` turns a registered dataset into a :class:`~worker.inversion.dataset.PreparedImaging`;
``Engine.evaluate`` translates a request into a static :class:`~worker.inversion.pipeline.Signature` plus traced
parameters, pads a batch up to a bucket size so that only a few shapes ever compile, runs the jitted pipeline
and slices the padding off again. Bad input raises :class:`~worker.inversion.errors.InputError` naming the field.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .inversion import pipeline
from .inversion.dataset import PreparedImaging, prepare_imaging
from .inversion.errors import InputError
from .inversion.linear_objects import MESHES, ObjectSpec
from .inversion.regularization import SCHEMES
from .inversion.solvers import NNLSOptions

SETTINGS_FIELDS = ("use_mixed_precision", "use_positive_only_solver", "use_edge_zeroed_pixels",
                   "use_border_relocator", "no_regularization_add_to_curvature_diag_value")
DEFAULT_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class EngineConfig:
    nnls_jacobi_preconditioning: bool = True
    nnls_target_kappa: float = 1e-11
    nnls_max_iter: int = 40
    buckets: tuple[int, ...] = DEFAULT_BUCKETS
    operator: str = "auto"  # "sparse" (host scipy.sparse curvature), "dense" (XLA), "auto": sparse on CPU

    @property
    def resolved_operator(self) -> str:
        if self.operator == "auto":
            return "sparse" if jax.default_backend() == "cpu" else "dense"
        if self.operator not in ("sparse", "dense"):
            raise ValueError(f"operator must be 'auto', 'sparse' or 'dense', not {self.operator!r}")
        return self.operator

    @classmethod
    def from_dict(cls, cfg: dict | None) -> EngineConfig:
        cfg = dict(cfg or {})
        nnls = cfg.get("nnls", {})
        return cls(nnls_jacobi_preconditioning=bool(nnls.get("jacobi_preconditioning", True)),
                   nnls_target_kappa=float(nnls.get("target_kappa", 1e-11)),
                   nnls_max_iter=int(nnls.get("max_iter", 40)),
                   buckets=tuple(int(b) for b in cfg.get("buckets", DEFAULT_BUCKETS)),
                   operator=str(cfg.get("operator", "auto")))


class _Batch:
    """Collects the batch size B implied by leading axes and checks that all batched fields agree."""

    def __init__(self):
        self.size, self.where = None, None

    def array(self, value, loc, base_ndim, dtype=np.float64, batchable=True):
        arr = np.asarray(value)
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise InputError(loc, "must be a numeric array")
        arr = arr.astype(dtype)
        if not np.all(np.isfinite(arr)):
            raise InputError(loc, f"has {int(np.sum(~np.isfinite(arr)))} non-finite values")
        if arr.ndim == base_ndim + 1 and batchable:
            if self.size is None:
                self.size, self.where = arr.shape[0], loc
            elif arr.shape[0] != self.size:
                raise InputError(loc, f"has a batch axis of length {arr.shape[0]} but "
                                      f"{'.'.join(map(str, self.where))} has {self.size}")
            if arr.shape[0] < 1:
                raise InputError(loc, "has an empty batch axis")
            return arr, True
        if arr.ndim != base_ndim:
            raise InputError(loc, f"must have {base_ndim} dimensions (or {base_ndim + 1} with a leading batch axis), "
                                  f"got shape {list(arr.shape)}")
        return arr, False


def _settings(settings: dict) -> tuple[pipeline.SolverSettings, float]:
    missing = [f for f in SETTINGS_FIELDS if f not in settings]
    if missing:
        raise InputError(("settings", missing[0]), "is missing (the service resolves it before enqueueing)")
    diag = settings["no_regularization_add_to_curvature_diag_value"]
    if diag is False or diag is None:
        diag = 0.0
    if isinstance(diag, bool) or not np.isfinite(float(diag)) or float(diag) < 0:
        raise InputError(("settings", "no_regularization_add_to_curvature_diag_value"),
                         "must be a non-negative number or false")
    flags = {f: bool(settings[f]) for f in SETTINGS_FIELDS[:4]}
    return pipeline.SolverSettings(**flags), float(diag)


class Engine:
    """Owns the compiled pipelines of one worker process."""

    def __init__(self, config: dict | EngineConfig | None = None):
        self.config = config if isinstance(config, EngineConfig) else EngineConfig.from_dict(config)
        self._compiled: set = set()

    # ----------------------------------------------------------------------------------------------- datasets
    def prepare(self, dataset: dict) -> PreparedImaging:
        kind = dataset.get("kind", "imaging")
        if kind != "imaging":
            raise InputError(("kind",), f"datasets of kind {kind!r} are not supported by this worker yet")
        return prepare_imaging(
            dataset["data"], dataset["noise_map"], dataset["psf"], dataset["mask"], dataset["pixel_scales"],
            dataset.get("origin", (0.0, 0.0)), dataset.get("over_sample_size_pixelization", 4),
            dataset.get("over_sample_size_lp", 4), dataset.get("normalize_psf", True))

    # --------------------------------------------------------------------------------------------- evaluation
    def translate(self, prepared: PreparedImaging, request: dict):
        """Request dict -> (signature without batch, params list, batch size or None, diag value)."""
        settings, diag = _settings(request.get("settings", {}))
        objects = request.get("linear_objects")
        if not isinstance(objects, (list, tuple)) or not objects:
            raise InputError(("linear_objects",), "must be a non-empty list of linear objects")
        outputs = tuple(request.get("outputs") or ())
        for i, name in enumerate(outputs):
            if name not in pipeline.ARRAYS + pipeline.MATRICES:
                raise InputError(("outputs", i), f"unknown output {name!r}; choose from {list(pipeline.ARRAYS)}")
        batch = _Batch()
        specs, params, axes = [], [], []
        for i, obj in enumerate(objects):
            spec, p, ax = self._object(prepared, obj, ("linear_objects", i), batch, settings)
            specs.append(spec)
            params.append(p)
            axes.append(ax)
        sig = pipeline.Signature(
            dataset=prepared.shape, objects=tuple(specs), settings=settings,
            nnls=NNLSOptions(self.config.nnls_jacobi_preconditioning, self.config.nnls_target_kappa,
                             self.config.nnls_max_iter),
            outputs=tuple(sorted(set(outputs))), batch=None, operator=self.config.resolved_operator,
            batch_axes=tuple(tuple(sorted((k, _freeze(v)) for k, v in ax.items())) for ax in axes))
        return sig, params, batch.size, diag

    def _object(self, prepared, obj, loc, batch: _Batch, settings):
        if not isinstance(obj, dict):
            raise InputError(loc, "must be an object with a 'type'")
        kind = obj.get("type")
        shape = prepared.shape
        n = shape.pixels
        p, ax = {}, {}

        def put(name, value, base, target=None, dtype=np.float64):
            arr, batched = batch.array(value, loc + (name,), base, dtype)
            (target if target is not None else p)[name] = arr
            (ax_reg if target is not None else ax)[name] = 0 if batched else None
            return arr

        reg = obj.get("regularization")
        reg_name, ax_reg = None, {}
        if reg is not None:
            if not isinstance(reg, dict) or reg.get("type") not in SCHEMES:
                raise InputError(loc + ("regularization", "type"),
                                 f"unknown regularization {reg.get('type') if isinstance(reg, dict) else reg!r}; "
                                 f"choose from {sorted(SCHEMES)}")
            reg_name = reg["type"]
            p["regularization"] = {}
            for field in SCHEMES[reg_name][0]:
                if field not in reg:
                    raise InputError(loc + ("regularization", field), f"is required by {reg_name} regularization")
                put(field, reg[field], 0, p["regularization"])
        if kind == "mapper":
            spec = self._mapper(prepared, obj, loc, reg_name, put, settings)
        elif kind in ("gaussians", "basis"):
            if reg_name not in (None, "constant", "zeroth"):
                raise InputError(loc + ("regularization", "type"),
                                 f"{reg_name} needs a mesh; {kind} objects accept constant or zeroth only")
            if kind == "gaussians":
                put("centre", obj.get("centre"), 1)
                put("ell_comps", obj.get("ell_comps", [0.0, 0.0]), 1)
                sig_ = put("sigmas", obj.get("sigmas"), 1)
                if p["centre"].shape[-1] != 2 or p["ell_comps"].shape[-1] != 2:
                    raise InputError(loc + ("centre",), "centre and ell_comps must be pairs")
                if sig_.shape[-1] < 1 or np.any(sig_ <= 0):
                    raise InputError(loc + ("sigmas",), "must be a non-empty list of positive widths (arcsec)")
                params_n = sig_.shape[-1]
            else:
                images = np.asarray(obj.get("images"))
                if images.ndim >= 3 and images.shape[-2:] == shape.shape_native:
                    images = images[..., ~prepared.host["mask"]]
                arr = put("images", images, 2)
                if arr.shape[-1] != n:
                    raise InputError(loc + ("images",), f"each image must have {n} slim values (the unmasked pixels) "
                                                        f"or the native shape {list(shape.shape_native)}")
                params_n = arr.shape[-2]
                if params_n < 1:
                    raise InputError(loc + ("images",), "must hold at least one image")
            spec = ObjectSpec(kind=kind, params=params_n, regularization=reg_name)
        else:
            raise InputError(loc + ("type",), f"unknown linear object type {kind!r}; choose mapper, gaussians, basis")
        if reg_name is not None:
            ax["regularization"] = ax_reg
        return spec, p, ax

    def _mapper(self, prepared, obj, loc, reg_name, put, settings) -> ObjectSpec:
        shape = prepared.shape
        n, n_sub = shape.pixels, shape.pixels * shape.sub_size_pixelization**2
        mesh = obj.get("mesh")
        if not isinstance(mesh, dict) or mesh.get("type") not in MESHES:
            given = mesh.get("type") if isinstance(mesh, dict) else mesh
            raise InputError(loc + ("mesh", "type"), f"unknown mesh {given!r}; choose from {list(MESHES)}")
        mtype = mesh["type"]
        has_grid = obj.get("source_grid") is not None
        has_slim = obj.get("source_grid_slim") is not None
        if has_grid:
            g = put("source_grid", obj["source_grid"], 2)
            if g.shape[-2:] != (n_sub, 2):
                raise InputError(loc + ("source_grid",), f"must have shape [{n_sub}, 2] (the dataset's over-sampled "
                                                         f"pixelization grid), got {list(g.shape)}")
        if has_slim:
            g = put("source_grid_slim", obj["source_grid_slim"], 2)
            if g.shape[-2:] != (n, 2):
                raise InputError(loc + ("source_grid_slim",), f"must have shape [{n}, 2] (traced pixel centres), "
                                                              f"got {list(g.shape)}")
        needs_centres = settings.use_border_relocator or mtype == "rectangular_bilinear_adapt_density"
        if has_grid and needs_centres and not has_slim and shape.sub_size_pixelization > 1:
            why = "border relocation" if settings.use_border_relocator else f"the {mtype} mesh"
            raise InputError(loc + ("source_grid_slim",), f"is required with a traced source_grid for {why} "
                                                          "(the traced pixel centres, shape [N, 2])")
        if has_grid and not has_slim and shape.sub_size_pixelization == 1:
            put("source_grid_slim", obj["source_grid"], 2)
            has_slim = True
        zeroed, areas_factor, row_offset = 0, 0.5, False
        if mtype == "delaunay":
            v = put("vertices", mesh.get("vertices"), 2)
            s = v.shape[-2]
            if v.shape[-1] != 2 or s < 3:
                raise InputError(loc + ("mesh", "vertices"), "must be an array of at least 3 (y, x) vertices")
            _check_vertices(v, loc + ("mesh", "vertices"))
            zeroed = int(mesh.get("zeroed_pixels", 0))
            if not 0 <= zeroed < s:
                raise InputError(loc + ("mesh", "zeroed_pixels"), f"must be between 0 and {s - 1}")
            areas_factor = float(mesh.get("areas_factor", 0.5))
            mesh_shape = None
        else:
            ms = mesh.get("shape")
            if not (isinstance(ms, (list, tuple)) and len(ms) == 2 and all(int(x) == x for x in ms)):
                raise InputError(loc + ("mesh", "shape"), "must be a pair [ny, nx] of integers")
            mesh_shape = (int(ms[0]), int(ms[1]))
            if min(mesh_shape) < 3:
                raise InputError(loc + ("mesh", "shape"), f"must be at least [3, 3], got {list(mesh_shape)}")
            if mtype == "rectangular_bilinear_adapt_density":
                if mesh_shape[0] != mesh_shape[1]:
                    raise InputError(loc + ("mesh", "shape"), "must be square for rectangular_bilinear_adapt_density")
                row_offset = bool(mesh.get("autoarray_row_offset", False))
            s = mesh_shape[0] * mesh_shape[1]
        if reg_name in ("constant_split", "adapt_split") and mtype != "delaunay":
            raise InputError(loc + ("regularization", "type"), f"{reg_name} needs a delaunay mesh")
        if reg_name is not None and SCHEMES[reg_name][1]:
            a = put("adapt_image", obj.get("adapt_image"), 1)
            if a.shape[-1] != n:
                raise InputError(loc + ("adapt_image",), f"must have {n} values (one per unmasked pixel)")
        return ObjectSpec(kind="mapper", params=s, mesh=mtype, mesh_shape=mesh_shape, zeroed_pixels=zeroed,
                          areas_factor=areas_factor, autoarray_row_offset=row_offset, regularization=reg_name,
                          source_grid=has_grid, source_grid_slim=has_slim)

    def bucket(self, b: int) -> int:
        for size in self.config.buckets:
            if size >= b:
                return size
        return self.config.buckets[-1]

    def evaluate(self, prepared: PreparedImaging, request: dict, cancelled=None) -> dict:
        """Run one request (a single evaluation or a batch); see docs/internals.md for the result layout.

        ``cancelled`` is an optional callable checked between batch chunks; when it returns True the evaluation
        stops and :class:`Cancelled` is raised.
        """
        t0 = time.perf_counter()
        sig, params, b, diag = self.translate(prepared, request)
        compiled = False
        if b is None:
            out, compiled = self._call(sig, prepared, params, diag)
            result = {k: (float(v) if np.ndim(v) == 0 else np.asarray(v)) for k, v in out.items()}
        else:
            chunks, start, top = [], 0, self.config.buckets[-1]
            while start < b:
                if cancelled is not None and cancelled():
                    raise Cancelled()
                size = min(top, b - start)
                padded = self.bucket(size)
                lanes = np.minimum(np.arange(start, start + padded), start + size - 1)  # pad by repeating last
                chunk_params = _take_lanes(params, sig.batch_axes, lanes)
                out, c = self._call(_with_batch(sig, padded), prepared, chunk_params, diag)
                compiled |= c
                chunks.append({k: np.asarray(v)[:size] for k, v in out.items()})
                start += size
            result = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        result["batch_size"] = b
        result["compiled"] = compiled
        result["solver_certified"] = np.asarray(result["solver_certified"]).tolist()
        result["compute_ms"] = (time.perf_counter() - t0) * 1e3
        return result

    def _call(self, sig, prepared, params, diag):
        key = sig
        new = key not in self._compiled
        jparams = jax.tree_util.tree_map(jnp.asarray, params)
        out = pipeline.evaluate(sig, prepared.arrays, jparams, jnp.float64(diag))
        out = jax.device_get(out)
        self._compiled.add(key)
        return out, new

    def warm(self, dataset: dict, request: dict) -> dict:
        """Compile (or load from the persistent cache) the pipeline for this dataset/request shape."""
        return self.evaluate(self.prepare(dataset), request)


def _check_vertices(vertices: np.ndarray, loc):
    """Qhull cannot triangulate fewer than three affinely independent points: refuse such vertex sets (each batch
    element) with a clear message instead of failing inside the host callback."""
    sets = vertices.reshape(-1, *vertices.shape[-2:])
    for b, v in enumerate(sets):
        centred = v - v.mean(axis=0)
        scale = np.abs(centred).max()
        if scale == 0 or np.linalg.matrix_rank(centred / scale, tol=1e-10) < 2:
            where = f" (batch element {b})" if vertices.ndim == 3 else ""
            raise InputError(loc, f"are collinear or coincident{where}: a Delaunay mesh needs at least three "
                                  "vertices that are not on one line")


class Cancelled(Exception):
    """The job was cancelled between two batch chunks."""


def _freeze(v):
    return tuple(sorted(v.items())) if isinstance(v, dict) else v


def _with_batch(sig, b):
    from dataclasses import replace

    return replace(sig, batch=b)


def _take_lanes(params, batch_axes, lanes):
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
