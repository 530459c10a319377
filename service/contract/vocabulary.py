"""The one definition of every name the API and the workers share: outputs, scalars, meshes, regularizations.

Plain Python (no pydantic, no JAX), so that the request models (:mod:`service.contract.models`), the worker's
translator (``worker/translate.py``) and the numerical core (``worker/inversion``) all import the same tuples. Adding a
mesh or a regularization starts here; ``docs/internals.md`` ("Adding a mesh or a regularization") lists the rest.

Names are autoarray's: its class names in snake case (``aa.mesh.RectangularUniform`` -> ``rectangular_uniform``,
``aa.reg.AdaptSplit`` -> ``adapt_split``) and its result attributes (``figure_of_merit``,
``mapped_reconstructed_image``).
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------------------------------- results
#: The scalars of every answer (floats, or arrays of shape (B,) for a batch), in the order they are documented.
SCALAR_NAMES: tuple[str, ...] = (
    "figure_of_merit",
    "log_evidence",
    "log_likelihood",
    "chi_squared",
    "regularization_term",
    "log_det_curvature_reg_matrix_term",
    "log_det_regularization_matrix_term",
    "noise_normalization",
)

#: Arrays a request may ask for in ``outputs`` (slim order; (B, ...) for a batch).
OUTPUT_NAMES: tuple[str, ...] = (
    "reconstruction",
    "reconstruction_noise_map",
    "model_image",
    "residual_map",
    "normalized_residual_map",
    "chi_squared_map",
    "mapped_reconstructed_image",
)

#: The linear system's matrices: the engine returns them for tests and debugging, never over HTTP.
MATRIX_NAMES: tuple[str, ...] = (
    "mapping_matrix",
    "blurred_mapping_matrix",
    "data_vector",
    "curvature_matrix",
    "regularization_matrix",
)

# --------------------------------------------------------------------------------------------------- meshes
RECTANGULAR_UNIFORM = "rectangular_uniform"
RECTANGULAR_BILINEAR_ADAPT_DENSITY = "rectangular_bilinear_adapt_density"
DELAUNAY = "delaunay"

#: Every mesh type a mapper may use.
MESH_TYPES: tuple[str, ...] = (RECTANGULAR_UNIFORM, RECTANGULAR_BILINEAR_ADAPT_DENSITY, DELAUNAY)
#: Meshes whose pixels are the vertices of a triangulation (their neighbour graph depends on traced input).
TRIANGULATED_MESHES: frozenset[str] = frozenset({DELAUNAY})

# --------------------------------------------------------------------------------------------------- regularizations
#: Default of every regularization parameter that the request leaves out.
DEFAULT_REGULARIZATION_PARAMETER = 1.0


@dataclass(frozen=True)
class RegularizationScheme:
    """What the service must know of one regularization scheme (autoarray's ``aa.reg`` class of that name).

    ``parameters``: its numeric parameters, each a number or one number per batch element;
    ``adaptive``: it weights pixels by the mapper's ``adapt_image`` (needs one);
    ``split``: it regularizes along the split cross of each pixel (a triangulated mesh only);
    ``kernel``: it is a covariance kernel over the mesh pixel centres;
    ``chain``: it has a meaning for linear objects without a mesh (light profiles, basis images), where the
    neighbours of parameter i are i - 1 and i + 1;
    ``summary``: one line for the OpenAPI document.
    """

    parameters: tuple[str, ...]
    summary: str
    adaptive: bool = False
    split: bool = False
    kernel: bool = False
    chain: bool = False


REGULARIZATIONS: dict[str, RegularizationScheme] = {
    "constant": RegularizationScheme(
        ("coefficient",), "H = coefficient² × graph Laplacian + 1e-8 I (``aa.reg.Constant``).", chain=True),
    "zeroth": RegularizationScheme(("coefficient",), "H = coefficient² I (``aa.reg.Zeroth``).", chain=True),
    "adapt": RegularizationScheme(
        ("inner_coefficient", "outer_coefficient", "signal_scale"),
        "Signal-weighted Laplacian (``aa.reg.Adapt``); needs ``adapt_image``.", adaptive=True),
    "constant_split": RegularizationScheme(
        ("coefficient",), "Split-cross scheme with a constant weight (``aa.reg.ConstantSplit``); Delaunay meshes only.",
        split=True),
    "adapt_split": RegularizationScheme(
        ("inner_coefficient", "outer_coefficient", "signal_scale"),
        "Split-cross scheme with signal weights (``aa.reg.AdaptSplit``); Delaunay meshes only; needs ``adapt_image``.",
        adaptive=True, split=True),
    "brightness_zeroth": RegularizationScheme(
        ("coefficient", "signal_scale"),
        "H = diag((coefficient (1 - p_i))²) (``aa.reg.BrightnessZeroth``); needs ``adapt_image``.", adaptive=True),
    "gaussian_kernel": RegularizationScheme(
        ("coefficient", "scale"),
        "H = coefficient × C⁻¹, C_ij = exp(-|x_i - x_j|² / 2 scale²) (``aa.reg.GaussianKernel``).", kernel=True),
    "exponential_kernel": RegularizationScheme(
        ("coefficient", "scale"),
        "H = coefficient × C⁻¹, C_ij = exp(-|x_i - x_j| / scale) (``aa.reg.ExponentialKernel``).", kernel=True),
}
#: Parameters that must be >= 0: autoarray 2026.10.26.1 refuses negative (and non-finite) coefficients, where the
#: formulas would otherwise square the sign away or give NaN. ``signal_scale`` (an exponent; autoarray does not
#: check it) need only be finite, as every parameter must.
NON_NEGATIVE_PARAMETERS: frozenset[str] = frozenset({"coefficient", "inner_coefficient", "outer_coefficient"})
#: Parameters that must be > 0: the length scale of the kernel schemes.
POSITIVE_PARAMETERS: frozenset[str] = frozenset({"scale"})
ADAPTIVE_REGULARIZATIONS: frozenset[str] = frozenset(n for n, s in REGULARIZATIONS.items() if s.adaptive)
SPLIT_REGULARIZATIONS: frozenset[str] = frozenset(n for n, s in REGULARIZATIONS.items() if s.split)
CHAIN_REGULARIZATIONS: frozenset[str] = frozenset(n for n, s in REGULARIZATIONS.items() if s.chain)

# --------------------------------------------------------------------------------------------------- solver
#: autoarray's NNLS defaults (its config ``inversion.nnls_jacobi_preconditioning`` / ``nnls_target_kappa``) and
#: the iteration cap of the active-set solve before it hands over to jaxnnls.
NNLS_JACOBI_PRECONDITIONING = True
NNLS_TARGET_KAPPA = 1.0e-11
NNLS_MAX_ITER = 40
