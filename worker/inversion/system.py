"""The linear system of one evaluation: the typed container and its assembly (docs/maths.md#linear-system).

Assembly runs in two parts, because a batch of regularization coefficients shares the first:

1. :func:`mappings_system`: each linear object's mapping (:mod:`~worker.inversion.linear_objects`), then the
   dataset kind's data vector D and curvature matrix F (:mod:`~worker.inversion.kinds`), with
   ``diag_value`` added to F's diagonal for unregularized parameters;
2. :func:`regularized`: the block-diagonal regularization matrix H, C = F + H and ln det H of the reduced
   objects (docs/maths.md#evidence).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import evidence, kinds
from .containers import LinearSystem
from .linear_objects import BUILDERS, ObjectMatrices
from .signature import Signature

__all__ = ["LinearSystem", "assemble", "mappings_system", "object_matrices", "regularized"]


def object_matrices(sig: Signature, ds: dict, params: list) -> list[ObjectMatrices]:
    """Each linear object's mapping (slots or dense columns) and regularization block, in parameter order.

    ``params``: one dict of traced parameters per object. Raises nothing for numerical trouble.
    """
    return [BUILDERS[o.kind](o, ds, sig.dataset, p, sig.settings) for o, p in zip(sig.objects, params, strict=True)]


def mappings_system(sig: Signature, ds: dict, matrices: list[ObjectMatrices], diag_value) -> LinearSystem:
    """D, F (with ``diag_value``, a () float64, added to the diagonal of unregularized parameters) and what the
    model data need: everything that depends on the mappings only, not on any regularization parameter.

    Also ``triangulation_valid`` (n_objects,) bool: True for objects without a triangulated mesh.
    """
    system = kinds.of(sig.dataset.kind).linear_system(sig, ds, matrices, diag_value)
    valid = [jnp.array(True) if m.triangulation_valid is None else m.triangulation_valid for m in matrices]
    return system._replace(triangulation_valid=jnp.stack(valid))


def regularized(sig: Signature, system: LinearSystem, matrices: list[ObjectMatrices], params: list) -> LinearSystem:
    """``system`` with H = blockdiag(H_1, …, H_n) (zero blocks for unregularized objects), C = F + H and
    Σ ln det H_i over :attr:`Signature.reduced_objects` (docs/maths.md#regularization)."""
    blocks = [m.regularization if m.regularization is not None else jnp.zeros((o.params, o.params))
              for m, o in zip(matrices, sig.objects, strict=True)]
    h = jax.scipy.linalg.block_diag(*blocks)
    ld_h = sum((evidence.log_det_regularization_block(sig.objects[i], blocks[i], params[i])
                for i in sig.reduced_objects), jnp.zeros(()))
    return system._replace(regularization_matrix=h, curvature_reg_matrix=system.curvature_matrix + h,
                           log_det_regularization_matrix_term=ld_h)


def assemble(sig: Signature, ds: dict, params: list, diag_value) -> LinearSystem:
    """The whole system of one evaluation: :func:`mappings_system`, then :func:`regularized`."""
    matrices = object_matrices(sig, ds, params)
    return regularized(sig, mappings_system(sig, ds, matrices, diag_value), matrices, params)
