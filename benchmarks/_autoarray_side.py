"""The autoarray side of benchmarks/core_vs_autoarray.py. Runs in the oracle's Python 3.12 environment
(tools/oracle/requirements-oracle.txt): loads the case written by the driver, times autoarray's own JAX path
(jit for single calls, jit(vmap) for batches) and prints one JSON line.

    python _autoarray_side.py CASE.npz BATCH MIXED REPEATS
"""

import json
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)  # autoarray's JAX path assumes float64; before jaxnnls is imported
import autoarray as aa  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

path, batch, mixed, repeats = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
case = np.load(path)
ps = float(case["pixel_scale"])
dataset = aa.Imaging(
    data=aa.Array2D.no_mask(values=case["data"], pixel_scales=ps),
    noise_map=aa.Array2D.no_mask(values=case["noise_map"], pixel_scales=ps),
    psf=aa.Convolver(kernel=aa.Array2D.no_mask(values=case["psf"].copy(), pixel_scales=ps)),
    over_sample_size_pixelization=int(case["sub_size"]),
).apply_mask(mask=aa.Mask2D(mask=case["mask"].astype(bool), pixel_scales=ps))
settings = aa.Settings(use_mixed_precision=mixed, use_positive_only_solver=True, use_edge_zeroed_pixels=True,
                       use_border_relocator=False)
shape = tuple(int(x) for x in case["mesh_shape"])
d, n = jnp.asarray(dataset.data.array), jnp.asarray(dataset.noise_map.array)
noise_norm = jnp.sum(jnp.log(2 * np.pi * n**2))


def figure_of_merit(coefficient):
    interp = aa.mesh.RectangularUniform(shape=shape).interpolator_from(
        source_plane_data_grid=dataset.grids.pixelization, source_plane_mesh_grid=None, border_relocator=None,
        xp=jnp)
    mapper = aa.Mapper(interpolator=interp, regularization=aa.reg.Constant(coefficient=coefficient),
                       settings=settings, xp=jnp)
    inv = aa.Inversion(dataset=dataset, linear_obj_list=[mapper], settings=settings, xp=jnp)
    model = inv.mapped_reconstructed_operated_data.array
    chi2 = jnp.sum(((d - model) / n) ** 2)
    return aa.util.fit.log_evidence_from(
        chi_squared=chi2, regularization_term=inv.regularization_term,
        log_curvature_regularization_term=inv.log_det_curvature_reg_matrix_term,
        log_regularization_term=inv.log_det_regularization_matrix_term, noise_normalization=noise_norm)


coefs = jnp.asarray(case["coefficients"][: max(batch, 1)])
fn = jax.jit(figure_of_merit) if batch == 0 else jax.jit(jax.vmap(figure_of_merit))
arg = coefs[0] if batch == 0 else coefs
t0 = time.perf_counter()
out = jax.block_until_ready(fn(arg))
compile_s = time.perf_counter() - t0
times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(arg))
    times.append(time.perf_counter() - t0)
print(json.dumps({"compile_s": compile_s, "times": times, "fom": np.atleast_1d(np.asarray(out)).tolist(),
                  "version": aa.__version__}))
