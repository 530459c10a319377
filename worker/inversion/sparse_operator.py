"""Sparse curvature on the host: D and F without forming dense N×S matrices (the CPU backend).

On a CPU the dense route (S FFT convolutions, then an N×S×S GEMM) costs ~0.5 s for a 7,860-pixel image and a
900-pixel mesh, while the matrices are ~3 % dense: the blurred mapping matrix B = C·M has ~25 non-zeros per row
(C: the PSF convolution restricted to the mask, M: ≤ s²·4 interpolation slots per row). This module computes

    B = C M (sparse × sparse),   F = (B/σ)ᵀ(B/σ),   D = Bᵀ(d/σ²),   and the cross block (B/σ)ᵀ(G/σ)

with scipy.sparse through ``jax.pure_callback`` (sequential under ``vmap``). It returns the same numbers as the
FFT route to round-off (direct convolution instead of an FFT; tests compare the two backends). C is
precomputed once per dataset (:func:`convolution_matrix`) and passed in as traced CSR arrays, so one compiled
pipeline serves every dataset of the same shapes.

Mixed precision: the interpolation values arrive rounded to float32 (the mapping matrix is float32); the
convolution is direct and exact in float64 (there is no float32 forward FFT to round), and F and D are float64,
as autoarray's Settings documentation prescribes.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp


def convolution_matrix(mask: np.ndarray, kernel: np.ndarray) -> sp.csr_matrix:
    """C (N × N) float64 CSR, host: B[:, j] = C M[:, j] is the "same" convolution of column j with the (Ky, Kx)
    ``kernel``, read inside the (Ny, Nx) bool ``mask`` (True = excluded); zero kernel entries are skipped."""
    ny, nx = mask.shape
    ky, kx = kernel.shape
    cy, cx = (ky - 1) // 2, (kx - 1) // 2
    rc = np.argwhere(~mask)
    n = len(rc)
    index = np.full(mask.shape, -1)
    index[~mask] = np.arange(n)
    rows, cols, vals = [], [], []
    for i in range(ky):
        for j in range(kx):
            if kernel[i, j] == 0:
                continue
            r, c = rc[:, 0] + i - cy, rc[:, 1] + j - cx
            ok = (r >= 0) & (r < ny) & (c >= 0) & (c < nx)
            target = np.full(n, -1)
            target[ok] = index[r[ok], c[ok]]
            ok = target >= 0
            rows.append(target[ok])
            cols.append(np.nonzero(ok)[0])
            vals.append(np.full(ok.sum(), kernel[i, j]))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def _host(indptr, indices, data, rows, cols, vals, inv_noise, data_w, dense, *, n_params):
    indptr, indices, data, rows, cols, vals, inv_noise, data_w, dense = (
        np.asarray(x) for x in (indptr, indices, data, rows, cols, vals, inv_noise, data_w, dense))
    n = inv_noise.shape[0]
    conv = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    m = sp.csr_matrix((vals, (rows, cols)), shape=(n, n_params))
    b = conv @ m
    a = sp.diags(inv_noise) @ b
    d = np.asarray(b.T @ data_w).ravel()
    g = dense * inv_noise[:, None]
    f = (a.T @ a).toarray()
    cross = np.asarray(a.T @ g)
    return f, np.asarray(cross).reshape(n_params, dense.shape[1]), d


def curvature(ds: dict, rows, cols, vals, n_params: int, dense):
    """(F_ss (S, S), F_sg (S, G), D_s (S,)), float64, for the slot-form mapping matrix M (``rows``, ``cols``,
    ``vals`` (K,); cols < 0 ignored; S = ``n_params``) and the (N, G) already blurred ``dense`` columns G:
    with B = C M and A = B/σ, F_ss = AᵀA, F_sg = Aᵀ(G/σ), D_s = Bᵀ(d/σ²) (docs/maths.md#linear-system).
    One host call through ``jax.pure_callback`` (sequential under ``vmap``). Raises nothing."""
    valid = cols >= 0
    cols = jnp.where(valid, cols, 0).astype(jnp.int32)
    vals = jnp.where(valid, vals, 0.0)
    inv_noise = 1.0 / ds["noise"]
    shapes = (jax.ShapeDtypeStruct((n_params, n_params), jnp.float64),
              jax.ShapeDtypeStruct((n_params, dense.shape[1]), jnp.float64),
              jax.ShapeDtypeStruct((n_params,), jnp.float64))
    fn = partial(_host, n_params=n_params)
    return jax.pure_callback(fn, shapes, ds["conv_indptr"], ds["conv_indices"], ds["conv_data"], rows, cols,
                             vals, inv_noise, ds["data"] * inv_noise**2, dense, vmap_method="sequential")


def apply_slots(rows, cols, vals, s, n_pixels: int):
    """(n_pixels,) float64 M s for slot form M (``rows``, ``cols``, ``vals`` (K,); cols < 0 ignored) and the
    (S,) ``s``: the unblurred image of the slot columns."""
    contrib = jnp.where(cols >= 0, vals * s[jnp.maximum(cols, 0)], 0.0)
    return jax.ops.segment_sum(contrib, rows, num_segments=n_pixels)
