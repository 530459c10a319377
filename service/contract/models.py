"""Request models of the HTTP contract (openapi/openapi.json): datasets, linear objects, settings, inversion requests.

Names follow autoarray (meshes and regularizations are autoarray's class names in snake case). These models do
the type-level parsing; checks that need the dataset (shapes, batch axes, values inside the mask) live in
:mod:`service.contract.validation` so that their errors can name the field and the expected shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from . import vocabulary
from .types import BatchNumber, BoolArray, FloatArray, ScalePair

MAX_OVER_SAMPLE = 32


class _Strict(BaseModel):
    """Base for contract models: unknown fields are errors, numpy arrays allowed."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


# --------------------------------------------------------------------------------------------------- settings
class Settings(_Strict):
    """autoarray's ``Settings``: every field optional; omitted fields are resolved from the server configuration."""

    use_mixed_precision: bool | None = Field(None, description="single precision on the mapping/curvature steps")
    use_positive_only_solver: bool | None = Field(None, description="non-negative least squares for the solve")
    use_edge_zeroed_pixels: bool | None = Field(None, description="force edge source pixels to zero (NNLS only)")
    use_border_relocator: bool | None = Field(None, description="relocate traced grid points onto the mask border")
    no_regularization_add_to_curvature_diag_value: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="added to the curvature diagonal of unregularized objects"
    )


class ResolvedSettings(_Strict):
    """The settings actually used for an evaluation: every field explicit."""

    use_mixed_precision: bool
    use_positive_only_solver: bool
    use_edge_zeroed_pixels: bool
    use_border_relocator: bool
    no_regularization_add_to_curvature_diag_value: float = Field(ge=0, allow_inf_nan=False)


SETTINGS_FIELDS: tuple[str, ...] = tuple(Settings.model_fields)


# --------------------------------------------------------------------------------------------------- datasets
class ImagingDataset(_Strict):
    """``POST /datasets`` body for an imaging dataset (native arrays, row 0 = top, mask true = excluded)."""

    kind: Literal["imaging"]
    data: FloatArray = Field(description="(Ny, Nx) image")
    noise_map: FloatArray = Field(description="(Ny, Nx), > 0 and finite on every unmasked pixel")
    psf: FloatArray = Field(description="(Ky, Kx) convolution kernel, odd sides, row 0 = top")
    mask: BoolArray = Field(description="(Ny, Nx) booleans, true = masked (excluded)")
    pixel_scales: ScalePair = Field(description="arcsec per pixel: a number or [sy, sx]")
    origin: ScalePair = Field((0.0, 0.0), description="[y, x] of the array centre, arcsec")
    over_sample_size_pixelization: int = Field(4, ge=1, le=MAX_OVER_SAMPLE, description="sub-grid size for mappers")
    over_sample_size_lp: int = Field(4, ge=1, le=MAX_OVER_SAMPLE, description="sub-grid size for light profiles")
    normalize_psf: bool = Field(True, description="divide the kernel by its sum")


# --------------------------------------------------------------------------------------------------- meshes
def _at_least_3x3(shape: tuple[int, int]) -> tuple[int, int]:
    if shape[0] < 3 or shape[1] < 3:
        raise ValueError(f"mesh shape must be at least 3x3, got {shape[0]}x{shape[1]}")
    return shape


class RectangularUniform(_Strict):
    """A uniform rectangular mesh over the bounding box of the traced grid (``aa.mesh.RectangularUniform``)."""

    type: Literal[vocabulary.RECTANGULAR_UNIFORM]
    shape: tuple[int, int] = Field(description="[ny, nx] source pixels, at least 3x3")

    @field_validator("shape")
    @classmethod
    def _min_shape(cls, shape: tuple[int, int]) -> tuple[int, int]:
        return _at_least_3x3(shape)


class RectangularBilinearAdaptDensity(_Strict):
    """A rectangular mesh uniform in the traced grid's CDF (``aa.mesh.RectangularBilinearAdaptDensity``)."""

    type: Literal[vocabulary.RECTANGULAR_BILINEAR_ADAPT_DENSITY]
    shape: tuple[int, int] = Field(description="[n, n] source pixels, square, at least 3x3")
    autoarray_row_offset: bool = Field(False, description="reproduce autoarray's one-row offset (spec Appendix B.1)")

    @field_validator("shape")
    @classmethod
    def _square(cls, shape: tuple[int, int]) -> tuple[int, int]:
        _at_least_3x3(shape)
        if shape[0] != shape[1]:
            raise ValueError(f"this mesh must be square (n x n), got {shape[0]}x{shape[1]}")
        return shape


class Delaunay(_Strict):
    """A Delaunay triangulation of source-plane vertices (``aa.mesh.Delaunay``)."""

    type: Literal[vocabulary.DELAUNAY]
    vertices: FloatArray = Field(description="(S, 2) or batched (B, S, 2) vertices (y, x) in the source plane")
    zeroed_pixels: int = Field(0, ge=0, description="the last `zeroed_pixels` vertices form the zeroed edge ring")
    areas_factor: float = Field(0.5, gt=0, allow_inf_nan=False, description="split-point distance factor")


Mesh = Annotated[RectangularUniform | RectangularBilinearAdaptDensity | Delaunay, Field(discriminator="type")]


# --------------------------------------------------------------------------------------------------- regularizations
def _model_name(name: str) -> str:
    """``constant_split`` -> ``ConstantSplit``: autoarray's class name, also the schema's title."""
    return "".join(part.capitalize() for part in name.split("_"))


def _regularization_model(name: str, scheme: vocabulary.RegularizationScheme) -> type[_Strict]:
    """The request model of one regularization scheme: its ``type`` tag and its numeric parameters."""
    fields: dict[str, Any] = {"type": (Literal[name], ...)}
    fields.update({p: (BatchNumber, vocabulary.DEFAULT_REGULARIZATION_PARAMETER) for p in scheme.parameters})
    return create_model(_model_name(name), __base__=_Strict, __doc__=scheme.summary, __module__=__name__, **fields)


#: One request model per scheme of :data:`service.contract.vocabulary.REGULARIZATIONS`, by name.
REGULARIZATION_MODELS: dict[str, type[_Strict]] = {
    name: _regularization_model(name, scheme) for name, scheme in vocabulary.REGULARIZATIONS.items()
}
Regularization = Annotated[Union[tuple(REGULARIZATION_MODELS.values())], Field(discriminator="type")]  # noqa: UP007
ADAPTIVE_REGULARIZATIONS = vocabulary.ADAPTIVE_REGULARIZATIONS
SPLIT_REGULARIZATIONS = vocabulary.SPLIT_REGULARIZATIONS


# --------------------------------------------------------------------------------------------------- linear objects
class Mapper(_Strict):
    """A pixelization: the dataset's over-sampled grid (traced by the client) mapped onto a source mesh."""

    type: Literal["mapper"]
    mesh: Mesh
    source_grid: FloatArray | None = Field(
        None, description="(N_sub, 2) or (B, N_sub, 2) traced over-sampled grid, slim sub-pixel order; "
        "omitted = the image-plane grid"
    )
    source_grid_slim: FloatArray | None = Field(
        None, description="(N, 2) or (B, N, 2) traced pixel centres; needed with a traced over-sampled source_grid "
        "for border relocation and the adapt-density mesh"
    )
    regularization: Regularization | None = None
    adapt_image: FloatArray | None = Field(None, description="(N,) or (B, N) adapt image for adaptive schemes")


class Gaussians(_Strict):
    """A multi-Gaussian expansion on the light-profile grid: one linear parameter per Gaussian."""

    type: Literal["gaussians"]
    centre: FloatArray = Field(description="[y, x] or (B, 2)")
    ell_comps: FloatArray = Field(description="[e1, e2] or (B, 2)")
    sigmas: FloatArray = Field(description="(n,) or (B, n) widths in arcsec")
    regularization: Regularization | None = None


class Basis(_Strict):
    """Arbitrary linear functions given as images (unblurred; the service applies the PSF)."""

    type: Literal["basis"]
    images: FloatArray = Field(description="(n, N) slim or (n, Ny, Nx) native, optionally with a leading B axis")
    regularization: Regularization | None = None


LinearObject = Annotated[Mapper | Gaussians | Basis, Field(discriminator="type")]

OutputName = Literal[vocabulary.OUTPUT_NAMES]  # type: ignore[valid-type]
OUTPUT_NAMES: tuple[str, ...] = vocabulary.OUTPUT_NAMES

#: Tags of the discriminated unions; they appear in pydantic error locations and are removed from them.
UNION_TAGS = frozenset({"mapper", "gaussians", "basis", *vocabulary.MESH_TYPES, *vocabulary.REGULARIZATIONS})


#: Most entries of ``linear_objects`` and of ``outputs`` in one request: a longer list is one error, never one per
#: entry (checked in validation, not in the schema).
MAX_LINEAR_OBJECTS = 256
MAX_OUTPUTS = 64


class InversionRequest(_Strict):
    """``POST /inversions`` body: linear objects solved together against a registered dataset."""

    dataset_id: str = Field(min_length=1, max_length=128, description="id returned by POST /datasets")
    linear_objects: list[LinearObject] = Field(min_length=1, description="parameter vector = concatenation")
    settings: Settings = Field(default_factory=Settings, description="omitted fields come from the server config")
    outputs: list[OutputName] = Field(default_factory=list, description="arrays to return besides the scalars")

    @field_validator("linear_objects", "outputs", mode="before")
    @classmethod
    def _bounded(cls, value: Any, info: ValidationInfo) -> Any:
        limit = MAX_LINEAR_OBJECTS if info.field_name == "linear_objects" else MAX_OUTPUTS
        if isinstance(value, (list, tuple)) and len(value) > limit:
            raise ValueError(f"has {len(value)} entries; at most {limit} are accepted")
        return value

    @field_validator("outputs")
    @classmethod
    def _unique(cls, outputs: list[str]) -> list[str]:
        return list(dict.fromkeys(outputs))


def resolve_settings(requested: Settings, defaults: ResolvedSettings) -> ResolvedSettings:
    """Field by field: the request's value where given, else the server default."""
    given = requested.model_dump(exclude_none=True)
    return ResolvedSettings(**{**defaults.model_dump(), **given})
