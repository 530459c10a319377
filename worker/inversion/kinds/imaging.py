"""The imaging dataset kind: an image with a noise map and a PSF (docs/maths.md#grids-and-over-sampling,
docs/maths.md#psf-convolution, docs/maths.md#linear-system).

Everything that knows the data are pixels blurred by a PSF lives here: the host-side preparation of a dataset
(:func:`prepare_imaging`, once per dataset), the data vector and curvature matrix of the objects' mappings for
both operator backends (:func:`linear_system`), and the model image of a solution (:func:`model`). The PSF
itself is applied by :mod:`~worker.inversion.convolution` (FFT canvases, dense backend and light profiles) and
:mod:`~worker.inversion.sparse_operator` (scipy.sparse on the host, sparse backend), which serve this kind only.

Prepared arrays (``PreparedImaging.arrays``, N unmasked pixels in slim order, float64 unless said otherwise):
``data``, ``noise`` (N,); ``centres`` (N, 2) arcsec; ``sub_pix`` (N·s_pix², 2) and ``sub_lp`` (N·s_lp², 2)
over-sampled grids; ``blurring`` (N_blurring, 2) centres of the pixels outside the mask the PSF reaches into
it; ``border`` (N_border,) int32; FFT canvas indices (int32) and kernel spectra (complex128) ``mm_*``
(mapping matrices) and ``lp_*`` (light profiles); the sparse convolution matrix in CSR form ``conv_*``;
``noise_normalization`` () = Σ ln 2πσ².
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from .. import grids, sparse_operator
from ..containers import LinearSystem
from ..convolution import convolve_columns, make_canvas
from ..linear_objects import ObjectMatrices
from ..signature import Signature
from ..sparse_operator import convolution_matrix


@dataclass(frozen=True)
class ImagingShape:
    """Everything about a prepared imaging dataset that fixes array shapes (hashable; part of the signature)."""

    kind: ClassVar[str] = "imaging"

    shape_native: tuple[int, int]
    pixels: int
    sub_size_pixelization: int
    sub_size_lp: int
    blurring_pixels: int
    border_pixels: int
    mm_canvas: tuple[int, int]
    lp_canvas: tuple[int, int]
    conv_nnz: int


@dataclass(frozen=True)
class PreparedImaging:
    """A prepared imaging dataset: its shapes, its device arrays (traced inputs: two datasets of equal shapes
    share one compiled pipeline) and host copies for callers (grids, PSF, mask, pixel scales, origin)."""

    shape: ImagingShape
    arrays: dict = field(compare=False, hash=False)
    host: dict = field(compare=False, hash=False)  # host copies for callers (grids for ?include=grids, etc.)

    @property
    def nbytes(self) -> int:
        """Bytes held by the device arrays."""
        return int(sum(np.asarray(v).nbytes for v in self.arrays.values()))


def _scales(value) -> tuple[float, float]:
    """(sy, sx) from a number or a pair."""
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    arr = np.repeat(arr, 2) if arr.size == 1 else arr
    return float(arr[0]), float(arr[1])


def prepare_imaging(data, noise_map, psf, mask, pixel_scales, origin=(0.0, 0.0),
                    over_sample_size_pixelization: int = 4, over_sample_size_lp: int = 4,
                    normalize_psf: bool = True) -> PreparedImaging:
    """Precompute grids, PSF spectra, the convolution matrix and noise terms of an imaging dataset.

    ``data``, ``noise_map`` (Ny, Nx) and ``mask`` (Ny, Nx) bool (True = excluded); ``psf`` (Ky, Kx) with odd sides,
    normalised to unit sum unless ``normalize_psf`` is False (the caller's array is never changed);
    ``pixel_scales`` arcsec per pixel (a number or (sy, sx)); ``origin`` (y, x) arcsec; the two over-sampling
    sizes are integers ≥ 1 (sub-pixels per side). Data and noise are read inside the mask only; the
    noise normalisation is Σ ln 2πσ² over the unmasked pixels (docs/maths.md#grids-and-over-sampling).

    The dataset is trusted: it was validated when it was registered
    (:func:`service.contract.validation.check_imaging`), the one check of a dataset. Raises nothing for it.
    """
    data = np.asarray(data, dtype=np.float64)
    noise = np.asarray(noise_map, dtype=np.float64)
    kernel = np.array(psf, dtype=np.float64)  # a copy: the caller's PSF is never normalised in place
    mask = np.asarray(mask, dtype=bool)
    sy, sx = _scales(pixel_scales)
    origin = tuple(float(o) for o in np.asarray(origin, dtype=np.float64).reshape(2))
    inside = ~mask
    if normalize_psf:
        kernel = kernel / kernel.sum()

    rc = grids.slim_indices(mask)
    centres = grids.pixel_centres(mask, (sy, sx), origin)
    sub_pix = grids.over_sample(centres, (sy, sx), over_sample_size_pixelization)
    sub_lp = grids.over_sample(centres, (sy, sx), over_sample_size_lp)
    # the blurring region may reach past the array edge: autoarray pads the mask with masked pixels first, so
    # light profiles are evaluated there too (and their flux blurred into the mask)
    hy, hx = kernel.shape[0] // 2, kernel.shape[1] // 2
    blur_mask = grids.blurring_mask(np.pad(mask, ((hy, hy), (hx, hx)), constant_values=True), kernel.shape)
    blur_rc = grids.slim_indices(~blur_mask) - np.array([hy, hx])
    blur_grid = grids.pixel_centres(~blur_mask, (sy, sx), origin)
    border = grids.border_slim_indices(mask)
    mm_canvas, mm_in = make_canvas(rc, rc, kernel)
    lp_canvas, lp_in = make_canvas(np.concatenate([rc, blur_rc]), rc, kernel)
    conv = convolution_matrix(mask, kernel)
    d, n = data[inside], noise[inside]
    shape = ImagingShape(
        shape_native=tuple(mask.shape), pixels=len(rc),
        sub_size_pixelization=int(over_sample_size_pixelization), sub_size_lp=int(over_sample_size_lp),
        blurring_pixels=len(blur_rc), border_pixels=len(border),
        mm_canvas=mm_canvas.shape, lp_canvas=lp_canvas.shape, conv_nnz=int(conv.nnz),
    )
    arrays = {
        "data": d, "noise": n, "centres": centres, "sub_pix": sub_pix, "sub_lp": sub_lp, "blurring": blur_grid,
        "border": border.astype(np.int32), "mm_flat": mm_in.astype(np.int32), "mm_kfft": mm_canvas.kernel_fft,
        "lp_flat_in": lp_in.astype(np.int32), "lp_flat_out": lp_canvas.flat_index.astype(np.int32),
        "lp_kfft": lp_canvas.kernel_fft, "noise_normalization": np.sum(np.log(2.0 * np.pi * n**2)),
        "conv_indptr": conv.indptr.astype(np.int32), "conv_indices": conv.indices.astype(np.int32),
        "conv_data": conv.data,
    }
    host = {"centres": centres, "sub_pix": sub_pix, "kernel": kernel, "mask": mask,
            "pixel_scales": (sy, sx), "origin": origin}
    return PreparedImaging(shape, {k: jnp.asarray(v) for k, v in arrays.items()}, host)


# ------------------------------------------------------------------------------------------- the linear system
def _curvature_dense(a):
    """F = AᵀA with A = B/σ, always in float64: autoarray's Settings documentation keeps the noise weighting and
    the accumulation of F (and D) in fp64 under mixed precision (docs/numerics.md)."""
    return jnp.dot(a.T, a)


def slots_to_dense(slots, n_params: int, ds: dict, shape: ImagingShape, mixed: bool):
    """Dense (M, B), each (N, n_params) float64, from the slot form (rows, cols, values) of a mapping matrix:
    scatter onto the FFT canvas, then convolve every column with the PSF (forward FFT in float32 when
    ``mixed``; docs/maths.md#psf-convolution). Slots with col < 0 are ignored. Raises nothing."""
    rows, cols, values = slots
    h, w = shape.mm_canvas
    valid = cols >= 0
    canvas = jnp.zeros((n_params, h * w)).at[jnp.where(valid, cols, n_params), ds["mm_flat"][rows]].add(
        jnp.where(valid, values, 0.0), mode="drop")
    mapping = canvas[:, ds["mm_flat"]].T
    operated = convolve_columns(canvas, (h, w), ds["mm_kfft"], ds["mm_flat"],
                                forward_dtype=jnp.float32 if mixed else None)
    return mapping, operated


def blur_light_profiles(matrices: ObjectMatrices, ds: dict, shape: ImagingShape, mixed: bool):
    """(N, S) float64 blurred light-profile columns: the in-mask images (``mapping``) together with the
    blurring-region images (``blurring_mapping``) convolved with the PSF, read inside the mask, so flux from
    outside the mask is blurred in. Under ``mixed`` the whole convolution runs in float32 (complex64)
    (docs/maths.md#mixed-precision). Raises nothing."""
    h, w = shape.lp_canvas
    canvas = jnp.zeros((matrices.mapping.shape[1], h * w)).at[:, ds["lp_flat_in"]].set(
        jnp.concatenate([matrices.mapping, matrices.blurring_mapping]).T)
    if mixed:
        spec32 = jnp.fft.rfft2(canvas.reshape(-1, h, w).astype(jnp.float32))
        out = jnp.fft.irfft2(spec32 * ds["lp_kfft"].astype(jnp.complex64)[None], s=(h, w))
        return out.reshape(-1, h * w)[:, ds["lp_flat_out"]].T.astype(jnp.float64)
    return convolve_columns(canvas, (h, w), ds["lp_kfft"], ds["lp_flat_out"])


def linear_system(sig: Signature, ds: dict, matrices: list[ObjectMatrices], diag_value) -> LinearSystem:
    """D = Bᵀ(d/σ²) (P,) and F = (B/σ)ᵀ(B/σ) + diag(``diag_value`` on unregularized parameters) (P, P), float64,
    for the blurred mapping matrix B of the objects' ``matrices`` (docs/maths.md#linear-system).

    Dense backend: M and B (N, P) formed (every slot column convolved on the FFT canvas), F by one GEMM. Sparse
    backend: the slot columns through :func:`~worker.inversion.sparse_operator.curvature` on the host (F's slot
    block, its cross block with the light-profile columns, their D), the light-profile block in JAX; M and B
    are formed only when requested. Regularization fields are left None. Raises nothing.
    """
    mixed = sig.settings.use_mixed_precision
    ranges = sig.param_ranges
    slot_ids, dense_ids = sig.slot_objects, sig.dense_objects
    noise = ds["noise"]
    blurred_lp = {i: blur_light_profiles(matrices[i], ds, sig.dataset, mixed) for i in dense_ids}
    mapping = blurred = slots = lp_mapping = lp_blurred = None
    if sig.operator == "dense" or {"mapping_matrix", "blurred_mapping_matrix"} & set(sig.outputs):
        full = [slots_to_dense(m.slots, o.params, ds, sig.dataset, mixed) if m.slots is not None
                else (m.mapping, blurred_lp[i]) for i, (m, o) in enumerate(zip(matrices, sig.objects, strict=True))]
        mapping = jnp.concatenate([f[0] for f in full], axis=1)
        blurred = jnp.concatenate([f[1] for f in full], axis=1)
    if sig.operator == "dense":
        d = jnp.dot(blurred.T, ds["data"] / noise**2)
        f = _curvature_dense(blurred / noise[:, None])
    else:
        # slot columns (mappers, bases) through the sparse host operator, dense columns (light profiles) in JAX;
        # the slot columns are numbered compactly, then everything is put back in parameter order
        idx_s = np.concatenate([np.arange(*ranges[i]) for i in slot_ids]) if slot_ids else np.zeros(0, int)
        idx_g = np.concatenate([np.arange(*ranges[i]) for i in dense_ids]) if dense_ids else np.zeros(0, int)
        rows, cols, vals, start = [], [], [], 0
        for i in slot_ids:
            r, c, v = matrices[i].slots
            rows.append(r)
            cols.append(jnp.where(c >= 0, c + start, -1))
            vals.append(v)
            start += sig.objects[i].params
        g = (jnp.concatenate([blurred_lp[i] for i in dense_ids], axis=1) if dense_ids
             else jnp.zeros((sig.dataset.pixels, 0)))
        p_total = sig.total_params
        f = jnp.zeros((p_total, p_total))
        d = jnp.zeros(p_total)
        if slot_ids:
            rows, cols, vals = jnp.concatenate(rows), jnp.concatenate(cols), jnp.concatenate(vals)
            f_ss, f_sg, d_s = sparse_operator.curvature(ds, rows, cols, vals, len(idx_s), g)
            f = f.at[np.ix_(idx_s, idx_s)].set(f_ss).at[np.ix_(idx_s, idx_g)].set(f_sg)
            f = f.at[np.ix_(idx_g, idx_s)].set(f_sg.T)
            d = d.at[idx_s].set(d_s)
            slots = (rows, cols, vals)
        if dense_ids:
            f = f.at[np.ix_(idx_g, idx_g)].set(_curvature_dense(g / noise[:, None]))
            d = d.at[idx_g].set(jnp.dot(g.T, ds["data"] / noise**2))
            lp_mapping = jnp.concatenate([matrices[i].mapping for i in dense_ids], axis=1)
            lp_blurred = g
    f = f + jnp.diag(jnp.where(sig.unregularized, diag_value, 0.0))
    return LinearSystem(data_vector=d, curvature_matrix=f, mapping_matrix=mapping, blurred_mapping_matrix=blurred,
                        mapping_slots=slots, light_profile_mapping_matrix=lp_mapping,
                        light_profile_blurred_mapping_matrix=lp_blurred)


# ------------------------------------------------------------------------------------------------ model image
def model(sig: Signature, ds: dict, system: LinearSystem, reconstruction):
    """(model image B s, mapped reconstructed image M s), each (N,) float64, for the (P,) ``reconstruction`` s.

    Sparse backend: the slot columns' unblurred image M s is convolved once on the FFT canvas (B is never
    formed); light-profile columns add their dense products. Raises nothing.
    """
    s = reconstruction
    if sig.operator == "dense":
        return system.blurred_mapping_matrix @ s, system.mapping_matrix @ s
    ranges = sig.param_ranges
    slot_ids, dense_ids = sig.slot_objects, sig.dense_objects
    n = sig.dataset.pixels
    unblurred = jnp.zeros(n)
    model_image = jnp.zeros(n)
    if slot_ids:
        s_s = jnp.concatenate([s[ranges[i][0]:ranges[i][1]] for i in slot_ids])
        img = sparse_operator.apply_slots(*system.mapping_slots, s_s, n)
        h, w = sig.dataset.mm_canvas
        canvas = jnp.zeros((1, h * w)).at[0, ds["mm_flat"]].set(img)
        model_image = model_image + convolve_columns(canvas, (h, w), ds["mm_kfft"], ds["mm_flat"])[:, 0]
        unblurred = unblurred + img
    if dense_ids:
        s_g = jnp.concatenate([s[ranges[i][0]:ranges[i][1]] for i in dense_ids])
        model_image = model_image + system.light_profile_blurred_mapping_matrix @ s_g
        unblurred = unblurred + system.light_profile_mapping_matrix @ s_g
    return model_image, unblurred


def residuals(ds: dict, model_data):
    """(d − m, (d − m)/σ, ((d − m)/σ)²), each (N,) float64, for the (N,) model image m (docs/maths.md#evidence)."""
    residual = ds["data"] - model_data
    normalized = residual / ds["noise"]
    return residual, normalized, normalized**2


def noise_normalization(ds: dict):
    """() float64 Σ ln 2πσ² over the unmasked pixels, precomputed by :func:`prepare_imaging`."""
    return ds["noise_normalization"]
