"""The linear system of one evaluation: the typed container and its assembly (docs/maths.md#linear-system).

Assembly runs in two parts, because a batch of regularization coefficients shares the first:

1. :func:`mappings_system`: each linear object's mapping (:mod:`~worker.inversion.linear_objects`), then the
   dataset kind's data vector D and curvature matrix F (:mod:`~worker.inversion.kinds`), with
   ``diag_value`` added to F's diagonal for unregularized parameters;
2. :func:`regularized`: the block-diagonal regularization matrix H, C = F + H and ln det H of the reduced
   objects (docs/maths.md#evidence).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import evidence, kinds
from .linear_objects import BUILDERS, ObjectMatrices
from .signature import Signature


class LinearSystem(NamedTuple):
    """The regularized linear system C s = D and what the model data need (a pytree: it passes through ``vmap``,
    ``lax.map`` and ``lax.scan``; None fields are empty). N data points, P = Σ S_i parameters, float64.

    ``mapping_matrix`` / ``blurred_mapping_matrix`` (N, P) are formed only by the dense operator backend or
    when requested (None otherwise); ``blurred`` is the dataset kind's operator (PSF convolution for imaging).
    The sparse backend keeps instead the slot form of its slot objects' columns, numbered compactly in
    ``signature.slot_objects`` order, and the dense columns of its light profiles.
    """

    data_vector: jnp.ndarray  # (P,) D = Bᵀ(d/σ²)
    curvature_matrix: jnp.ndarray  # (P, P) F = (B/σ)ᵀ(B/σ) + diag(value for unregularized parameters)
    regularization_matrix: jnp.ndarray | None = None  # (P, P) H, block diagonal over the objects
    curvature_reg_matrix: jnp.ndarray | None = None  # (P, P) C = F + H
    log_det_regularization_matrix_term: jnp.ndarray | None = None  # () Σ ln det H over the reduced objects
    mapping_matrix: jnp.ndarray | None = None  # (N, P) M, unoperated
    blurred_mapping_matrix: jnp.ndarray | None = None  # (N, P) B, operated
    mapping_slots: tuple | None = None  # (rows (K,), cols (K,), values (K,)): the slot objects' M, cols compact
    light_profile_mapping_matrix: jnp.ndarray | None = None  # (N, G) the light-profile columns of M
    light_profile_blurred_mapping_matrix: jnp.ndarray | None = None  # (N, G) the light-profile columns of B
    triangulation_valid: jnp.ndarray | None = None  # (n_objects,) bool: False where a triangulation failed


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
