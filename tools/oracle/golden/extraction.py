"""Running an inversion and reading the expected values off it: pure autoarray (aa.Inversion + aa.m.MockFitImaging)
or autogalaxy (ag.FitImaging) when the case has linear Gaussians."""

from __future__ import annotations

from typing import Any

import autoarray as aa
import autogalaxy as ag
import numpy as np

from .datasets import Dataset
from .linear_objects import Built, unit_gaussian_image
from .regularizations import REGULARIZATIONS, regularization_from
from .specs import Case
from .values import f64, flist, fscalar


def aa_settings(s: dict) -> Any:
    """aa.Settings with all five fields taken from a case's settings dict (nothing left to autoarray's config)."""
    return aa.Settings(
        use_mixed_precision=s["use_mixed_precision"],
        use_positive_only_solver=s["use_positive_only_solver"],
        use_edge_zeroed_pixels=s["use_edge_zeroed_pixels"],
        use_border_relocator=s["use_border_relocator"],
        no_regularization_add_to_curvature_diag_value=s["no_regularization_add_to_curvature_diag_value"],
    )


def nnls_config() -> dict:
    """The JAX NNLS options autoarray's config supplies (not Settings fields): the case's "nnls"."""
    inv = aa.conf.instance["general"]["inversion"]
    return {
        "jacobi_preconditioning": bool(inv["nnls_jacobi_preconditioning"]),
        "target_kappa": float(inv["nnls_target_kappa"]),
    }


def expected_from(inversion, fit, model_image) -> dict:
    """The case's "expected": the inversion's matrices, reconstruction and log-determinants, and the fit's
    chi-squared, noise normalisation, log evidence / likelihood and figure of merit. The fit is read first."""
    fit_values = {
        name: getattr(fit, name)
        for name in ("chi_squared", "noise_normalization", "log_evidence", "log_likelihood", "figure_of_merit")
    }
    try:
        rnm = flist(inversion.reconstruction_noise_map)
    except Exception:  # not every inversion exposes it
        rnm = None
    P = f64(inversion.reconstruction).shape[0]
    H = inversion.regularization_matrix
    H = np.zeros((P, P)) if H is None else f64(H)
    return {
        "mapping_matrix": flist(inversion.mapping_matrix),
        "blurred_mapping_matrix": flist(inversion.operated_mapping_matrix),
        "data_vector": flist(inversion.data_vector),
        "curvature_matrix": flist(inversion.curvature_matrix),
        "regularization_matrix": flist(H),
        "curvature_reg_matrix": flist(inversion.curvature_reg_matrix),
        "reconstruction": flist(inversion.reconstruction),
        "reconstruction_noise_map": rnm,
        "model_image": flist(model_image),
        "mapped_reconstructed_image": flist(inversion.mapped_reconstructed_data),
        "chi_squared": fscalar(fit_values["chi_squared"]),
        "regularization_term": fscalar(inversion.regularization_term),
        "log_det_curvature_reg_matrix_term": fscalar(inversion.log_det_curvature_reg_matrix_term),
        "log_det_regularization_matrix_term": fscalar(inversion.log_det_regularization_matrix_term),
        "noise_normalization": fscalar(fit_values["noise_normalization"]),
        "log_evidence": fscalar(fit_values["log_evidence"]),
        "log_likelihood": fscalar(fit_values["log_likelihood"]),
        "figure_of_merit": fscalar(fit_values["figure_of_merit"]),
    }


def run_autoarray(ds: Dataset, built: list[Built], settings: dict, xp) -> dict:
    """Pure autoarray: aa.Inversion over the linear objects, scalars via aa.m.MockFitImaging."""
    s = aa_settings(settings)
    objs = [b.make(s, xp) for b in built]
    inversion = aa.Inversion(dataset=ds.imaging, linear_obj_list=objs, settings=s, xp=xp)
    model_image = inversion.mapped_reconstructed_operated_data
    fit = aa.m.MockFitImaging(dataset=ds.imaging, model_data=model_image, inversion=inversion)
    return expected_from(inversion, fit, model_image=model_image)


def autogalaxy_galaxies(case: Case) -> list:
    """One galaxy with a Basis of linear Gaussians, and one with a Pixelization for an (image-plane, rectangular)
    mapper, in the case's order."""
    galaxies = []
    for spec in case.objects:
        if spec.kind == "gaussians":
            profiles = [
                ag.lp_linear.Gaussian(centre=spec.centre, ell_comps=spec.ell_comps, sigma=float(sig))
                for sig in spec.sigmas
            ]
            galaxies.append(ag.Galaxy(redshift=0.5, bulge=ag.lp_basis.Basis(profile_list=profiles)))
        elif spec.kind == "mapper":
            if spec.mesh != "rectangular_uniform" or spec.traced:
                raise NotImplementedError("gaussians cases combine only with an image-plane rectangular mapper")
            pix = ag.Pixelization(
                mesh=ag.mesh.RectangularUniform(shape=tuple(spec.shape)),
                regularization=regularization_from(REGULARIZATIONS[spec.reg], lib=ag),
            )
            galaxies.append(ag.Galaxy(redshift=0.5, pixelization=pix))
        else:
            raise NotImplementedError(spec.kind)
    return galaxies


def run_autogalaxy(ds: Dataset, case: Case, settings: dict, xp) -> dict:
    """autogalaxy: ag.FitImaging of the case's galaxies. Checks the linear objects autogalaxy made (the function
    list first, then the mapper) and that its unit-intensity Gaussian columns are `unit_gaussian_image`."""
    fit = ag.FitImaging(dataset=ds.imaging, galaxies=autogalaxy_galaxies(case), settings=aa_settings(settings), xp=xp)
    inversion = fit.inversion
    kinds = [type(o).__name__ for o in inversion.linear_obj_list]
    want = ["LightProfileLinearObjFuncList"] + (["Mapper"] if len(case.objects) > 1 else [])
    assert kinds == want, kinds
    gspec = next(spec for spec in case.objects if spec.kind == "gaussians")
    M = f64(inversion.mapping_matrix)
    for j, sig in enumerate(gspec.sigmas):
        mine = unit_gaussian_image(ds.imaging.grids.lp, gspec, float(sig))
        np.testing.assert_allclose(M[:, j], mine, rtol=1e-6 if settings["use_mixed_precision"] else 1e-11, atol=1e-300)
    # The blurred Gaussians include flux from outside the mask (differ from convolving M inside the mask).
    return expected_from(inversion, fit, model_image=fit.model_data)
