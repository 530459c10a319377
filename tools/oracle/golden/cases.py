"""The case table: every golden case, in the order of the files in MANIFEST.json."""

from __future__ import annotations

from .cases_function_lists import basis_cases, gaussians_cases, mixed_precision_cases
from .cases_mappers import (
    dataset_b_cases,
    mesh_regularization_cases,
    positive_only_cases,
    traced_cases,
    unregularized_diagonal_cases,
)
from .specs import Case


def all_cases() -> list[Case]:
    """Every case: single mappers first, then function lists, then the mixed-precision JAX cases."""
    cases = (
        mesh_regularization_cases()
        + positive_only_cases()
        + traced_cases()
        + dataset_b_cases()
        + unregularized_diagonal_cases()
        + gaussians_cases()
        + basis_cases()
        + mixed_precision_cases()
    )
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases
