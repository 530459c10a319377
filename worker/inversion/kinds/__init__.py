"""Dataset kinds: everything that depends on what the data are (an image, visibilities), behind one interface.

The generic stages (:mod:`~worker.inversion.system`, :mod:`~worker.inversion.evidence`) never look at dataset
arrays themselves: they ask the kind of the signature's dataset (``signature.dataset.kind``) through the
:class:`DatasetKind` interface below. A kind is one module of this package that defines those functions, plus
its own host-side preparation (e.g. :func:`~worker.inversion.kinds.imaging.prepare_imaging`) returning a
hashable shape description whose ``kind`` names the module. Adding a kind (interferometer: visibilities, NUFFT)
is a new module and one entry in :data:`KINDS`; the pipeline does not change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import jax.numpy as jnp

    from ..linear_objects import ObjectMatrices
    from ..signature import Signature
    from ..system import LinearSystem

#: kind name (``shape.kind``) -> module of this package that implements :class:`DatasetKind`
KINDS: dict[str, str] = {"imaging": "imaging"}


class DatasetKind(Protocol):
    """What the generic stages need from a dataset kind; ``ds`` is the prepared dict of device arrays.

    Shapes: N data points (pixels), P linear parameters; all float64 unless said otherwise.
    """

    def linear_system(self, sig: Signature, ds: dict, matrices: list[ObjectMatrices],
                      diag_value: jnp.ndarray) -> LinearSystem:
        """The data vector D (P,) and curvature matrix F (P, P) of the objects' ``matrices`` (one per object,
        in parameter order), with ``diag_value`` added to F's diagonal for unregularized parameters, and what
        :meth:`model` needs; regularization fields left None (docs/maths.md#linear-system)."""

    def model(self, sig: Signature, ds: dict, system: LinearSystem,
              reconstruction: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        """(model data (N,), mapped reconstructed image (N,)) for the (P,) ``reconstruction``: the operated and
        the unoperated mapping matrix times the solution."""

    def residuals(self, ds: dict, model_data: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
        """(residual map, normalized residual map, chi-squared map), each (N,), for ``model_data`` (N,);
        χ² is the sum of the last (docs/maths.md#evidence)."""

    def noise_normalization(self, ds: dict) -> jnp.ndarray:
        """() the noise normalisation of the evidence, Σ ln 2πσ² over the data points."""


def of(name: str) -> DatasetKind:
    """The module implementing kind ``name`` (imported on first use). Raises KeyError for an unknown kind."""
    return importlib.import_module(f"{__name__}.{KINDS[name]}")
