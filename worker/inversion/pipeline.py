"""One inversion, end to end: ``evaluate(signature, dataset_arrays, params, diag_value)``.

Everything that fixes shapes or control flow lives in the hashable :class:`Signature`; everything else is a
traced argument. ``compiled(signature)`` returns the jitted function for a signature (one compile per
signature); with ``signature.batch`` set, each parameter leaf marked batched carries a leading axis B and the
whole evaluation is one ``vmap``-ed call.

Formulas (spec §3, §5, §6): D = Bᵀ(d/σ²), F = (B/σ)ᵀ(B/σ) + diag(add), C = F + H, s = C⁻¹D or the non-negative
solution, χ² = Σ((d − Bs)/σ)², G = sᵀ_red H_red s_red, ln ε = −½[χ² + G + ln det C_red − ln det H_red + Σ ln 2πσ²].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import solvers, sparse_operator
from .convolution import convolve_columns
from .dataset import ImagingShape
from .linear_objects import BUILDERS, ObjectSpec, slots_to_dense
from .regularization import constant_laplacian_logdet_spectrum

SCALARS = ("figure_of_merit", "log_evidence", "log_likelihood", "chi_squared", "regularization_term",
           "log_det_curvature_reg_matrix_term", "log_det_regularization_matrix_term", "noise_normalization")
ARRAYS = ("reconstruction", "reconstruction_noise_map", "model_image", "residual_map", "normalized_residual_map",
          "chi_squared_map", "mapped_reconstructed_image")
#: matrices, for tests and debugging only
MATRICES = ("mapping_matrix", "blurred_mapping_matrix", "data_vector", "curvature_matrix", "regularization_matrix")


@dataclass(frozen=True)
class SolverSettings:
    """autoarray's Settings fields that change the computation's structure (the diagonal value is traced)."""

    use_mixed_precision: bool = False
    use_positive_only_solver: bool = True
    use_edge_zeroed_pixels: bool = True
    use_border_relocator: bool = False


@dataclass(frozen=True)
class Signature:
    dataset: ImagingShape
    objects: tuple[ObjectSpec, ...]
    settings: SolverSettings
    nnls: solvers.NNLSOptions
    outputs: tuple[str, ...] = ()
    batch: int | None = None  # B, or None for a single evaluation
    batch_axes: tuple = ()  # per object: tuple of (leaf path, 0 | None), hashable form of vmap in_axes
    operator: str = "sparse"  # "sparse": host scipy.sparse curvature (CPU); "dense": XLA FFT + GEMM (GPU)

    @property
    def param_ranges(self) -> list[tuple[int, int]]:
        out, start = [], 0
        for o in self.objects:
            out.append((start, start + o.params))
            start += o.params
        return out

    @property
    def total_params(self) -> int:
        return sum(o.params for o in self.objects)

    @property
    def free_indices(self) -> np.ndarray:
        """Parameters the positive-only solve may move: all but edge-zeroed mapper pixels (each mapper's zeroed
        pixels at its own offset, wherever it sits in the list: spec Appendix B.7 assumed mappers last)."""
        p = self.total_params
        if not (self.settings.use_positive_only_solver and self.settings.use_edge_zeroed_pixels):
            return np.arange(p)
        zeroed = [start + o.zeroed for o, (start, _) in zip(self.objects, self.param_ranges, strict=True)]
        return np.setdiff1d(np.arange(p), np.concatenate(zeroed))

    @property
    def dense_objects(self) -> tuple[int, ...]:
        """Objects given as dense operated columns (light profiles); all others arrive as interpolation slots."""
        return tuple(i for i, o in enumerate(self.objects) if o.kind == "gaussians")

    @property
    def slot_objects(self) -> tuple[int, ...]:
        return tuple(i for i in range(len(self.objects)) if i not in self.dense_objects)

    @property
    def reduced_objects(self) -> tuple[int, ...]:
        """Objects whose block enters G, ln det C and ln det H (spec §5.1, §6.2)."""
        regularized = [o.regularization is not None for o in self.objects]
        if not any(regularized):
            return ()
        if all(regularized):
            return tuple(range(len(self.objects)))
        return tuple(i for i, o in enumerate(self.objects) if o.kind == "mapper")


def _curvature_dense(a):
    """F = AᵀA with A = B/σ, always in float64: autoarray's Settings documentation keeps the noise weighting and
    the accumulation of F (and D) in fp64 under mixed precision (docs/numerics.md)."""
    return jnp.dot(a.T, a)


def _matrices(sig: Signature, ds: dict, params: list) -> list:
    """Each linear object's mapping (slots or dense columns) and regularization block for one evaluation."""
    return [BUILDERS[o.kind](o, ds, sig.dataset, p, sig.settings) for o, p in zip(sig.objects, params, strict=True)]


def _front(sig: Signature, ds: dict, params: list, diag_value):
    """Build D, F, H, C (and what the model image needs) for one evaluation."""
    mats = _matrices(sig, ds, params)
    return _with_regularization(_system(sig, ds, mats, diag_value), _regularization(sig, mats, params))


def _with_regularization(system: dict, reg: dict) -> dict:
    return {**system, **reg, "C": system["F"] + reg["H"]}


def _system(sig: Signature, ds: dict, mats: list, diag_value) -> dict:
    """D and F (with the diagonal term of unregularized objects), and what the model image needs: everything that
    depends on the mappings only, not on any regularization parameter."""
    mixed = sig.settings.use_mixed_precision
    ranges = sig.param_ranges
    slot_ids, dense_ids = sig.slot_objects, sig.dense_objects
    noise = ds["noise"]
    out = {}
    want_dense = sig.operator == "dense" or {"mapping_matrix", "blurred_mapping_matrix"} & set(sig.outputs)
    if want_dense:
        full = [slots_to_dense(m.slots, o.params, ds, sig.dataset, mixed) if m.slots is not None
                else (m.mapping, m.operated) for m, o in zip(mats, sig.objects, strict=True)]
        out["M"] = jnp.concatenate([f[0] for f in full], axis=1)
        out["B"] = jnp.concatenate([f[1] for f in full], axis=1)
    if sig.operator == "dense":
        d = jnp.dot(out["B"].T, ds["data"] / noise**2)
        f = _curvature_dense(out["B"] / noise[:, None])
    else:
        # slot columns (mappers, bases) through the sparse host operator, dense columns (light profiles) in JAX;
        # the slot columns are numbered compactly, then everything is put back in parameter order
        idx_s = np.concatenate([np.arange(*ranges[i]) for i in slot_ids]) if slot_ids else np.zeros(0, int)
        idx_g = np.concatenate([np.arange(*ranges[i]) for i in dense_ids]) if dense_ids else np.zeros(0, int)
        rows, cols, vals, start = [], [], [], 0
        for i in slot_ids:
            r, c, v = mats[i].slots
            rows.append(r)
            cols.append(jnp.where(c >= 0, c + start, -1))
            vals.append(v)
            start += sig.objects[i].params
        g = (jnp.concatenate([mats[i].operated for i in dense_ids], axis=1) if dense_ids
             else jnp.zeros((sig.dataset.pixels, 0)))
        mg = (jnp.concatenate([mats[i].mapping for i in dense_ids], axis=1) if dense_ids
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
            out["slots"] = (rows, cols, vals)
        if dense_ids:
            f = f.at[np.ix_(idx_g, idx_g)].set(_curvature_dense(g / noise[:, None]))
            d = d.at[idx_g].set(jnp.dot(g.T, ds["data"] / noise**2))
        out["G"], out["MG"] = g, mg
    unreg = np.concatenate([np.full(o.params, o.regularization is None) for o in sig.objects])
    f = f + jnp.diag(jnp.where(unreg, diag_value, 0.0))
    out.update({"D": d, "F": f})
    return out


def _regularization(sig: Signature, mats: list, params: list) -> dict:
    """H (block diagonal over the objects) and ln det of the regularized blocks."""
    blocks = [mm.regularization if mm.regularization is not None else jnp.zeros((o.params, o.params))
              for mm, o in zip(mats, sig.objects, strict=True)]
    h = jax.scipy.linalg.block_diag(*blocks)
    ld_h = sum((_logdet_block(sig.objects[i], blocks[i], params[i]) for i in sig.reduced_objects), jnp.zeros(()))
    return {"H": h, "ld_h": ld_h}


def _images(sig: Signature, ds: dict, sysm, s):
    """(blurred model image B s, unblurred image M s) for the solution s."""
    if sig.operator == "dense":
        return sysm["B"] @ s, sysm["M"] @ s
    ranges = sig.param_ranges
    slot_ids, dense_ids = sig.slot_objects, sig.dense_objects
    n = sig.dataset.pixels
    unblurred = jnp.zeros(n)
    model = jnp.zeros(n)
    if slot_ids:
        s_s = jnp.concatenate([s[ranges[i][0]:ranges[i][1]] for i in slot_ids])
        img = sparse_operator.apply_slots(*sysm["slots"], s_s, n)
        h, w = sig.dataset.mm_canvas
        canvas = jnp.zeros((1, h * w)).at[0, ds["mm_flat"]].set(img)
        model = model + convolve_columns(canvas, (h, w), ds["mm_kfft"], ds["mm_flat"])[:, 0]
        unblurred = unblurred + img
    if dense_ids:
        s_g = jnp.concatenate([s[ranges[i][0]:ranges[i][1]] for i in dense_ids])
        model = model + sysm["G"] @ s_g
        unblurred = unblurred + sysm["MG"] @ s_g
    return model, unblurred


def _start(sig: Signature, sysm, start=None):
    """One Cholesky factor of the full C: the unconstrained solution (and ln det C later), or the sign pattern
    that starts the positive-only active-set solve (as good a start as the kept block's own solution: same
    iteration counts on the benchmark case) followed by that solve.

    ``start``: a free-set pattern to start from instead (the previous lane's solution in a scan of
    regularization coefficients: 1.7 pivoting steps per lane instead of 7.8 on the benchmark case). The start
    changes the path, never the answer: the solution is certified by its KKT conditions either way."""
    c, d = sysm["C"], sysm["D"]
    chol = solvers.cholesky(c)
    s_unc = solvers.cho_solve(chol, d)
    if not sig.settings.use_positive_only_solver:
        return {"s": s_unc, "chol": chol, "certified": jnp.array(True)}
    keep = sig.free_indices
    q, rhs = c[np.ix_(keep, keep)], d[keep]
    # lanes run one at a time on the sparse (CPU) backend, where the free-block factorisation pays off; under
    # vmap (dense backend) lax.switch would evaluate every block size, so the full masked solve is used there
    x, ok, _ = solvers.bpp_nnls(q, rhs, s_unc[keep] > 0 if start is None else start, sig.nnls.max_iter,
                                compact=sig.operator == "sparse")
    return {"x": x, "chol": chol, "certified": ok}


def _fallback(sig: Signature, sysm):
    keep = sig.free_indices
    return solvers.jaxnnls_solve(sysm["C"][np.ix_(keep, keep)], sysm["D"][keep], sig.nnls)


def _back(sig: Signature, ds: dict, sysm, s, chol):
    """Evidence terms and requested arrays for the solution s."""
    model, unblurred = _images(sig, ds, sysm, s)
    resid = ds["data"] - model
    norm = resid / ds["noise"]
    chi2 = jnp.sum(norm**2)
    nn = ds["noise_normalization"]
    red_objs = sig.reduced_objects
    if red_objs:
        ranges = sig.param_ranges
        idx = np.concatenate([np.arange(*ranges[i]) for i in red_objs])
        full = len(idx) == sig.total_params
        s_red, h_red = s[idx], sysm["H"][np.ix_(idx, idx)]
        g = s_red @ h_red @ s_red
        if full:
            ld_c = solvers.logdet_from_cholesky(chol)
        else:
            ld_c = solvers.logdet_from_cholesky(solvers.cholesky(sysm["C"][np.ix_(idx, idx)]))
        ld_h = sysm["ld_h"]
    else:
        g = ld_c = ld_h = jnp.zeros(())
    log_like = -0.5 * (chi2 + nn)
    log_ev = -0.5 * (chi2 + g + ld_c - ld_h + nn)
    out = {"figure_of_merit": log_ev, "log_evidence": log_ev, "log_likelihood": log_like, "chi_squared": chi2,
           "regularization_term": g, "log_det_curvature_reg_matrix_term": ld_c,
           "log_det_regularization_matrix_term": ld_h, "noise_normalization": nn}
    wanted = set(sig.outputs)
    arrays = {"reconstruction": lambda: s, "model_image": lambda: model, "residual_map": lambda: resid,
              "normalized_residual_map": lambda: norm, "chi_squared_map": lambda: norm**2,
              "mapped_reconstructed_image": lambda: unblurred,
              "reconstruction_noise_map": lambda: jnp.sqrt(jnp.diag(solvers.cho_solve(chol, jnp.eye(s.shape[0])))),
              "mapping_matrix": lambda: sysm["M"], "blurred_mapping_matrix": lambda: sysm["B"],
              "data_vector": lambda: sysm["D"], "curvature_matrix": lambda: sysm["F"],
              "regularization_matrix": lambda: sysm["H"]}
    out.update({k: f() for k, f in arrays.items() if k in wanted})
    return out


def _logdet_block(spec: ObjectSpec, block, p):
    """ln det of one regularization block. For constant regularization on a fixed graph the spectrum μ of the
    unscaled Laplacian is precomputed per mesh shape: ln det(λ²L + 1e-8 I) = Σ ln(λ²μ + 1e-8), no factorisation."""
    edges = spec.static_edges
    if spec.regularization == "constant" and edges is not None:
        mu = jnp.asarray(constant_laplacian_logdet_spectrum(edges, spec.params))
        return jnp.sum(jnp.log(p["regularization"]["coefficient"] ** 2 * mu + 1e-8))
    ld = solvers.logdet_from_cholesky(solvers.cholesky(block))
    # a singular H (e.g. brightness_zeroth alone, which is exactly zero at the brightest pixel) has no evidence:
    # report NaN rather than the +inf that ln det H = -inf would put into the log evidence
    return jnp.where(jnp.isfinite(ld), ld, jnp.nan)


def _unbatched(sig: Signature, ds, params, diag_value):
    return _solve(sig, ds, _front(sig, ds, params, diag_value))[0]


def _solve(sig: Signature, ds, sysm, start=None):
    """Solution, evidence terms and requested arrays of one evaluation from its linear system; also the positive
    pattern of the solution's free entries (a start for a neighbouring problem, see :func:`_start`)."""
    st = _start(sig, sysm, start)
    if sig.settings.use_positive_only_solver:
        x = lax.cond(st["certified"], lambda: st["x"], lambda: _fallback(sig, sysm))
        s = jnp.zeros(sig.total_params).at[sig.free_indices].set(x)
    else:
        s = st["s"]
    out = _back(sig, ds, sysm, s, st["chol"])
    out["solver_certified"] = st["certified"]
    return out, s[sig.free_indices] > 0


def _axes(sig: Signature):
    """vmap in_axes for the params list from the hashable signature form."""
    return [{k: v if not isinstance(v, tuple) else dict(v) for k, v in obj} for obj in sig.batch_axes]


def _batched(sig: Signature, ds, params, diag_value):
    axes = _axes(sig)
    sysm = jax.vmap(lambda p: _front(sig, ds, p, diag_value), in_axes=(axes,))(params)
    st = jax.vmap(lambda sm: _start(sig, sm))(sysm)
    if sig.settings.use_positive_only_solver:
        # lanes the active-set method could not certify are re-solved with jaxnnls; the branch is taken only
        # when some lane needs it (the predicate is over the whole batch, so lax.cond stays a real branch)
        x = lax.cond(jnp.all(st["certified"]), lambda: st["x"],
                     lambda: jnp.where(st["certified"][:, None], st["x"],
                                       jax.vmap(lambda sm: _fallback(sig, sm))(sysm)))
        s = jnp.zeros((sig.batch, sig.total_params)).at[:, sig.free_indices].set(x)
    else:
        s = st["s"]
    out = jax.vmap(lambda sm, si, ch: _back(sig, ds, sm, si, ch))(sysm, s, st["chol"])
    out["solver_certified"] = st["certified"]
    return out


def _mapped(sig: Signature, ds, params, diag_value):
    """A batch as a loop over lanes (``lax.map``): exactly the single-call computation for each lane.

    Used on the CPU (sparse) backend, where vectorising gains nothing and jaxlib's batched LAPACK kernels can
    deadlock their own two-thread pool on a 2-core machine (nested ParallelBatchMap, observed here).

    When only regularization parameters vary along the batch (a scan of coefficients for a fixed lens model),
    the mappings, D and F are the same for every lane: they are built once, outside the loop, and each lane
    builds only its H and solves (what ``vmap`` gives autoarray for free), its positive-only solve starting from
    the previous lane's solution. Any other batched field (source grids, vertices, Gaussian parameters, adapt
    images) makes every lane build everything from scratch.
    """
    axes = _axes(sig)
    batched = {}  # (object, key[, sub-key]) -> array with the batch axis

    def strip(p, a, path):
        out = {}
        for key, value in p.items():
            ax = a.get(key)
            if isinstance(value, dict):
                out[key] = strip(value, ax or {}, path + (key,))
            elif ax == 0:
                batched[path + (key,)] = value
            else:
                out[key] = value
        return out

    fixed = [strip(p, a, (i,)) for i, (p, a) in enumerate(zip(params, axes, strict=True))]

    def lane_params(leaves):
        out = [dict(p, **{k: dict(v) for k, v in p.items() if isinstance(v, dict)}) for p in fixed]
        for path, value in leaves.items():
            target = out[path[0]]
            for key in path[1:-1]:
                target = target[key]
            target[path[-1]] = value
        return out

    if batched and all(path[1] == "regularization" for path in batched):
        first = lane_params({path: value[0] for path, value in batched.items()})
        first_mats = _matrices(sig, ds, first)
        system = _system(sig, ds, first_mats, diag_value)

        def regularization_lane(previous, leaves):
            p = lane_params(leaves)
            sysm = _with_regularization(system, _regularization(sig, _matrices(sig, ds, p), p))
            out, pattern = _solve(sig, ds, sysm, start=previous)
            return pattern, out

        # the first lane starts from its own unconstrained solution, every later one from its predecessor's
        first_out, pattern = _solve(sig, ds, _with_regularization(system, _regularization(sig, first_mats, first)))
        rest = {path: value[1:] for path, value in batched.items()}
        _, outs = lax.scan(regularization_lane, pattern, rest)
        return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first_out, outs)
    return lax.map(lambda leaves: _unbatched(sig, ds, lane_params(leaves), diag_value), batched)


TRACE_COUNT = {"n": 0}  # incremented at trace time: lets tests prove that a signature does not retrace


def _run(sig: Signature, ds, params, diag_value):
    TRACE_COUNT["n"] += 1
    if sig.batch is None:
        return _unbatched(sig, ds, params, diag_value)
    return (_mapped if sig.operator == "sparse" else _batched)(sig, ds, params, diag_value)


evaluate = jax.jit(_run, static_argnums=0)


def compiled(sig: Signature):
    """The jitted evaluation for one signature (jax.jit caches the executable per signature and shapes)."""
    return partial(evaluate, sig)
