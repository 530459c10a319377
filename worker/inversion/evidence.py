"""The Bayesian evidence of a solved system, and the arrays a request may ask for (docs/maths.md#evidence).

With s the reconstruction, "red" the parameters of :attr:`Signature.reduced_objects` and the dataset kind's
residuals (:mod:`~worker.inversion.kinds`):

    χ² = Σ ((d − B s)/σ)²,   G = s_redᵀ H_red s_red,
    ln ε = −½ [χ² + G + ln det C_red − ln det H_red + Σ ln 2πσ²],   ln L = −½ [χ² + Σ ln 2πσ²].

With nothing regularized G and both log dets are 0 and ln ε = ln L. The figure of merit is ln ε.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np

from . import kinds, solvers
from .regularization import constant_laplacian_logdet_spectrum
from .signature import Signature

if TYPE_CHECKING:
    from .linear_objects import ObjectSpec
    from .system import LinearSystem


def log_det_regularization_block(spec: ObjectSpec, block, p: dict):
    """() float64 ln det of one object's (S, S) regularization ``block`` H_i; ``p``: the object's parameters.

    For constant regularization on a fixed graph the spectrum μ of the unscaled Laplacian is precomputed per mesh
    shape: ln det(λ²L + 1e-8 I) = Σ ln(λ²μ + 1e-8), no factorisation. Otherwise 2 Σ ln diag(chol(H_i)). A
    singular H_i (e.g. brightness_zeroth alone, exactly zero at the brightest pixel) has no evidence: NaN, not
    the +inf that ln det H = −inf would put into the log evidence. Raises nothing.
    """
    edges = spec.static_edges
    if spec.regularization == "constant" and edges is not None:
        mu = jnp.asarray(constant_laplacian_logdet_spectrum(edges, spec.params))
        return jnp.sum(jnp.log(p["regularization"]["coefficient"] ** 2 * mu + 1e-8))
    ld = solvers.logdet_from_cholesky(solvers.cholesky(block))
    return jnp.where(jnp.isfinite(ld), ld, jnp.nan)


def _reduced_terms(sig: Signature, system: LinearSystem, s, chol):
    """(G, ln det C_red, ln det H_red), each () float64; zeros when nothing is regularized."""
    if not sig.reduced_objects:
        zero = jnp.zeros(())
        return zero, zero, zero
    idx = sig.reduced_indices
    s_red, h_red = s[idx], system.regularization_matrix[np.ix_(idx, idx)]
    g = s_red @ h_red @ s_red
    if len(idx) == sig.total_params:  # the full factor is C_red's own
        ld_c = solvers.logdet_from_cholesky(chol)
    else:
        ld_c = solvers.logdet_from_cholesky(solvers.cholesky(system.curvature_reg_matrix[np.ix_(idx, idx)]))
    return g, ld_c, system.log_det_regularization_matrix_term


def result(sig: Signature, ds: dict, system: LinearSystem, s, chol) -> dict:
    """The scalars and requested arrays of one evaluation, keyed by their public names.

    ``s``: (P,) float64 reconstruction; ``chol``: (P, P) Cholesky factor of C. Returns the eight scalars
    (() float64: figure_of_merit, log_evidence, log_likelihood, chi_squared, regularization_term,
    log_det_curvature_reg_matrix_term, log_det_regularization_matrix_term, noise_normalization) and each array
    named in ``sig.outputs``: reconstruction (P,), reconstruction_noise_map (P,) = sqrt(diag C⁻¹), model_image,
    residual_map, normalized_residual_map, chi_squared_map, mapped_reconstructed_image (N,), and the matrices
    mapping_matrix, blurred_mapping_matrix (N, P), data_vector (P,), curvature_matrix, regularization_matrix
    (P, P). Raises nothing: numerical failure shows as NaN.
    """
    kind = kinds.of(sig.dataset.kind)
    model, unblurred = kind.model(sig, ds, system, s)
    resid, norm, chi_map = kind.residuals(ds, model)
    chi2 = jnp.sum(chi_map)
    nn = kind.noise_normalization(ds)
    g, ld_c, ld_h = _reduced_terms(sig, system, s, chol)
    log_like = -0.5 * (chi2 + nn)
    log_ev = -0.5 * (chi2 + g + ld_c - ld_h + nn)
    out = {"figure_of_merit": log_ev, "log_evidence": log_ev, "log_likelihood": log_like, "chi_squared": chi2,
           "regularization_term": g, "log_det_curvature_reg_matrix_term": ld_c,
           "log_det_regularization_matrix_term": ld_h, "noise_normalization": nn}
    arrays = {"reconstruction": lambda: s, "model_image": lambda: model, "residual_map": lambda: resid,
              "normalized_residual_map": lambda: norm, "chi_squared_map": lambda: chi_map,
              "mapped_reconstructed_image": lambda: unblurred,
              "reconstruction_noise_map": lambda: jnp.sqrt(jnp.diag(solvers.cho_solve(chol, jnp.eye(s.shape[0])))),
              "mapping_matrix": lambda: system.mapping_matrix,
              "blurred_mapping_matrix": lambda: system.blurred_mapping_matrix,
              "data_vector": lambda: system.data_vector, "curvature_matrix": lambda: system.curvature_matrix,
              "regularization_matrix": lambda: system.regularization_matrix}
    out.update({k: f() for k, f in arrays.items() if k in set(sig.outputs)})
    return out
