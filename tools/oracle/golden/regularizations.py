"""The regularization schemes of the cases: their API dicts (autoarray's constructor argument names) and the autoarray
objects built from them."""

from __future__ import annotations

from typing import Any

import autoarray as aa

# One parameter set per scheme, in the order the mesh x regularization cases are generated; None is no regularization.
REGULARIZATIONS = {
    "constant": {"type": "constant", "coefficient": 1.5},
    "zeroth": {"type": "zeroth", "coefficient": 0.3},
    "adapt": {"type": "adapt", "inner_coefficient": 0.5, "outer_coefficient": 2.0, "signal_scale": 1.2},
    "constant_split": {"type": "constant_split", "coefficient": 1.2},
    "adapt_split": {"type": "adapt_split", "inner_coefficient": 0.5, "outer_coefficient": 2.0, "signal_scale": 1.2},
    "brightness_zeroth": {"type": "brightness_zeroth", "coefficient": 0.7, "signal_scale": 0.8},
    "gaussian_kernel": {"type": "gaussian_kernel", "coefficient": 0.8, "scale": 0.4},
    "exponential_kernel": {"type": "exponential_kernel", "coefficient": 0.8, "scale": 0.5},
    "null": None,
}
# Schemes whose weights come from the pixel signals of an adapt image.
NEEDS_ADAPT_IMAGE = {"adapt", "adapt_split", "brightness_zeroth"}
# Schemes that regularize across a Delaunay/KNN neighbourhood and need such a mesh.
SPLIT_SCHEMES = {"constant_split", "adapt_split"}
# Written into MANIFEST.json next to a refused case that uses the scheme.
REFUSAL_NOTES = {
    "brightness_zeroth": "BrightnessZeroth on its own gives H = diag((coefficient*(1-p_i))**2) with pixel signals "
    "p_i normalised to max 1, so H_ii = 0 exactly at the brightest pixel: H is singular and the Cholesky in "
    "log_det_regularization_matrix_term raises (F, H, C and the reconstruction are computed fine). autoarray only "
    "uses it inside AdaptSplitZeroth. The service should refuse it alone (or document a non-finite evidence).",
}


def api_regularization(name: str) -> dict | None:
    """The linear object's "regularization" field for a scheme name (a fresh dict; None for "null")."""
    reg = REGULARIZATIONS[name]
    return None if reg is None else dict(reg)


def regularization_from(reg: dict | None, lib: Any = aa) -> Any:
    """The autoarray (or autogalaxy, lib=ag) regularization object for an API regularization dict."""
    if reg is None:
        return None
    kwargs = {k: v for k, v in reg.items() if k != "type"}
    cls = {
        "constant": lib.reg.Constant,
        "zeroth": lib.reg.Zeroth,
        "adapt": lib.reg.Adapt,
        "constant_split": lib.reg.ConstantSplit,
        "adapt_split": lib.reg.AdaptSplit,
        "brightness_zeroth": lib.reg.BrightnessZeroth,
        "gaussian_kernel": lib.reg.GaussianKernel,
        "exponential_kernel": lib.reg.ExponentialKernel,
    }[reg["type"]]
    return cls(**kwargs)
