"""PSF convolution on a padded FFT canvas (docs/maths.md#psf-convolution).

Semantics (true convolution, zero padding, "same"): a unit value at pixel (r0, c0) spreads to
``b[r0 + i - cy, c0 + j - cx] = K[i, j]`` with ``cy = (Ky-1)/2``, ``cx = (Kx-1)/2``: the kernel stamp is placed
centred on the source pixel in the orientation of the kernel array (row 0 = up).

The canvas covers the bounding box of the pixels that carry input flux, padded by ``K - 1`` so that the circular
FFT convolution never wraps flux onto an output pixel. The kernel is stored pre-rolled (its centre at canvas
index (0, 0)), so the product of the two spectra is exactly the linear convolution on the pixels we read.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import scipy.fft


@dataclass(frozen=True)
class Canvas:
    """Where slim pixels sit on an FFT canvas, and the kernel spectrum for that canvas (host arrays)."""

    shape: tuple[int, int]
    flat_index: np.ndarray  # (N,) canvas flat index of each slim (unmasked) pixel
    kernel_fft: np.ndarray  # (H, W//2+1) complex128 rfft2 of the pre-rolled kernel


def make_canvas(input_rc: np.ndarray, output_rc: np.ndarray, kernel: np.ndarray) -> tuple[Canvas, np.ndarray]:
    """Canvas for convolving flux at ``input_rc`` (M, 2) int [row, col] and reading it at ``output_rc`` (N, 2)
    with the (Ky, Kx) float64 ``kernel`` (host NumPy; raises nothing).

    Returns the canvas (with the flat indices of the *output* pixels) and the flat indices of the input pixels.
    """
    ky, kx = kernel.shape
    rc = np.concatenate([input_rc, output_rc])
    r0, c0 = rc.min(axis=0)
    r1, c1 = rc.max(axis=0)
    h = scipy.fft.next_fast_len(int(r1 - r0 + 1 + ky - 1), real=True)
    w = scipy.fft.next_fast_len(int(c1 - c0 + 1 + kx - 1), real=True)
    cy, cx = (ky - 1) // 2, (kx - 1) // 2
    kcanvas = np.zeros((h, w))
    ii, jj = np.mgrid[0:ky, 0:kx]
    kcanvas[(ii - cy) % h, (jj - cx) % w] = kernel
    kfft = np.fft.rfft2(kcanvas)

    def flat(rcs):
        return ((rcs[:, 0] - r0) * w + (rcs[:, 1] - c0)).astype(np.int64)

    return Canvas((h, w), flat(output_rc), kfft), flat(input_rc)


def convolve_columns(cols_on_canvas: jnp.ndarray, canvas_shape, kernel_fft, out_flat, forward_dtype=None):
    """Convolve a stack of canvas images (P, H·W) float64 with the kernel whose (H, W//2+1) complex128 spectrum
    is ``kernel_fft``; return the (N, P) float64 values at the (N,) int flat indices ``out_flat``:
    irfft2(rfft2(image) · K̂) (docs/maths.md#psf-convolution).

    ``forward_dtype`` = float32 runs the forward FFT in single precision (complex64), then multiplies by the
    complex128 kernel spectrum and inverts in double precision (the mixed-precision split of autoarray).
    """
    h, w = canvas_shape
    imgs = cols_on_canvas.reshape(-1, h, w)
    if forward_dtype is not None:
        imgs = imgs.astype(forward_dtype)
    spec = jnp.fft.rfft2(imgs)
    spec = spec.astype(jnp.complex128) * kernel_fft[None]
    out = jnp.fft.irfft2(spec, s=(h, w)).reshape(imgs.shape[0], h * w)
    return out[:, out_flat].T
