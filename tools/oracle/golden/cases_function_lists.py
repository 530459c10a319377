"""Cases with function lists (autogalaxy's linear Gaussians, a basis of supplied images), alone or before a mapper,
and the mixed-precision cases on autoarray's JAX path."""

from __future__ import annotations

from . import deviations as dev
from .cases_mappers import DATASET_B_TEXT
from .specs import BasisSpec, Case, GaussiansSpec, MapperSpec, settings_dict

GAUSSIANS_TEXT = (
    "gaussians: autogalaxy ag.lp_linear.Gaussian x{n} in an ag.lp_basis.Basis (one galaxy), fitted with "
    "ag.FitImaging; expected values read off fit.inversion and the fit. Unit-intensity image of each Gaussian "
    "(no normalisation prefactor): exp(-(q^2 x'^2 + y'^2) / (2 sigma^2)) with f = min(|ell_comps|, 0.999), "
    "q = (1-f)/(1+f), phi = 0.5 atan2(e1, e2) (deg, +180 if < -45), (y', x') = (y, x) - centre rotated by -phi; "
    "averaged over the lp sub-grid (sub size 2). blurred_mapping_matrix = autogalaxy's operated mapping matrix "
    "(PSF convolution including the flux of the blurring-region pixels, sub size 1)."
)
BASIS_TEXT = (
    "basis: an aa.AbstractLinearObjFuncList subclass whose mapping matrix is the supplied images (a constant, two "
    "Gaussians, a tilted plane; slim); no operated override, so autoarray convolves them inside the mask only. "
)
GAUSSIANS = GaussiansSpec()
GAUSSIANS_B = GaussiansSpec(centre=(0.2, -0.1), ell_comps=(-0.08, 0.12), n=8)


# The image-plane mapper that follows a function list in the combined cases.
RECT_6X6_CONSTANT = MapperSpec(mesh="rectangular_uniform", shape=(6, 6), reg="constant")


def gaussians_cases() -> list[Case]:
    """autogalaxy linear Gaussians in a Basis, fitted with ag.FitImaging; alone, with dataset B, and before a mapper."""
    text = GAUSSIANS_TEXT.format(n=GAUSSIANS.n)
    cases = [
        Case(
            name="gaussians__posneg",
            dataset="A",
            objects=[GAUSSIANS],
            settings=settings_dict(),
            description=text + " Positive/negative solver.",
            deviations=[dev.PADDED_BLURRING],
        ),
        Case(
            name="gaussians__pos",
            dataset="A",
            objects=[GAUSSIANS],
            settings=settings_dict(positive_only=True),
            description=text + " Positive-only solver (NumPy fnnls); jax_figure_of_merit from the JAX "
            "path (jaxnnls; no mapper, so autoarray's 'raw' no-mapper preconditioning mode).",
            deviations=[dev.PADDED_BLURRING],
        ),
        Case(
            name="gaussians__posneg__diag0__datasetB",
            dataset="B",
            objects=[GAUSSIANS_B],
            settings=settings_dict(diag=0.0),
            description=DATASET_B_TEXT + GAUSSIANS_TEXT.format(n=GAUSSIANS_B.n) + " Positive/negative solver; "
            "no_regularization_add_to_curvature_diag_value = 0 (nothing added to F).",
        ),
    ]
    for pos in (False, True):
        cases.append(
            Case(
                name=f"gaussians_rect_uniform__constant__{'pos_edge' if pos else 'posneg'}",
                dataset="A",
                objects=[GAUSSIANS, RECT_6X6_CONSTANT],
                settings=settings_dict(positive_only=pos),
                description=text + " Plus a rectangular_uniform 6x6 + constant pixelization in a second "
                "galaxy (ag.Pixelization); autogalaxy orders function lists first, mappers last. "
                + ("Positive-only solver with edge zeroing." if pos else "Positive/negative solver."),
                deviations=[dev.PADDED_BLURRING, dev.MIXED_DET] + ([dev.EDGE] if pos else []),
            )
        )
    return cases


def basis_cases() -> list[Case]:
    """Arbitrary supplied images (autoarray blurs them inside the mask only), alone or before a mapper."""
    return [
        Case(
            name="basis__posneg",
            dataset="A",
            objects=[BasisSpec(reg="null")],
            settings=settings_dict(),
            description=BASIS_TEXT + "No regularization (diag 1e-3 added); positive/negative solver.",
        ),
        Case(
            name="basis_constant__posneg",
            dataset="A",
            objects=[BasisSpec(reg="constant")],
            settings=settings_dict(),
            description=BASIS_TEXT + "Constant regularization on the chain of neighbours i <-> i+1 (every object "
            "regularized, so the reduced matrices are the full ones); positive/negative solver.",
        ),
        Case(
            name="basis_rect_uniform__constant__posneg",
            dataset="A",
            objects=[BasisSpec(reg="null"), RECT_6X6_CONSTANT],
            settings=settings_dict(),
            description=BASIS_TEXT + "Unregularized basis first, then a rectangular_uniform 6x6 + constant mapper; "
            "positive/negative solver.",
            deviations=[dev.MIXED_DET],
        ),
    ]


def mixed_precision_cases() -> list[Case]:
    """use_mixed_precision=True on the JAX path: a 7x7 mapper (both solvers) and gaussians + mapper."""
    cases = []
    for pos in (False, True):
        cases.append(
            Case(
                name=f"rect_uniform__constant__{'pos_edge' if pos else 'posneg'}__mixed_jax",
                dataset="A",
                objects=[MapperSpec(mesh="rectangular_uniform", shape=(7, 7), reg="constant")],
                settings=settings_dict(positive_only=pos, mixed=True),
                path="jax",
                description="rectangular_uniform 7x7 + constant, use_mixed_precision=True on autoarray's JAX path "
                "(xp=jax.numpy, x64 enabled); "
                + ("positive-only (jaxnnls) with edge zeroing." if pos else "positive/negative solver."),
                deviations=[dev.MIXED_PRECISION] + ([dev.EDGE] if pos else []),
            )
        )
    cases.append(
        Case(
            name="gaussians_rect_uniform__constant__posneg__mixed_jax",
            dataset="A",
            objects=[GAUSSIANS, RECT_6X6_CONSTANT],
            settings=settings_dict(mixed=True),
            path="jax",
            description=GAUSSIANS_TEXT.format(n=GAUSSIANS.n) + " Plus rectangular_uniform 6x6 + constant; "
            "use_mixed_precision=True on the JAX path (ag.FitImaging(xp=jax.numpy)); positive/negative solver.",
            deviations=[dev.MIXED_PRECISION, dev.PADDED_BLURRING, dev.MIXED_DET],
        )
    )
    return cases
