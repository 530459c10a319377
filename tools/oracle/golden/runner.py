"""Running one case into its golden JSON object, and probing the combinations autoarray refuses."""

from __future__ import annotations

import autoarray as aa
import autogalaxy as ag
import jax.numpy as jnp
import numpy as np

from .datasets import Dataset
from .extraction import aa_settings, nnls_config, run_autoarray, run_autogalaxy
from .linear_objects import RECTANGULAR_MESHES, Built, build_linear_object, build_mapper
from .regularizations import SPLIT_SCHEMES
from .specs import Case, MapperSpec, settings_dict
from .values import f64


def check_autogalaxy_mapper(case: Case, built: list[Built], expected: dict) -> None:
    """The mapper autogalaxy built equals the one built directly from the API dict (its columns follow the
    Gaussians' in the mapping matrix)."""
    for i, spec in enumerate(case.objects):
        if spec.kind == "mapper":
            direct = built[i].make(aa_settings(case.settings), np)
            P_before = sum(len(s.sigmas) for s in case.objects[:i] if s.kind == "gaussians")
            M_ag = np.asarray(expected["mapping_matrix"])[:, P_before : P_before + direct.params]
            np.testing.assert_allclose(
                M_ag,
                f64(direct.mapping_matrix),
                rtol=0,
                atol=1e-6 if case.settings["use_mixed_precision"] else 1e-14,
            )


def run_case(case: Case, datasets: dict[str, Dataset]) -> dict:
    """The case's golden JSON object. A positive-only NumPy case also runs on the JAX path (jax_figure_of_merit, and
    a "_jax_diag" the caller pops before writing); a mixed-precision case also runs in fp64 with NumPy."""
    ds = datasets[case.dataset]
    built = [build_linear_object(ds, spec, case.settings) for spec in case.objects]
    uses_ag = any(spec.kind == "gaussians" for spec in case.objects)

    def run(settings, xp):
        return run_autogalaxy(ds, case, settings, xp) if uses_ag else run_autoarray(ds, built, settings, xp)

    xp = jnp if case.path == "jax" else np
    expected = run(case.settings, xp)
    out = {
        "name": case.name,
        "description": case.description,
        "autoarray_version": aa.__version__,
        "path": case.path,
        "dataset": ds.api,
        "linear_objects": [b.api for b in built],
        "settings": dict(case.settings),
        "nnls": nnls_config(),
        "expected": expected,
        "deviations": list(case.deviations),
    }
    if uses_ag:
        out["autogalaxy_version"] = ag.__version__
        check_autogalaxy_mapper(case, built, expected)
    if case.settings["use_positive_only_solver"] and case.path == "numpy":
        jax_expected = run(case.settings, jnp)
        out["jax_figure_of_merit"] = jax_expected["figure_of_merit"]
        out["_jax_diag"] = {
            "max_abs_reconstruction_diff": float(
                np.max(np.abs(np.asarray(jax_expected["reconstruction"]) - np.asarray(expected["reconstruction"])))
            ),
        }
    if case.settings["use_mixed_precision"]:
        fp64 = dict(case.settings, use_mixed_precision=False)
        out["expected_fp64_figure_of_merit"] = run(fp64, np)["figure_of_merit"]
    return out


def error_text(e: BaseException) -> str:
    """The exception as MANIFEST.json records a refusal: "ExceptionType: message" on one line."""
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


def probe_unsupported(datasets: dict[str, Dataset]) -> list[dict]:
    """MANIFEST.json "unsupported" entries beyond the refused cases: split schemes on the rectangular meshes (autoarray
    raises) and a non-square RectangularBilinearAdaptDensity (autoarray silently uses shape[0] only)."""
    out = []
    ds = datasets["A"]
    s = settings_dict()
    for mesh in RECTANGULAR_MESHES:
        for reg in sorted(SPLIT_SCHEMES):
            spec = MapperSpec(mesh=mesh, shape=(6, 6), reg=reg)
            try:
                run_autoarray(ds, [build_mapper(ds, spec, s)], s, np)
                err = None
            except Exception as e:  # we record whatever autoarray raises
                err = error_text(e)
            if err is None:
                raise RuntimeError(f"{mesh} + {reg} unexpectedly worked; add it as a case")
            out.append({"meshes": [mesh], "regularizations": [reg], "error": err})
    spec = MapperSpec(mesh="rectangular_bilinear_adapt_density", shape=(6, 8), reg="constant")
    mapper = build_mapper(ds, spec, s).make(aa_settings(s), np)
    col = f64(mapper.mapping_matrix).sum(axis=0).reshape(6, 8)
    out.append(
        {
            "meshes": ["rectangular_bilinear_adapt_density"],
            "regularizations": ["constant"],
            "shape": [6, 8],
            "error": "not raised: RectangularBilinearAdaptDensity(shape=(6, 8)) indexes the mesh with n = shape[0] = 6 "
            "for both axes, so the 48 columns receive a scrambled pattern (column sums per mesh row: "
            + ", ".join(f"{v:.2f}" for v in col.sum(axis=1))
            + "). Only square shapes are meaningful; the API should refuse non-square shapes for this mesh.",
        }
    )
    return out
