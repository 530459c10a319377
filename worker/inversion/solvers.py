"""Linear solves of the regularized system C s = D (docs/maths.md#solve).

* Unconstrained: one Cholesky factor of C, reused for s and for ln det C.
* Positive-only: min ½ sᵀCs − Dᵀs subject to s ≥ 0. The optimum is unique (C is SPD), so any exact method gives
  autoarray's answer. We use block principal pivoting (Kim & Park's active-set method with Portugal–Júdice–
  Vicente's backup rule), started from the sign pattern of the unconstrained solution, which typically needs
  2–5 Cholesky factorisations instead of the ~20 of jaxnnls' interior point. Every answer is certified by the
  KKT conditions (primal feasibility, dual feasibility, complementarity); lanes that are not certified within
  the iteration budget are solved again by jaxnnls (autoarray's own solver, Jacobi-preconditioned).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

from service.contract import vocabulary

BPP_MAX_ITER = vocabulary.NNLS_MAX_ITER
BPP_BACKUP = 3


@dataclass(frozen=True)
class NNLSOptions:
    """Static options of the positive-only solve (from the server config, as autoarray's general.yaml)."""

    jacobi_preconditioning: bool = vocabulary.NNLS_JACOBI_PRECONDITIONING
    target_kappa: float = vocabulary.NNLS_TARGET_KAPPA
    max_iter: int = BPP_MAX_ITER


def cholesky(c):
    """(n, n) float64 lower Cholesky factor L of the SPD (n, n) ``c`` = L Lᵀ (NaN where c is not positive
    definite: no exception)."""
    return jnp.linalg.cholesky(c)


def logdet_from_cholesky(chol):
    """() float64 ln det C = 2 Σ ln diag(L) from the (n, n) factor ``chol`` L."""
    return 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))


def cho_solve(chol, b):
    """x = (L Lᵀ)⁻¹ b for the (n, n) lower factor ``chol`` L and ``b`` (n,) or (n, k), float64."""
    return jax.scipy.linalg.cho_solve((chol, True), b)


def _masked_solve(q_scaled, rhs, free):
    """Solve the system restricted to ``free`` (others pinned at 0) with one full-size masked Cholesky."""
    both = free[:, None] & free[None, :]
    qm = jnp.where(both, q_scaled, 0.0) + jnp.diag(jnp.where(free, 0.0, 1.0))
    x = cho_solve(jnp.linalg.cholesky(qm), jnp.where(free, rhs, 0.0))
    return jnp.where(free, x, 0.0)


def _compact_solve(q_scaled, rhs, free, sizes):
    """The same solve as :func:`_masked_solve`, factorising only a leading block of the smallest static size
    that holds the free set: the free variables are permuted to the front, and ``lax.switch`` picks the block
    (a real branch when not under ``vmap``). A factorisation costs (k/n)³ of the full one."""
    n = q_scaled.shape[0]
    f = jnp.sum(free)
    perm = jnp.argsort(~free, stable=True)  # free variables first
    qp = q_scaled[perm[:, None], perm[None, :]]
    bp = rhs[perm]

    def branch(k):
        def run():
            active = jnp.arange(k) < f
            sub = jnp.where(active[:, None] & active[None, :], qp[:k, :k], 0.0) + jnp.diag(
                jnp.where(active, 0.0, 1.0))
            xk = jnp.where(active, cho_solve(jnp.linalg.cholesky(sub), jnp.where(active, bp[:k], 0.0)), 0.0)
            return jnp.zeros(n, q_scaled.dtype).at[:k].set(xk)
        return run

    which = jnp.searchsorted(jnp.asarray(sizes), f)
    xp = lax.switch(which, [branch(k) for k in sizes])
    return jnp.zeros(n, q_scaled.dtype).at[perm].set(xp)


def block_sizes(n: int, count: int = 8) -> tuple[int, ...]:
    """Static block sizes for :func:`_compact_solve`: n/count, 2n/count, ..., n (rounded up)."""
    return tuple(sorted({max(1, -(-n * i // count)) for i in range(1, count + 1)}))


def bpp_nnls(q, rhs, start_free, max_iter: int = BPP_MAX_ITER, compact: bool = False):
    """Block principal pivoting for min ½ xᵀQx − rhsᵀx, x ≥ 0.

    ``q`` (n, n) SPD and ``rhs`` (n,) float64; ``start_free`` (n,) bool, the initial free set. Returns (x (n,)
    float64, certified () bool, iterations () int). ``certified`` is True when the KKT conditions hold: x ≥ 0,
    y = Qx − rhs ≥ −tol off the free set, y = 0 on it (by construction). ``compact`` factorises only the free
    block each iteration (for unbatched calls; under ``vmap`` the full masked factorisation is used).
    """
    d = jnp.sqrt(jnp.diag(q))
    qs = q / d[:, None] / d[None, :]
    bs = rhs / d
    n = q.shape[0]
    sizes = block_sizes(n)
    solve = (lambda qq, bb, fr: _compact_solve(qq, bb, fr, sizes)) if compact else _masked_solve
    scale = jnp.max(jnp.abs(bs)) + 1e-300
    tol_x = 1e-12 * scale
    tol_y = 1e-10 * scale

    def infeasible(free, x):
        y = qs @ x - bs
        return (free & (x < -tol_x)) | (~free & (y < -tol_y))

    def body(state):
        free, x, it, best, backup, _ = state
        bad = infeasible(free, x)
        nbad = jnp.sum(bad)
        improve = nbad < best
        use_full = improve | (backup > 0)
        last_bad = n - 1 - jnp.argmax(bad[::-1])
        flip = jnp.where(use_full, bad, jnp.arange(n) == last_bad)
        free = jnp.where(flip, ~free, free)
        best = jnp.where(improve, nbad, best)
        backup = jnp.where(improve, BPP_BACKUP, jnp.where(use_full, backup - 1, backup))
        x = solve(qs, bs, free)
        return free, x, it + 1, best, backup, jnp.any(infeasible(free, x))

    x0 = solve(qs, bs, start_free)
    state0 = (start_free, x0, 0, n + 1, BPP_BACKUP, jnp.any(infeasible(start_free, x0)))
    _, x, it, *_, still_bad = lax.while_loop(lambda s: s[5] & (s[2] < max_iter), body, state0)
    x = jnp.maximum(x, 0.0) / d
    return x, ~still_bad, it + 1


def jaxnnls_solve(q, rhs, options: NNLSOptions):
    """(n,) float64 solution of min ½ xᵀQx − rhsᵀx, x ≥ 0 for the SPD (n, n) ``q`` and (n,) ``rhs``: autoarray's
    JAX positive solve (jaxnnls primal-dual interior point to ``options.target_kappa``), with Jacobi scaling
    Q → D⁻¹QD⁻¹, rhs → D⁻¹rhs, x = D⁻¹y (D = sqrt(diag Q)) if configured. Raises nothing."""
    import jaxnnls

    if options.jacobi_preconditioning:
        d = jnp.sqrt(jnp.diag(q))
        y = jaxnnls.solve_nnls_primal(q / d[:, None] / d[None, :], rhs / d, options.target_kappa)
        return y / d
    return jaxnnls.solve_nnls_primal(q, rhs, options.target_kappa)
