"""What a golden case is made of: the specifications of its linear objects, its settings and the case itself."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class MapperSpec:
    """A pixelization: mesh type, rectangular shape (None for Delaunay), regularization scheme, traced source grid."""

    mesh: str  # "rectangular_uniform" | "delaunay" | "rectangular_bilinear_adapt_density"
    shape: tuple[int, int] | None = None
    reg: str = "constant"
    traced: bool = False
    overlay_shape: tuple[int, int] = (5, 5)

    kind = "mapper"


@dataclass
class GaussiansSpec:
    """n linear elliptical Gaussians sharing centre and ell_comps, sigmas log-spaced from 10**-1.5 to 1.5."""

    centre: tuple[float, float] = (0.05, -0.1)
    ell_comps: tuple[float, float] = (0.1, -0.05)
    n: int = 10

    kind = "gaussians"

    @property
    def sigmas(self) -> np.ndarray:
        """The n Gaussian widths (arcsec)."""
        return 10 ** np.linspace(-1.5, np.log10(1.5), self.n)


@dataclass
class BasisSpec:
    """The fixed image basis of `basis_images`, with a regularization scheme."""

    reg: str = "null"

    kind = "basis"


@dataclass
class Case:
    """One golden case; `path` is "numpy" or "jax" (autoarray's xp)."""

    name: str
    dataset: str
    objects: list
    settings: dict
    description: str
    path: str = "numpy"
    deviations: list = field(default_factory=list)


def settings_dict(positive_only=False, edge=True, border=False, diag=1e-3, mixed=False) -> dict:
    """All five aa.Settings fields, as the case's "settings" (and the service's) spell them."""
    return {
        "use_mixed_precision": bool(mixed),
        "use_positive_only_solver": bool(positive_only),
        "use_edge_zeroed_pixels": bool(edge),
        "use_border_relocator": bool(border),
        "no_regularization_add_to_curvature_diag_value": float(diag),
    }
