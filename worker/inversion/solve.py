"""The solve of one linear system C s = D (docs/maths.md#solve).

One Cholesky factor of the full C gives the unconstrained solution s = C⁻¹D (and ln det C later). With the
positive-only solver, that solution's sign pattern starts the block principal pivoting solve of
min ½ sᵀCs − Dᵀs subject to s ≥ 0 on the free parameters (:attr:`Signature.free_indices`; edge-zeroed pixels
stay 0); a solution its KKT conditions do not certify is solved again by jaxnnls. The kernels are in
:mod:`~worker.inversion.solvers`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import lax

from . import solvers
from .signature import Signature
from .system import LinearSystem


class Solution(NamedTuple):
    """The first solve of a system (a pytree, so it passes through ``vmap``).

    ``values``: (F,) float64, the solution on :attr:`Signature.free_indices` (all P parameters when the solve is
    unconstrained, F = P); ``cholesky_factor``: (P, P) float64 lower factor L of C = L Lᵀ (NaN where C is not
    positive definite); ``certified``: () bool, the KKT conditions hold (always True when unconstrained).
    """

    values: jnp.ndarray
    cholesky_factor: jnp.ndarray
    certified: jnp.ndarray


def start(sig: Signature, system: LinearSystem, pattern=None) -> Solution:
    """One Cholesky factor of the full C: the unconstrained solution, or the sign pattern that starts the
    positive-only active-set solve (as good a start as the kept block's own solution: same iteration counts on
    the benchmark case) followed by that solve.

    ``pattern``: (F,) bool, a free-set pattern to start from instead (the previous lane's solution in a scan of
    regularization coefficients: 1.7 pivoting steps per lane instead of 7.8 on the benchmark case). The start
    changes the path, never the answer: the solution is certified by its KKT conditions either way. Raises
    nothing: a C that is not positive definite gives NaN.
    """
    c, d = system.curvature_reg_matrix, system.data_vector
    chol = solvers.cholesky(c)
    s_unc = solvers.cho_solve(chol, d)
    if not sig.settings.use_positive_only_solver:
        return Solution(s_unc, chol, jnp.array(True))
    keep = sig.free_indices
    q, rhs = c[np.ix_(keep, keep)], d[keep]
    # lanes run one at a time on the sparse (CPU) backend, where the free-block factorisation pays off; under
    # vmap (dense backend) lax.switch would evaluate every block size, so the full masked solve is used there
    x, ok, _ = solvers.bpp_nnls(q, rhs, s_unc[keep] > 0 if pattern is None else pattern, sig.nnls.max_iter,
                                compact=sig.operator == "sparse")
    return Solution(x, chol, ok)


def fallback(sig: Signature, system: LinearSystem):
    """(F,) float64 positive-only solution of the free block by jaxnnls (autoarray's solver, with the
    configured Jacobi preconditioning and target κ). Raises nothing."""
    keep = sig.free_indices
    return solvers.jaxnnls_solve(system.curvature_reg_matrix[np.ix_(keep, keep)], system.data_vector[keep],
                                 sig.nnls)


def solve(sig: Signature, system: LinearSystem, pattern=None) -> tuple[jnp.ndarray, Solution]:
    """The reconstruction s (P,) float64 of one system, and its first :class:`Solution`.

    Positive-only: the active-set solution where it is certified, else (a real branch) jaxnnls'; either way
    scattered into the free entries of a zero vector. Unconstrained: s = C⁻¹D. Raises nothing.
    """
    first = start(sig, system, pattern)
    if not sig.settings.use_positive_only_solver:
        return first.values, first
    x = lax.cond(first.certified, lambda: first.values, lambda: fallback(sig, system))
    return jnp.zeros(sig.total_params).at[sig.free_indices].set(x), first
