"""Regularization matrices H, named after autoarray's classes in snake case (docs/maths.md#regularization).

The scheme names and what each needs are defined once, in ``service/contract/vocabulary.py``
(``REGULARIZATIONS``); this module computes the matrices.

Coefficient conventions follow autoarray exactly (they define what a user's prior on a coefficient means):
``constant`` and the split schemes square their coefficient, the adaptive schemes use
(λ_in p + λ_out (1 − p))² per pixel and square it again inside H, the kernel schemes do not square.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

JITTER = 1e-8



def laplacian(edges: jnp.ndarray, n: int) -> jnp.ndarray:
    """(n, n) float64 graph Laplacian L = Σ_{edges (i,j)} (e_i − e_j)(e_i − e_j)ᵀ of the (E, 2) int ``edges``;
    edges with i < 0 (padding) are ignored."""
    i, j = edges[:, 0], edges[:, 1]
    valid = (i >= 0).astype(jnp.float64)
    i, j = jnp.maximum(i, 0), jnp.maximum(j, 0)
    lap = jnp.zeros((n, n))
    lap = lap.at[i, i].add(valid).at[j, j].add(valid)
    return lap.at[i, j].add(-valid).at[j, i].add(-valid)


def weighted_laplacian(edges: jnp.ndarray, n: int, edge_weights: jnp.ndarray) -> jnp.ndarray:
    """(n, n) float64 Σ_edges c_e (e_i − e_j)(e_i − e_j)ᵀ for (E, 2) ``edges`` and (E,) ``edge_weights`` c_e;
    padding edges (i < 0) are ignored."""
    i, j = edges[:, 0], edges[:, 1]
    c = jnp.where(i >= 0, edge_weights, 0.0)
    i, j = jnp.maximum(i, 0), jnp.maximum(j, 0)
    lap = jnp.zeros((n, n))
    lap = lap.at[i, i].add(c).at[j, j].add(c)
    return lap.at[i, j].add(-c).at[j, i].add(-c)


def pixel_signals(n: int, mappings, weights, parent, adapt_image, signal_scale, exclude_zero_weights: bool):
    """(n,) float64 pixel signals p_i = [ (Σ a[parent(k)]·w_kj over slots mapping to i) / max(1, #slots) / max_i(·) ]^ψ,
    0 where ≤ 0, from (K, U) ``mappings`` / ``weights``, (K,) ``parent`` pixel of each sub-pixel, the (N,)
    ``adapt_image`` a and the scalar ``signal_scale`` ψ.

    Slots with mapping −1 never count; with ``exclude_zero_weights`` (Delaunay), zero-weight slots do not count
    either. Weights are the raw interpolation weights (no 1/s² factor).
    """
    valid = mappings >= 0
    counted = valid & (weights != 0) if exclude_zero_weights else valid
    cols = jnp.where(valid, mappings, n)  # out of range -> dropped
    sig = jnp.zeros(n).at[cols].add(jnp.where(valid, weights * adapt_image[parent][:, None], 0.0), mode="drop")
    cnt = jnp.zeros(n).at[cols].add(counted.astype(sig.dtype), mode="drop")
    sig = sig / jnp.where(cnt > 0, cnt, 1.0)
    top = jnp.max(sig)
    sig = sig / jnp.where(top > 0, top, 1.0)
    zero = sig <= 0.0
    return jnp.where(zero, 0.0, jnp.where(zero, 1.0, sig) ** signal_scale)


def split_matrix(n: int, split_mappings, split_weights, pixel_weight_sq):
    """(n, n) split-cross H = Σ_i r_i² Σ_{c ∈ cross(i)} g_c g_cᵀ + 1e-8 I with g_c = e_i − Σ_j w_cj e_{m_cj}.

    ``split_mappings`` / ``split_weights`` (4n, 3): the interpolation of each pixel's four cross points (pixel
    i owns rows 4i..4i+3); ``pixel_weight_sq`` (n,): r_i² (docs/maths.md#regularization)."""
    m = split_mappings.shape[0]
    owner = jnp.arange(m) // 4
    w = jnp.where(split_mappings >= 0, split_weights, 0.0)
    # dense stencil rows g_c (4S x S): scatter −w at the mappings, +1 at the owning pixel
    cols = jnp.where(split_mappings >= 0, split_mappings, n)
    g = jnp.zeros((m, n)).at[jnp.arange(m)[:, None], cols].add(-w, mode="drop")
    g = g.at[jnp.arange(m), owner].add(1.0)
    gw = g * jnp.sqrt(pixel_weight_sq)[owner][:, None]
    return gw.T @ gw + JITTER * jnp.eye(n)


def kernel_matrix(centres, coefficient, scale, kind: str):
    """Kernel schemes, (n, n) float64: C = k(x_i, x_j) + 1e-8 I; H = c·C⁻¹ (inverse through a Cholesky factor
    of the SPD C), for (n, 2) mesh ``centres`` and the scalar ``scale`` ℓ (arcsec). A C that is not positive
    definite gives NaN, not an exception.

    gaussian: k = exp(−|x_i − x_j|²/(2ℓ²)); H is then symmetrised ½(H + Hᵀ) and 1e-8·|mean(diag H)|·I added.
    exponential: k = exp(−d/ℓ) with d = sqrt(|x_i − x_j|² + 1e-20) (the floor keeps the gradient finite at d = 0).
    autoarray's release forms |x_i − x_j|² as |x_i|² + |x_j|² − 2 x_i·x_j, whose cancellation leaves ~1e-8
    relative round-off on close pairs; we use the difference form (docs/numerics.md).
    """
    n = centres.shape[0]
    eye = jnp.eye(n)
    if kind == "gaussian_kernel":
        diff = centres[:, None, :] - centres[None, :, :]
        cov = jnp.exp(-jnp.sum(diff**2, axis=-1) / (2.0 * scale**2)) + JITTER * eye
    else:
        diff = centres[:, None, :] - centres[None, :, :]
        d = jnp.sqrt(jnp.sum(diff**2, axis=-1) + 1e-20)
        cov = jnp.exp(-d / scale) + JITTER * eye
    h = coefficient * jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(cov), True), eye)
    if kind == "gaussian_kernel":
        h = 0.5 * (h + h.T)
        h = h + JITTER * jnp.abs(jnp.mean(jnp.diag(h))) * eye
    return h


def regularization_matrix(name: str, n: int, params: dict, *, edges=None, signals=None, split=None, centres=None):
    """The (n, n) float64 matrix H of scheme ``name`` for one linear object of n parameters.

    ``params``: the scheme's scalars (names in the vocabulary's ``REGULARIZATIONS``); ``edges`` (E, 2) int: the
    neighbour graph (Laplacian schemes); ``signals`` (n,): pixel signals (adaptive schemes); ``split``: (split
    mappings, split weights) (split schemes); ``centres`` (n, 2) arcsec (kernel schemes). Formulas:
    docs/maths.md#regularization. Raises ValueError for a name that is not a scheme.
    """
    if name == "constant":
        return params["coefficient"] ** 2 * laplacian(edges, n) + JITTER * jnp.eye(n)
    if name == "zeroth":
        return params["coefficient"] ** 2 * jnp.eye(n)
    if name in ("adapt", "adapt_split"):
        lam = (params["inner_coefficient"] * signals + params["outer_coefficient"] * (1.0 - signals)) ** 2
        if name == "adapt_split":
            return split_matrix(n, split[0], split[1], lam**2)
        # each directed pair i -> j adds w_j², so an undirected edge carries w_i² + w_j²
        i, j = jnp.maximum(edges[:, 0], 0), jnp.maximum(edges[:, 1], 0)
        return weighted_laplacian(edges, n, lam[i] ** 2 + lam[j] ** 2) + JITTER * jnp.eye(n)
    if name == "constant_split":
        return split_matrix(n, split[0], split[1], jnp.full(n, params["coefficient"] ** 2))
    if name == "brightness_zeroth":
        return jnp.diag((params["coefficient"] * (1.0 - signals)) ** 2)
    if name in ("gaussian_kernel", "exponential_kernel"):
        return kernel_matrix(centres, params["coefficient"], params["scale"], name)
    raise ValueError(f"unknown regularization {name!r}")


def constant_laplacian_logdet_spectrum(edges: np.ndarray, n: int) -> np.ndarray:
    """(n,) float64 eigenvalues μ of the Laplacian of a fixed graph ((E, 2) int ``edges``, host NumPy), so that
    ln det(λ² L + 1e-8 I) = Σ ln(λ² μ + 1e-8); the zero eigenvalues are exactly 0."""
    lap = np.zeros((n, n))
    for a, b in edges:
        lap[a, a] += 1
        lap[b, b] += 1
        lap[a, b] -= 1
        lap[b, a] -= 1
    mu = np.linalg.eigvalsh(lap)
    # the zero eigenvalues (one per connected component) come out as ±1e-15; next to the 1e-8 jitter that
    # round-off would shift ln det H by ~1e-7, so they are set to exactly zero (the smallest non-zero
    # eigenvalue of a connected graph on S vertices is far above 1e-9)
    return np.where(np.abs(mu) < 1e-9, 0.0, mu)
