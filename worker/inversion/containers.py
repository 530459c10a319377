"""Typed containers passed between the stages of the core (a leaf module: it imports no stage, so a dataset kind
can build them without importing the stage that calls it)."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp


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
