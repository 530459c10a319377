"""Checks of request bodies that go beyond types, each error naming its field and saying what is wrong.

* :func:`check_imaging` validates a dataset at registration (values inside the mask, shapes, PSF).
* :func:`check_inversion` validates an inversion request against the dataset's metadata only (no arrays of the
  dataset are loaded): shapes of grids and images, mesh sizes, batch axes. It returns the batch size.
* :func:`errors_from_pydantic` turns a pydantic ``ValidationError`` into the same ``(loc, msg)`` list.

Locations start with ``"body"`` as in FastAPI, e.g. ``["body", "linear_objects", 0, "source_grid"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

if TYPE_CHECKING:
    from .jobs import JobRequest

from .datasets import DatasetMeta
from .models import (
    UNION_TAGS,
    Basis,
    Delaunay,
    Gaussians,
    ImagingDataset,
    InversionRequest,
    Mapper,
    RectangularBilinearAdaptDensity,
    ResolvedSettings,
)
from .vocabulary import (
    ADAPTIVE_REGULARIZATIONS,
    CHAIN_REGULARIZATIONS,
    NON_NEGATIVE_PARAMETERS,
    POSITIVE_PARAMETERS,
    SPLIT_REGULARIZATIONS,
)

Loc = tuple[str | int, ...]
BODY: Loc = ("body",)


class InvalidInput(Exception):
    """A request that cannot be evaluated; ``errors`` is a list of ``(loc, msg)``. Answered 422."""

    def __init__(self, errors: Sequence[tuple[Loc, str]], status: int = 422):
        self.errors = [(tuple(loc), msg) for loc, msg in errors]
        self.status = status
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in self.errors))


# --------------------------------------------------------------------------------------------------- pydantic
def _clean_loc(loc: Sequence[Any]) -> list[str | int]:
    """Drop discriminated-union tags and pydantic's internal suffixes from an error location."""
    out: list[str | int] = []
    for part in loc:
        prev = out[-1] if out else None
        is_tag = isinstance(part, str) and part in UNION_TAGS and (
            isinstance(prev, int) or prev in ("mesh", "regularization")
        )
        if is_tag or (isinstance(part, str) and (part.startswith("function-") or part in ("nullable",))):
            continue
        out.append(part)
    return out


def _message(err: dict[str, Any]) -> str:
    kind, msg, loc = err.get("type", ""), err.get("msg", ""), err.get("loc", ())
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r}" if loc else "unknown field"
    if kind == "missing":
        return "field required"
    return msg.removeprefix("Value error, ")


def errors_from_pydantic(exc: ValidationError, prefix: Loc = BODY) -> list[tuple[Loc, str]]:
    """``(loc, msg)`` pairs of a pydantic error, locations prefixed (default ``body``)."""
    return [(prefix + tuple(_clean_loc(e["loc"])), _message(e)) for e in exc.errors(include_url=False)]


# --------------------------------------------------------------------------------------------------- datasets
def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def check_imaging(ds: ImagingDataset, max_sub_pixels: int | None = None) -> None:
    """Raise :class:`InvalidInput` listing every problem of an imaging dataset (nothing is fixed silently).

    ``max_sub_pixels`` bounds the over-sampled grids (unmasked pixels x over_sample_size²) a worker must hold.
    """
    errors: list[tuple[Loc, str]] = []
    if ds.data.ndim != 2:
        raise InvalidInput([(BODY + ("data",), f"must be a 2-D image (Ny, Nx), got shape {list(ds.data.shape)}")])
    shape = ds.data.shape
    for name in ("noise_map", "mask"):
        arr = getattr(ds, name)
        if arr.shape != shape:
            errors.append((BODY + (name,), f"has shape {list(arr.shape)} but data has shape {list(shape)}"))
    psf = ds.psf
    if psf.ndim != 2:
        errors.append((BODY + ("psf",), f"must be a 2-D kernel, got shape {list(psf.shape)}"))
    elif psf.shape[0] % 2 == 0 or psf.shape[1] % 2 == 0 or psf.size == 0:
        errors.append((BODY + ("psf",), f"must have odd sides, got shape {list(psf.shape)}"))
    elif not np.isfinite(psf).all():
        errors.append((BODY + ("psf",), f"has {_count(int((~np.isfinite(psf)).sum()), 'non-finite value')}"))
    elif float(np.sum(psf, dtype=np.float64)) == 0.0:
        errors.append((BODY + ("psf",), "sums to zero, so it cannot be normalised"))
    if ds.pixel_scales[0] <= 0 or ds.pixel_scales[1] <= 0:
        errors.append((BODY + ("pixel_scales",), "must be positive"))
    if errors:
        raise InvalidInput(errors)

    inside = ~ds.mask
    if not inside.any():
        raise InvalidInput([(BODY + ("mask",), "masks every pixel; at least one pixel must be unmasked")])
    data_in = ds.data[inside]
    bad = int((~np.isfinite(data_in)).sum())
    if bad:
        errors.append((BODY + ("data",), f"has {_count(bad, 'non-finite value')} inside the mask"))
    noise_in = ds.noise_map[inside]
    nonfinite = int((~np.isfinite(noise_in)).sum())
    nonpositive = int((noise_in <= 0).sum())
    if nonfinite:
        errors.append((BODY + ("noise_map",), f"has {_count(nonfinite, 'non-finite value')} inside the mask"))
    if nonpositive:
        errors.append((BODY + ("noise_map",), f"has {_count(nonpositive, 'non-positive value')} inside the mask"))
    if max_sub_pixels is not None:
        pixels = int(inside.sum())
        for name in ("over_sample_size_pixelization", "over_sample_size_lp"):
            size = getattr(ds, name)
            if pixels * size * size > max_sub_pixels:
                errors.append((BODY + (name,), f"{pixels} unmasked pixels x {size}² sub-pixels exceed this server's "
                                               f"limit of {max_sub_pixels} sub-pixels; use a smaller over-sampling"))
    if errors:
        raise InvalidInput(errors)


# --------------------------------------------------------------------------------------------------- inversions
class _Batch:
    """Collects the leading batch axes of batched fields and checks they agree."""

    def __init__(self) -> None:
        self.sizes: list[tuple[Loc, int]] = []

    def add(self, loc: Loc, size: int) -> None:
        self.sizes.append((loc, size))

    def resolve(self, max_batch: int) -> tuple[int | None, list[tuple[Loc, str]]]:
        if not self.sizes:
            return None, []
        first_loc, b = self.sizes[0]
        where = ".".join(str(p) for p in first_loc if p != "body")
        errors = [
            (loc, f"has a batch axis of length {n} but {where} has {b}; all batched fields must agree")
            for loc, n in self.sizes[1:]
            if n != b
        ]
        if b < 1:
            errors.append((first_loc, "has an empty batch axis (B = 0)"))
        elif b > max_batch:
            errors.append((first_loc, f"batch of {b} exceeds this server's limit of {max_batch}"))
        return b, errors


def _shaped(
    arr: np.ndarray, loc: Loc, core: tuple[int | None, ...], label: str, batch: _Batch, errors: list
) -> bool:
    """Check ``arr`` has shape ``core`` (None = any length) or ``(B,) + core``; register B. False on error."""
    nd = len(core)
    if arr.ndim not in (nd, nd + 1):
        errors.append((loc, f"must have shape {label} (or with a leading batch axis), got {list(arr.shape)}"))
        return False
    tail = arr.shape[-nd:] if nd else ()
    if any(c is not None and c != t for c, t in zip(core, tail, strict=True)):
        errors.append((loc, f"must have shape {label} (or with a leading batch axis), got {list(arr.shape)}"))
        return False
    if arr.ndim == nd + 1:
        batch.add(loc, arr.shape[0])
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        errors.append((loc, f"has {_count(int((~np.isfinite(arr)).sum()), 'non-finite value')}"))
        return False
    return True


def _flat_vertex_sets(vertices: np.ndarray) -> list[int]:
    """Indices of the vertex sets ((S, 2) or (B, S, 2)) whose points are (numerically) collinear or coincident.

    The smaller singular value of the centred vertices, relative to the larger one, measures their spread
    across the line that best fits them; the triangulation fails without such spread.
    """
    v = vertices if vertices.ndim == 3 else vertices[None]
    centred = v - v.mean(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        sv = np.linalg.svd(centred, compute_uv=False)
        flat = ~(sv[:, 1] > 1e-9 * np.maximum(sv[:, 0], np.finfo(float).tiny))
    return [int(i) for i in np.flatnonzero(flat)]


def _check_regularization(reg: Any, loc: Loc, batch: _Batch, errors: list, kind: str | None = None) -> None:
    """Batch axes and values of a regularization; ``kind``: the type of a linear object without a mesh."""
    if reg is None:
        return
    if kind is not None and reg.type not in CHAIN_REGULARIZATIONS:
        errors.append((loc + ("type",), f"{reg.type} needs a mesh; {kind} objects accept "
                                        f"{' or '.join(sorted(CHAIN_REGULARIZATIONS))} only"))
    for name in type(reg).model_fields:
        value = getattr(reg, name)
        if isinstance(value, np.ndarray):
            batch.add(loc + (name,), value.shape[0])
        if name in NON_NEGATIVE_PARAMETERS or name in POSITIVE_PARAMETERS:
            _check_sign(value, loc + (name,), name in POSITIVE_PARAMETERS, errors)


def _check_sign(value: float | np.ndarray, loc: Loc, positive: bool, errors: list) -> None:
    """A parameter (a number, or one per batch lane: shape (B,)) that must be >= 0, or > 0 when ``positive``;
    the error of a batched one names its first offending lane."""
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    bad = np.flatnonzero(values <= 0 if positive else values < 0)
    if not bad.size:
        return
    need = "positive" if positive else "non-negative (autoarray refuses negative coefficients)"
    if np.ndim(value) == 0:
        errors.append((loc, f"must be {need}, got {float(value)}"))
        return
    more = f" (and {_count(bad.size - 1, 'more lane')})" if bad.size > 1 else ""
    errors.append((loc, f"must be {need}: lane {int(bad[0])} is {float(values[bad[0]])}{more}"))


def _check_mapper(obj: Mapper, loc: Loc, meta: DatasetMeta, settings: ResolvedSettings, batch: _Batch,
                  errors: list) -> None:
    n_sub = meta.sub_pixels_pixelization
    mesh = obj.mesh
    if obj.source_grid is not None:
        _shaped(obj.source_grid, loc + ("source_grid",), (n_sub, 2),
                f"(N_sub, 2) = ({n_sub}, 2), the dataset's over-sampled pixelization grid", batch, errors)
        # the traced pixel centres cannot be recovered from a traced over-sampled grid
        adapt_density = isinstance(mesh, RectangularBilinearAdaptDensity)
        if obj.source_grid_slim is None and meta.over_sample_size_pixelization > 1 and (
                settings.use_border_relocator or adapt_density):
            why = "border relocation" if settings.use_border_relocator else f"the {mesh.type} mesh"
            errors.append((loc + ("source_grid_slim",), f"is required with a traced source_grid for {why} (the "
                                                        "traced pixel centres, shape [N, 2])"))
    if obj.source_grid_slim is not None:
        _shaped(obj.source_grid_slim, loc + ("source_grid_slim",), (meta.pixels, 2),
                f"(N, 2) = ({meta.pixels}, 2), the traced pixel centres", batch, errors)
    if isinstance(mesh, Delaunay):
        vloc = loc + ("mesh", "vertices")
        if _shaped(mesh.vertices, vloc, (None, 2), "(S, 2)", batch, errors):
            s = mesh.vertices.shape[-2]
            if s < 3:
                errors.append((vloc, f"a Delaunay mesh needs at least 3 vertices, got {s}"))
            elif mesh.zeroed_pixels >= s:
                errors.append((loc + ("mesh", "zeroed_pixels"),
                               f"must be smaller than the number of vertices ({s}), got {mesh.zeroed_pixels}"))
            else:
                flat = _flat_vertex_sets(mesh.vertices)
                if flat:
                    more = "..." if len(flat) > 5 else ""
                    which = "" if mesh.vertices.ndim == 2 else f" (batch elements {flat[:5]}{more})"
                    errors.append((vloc, f"are collinear or coincident (all on one line or one point){which}; a "
                                         "Delaunay mesh needs vertices that span an area"))
    reg = obj.regularization
    if reg is not None and reg.type in SPLIT_REGULARIZATIONS and not isinstance(mesh, Delaunay):
        errors.append((loc + ("regularization",), f"{reg.type} needs a delaunay mesh, not {mesh.type}"))
    if obj.adapt_image is not None:
        _shaped(obj.adapt_image, loc + ("adapt_image",), (meta.pixels,), f"(N,) = ({meta.pixels},)", batch, errors)
    elif reg is not None and reg.type in ADAPTIVE_REGULARIZATIONS:
        errors.append((loc + ("adapt_image",), f"is required by the {reg.type} regularization"))
    _check_regularization(reg, loc + ("regularization",), batch, errors)


def _check_gaussians(obj: Gaussians, loc: Loc, batch: _Batch, errors: list) -> None:
    _shaped(obj.centre, loc + ("centre",), (2,), "[y, x]", batch, errors)
    _shaped(obj.ell_comps, loc + ("ell_comps",), (2,), "[e1, e2]", batch, errors)
    if _shaped(obj.sigmas, loc + ("sigmas",), (None,), "(n,)", batch, errors):
        if obj.sigmas.shape[-1] < 1:
            errors.append((loc + ("sigmas",), "needs at least one Gaussian"))
        elif np.any(obj.sigmas <= 0):
            errors.append((loc + ("sigmas",), "must be positive"))
    _check_regularization(obj.regularization, loc + ("regularization",), batch, errors, obj.type)


def _check_basis(obj: Basis, loc: Loc, meta: DatasetMeta, batch: _Batch, errors: list) -> None:
    images, iloc = obj.images, loc + ("images",)
    ny, nx = meta.shape_native
    n = meta.pixels
    native = images.ndim in (3, 4) and images.shape[-2:] == (ny, nx)
    core: tuple[int | None, ...] = (None, ny, nx) if native else (None, n)
    label = f"(n, N) = (n, {n}) or (n, Ny, Nx) = (n, {ny}, {nx})"
    if _shaped(images, iloc, core, label, batch, errors) and images.shape[-len(core)] < 1:
        errors.append((iloc, "needs at least one image"))
    _check_regularization(obj.regularization, loc + ("regularization",), batch, errors, obj.type)


def check_inversion(req: InversionRequest | JobRequest, meta: DatasetMeta, max_batch: int,
                    settings: ResolvedSettings) -> int | None:
    """Validate ``req`` against ``meta`` and the settings in force; return the batch size B (None when nothing is
    batched). Raises :class:`InvalidInput` listing every problem found.

    This is the one check of an inversion request beyond its types: the worker trusts what passed it.
    """
    errors: list[tuple[Loc, str]] = []
    batch = _Batch()
    for i, obj in enumerate(req.linear_objects):
        loc = BODY + ("linear_objects", i)
        if isinstance(obj, Mapper):
            _check_mapper(obj, loc, meta, settings, batch, errors)
        elif isinstance(obj, Gaussians):
            _check_gaussians(obj, loc, batch, errors)
        else:
            _check_basis(obj, loc, meta, batch, errors)
    size, batch_errors = batch.resolve(max_batch)
    errors.extend(batch_errors)
    if errors:
        raise InvalidInput(errors)
    return size
