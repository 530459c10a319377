"""How the lanes of an evaluation run: one lane, a ``vmap`` (dense backend), or a loop (sparse backend).

A single evaluation is :func:`single`: assemble the system, solve it, compute the evidence. A batch of B lanes
(every batched parameter leaf has a leading axis B) runs as

* :func:`vectorised` on the dense (GPU) backend: one ``vmap`` of each stage;
* :func:`looped` on the sparse (CPU) backend: a ``lax.map`` of :func:`single` over the lanes, or, when only
  regularization parameters vary, a ``lax.scan`` over one shared mapping system.

Every function returns the result dict of :func:`~worker.inversion.evidence.result` plus ``solver_certified``
(() bool, or (B,)) and ``triangulation_valid`` ((n_objects,) bool, or (B, n_objects)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from . import evidence, solve, system
from .signature import Signature


def _lane(sig: Signature, ds: dict, sysm: system.LinearSystem, pattern=None):
    """Solution, evidence terms, requested arrays and ``solver_certified`` of one lane from its linear system; also
    the (F,) bool positive pattern of the solution's free entries (a start for a neighbouring problem, see
    :func:`solve.start`)."""
    s, first = solve.solve(sig, sysm, pattern)
    out = evidence.result(sig, ds, sysm, s, first.cholesky_factor)
    out["solver_certified"] = first.certified
    return out, s[sig.free_indices] > 0


def single(sig: Signature, ds: dict, params: list, diag_value) -> dict:
    """One evaluation: ``params`` holds one dict of traced parameters per object, ``diag_value`` is () float64."""
    sysm = system.assemble(sig, ds, params, diag_value)
    return {**_lane(sig, ds, sysm)[0], "triangulation_valid": sysm.triangulation_valid}


def in_axes(sig: Signature) -> list[dict]:
    """``vmap`` in_axes for the params list, from the hashable form in :attr:`Signature.batch_axes`."""
    return [{k: v if not isinstance(v, tuple) else dict(v) for k, v in obj} for obj in sig.batch_axes]


def vectorised(sig: Signature, ds: dict, params: list, diag_value) -> dict:
    """A batch as one ``vmap`` per stage (dense backend). Lanes the active-set method could not certify are
    re-solved with jaxnnls; that branch is taken only when some lane needs it (the predicate is over the whole
    batch, so ``lax.cond`` stays a real branch under the surrounding computation)."""
    systems = jax.vmap(lambda p: system.assemble(sig, ds, p, diag_value), in_axes=(in_axes(sig),))(params)
    first = jax.vmap(lambda sm: solve.start(sig, sm))(systems)
    if sig.settings.use_positive_only_solver:
        x = lax.cond(jnp.all(first.certified), lambda: first.values,
                     lambda: jnp.where(first.certified[:, None], first.values,
                                       jax.vmap(lambda sm: solve.fallback(sig, sm))(systems)))
        s = jnp.zeros((sig.batch, sig.total_params)).at[:, sig.free_indices].set(x)
    else:
        s = first.values
    out = jax.vmap(lambda sm, si, ch: evidence.result(sig, ds, sm, si, ch))(systems, s, first.cholesky_factor)
    out["solver_certified"] = first.certified
    out["triangulation_valid"] = systems.triangulation_valid
    return out


def _split_batched(params: list, axes: list[dict]):
    """(params without their batched leaves, {(object, key[, sub-key]): leaf with its batch axis})."""
    batched = {}

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

    return [strip(p, a, (i,)) for i, (p, a) in enumerate(zip(params, axes, strict=True))], batched


def _with_leaves(fixed: list, leaves: dict) -> list:
    """The params list of one lane: ``fixed`` with each (object, key[, sub-key]) leaf of ``leaves`` put back."""
    out = [dict(p, **{k: dict(v) for k, v in p.items() if isinstance(v, dict)}) for p in fixed]
    for path, value in leaves.items():
        target = out[path[0]]
        for key in path[1:-1]:
            target = target[key]
        target[path[-1]] = value
    return out


def looped(sig: Signature, ds: dict, params: list, diag_value) -> dict:
    """A batch as a loop over lanes (``lax.map``): exactly the single-call computation for each lane.

    Used on the CPU (sparse) backend, where vectorising gains nothing and jaxlib's batched LAPACK kernels can
    deadlock their own two-thread pool on a 2-core machine (nested ParallelBatchMap, observed here).

    When only regularization parameters vary along the batch (a scan of coefficients for a fixed lens model),
    the mappings, D and F are the same for every lane: they are built once, outside the loop, and each lane
    builds only its H and solves (what ``vmap`` gives autoarray for free), its positive-only solve starting from
    the previous lane's solution. Any other batched field (source grids, vertices, Gaussian parameters, adapt
    images) makes every lane build everything from scratch.
    """
    fixed, batched = _split_batched(params, in_axes(sig))
    if batched and all(path[1] == "regularization" for path in batched):
        first = _with_leaves(fixed, {path: value[0] for path, value in batched.items()})
        first_matrices = system.object_matrices(sig, ds, first)
        shared = system.mappings_system(sig, ds, first_matrices, diag_value)

        def regularization_lane(previous, leaves):
            p = _with_leaves(fixed, leaves)
            out, pattern = _lane(sig, ds, system.regularized(sig, shared, system.object_matrices(sig, ds, p), p),
                                 previous)
            return pattern, out

        # the first lane starts from its own unconstrained solution, every later one from its predecessor's
        first_out, pattern = _lane(sig, ds, system.regularized(sig, shared, first_matrices, first))
        rest = {path: value[1:] for path, value in batched.items()}
        _, outs = lax.scan(regularization_lane, pattern, rest)
        out = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first_out, outs)
        # the mappings, hence the triangulations, are the same for every lane
        valid = shared.triangulation_valid
        return {**out, "triangulation_valid": jnp.broadcast_to(valid, (sig.batch, *valid.shape))}
    return lax.map(lambda leaves: single(sig, ds, _with_leaves(fixed, leaves), diag_value), batched)
