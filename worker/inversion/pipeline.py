"""One inversion, end to end: ``evaluate(signature, dataset_arrays, params, diag_value)``, jitted once per signature.

Everything that fixes shapes or control flow lives in the hashable :class:`~worker.inversion.signature.Signature`
(the static argument); everything else is traced. With ``signature.batch`` set, each parameter leaf marked batched
carries a leading axis B. The stages, each its own module:

1. :mod:`~worker.inversion.system`: the linear objects' mappings and the dataset kind's D and F
   (:mod:`~worker.inversion.kinds`), then H and C = F + H (docs/maths.md#linear-system);
2. :mod:`~worker.inversion.solve`: C s = D, unconstrained or positive-only (docs/maths.md#solve);
3. :mod:`~worker.inversion.evidence`: χ², G, the log dets, ln ε and the requested arrays (docs/maths.md#evidence);
4. :mod:`~worker.inversion.batching`: how the lanes of a batch run.

``evaluate`` returns a dict keyed by the public names (``service/contract/vocabulary.py``): the scalars, the
requested arrays, ``solver_certified`` and ``triangulation_valid`` ((n_objects,) bool; (B, ...) for a batch).
"""

from __future__ import annotations

import jax

from service.contract.vocabulary import MATRIX_NAMES as MATRICES
from service.contract.vocabulary import OUTPUT_NAMES as ARRAYS
from service.contract.vocabulary import SCALAR_NAMES as SCALARS

from . import batching
from .signature import Signature, SolverSettings

__all__ = ["ARRAYS", "MATRICES", "SCALARS", "TRACE_COUNT", "Signature", "SolverSettings", "evaluate"]

TRACE_COUNT = {"n": 0}  # incremented at trace time: lets tests prove that a signature does not retrace


def _run(sig: Signature, ds, params, diag_value):
    TRACE_COUNT["n"] += 1
    if sig.batch is None:
        return batching.single(sig, ds, params, diag_value)
    return (batching.looped if sig.operator == "sparse" else batching.vectorised)(sig, ds, params, diag_value)


#: evaluate(sig, ds, params, diag_value) -> dict. ``sig``: Signature (static); ``ds``: the prepared dataset's
#: device arrays; ``params``: one dict of traced parameters per linear object; ``diag_value``: () float64 added
#: to F's diagonal for unregularized parameters. Raises nothing for numerical trouble (NaN, uncertified solves
#: and failed triangulations are returned).
evaluate = jax.jit(_run, static_argnums=0)
